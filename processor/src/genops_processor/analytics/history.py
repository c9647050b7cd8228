"""What the recommendation rules and the anomaly detector read: facts about past runs.

Plain frozen data, no I/O. Whoever builds these (from DuckDB, from a test) owns
the translation; the rules in :mod:`genops_processor.analytics.recommendations` and
:mod:`genops_processor.analytics.anomalies` only read them.

Money is integer micro-dollars (1 USD = 1_000_000). ``RunFacts.cost_micros`` is
the run's whole priced cost, the way the ledger prices it: compute lines plus the
storage declared for its artifacts, so ``ArtifactFacts.storage_cost_micros`` is a
part of ``cost_micros``, not an addition to it (see ``compute_cost_micros``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ArtifactFacts:
    """One artifact a run logged."""

    name: str
    bytes: int
    storage_cost_micros: int
    used: bool  # consumed later by some run via use_artifact


@dataclass(frozen=True)
class RunFacts:
    """One finished or failed run, as the rules see it."""

    run_key: str
    run_id: str
    team: str
    project: str
    experiment_type: str
    experiment_name: str
    status: str  # "finished" | "failed"
    started_at: datetime  # tz-aware UTC
    duration_s: float
    cost_micros: int
    gpu_type: str
    gpu_count: int
    gpu_util_mean: float | None  # 0..1, mean over heartbeats; None = unknown
    gpu_mem_peak_gb: float | None  # per GPU; None = unknown
    config_hash: str  # "" = unknown
    capacity_type: str  # "on-demand" | "spot" | ""
    artifacts: tuple[ArtifactFacts, ...] = ()

    @property
    def ended_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.duration_s)

    @property
    def storage_cost_micros(self) -> int:
        """Storage cost of the run's artifacts (a part of ``cost_micros``)."""
        return sum(a.storage_cost_micros for a in self.artifacts)

    @property
    def compute_cost_micros(self) -> int:
        """``cost_micros`` less its artifacts' storage: what the hardware cost."""
        return max(0, self.cost_micros - self.storage_cost_micros)
