"""Cost anomalies: runs that cost far more (or less) than their peers, robustly measured.

Pure logic over :class:`~genops_processor.analytics.history.RunFacts`; no I/O.

Peers are the runs of the same (team, experiment_type) that started within the
lookback window. Within a group of ``n >= min_runs`` runs with costs ``c_i``:

* ``m = median(c)`` -- the expected cost;
* ``MAD = median(|c_i - m|)`` and the robust scale ``s = 1.4826 * MAD`` (the
  factor makes ``s`` estimate the standard deviation for normal data);
* the robust z-score of a run is ``|c - m| / s``;
* a run is an anomaly when its score exceeds ``z* = Phi^-1((1 + sensitivity) / 2)``,
  the two-sided normal quantile (1.96 for 0.95, 2.58 for 0.99): higher
  sensitivity, a stricter cut, fewer anomalies.

``MAD == 0`` (at least half the group costs exactly the median): the score
would be infinite for every other run and could not be ranked or serialised.
Following the usual fallback for the modified z-score (Iglewicz & Hoaglin; IBM
SPSS), the scale becomes ``1.253314 * meanAD`` with ``meanAD = mean(|c_i - m|)``
(1.253314 = sqrt(pi/2) makes it a standard-deviation estimate for normal data),
and a run whose cost is within a tiny tolerance of the median
(``max(1 micro, 1e-6 * |m|)``) is never an anomaly. If every cost is within
that tolerance there is no anomaly in the group.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from genops.money import MICROS_PER_USD
from genops_processor.analytics.history import RunFacts

__all__ = ["MAD_SCALE", "MEAN_AD_SCALE", "MIN_RUNS", "Anomaly", "detect"]

MAD_SCALE = 1.4826
MEAN_AD_SCALE = math.sqrt(math.pi / 2)  # 1.253314...
MIN_RUNS = 5
_RELATIVE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Anomaly:
    """A run whose cost is far from the median of its (team, experiment_type) peers."""

    experiment: str  # experiment_name, or run_id when the run has none
    run_key: str
    team: str
    experiment_type: str
    cost_micros: int
    expected_cost_micros: int  # the group's median, rounded half-even to a micro
    score: float  # robust z: |cost - median| / robust scale

    def as_dict(self) -> dict[str, object]:
        return {
            "experiment": self.experiment,
            "cost": self.cost_micros / MICROS_PER_USD,
            "expected_cost": self.expected_cost_micros / MICROS_PER_USD,
            "team": self.team,
            "experiment_type": self.experiment_type,
            "score": round(self.score, 3),
        }


def detect(
    runs: Sequence[RunFacts],
    sensitivity: float = 0.95,
    lookback_days: int = 30,
    now: datetime | None = None,
    *,
    min_runs: int = MIN_RUNS,
) -> list[Anomaly]:
    """Runs whose cost is anomalous within their (team, experiment_type), highest score first.

    Only runs with ``now - lookback_days <= started_at <= now`` count, as
    members and as candidates. Groups with fewer than ``min_runs`` (5) such runs
    are skipped: a median of four says little. See the module docstring for the
    statistic and the ``MAD == 0`` case.
    """
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, (int, float)):
        raise ValueError(f"sensitivity must be a number in (0, 1), got {sensitivity!r}")
    if not 0 < sensitivity < 1:
        raise ValueError(f"sensitivity must be within (0, 1), got {sensitivity!r}")
    if isinstance(lookback_days, bool) or not isinstance(lookback_days, int) or lookback_days < 1:
        raise ValueError(f"lookback_days must be an integer >= 1, got {lookback_days!r}")
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(days=lookback_days)
    cut = statistics.NormalDist().inv_cdf((1 + sensitivity) / 2)

    groups: dict[tuple[str, str], list[RunFacts]] = defaultdict(list)
    for run in runs:
        if since <= run.started_at <= now:
            groups[(run.team, run.experiment_type)].append(run)

    found: list[Anomaly] = []
    for (team, kind), members in groups.items():
        if len(members) < max(min_runs, 1):
            continue
        costs = [r.cost_micros for r in members]
        median = statistics.median(costs)
        deviations = [abs(c - median) for c in costs]
        tolerance = max(1.0, _RELATIVE_TOLERANCE * abs(median))
        mad = statistics.median(deviations)
        if mad > 0:
            scale = MAD_SCALE * mad
        else:
            scale = MEAN_AD_SCALE * statistics.fmean(deviations)
            if max(deviations) <= tolerance:
                continue
        expected = round(median)  # half-even, like the ledger's money
        for run, deviation in zip(members, deviations, strict=True):
            if deviation <= tolerance:
                continue
            score = deviation / scale
            if score > cut:
                found.append(
                    Anomaly(
                        experiment=run.experiment_name or run.run_id,
                        run_key=run.run_key,
                        team=team,
                        experiment_type=kind,
                        cost_micros=run.cost_micros,
                        expected_cost_micros=expected,
                        score=score,
                    )
                )
    found.sort(key=lambda a: (-a.score, a.run_key))
    return found
