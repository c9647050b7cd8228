"""Pricing a run's usage into cost lines. Pure logic over domain types.

Money is Decimal in arithmetic and integer micro-dollars in results, rounded
half-even once per line from exact inputs. The lines of a run:

* compute: duration (ns) x device count x the hourly rate of its SKU, one line
  for the GPUs and one for the vCPUs;
* storage: artifact bytes x the tier's GiB-month rate x retention days / 30;
* data transfer: artifact bytes uploaded (W&B online mode) x the external rate;
* declared: costs the client declared (``log_governed_artifact``), as given.

Prices are looked up per (SKU, region). A SKU the catalog does not have in the
run's region yields an *unpriced* line and a violation, never a guess.

Amounts are bounded (``limits``, section "money"): a line priced above
``MAX_LINE_MICROS``, or one that would take the run's total above
``MAX_RUN_MICROS``, is left unpriced with a violation; negative usage (bytes,
declared cost, retention, device counts) prices 0 and is flagged. So a run's cost
is always between 0 and ``MAX_RUN_MICROS``, whatever a client sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from genops.catalog import Catalog, CatalogError, CatalogRow
from genops.money import MICROS_PER_USD, format_usd, round_micros, within
from genops_processor.domain import NS_PER_HOUR, CostBreakdown, CostLine, ManualCostEvent, RunState
from genops_processor.limits import MAX_LINE_MICROS, MAX_RUN_MICROS

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogRow",
    "CatalogSource",
    "price_run",
    "total_micros",
    "unpriced_violations",
    "usd_micros",
]

CPU_SKU = "vcpu"
DECLARED_STORAGE_SKU = "declared-storage"
DEFAULT_STORAGE_TIER = "standard"
DEFAULT_RETENTION_DAYS = 30
BYTES_PER_GIB = 2**30
DAYS_PER_MONTH = 30
_QUANTITY_STEP = Decimal("1e-12")
_EXACT = Context(prec=80)


@dataclass
class CatalogSource:
    """The catalogs a processor prices with: its default and the versions it knows."""

    default: Catalog
    known: dict[str, Catalog] = field(default_factory=dict)

    def get(self, version: str) -> Catalog | None:
        if version == self.default.version:
            return self.default
        return self.known.get(version)

    def asked(self, version: str) -> Catalog | None:
        """The catalog a run or line asks for: ``version``'s, the default when it names
        none, None when it names one not known (never priced with another)."""
        return self.get(version) if version else self.default

    def add(self, catalog: Catalog) -> None:
        self.known[catalog.version] = catalog


def price_run(state: RunState, catalog: Catalog) -> list[CostLine]:
    """Every cost line of a run, from its usage so far (bounded: see the module doc)."""
    return _capped(_raw_lines(state, catalog))


def _raw_lines(state: RunState, catalog: Catalog, later_ns: int = 0) -> list[CostLine]:
    """The lines before capping; ``later_ns``: as if the run had computed that much
    longer (a check's projection to its next check), without a copy of the state."""
    region = state.labels.region or catalog.default_region
    usage = state.usage
    duration_ns = max(0, usage.as_of_ns + max(0, later_ns) - usage.compute_start_ns)
    lines = []
    if state.hardware.gpu_count > 0:
        sku = state.hardware.gpu_type or "unknown-gpu"
        lines.append(
            _compute_line(state, sku, state.hardware.gpu_count, duration_ns, catalog, region)
        )
    if state.hardware.cpu_count > 0:
        lines.append(
            _compute_line(state, CPU_SKU, state.hardware.cpu_count, duration_ns, catalog, region)
        )
    stored = state.usage.artifact_bytes
    if stored > 0:
        lines.append(_storage_line(state, stored, catalog, region))
        if state.labels.wandb_mode == "online":
            lines.append(_transfer_line(state, stored, "external", catalog, region))
    if state.usage.declared_storage_micros > 0:
        lines.append(_declared_line(state, catalog))
    return lines


def _capped(lines: list[CostLine]) -> list[CostLine]:
    """Lines in order; one above the per-line maximum, or taking the run's total above
    the per-run maximum, is left unpriced (its unit price kept, to tell it apart)."""
    total, result = 0, []
    for line in lines:
        amount = line.amount_micros
        if amount is not None and (
            not within(amount, MAX_LINE_MICROS) or total + amount > MAX_RUN_MICROS
        ):
            line = replace(line, amount_micros=None)
        total += line.amount_micros or 0
        result.append(line)
    return result


def total_micros(lines: Iterable[CostLine]) -> int:
    return sum(line.amount_micros or 0 for line in lines)


def unpriced_violations(lines: Iterable[CostLine], region: str) -> tuple[str, ...]:
    return tuple(_unpriced_reason(line, region) for line in lines if not line.priced)


def _unpriced_reason(line: CostLine, region: str) -> str:
    if line.unit_price is None:
        return (
            f"unpriced: no price for '{line.sku}' in region {region or '(none)'} "
            f"of catalog {line.catalog_version}"
        )
    return (
        f"unpriced: '{line.sku}' is above the maximum of {format_usd(MAX_LINE_MICROS)} a line "
        f"or would take the run past the per-run maximum of {format_usd(MAX_RUN_MICROS)}"
    )


# Usage a run may not have; each prices 0 and is named in the run's violations.
_NEGATIVE_USAGE = (
    ("gpu_count", lambda s: s.hardware.gpu_count),
    ("cpu_count", lambda s: s.hardware.cpu_count),
    ("artifact_bytes", lambda s: s.usage.artifact_bytes),
    ("declared_storage_micros", lambda s: s.usage.declared_storage_micros),
    ("retention_days", lambda s: s.labels.retention_days),
)


def usage_violations(state: RunState) -> tuple[str, ...]:
    return tuple(
        f"invalid usage: negative {name} ({value}) priced 0"
        for name, read in _NEGATIVE_USAGE
        if (value := read(state)) < 0
    )


def usd_micros(amount: Decimal) -> int:
    """Dollars to micro-dollars, rounded half-even (:func:`genops.money.round_micros`)."""
    return round_micros(amount)


def storage_cost_micros(price: Decimal, size_bytes: int, days: int) -> int:
    """GiB-month price x bytes x days / (GiB x 30 days), in micro-dollars."""
    with localcontext(_EXACT):
        return usd_micros(price * size_bytes * days / (BYTES_PER_GIB * DAYS_PER_MONTH))


def transfer_cost_micros(price: Decimal, size_bytes: int) -> int:
    with localcontext(_EXACT):
        return usd_micros(price * size_bytes / BYTES_PER_GIB)


def _quantity(value: Decimal) -> Decimal:
    # the context as an argument: entering a localcontext costs more than the quantize
    return value.quantize(_QUANTITY_STEP, rounding=ROUND_HALF_EVEN, context=_EXACT)


def device_micros(unit_price: Decimal, count: int, duration_ns: int) -> int:
    """:func:`genops.catalog.device_cost_micros` (the same number, always) in integer
    arithmetic: the price as an exact fraction, one half-even rounding. A heartbeat prices
    two such lines per run, and Decimal contexts cost more than the rest of its pricing."""
    numerator, denominator = unit_price.as_integer_ratio()
    numerator *= count * duration_ns * MICROS_PER_USD
    denominator *= NS_PER_HOUR
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2):
        quotient += 1
    return sign * quotient


