"""Cost recommendations computed from run history: six rules, one function each.

Pure logic over :class:`~genops_processor.analytics.history.RunFacts`; no I/O. Every rule
takes ``(runs, prices)`` (``prices`` = USD per GPU-hour by GPU SKU, used where a
rule compares GPUs) plus keyword thresholds, and returns zero or more
:class:`Recommendation`. Savings are integer micro-dollars computed from the
runs (Decimal arithmetic, rounded half-even once per run); confidence is a
percentage in (0, 100] computed from how much evidence the rule saw. Nothing is
a constant: a rule that finds nothing says nothing.

Confidence is built from two kinds of factor, both in (0, 1]:

* ``grow(n, h) = 1 - 2**(-n/h)``: evidence from counting, 0 with no cases, one
  half at ``h`` cases, approaching 1 as cases accumulate;
* a share or margin in [0, 1], mapped to (0.5 + 0.5 * x) where even a zero
  margin still leaves the count's evidence standing.

Categories: ``failed_early``, ``idle_gpu``, ``duplicate_configs``,
``unused_artifacts``, ``spot``, ``smaller_gpu``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from genops.money import format_usd
from genops_processor.analytics.history import RunFacts
from genops_processor.analytics.recommendation import (
    COMPUTE_CATEGORIES,
    GPU_MEMORY_GB,
    UNUSED_ARTIFACTS,
    WHOLE_RUN_CATEGORIES,
    Recommendation,
    dec,
    round_micros,
)
from genops_processor.analytics.recommendation_rules import (
    duplicate_configs,
    failed_early,
    idle_gpu,
    smaller_gpu,
    spot,
    unused_artifacts,
)

__all__ = [
    "GPU_MEMORY_GB",
    "Recommendation",
    "duplicate_configs",
    "failed_early",
    "generate",
    "idle_gpu",
    "smaller_gpu",
    "spot",
    "unused_artifacts",
]


def generate(
    runs: Sequence[RunFacts],
    prices: Mapping[str, Decimal],
    target_savings_percentage: float | None = None,
    *,
    now: datetime | None = None,
) -> list[Recommendation]:
    """Every rule's recommendations, largest savings first (none with zero savings).

    With ``target_savings_percentage`` (0 < P <= 100), each recommendation's
    evidence gains one line saying whether all of them together reach ``P``% of
    total spend (``sum(cost_micros)``). "Together" counts each run once
    (see :func:`combined_savings`), so two rules applied to the same run do not
    save more than the run cost.
    """
    if target_savings_percentage is not None and not 0 < target_savings_percentage <= 100:
        raise ValueError(
            f"target_savings_percentage must be within (0, 100], got {target_savings_percentage!r}"
        )
    recs = [
        *failed_early(runs, prices),
        *idle_gpu(runs, prices),
        *duplicate_configs(runs, prices),
        *unused_artifacts(runs, prices, now=now),
        *spot(runs, prices),
        *smaller_gpu(runs, prices),
    ]
    recs = [r for r in recs if r.estimated_savings_micros > 0]
    recs.sort(key=lambda r: (-r.estimated_savings_micros, r.category, r.recommendation))
    if target_savings_percentage is None or not recs:
        return recs
    total = sum(r.cost_micros for r in runs)
    together = combined_savings(runs, recs)
    goal = round_micros(Decimal(total) * dec(target_savings_percentage) / 100)
    reached = total > 0 and together >= goal
    achieved = 100.0 * together / total if total else 0.0
    note = (
        f"target {target_savings_percentage:g}% of spend {format_usd(total)} = "
        f"{format_usd(goal)}: together these recommendations save {format_usd(together)} "
        f"({achieved:.1f}%), target {'reached' if reached else 'not reached'}"
    )
    return [dataclasses.replace(r, evidence=(*r.evidence, note)) for r in recs]


def combined_savings(runs: Sequence[RunFacts], recs: Iterable[Recommendation]) -> int:
    """What ``recs`` save together, counting each run's cost once.

    Per run, each rule's saving becomes a share of the part of the cost it acts
    on: whole-run rules (failed early, duplicates) of ``cost``, compute rules
    (idle, spot, smaller GPU) of ``compute_cost``, unused artifacts of the
    storage cost. Shares compose multiplicatively -- a spot discount applies to
    what the smaller GPU still costs -- so the run keeps
    ``prod(1 - w) * (compute * prod(1 - c) + storage * (1 - s))`` and saves the
    rest, never more than its cost. Savings owed to runs not in ``runs`` are
    added as they are.
    """
    by_run: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for rec in recs:
        for run_key, micros in rec.run_savings:
            by_run[run_key][rec.category] += micros
    total = 0
    seen: set[str] = set()
    for run in runs:
        saved = by_run.get(run.run_key)
        if not saved or run.run_key in seen:
            continue
        seen.add(run.run_key)
        cost = Decimal(run.cost_micros)
        compute = Decimal(run.compute_cost_micros)
        storage = Decimal(min(run.storage_cost_micros, run.cost_micros))
        keep_whole = Decimal(1)
        for category in WHOLE_RUN_CATEGORIES:
            if saved.get(category) and cost > 0:
                keep_whole *= 1 - min(Decimal(1), saved[category] / cost)
        keep_compute = compute
        for category in COMPUTE_CATEGORIES:
            if saved.get(category) and compute > 0:
                keep_compute *= 1 - min(Decimal(1), saved[category] / compute)
        keep_storage = storage - min(storage, Decimal(saved.get(UNUSED_ARTIFACTS, 0)))
        kept = keep_whole * (keep_compute + keep_storage)
        total += max(0, min(run.cost_micros, round_micros(cost - kept)))
    total += sum(sum(v.values()) for k, v in by_run.items() if k not in seen)
    return total
