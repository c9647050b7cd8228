"""An experiment: one ``track_experiment_lifecycle`` block and the W&B runs inside it.

Money is kept in integer micro-dollars; the float properties the guide uses
(``estimated_cost``, ``total_cost``) are views of them. ``estimated_cost`` is
the user's own running estimate; ``total_cost`` is what was measured (the
processor's priced runs, or local estimates when it cannot be asked).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Protocol

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from genops import attributes as attr
from genops.money import dollars_to_micros, micros_to_decimal

if TYPE_CHECKING:
    from genops.hold_renewal import HoldRenewal


@dataclass(frozen=True)
class ManualLine:
    """A cost added by hand, priced locally with the adapter's catalog."""

    sku: str
    category: str
    quantity: Decimal
    unit: str
    unit_price: Decimal | None
    amount_micros: int | None  # None: the SKU has no price (a violation)


def _positive_decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number, not {value!r}")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise TypeError(f"{what} must be a number, not {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{what} must be 0 or more, not {value!r}")
    return number


@dataclass
class ExperimentCostSummary:
    """An experiment's cost, as the guide describes it. ``total_cost`` is the sum of
    ``compute_cost``, ``storage_cost`` and ``data_transfer_cost``."""

    total_cost: float
    compute_cost: float
    storage_cost: float
    data_transfer_cost: float
    cost_by_run: dict[str, float]
    experiment_duration: float  # seconds
    # Share of compute spend that went to runs which finished without error (0..1).
    resource_efficiency: float
    experiment_id: str = ""
    source: str = "processor"  # "processor" or "local_estimate"
    violations: list[str] = field(default_factory=list)


class ExperimentOwner(Protocol):
    """What an experiment asks of the adapter that opened it: this module stays below
    :mod:`genops.adapter` (which implements it) and never imports it."""

    def get_experiment_cost_summary(self, experiment_id: str) -> ExperimentCostSummary: ...

    def _check_experiment_spend(
        self, experiment: Experiment, from_run_end: bool = False
    ) -> None: ...

    def _add_manual_cost(
        self, experiment: Experiment, sku: str, category: str, quantity: Decimal, unit: str
    ) -> float: ...


class Experiment:
    """The object ``track_experiment_lifecycle`` yields."""

    def __init__(
        self,
        adapter: ExperimentOwner,
        name: str,
        experiment_type: str,
        max_cost_micros: int,
        tags: dict[str, str],
    ) -> None:
        self.experiment_id = uuid.uuid4().hex
        self.name = name
        self.experiment_type = experiment_type
        self.max_cost_micros = max_cost_micros
        self.tags = tags
        self.status = "running"
        self.error = ""
        self.run_ids: list[str] = []
        self.start_ns = time.time_ns()
        self.end_ns = 0
        self.violations: list[tuple[str, str, str]] = []  # (event, mode, message)
        self.over_budget = False
        self.hold_id = ""  # the reservation made at enter (released at exit)
        self.hold_renewal: HoldRenewal | None = None  # keeps it open meanwhile
        self._adapter = adapter
        self._estimated_micros = 0
        self._local_run_micros: dict[str, int] = {}
        self.manual_lines: list[ManualLine] = []
        self._lock = threading.Lock()

    # -- the guide's attributes --------------------------------------------------------
    @property
    def estimated_cost(self) -> float:
        return float(micros_to_decimal(self._estimated_micros))

    @estimated_cost.setter
    def estimated_cost(self, value: float) -> None:
        self._estimated_micros = dollars_to_micros(value, "estimated_cost")
        self._adapter._check_experiment_spend(self)

    @property
    def max_cost(self) -> float:
        return float(micros_to_decimal(self.max_cost_micros))

    @property
    def total_cost(self) -> float:
        """Measured cost of the experiment's runs so far (see ``cost_summary().source``)."""
        return self.cost_summary().total_cost

    @property
    def estimated_cost_micros(self) -> int:
        return self._estimated_micros

    def cost_summary(self) -> ExperimentCostSummary:
        return self._adapter.get_experiment_cost_summary(self.experiment_id)

    # -- costs you add by hand ------------------------------------------------------------
    def add_compute_cost(self, sku: str, hours: float) -> float:
        """Charge ``hours`` of one device of ``sku`` (a GPU model, ``vcpu``, or a SKU of
        your pricing model). Returns the line's cost in USD."""
        quantity = _positive_decimal(hours, "hours")
        return self._adapter._add_manual_cost(self, sku, "compute", quantity, "device-hour")

    def add_storage_cost(self, tier: str, gb: float, duration_days: float) -> float:
        """Charge ``gb`` GiB kept ``duration_days`` days in a storage tier (standard,
        infrequent, archive, ssd, or a tier of your pricing model), pro rata of a
        30-day month."""
        size = _positive_decimal(gb, "gb")
        days = _positive_decimal(duration_days, "duration_days")
        return self._adapter._add_manual_cost(
            self, f"storage-{tier}", "storage", size * days / 30, "gib-month"
        )

    def add_data_transfer_cost(self, kind: str, gb: float) -> float:
        """Charge ``gb`` GiB of transfer of a kind (internal, external, or yours)."""
        size = _positive_decimal(gb, "gb")
        return self._adapter._add_manual_cost(
            self, f"transfer-{kind}", "data_transfer", size, "gib"
        )

    @property
    def manual_cost_micros(self) -> int:
        with self._lock:
            return sum(line.amount_micros or 0 for line in self.manual_lines)

    # -- bookkeeping ------------------------------------------------------------------
    def add_run(self, run_id: str) -> None:
        with self._lock:
            self.run_ids.append(run_id)

    def record_local_run_cost(self, run_id: str, micros: int) -> None:
        with self._lock:
            self._local_run_micros[run_id] = micros

    @property
    def local_cost_micros(self) -> int:
        """Runs' local estimates plus the lines added by hand."""
        with self._lock:
            runs = sum(self._local_run_micros.values())
        return runs + self.manual_cost_micros

    def local_run_costs(self) -> dict[str, int]:
        with self._lock:
            return dict(self._local_run_micros)

    def spend_micros(self) -> int:
        """What counts against max_cost: the larger of the estimate and the measure."""
        return max(self._estimated_micros, self.local_cost_micros)

    def record_violation(self, event: str, mode: str, message: str) -> None:
        with self._lock:
            self.violations.append((event, mode, message))

    def emit_span(self, tracer: trace.Tracer, scope_attributes: dict[str, object]) -> None:
        """One span for the whole block, sent when it ends, with its violations as events."""
        span = tracer.start_span(
            attr.SPAN_EXPERIMENT,
            start_time=self.start_ns,
            attributes={
                **scope_attributes,
                attr.EXPERIMENT_ID: self.experiment_id,
                attr.EXPERIMENT_NAME: self.name,
                attr.EXPERIMENT_TYPE: self.experiment_type,
                attr.EXPERIMENT_STATUS: self.status,
                attr.EXPERIMENT_MAX_COST_MICROS: self.max_cost_micros,
                attr.EXPERIMENT_ESTIMATED_COST_MICROS: self._estimated_micros,
            },
        )
        for event, mode, message in self.violations:
            span.add_event(event, {attr.EVENT_POLICY: mode, attr.EVENT_MESSAGE: message})
        if self.status == attr.STATUS_FAILED:
            span.set_attribute(attr.RUN_ERROR, self.error[:500])
            span.set_status(Status(StatusCode.ERROR, self.error or "experiment failed"))
        span.end(end_time=self.end_ns or time.time_ns())