def _compute_line(state, sku, count, duration_ns, catalog, region) -> CostLine:
    quantity = _quantity(Decimal(count * duration_ns) / NS_PER_HOUR)
    row = catalog.get(sku, region)
    amount = None if row is None else device_micros(row.unit_price, count, duration_ns)
    return _line(state, sku, "compute", "device-hour", quantity, row, amount, catalog)


def _storage_line(state, size_bytes, catalog, region) -> CostLine:
    tier = state.labels.storage_tier or DEFAULT_STORAGE_TIER
    days = state.labels.retention_days or DEFAULT_RETENTION_DAYS
    days = max(0, days)  # negative retention: flagged (usage_violations), priced 0
    sku = f"storage-{tier}"
    quantity = _quantity(Decimal(size_bytes) * days / (BYTES_PER_GIB * DAYS_PER_MONTH))
    row = catalog.get(sku, region)
    amount = None if row is None else storage_cost_micros(row.unit_price, size_bytes, days)
    return _line(state, sku, "storage", "gib-month", quantity, row, amount, catalog)


def _transfer_line(state, size_bytes, kind, catalog, region) -> CostLine:
    sku = f"transfer-{kind}"
    quantity = _quantity(Decimal(size_bytes) / BYTES_PER_GIB)
    row = catalog.get(sku, region)
    amount = None if row is None else transfer_cost_micros(row.unit_price, size_bytes)
    return _line(state, sku, "data_transfer", "gib", quantity, row, amount, catalog)


def _declared_line(state: RunState, catalog: Catalog) -> CostLine:
    micros = state.usage.declared_storage_micros
    return CostLine(
        run_key=state.run_key,
        sku=DECLARED_STORAGE_SKU,
        category="storage",
        unit="usd",
        quantity=Decimal(micros) / MICROS_PER_USD,
        unit_price=Decimal(1),
        amount_micros=micros,
        catalog_version=catalog.version,
        catalog_source="declared by the client",
        catalog_date="",
        as_of_ns=state.usage.as_of_ns,
    )


