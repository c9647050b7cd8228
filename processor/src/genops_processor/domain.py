"""Domain types of the processor's pipeline: plain frozen data, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from genops.catalog import CATEGORIES

NS_PER_HOUR = 3_600 * 10**9


@dataclass(frozen=True)
class Scope:
    """Who a run is attributed to; empty string = not set."""

    team: str = ""
    project: str = ""
    customer_id: str = ""
    cost_center: str = ""
    environment: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "team": self.team,
            "project": self.project,
            "customer_id": self.customer_id,
            "cost_center": self.cost_center,
            "environment": self.environment,
        }

    def covers(self, other: Scope) -> bool:
        """Whether ``other`` falls inside this scope: every field set here is equal there
        (an empty field here matches anything)."""
        have = other.as_dict()
        return all(not value or have[key] == value for key, value in self.as_dict().items())


@dataclass(frozen=True)
class HardwareUse:
    gpu_type: str = ""
    gpu_count: int = 0
    cpu_count: int = 0
    instance_type: str = ""


@dataclass(frozen=True)
class RunUsage:
    """Cumulative usage of a run as of ``as_of_ns``."""

    compute_start_ns: int = 0
    as_of_ns: int = 0
    log_calls: int = 0
    artifact_bytes: int = 0
    artifact_files: int = 0
    artifact_count: int = 0
    sequence: int = 0
    declared_storage_micros: int = 0

    @property
    def duration_ns(self) -> int:
        return max(0, self.as_of_ns - self.compute_start_ns)


@dataclass(frozen=True)
class SpanRecord:
    """One received span, as stored (the idempotency key is trace_id + span_id)."""

    trace_id: str
    span_id: str
    kind: str  # run | heartbeat | artifact
    name: str
    run_key: str
    start_ns: int
    end_ns: int
    attributes_json: str
    # What the ingest boundary cut from the span (over-long text), e.g. "genops.team
    # truncated to 256 characters"; kept as violations of its run.
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejection:
    """A span refused at ingest: its ids and why (one of ingest.validation.REASONS)."""

    trace_id: str
    span_id: str
    run_key: str
    reason: str
    message: str


@dataclass(frozen=True)
class RunLabels:
    """What the client says about a run besides its usage: experiment, tags,
    workflow, sampled metrics, and what pricing needs (region, storage tier and
    retention, capacity type, W&B mode, the catalog version it expects)."""

    experiment_id: str = ""
    tags_json: str = ""
    workflow_json: str = ""
    metrics_last_json: str = ""
    region: str = ""
    storage_tier: str = ""
    retention_days: int = 0
    capacity_type: str = ""
    wandb_mode: str = ""
    catalog_version: str = ""
    config_hash: str = ""
    gpu_util_mean: float | None = None
    gpu_mem_peak_gb: float | None = None
    artifacts_used_json: str = ""
    hold_id: str = ""
    # The adapter's classification (genops.security_level); "" when unclassified.
    security_level: str = ""
    # The central policy's data_residency verdict on the run, set by the processor at
    # ingest (budgets/residency.py); "" when no rule applies. Never read from a span.
    residency: str = ""


@dataclass(frozen=True)
class UsageEvent:
    """What a run or heartbeat span says about its run."""

    span: SpanRecord
    run_id: str
    run_name: str
    wandb_project: str
    scope: Scope
    hardware: HardwareUse
    usage: RunUsage
    status: str  # running | finished | failed
    final: bool  # the run span itself: the run has ended
    error: str = ""
    catalog_version: str = ""
    labels: RunLabels = RunLabels()
    exit_code: int | None = None  # what W&B recorded (final spans of newer clients)
    # The span carried genops.run.compute_start_ns (else it is the span's start time).
    compute_start_declared: bool = False


@dataclass(frozen=True)
class ArtifactEvent:
    span: SpanRecord
    name: str
    type: str
    bytes: int
    files: int
    governance_metadata_json: str = ""
    cost_estimate_micros: int = 0


@dataclass(frozen=True)
class ManualCostEvent:
    """A cost the user added (experiment.add_compute_cost and friends)."""

    span: SpanRecord
    experiment_id: str
    run_id: str
    scope: Scope
    sku: str
    category: str
    quantity: Decimal
    unit: str
    catalog_version: str
    region: str


@dataclass(frozen=True)
class ExperimentEvent:
    """An experiment span (adapter.track_experiment_lifecycle), sent when it ends."""

    span: SpanRecord
    experiment_id: str
    name: str
    experiment_type: str
    status: str
    scope: Scope
    max_cost_micros: int
    estimated_cost_micros: int
    error: str = ""
    violations: tuple[str, ...] = ()


@dataclass(frozen=True)
class CostLine:
    """One priced (or unpriceable) quantity of a run."""

    run_key: str
    sku: str
    category: str
    unit: str
    quantity: Decimal
    unit_price: Decimal | None  # None when the SKU is not in the catalog
    amount_micros: int | None  # None when unpriced
    catalog_version: str
    catalog_source: str
    catalog_date: str
    as_of_ns: int

    @property
    def priced(self) -> bool:
        return self.amount_micros is not None


@dataclass(frozen=True)
class CostBreakdown:
    """A run's priced cost per catalog category, and how many of its lines are unpriced.

    Kept on the run row (equal to the sum of its lines of the current catalog
    version), so summaries read one row per run instead of every line.
    """

    compute: int = 0
    storage: int = 0
    data_transfer: int = 0
    tracking: int = 0
    unpriced_lines: int = 0

    @classmethod
    def of(cls, lines: Iterable[CostLine]) -> CostBreakdown:
        totals = dict.fromkeys(CATEGORIES, 0)
        unpriced = 0
        for line in lines:
            if line.amount_micros is None:
                unpriced += 1
            else:
                totals[line.category] += line.amount_micros
        return cls(**totals, unpriced_lines=unpriced)


@dataclass(frozen=True)
class RunState:
    run_key: str
    run_id: str
    run_name: str
    wandb_project: str
    scope: Scope
    hardware: HardwareUse
    usage: RunUsage
    status: str
    final: bool
    error: str = ""
    catalog_version: str = ""
    cost_micros: int = 0
    unpriced_skus: tuple[str, ...] = field(default_factory=tuple)
    labels: RunLabels = RunLabels()
    violations: tuple[str, ...] = ()
    breakdown: CostBreakdown = CostBreakdown()
    exit_code: int | None = None  # None while it runs, or from an older client


@dataclass(frozen=True)
class Batch:
    """A decoded OTLP request."""

    usage: tuple[UsageEvent, ...] = ()
    artifacts: tuple[ArtifactEvent, ...] = ()
    experiments: tuple[ExperimentEvent, ...] = ()
    manual_costs: tuple[ManualCostEvent, ...] = ()
    ignored_spans: int = 0
    rejected: tuple[Rejection, ...] = ()  # refused by the validation before decoding
    # The authenticated principal that sent the request: the actor of the audit events
    # its runs and artifacts cause (set once per request by the receiver).
    sender: str = ""

    @property
    def spans(self) -> tuple[SpanRecord, ...]:
        return (
            tuple(e.span for e in self.usage)
            + tuple(a.span for a in self.artifacts)
            + tuple(x.span for x in self.experiments)
            + tuple(m.span for m in self.manual_costs)
        )
