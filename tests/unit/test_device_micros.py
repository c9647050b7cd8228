"""The processor's integer pricing of device time (pricing/cost_lines.device_micros) is
the contract's Decimal pricing (genops.catalog.device_cost_micros), number for number:
random prices, counts and durations, half-way cases and negative durations."""

from __future__ import annotations

import random
from decimal import Decimal

from genops.catalog import NS_PER_HOUR, device_cost_micros
from genops_processor.pricing.cost_lines import device_micros


def test_device_micros_is_the_decimal_pricing_for_random_inputs():
    rng = random.Random(13)
    for _ in range(20_000):
        price = Decimal(rng.randrange(0, 10**15)).scaleb(-rng.randrange(0, 10))
        count = rng.choice((0, 1, 2, 8, 96, rng.randrange(0, 65_537)))
        duration = rng.choice(
            (rng.randrange(-(10**12), 10**12), rng.randrange(0, 366 * 86_400 * 10**9))
        )
        assert device_micros(price, count, duration) == device_cost_micros(price, count, duration)


def test_device_micros_rounds_half_way_cases_to_even():
    # $0.5 micro-dollar and $1.5 micro-dollars: an hour at 0.0000005 and 0.0000015 $/h.
    for price in ("0.0000005", "0.0000015", "0.0000025", "3.06", "0.000000001"):
        for duration in (NS_PER_HOUR, -NS_PER_HOUR, NS_PER_HOUR // 2, 1, 0):
            price_d = Decimal(price)
            assert device_micros(price_d, 1, duration) == device_cost_micros(price_d, 1, duration)