def _line(state, sku, category, unit, quantity, row: CatalogRow | None, amount, catalog):
    return CostLine(
        run_key=state.run_key,
        sku=sku,
        category=row.category if row else category,
        unit=row.unit if row else unit,
        quantity=quantity,
        unit_price=row.unit_price if row else None,
        amount_micros=amount,
        catalog_version=catalog.version,
        catalog_source=row.source if row else "",
        catalog_date=row.date if row else "",
        as_of_ns=state.usage.as_of_ns,
    )


def price_manual(event: ManualCostEvent, catalogs: CatalogSource) -> CostLine:
    """A user-added line: quantity x the unit price of its SKU (unpriced if unknown)."""
    catalog = catalogs.asked(event.catalog_version)
    if catalog is None:  # never priced with another version than the one asked for
        return CostLine(
            run_key=event.experiment_id,
            sku=event.sku,
            category=event.category,
            unit=event.unit,
            quantity=_quantity(event.quantity),
            unit_price=None,
            amount_micros=None,
            catalog_version=event.catalog_version,
            catalog_source="",
            catalog_date="",
            as_of_ns=event.span.end_ns,
        )
    row = catalog.get(event.sku, event.region or None)
    amount = None if row is None else _manual_amount(event.quantity, row.unit_price)
    return CostLine(
        run_key=event.experiment_id,
        sku=event.sku,
        category=row.category if row else event.category,
        unit=row.unit if row else event.unit,
        quantity=_quantity(event.quantity),
        unit_price=row.unit_price if row else None,
        amount_micros=amount,
        catalog_version=catalog.version,
        catalog_source=row.source if row else "",
        catalog_date=row.date if row else "",
        as_of_ns=event.span.end_ns,
    )


def _manual_amount(quantity: Decimal, unit_price: Decimal) -> int | None:
    """quantity x price; a negative quantity prices 0, a line above the maximum is unpriced."""
    if not quantity.is_finite():
        return None
    with localcontext(_EXACT):
        amount = usd_micros(max(Decimal(0), quantity) * unit_price)
    return amount if within(amount, MAX_LINE_MICROS) else None


def asked_micros(state: RunState, catalogs: CatalogSource, later_ns: int = 0) -> int:
    """What a run a client describes (CheckBudget's estimate, CheckRun's snapshot) asks
    of a budget: its cost, or ``MAX_RUN_MICROS`` when a line is refused for being above
    the maximum, so that an absurd request is decided as the largest, never as free.
    ``later_ns``: its cost that much compute time later (a check's next one).

    The total of :func:`price`'s lines (a test holds the two equal), without the run
    state, breakdown and violations a decision does not read: a check asks twice."""
    catalog = catalogs.asked(state.labels.catalog_version)
    if catalog is None:
        return 0  # price(): an unknown version prices nothing (and says so)
    lines = _capped(_raw_lines(state, catalog, later_ns))
    if any(line.unit_price is not None and not line.priced for line in lines):
        return MAX_RUN_MICROS
    return total_micros(lines)


def catalogs_from(default: Catalog, known: Mapping[str, Catalog] | None = None) -> CatalogSource:
    return CatalogSource(default, dict(known or {}))


def price(state: RunState, catalogs: CatalogSource) -> tuple[RunState, list[CostLine]]:
    """A run's cost lines under the catalog it asks for, and the state that sums them."""
    wanted = state.labels.catalog_version
    catalog = catalogs.asked(wanted)
    if catalog is None:
        violation = f"unknown catalog version {wanted!r}: nothing priced"
        return replace(
            state,
            cost_micros=0,
            unpriced_skus=(),
            catalog_version=wanted,
            violations=(violation,),
            breakdown=CostBreakdown(),
        ), []
    run_lines = price_run(state, catalog)
    region = state.labels.region or catalog.default_region
    return RunState(  # every field named: dataclasses.replace is several times slower
        run_key=state.run_key,
        run_id=state.run_id,
        run_name=state.run_name,
        wandb_project=state.wandb_project,
        scope=state.scope,
        hardware=state.hardware,
        usage=state.usage,
        status=state.status,
        final=state.final,
        error=state.error,
        catalog_version=catalog.version,
        cost_micros=total_micros(run_lines),
        unpriced_skus=tuple(line.sku for line in run_lines if not line.priced),
        labels=state.labels,
        violations=unpriced_violations(run_lines, region) + usage_violations(state),
        breakdown=CostBreakdown.of(run_lines),
        exit_code=state.exit_code,
    ), run_lines
