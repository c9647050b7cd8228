"""Money on both sides of the wire: integer micro-dollars, never binary floats."""

from __future__ import annotations

from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DecimalException,
    InvalidOperation,
    localcontext,
)

MICROS_PER_USD = 1_000_000
# Wide enough that no product of our inputs is rounded before the final step.
_EXACT = Context(prec=80)

# The wire's integers (proto int64): amounts past them cannot be sent, so answers
# saturate at these (:func:`saturate_int64`) instead of failing.
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# The largest amount either side accepts as one figure of money: a budget limit, a
# reservation, a cost line, a run's total ($1,000,000,000). The processor's caps
# (``genops_processor.limits``, section "money") are this value.
MAX_AMOUNT_MICROS = 10**15


def parse_usd_micros(value: object, maximum: int | None = None) -> int:
    """Dollars (str, int, float or Decimal) -> integer micro-dollars, exactly.

    ``maximum`` (micro-dollars) refuses larger amounts. Raises ValueError with a
    reason fit to follow the name of the key.
    """
    if value is None or isinstance(value, bool):
        raise ValueError("not a number of dollars")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError("not a number of dollars") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be a non-negative amount of dollars")
    if maximum is not None and amount > Decimal(maximum) / MICROS_PER_USD:
        raise ValueError(f"above the maximum of {format_usd(maximum)}")
    try:
        with localcontext(_EXACT):
            micros = amount * MICROS_PER_USD
            exact = micros == micros.to_integral_value()
    except DecimalException:  # e.g. 1e999999999: past any context's exponent
        raise ValueError("not a usable amount of dollars") from None
    if not exact:
        raise ValueError("more precise than a micro-dollar")
    return int(micros)


def saturate_int64(value: int) -> int:
    """An integer clamped to the proto int64 range (answers saturate, never fail)."""
    return max(INT64_MIN, min(INT64_MAX, int(value)))


def within(micros: int, maximum: int) -> bool:
    """0 <= micros <= maximum: an amount the ledger may keep."""
    return 0 <= micros <= maximum


def dollars_to_micros(value: object, what: str) -> int:
    """A dollar amount (float, int, str or Decimal) rounded half-even to micro-dollars.

    For amounts users pass to the adapter API; ``what`` names the argument in errors.
    """
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number of dollars, not {value!r}")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise TypeError(f"{what} must be a number of dollars, not {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what} must be a non-negative number of dollars, not {value!r}")
    if amount > Decimal(MAX_AMOUNT_MICROS) / MICROS_PER_USD:
        raise ValueError(f"{what} must be at most {format_usd(MAX_AMOUNT_MICROS)}, not {value!r}")
    return round_micros(amount)


def format_usd(micros: int) -> str:
    """Micro-dollars as dollars with cents, keeping sub-cent digits when present."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    text = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}${whole}.{text}"


def micros_to_decimal(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_USD


def to_dollars(micros: int) -> float:
    """Micro-dollars as a float of dollars, for display and the guide's float API
    (the ledger keeps the integer)."""
    return micros / MICROS_PER_USD


def round_micros(dollars: Decimal) -> int:
    """An exact dollar amount to micro-dollars, rounded half-even once: the one
    rounding rule of the ledger, the processor's pricing and the client's estimates."""
    with localcontext(_EXACT):
        return int((dollars * MICROS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
