"""The six recommendation rules, one function each (see
:mod:`genops_processor.analytics.recommendations` for their contract)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal

from genops.money import MICROS_PER_USD, format_usd
from genops_processor.analytics.history import RunFacts
from genops_processor.analytics.recommendation import (
    DUPLICATE_CONFIGS,
    FAILED_EARLY,
    GPU_MEMORY_GB,
    IDLE_GPU,
    SECONDS_PER_HOUR,
    SMALLER_GPU,
    SPOT,
    UNUSED_ARTIFACTS,
    Recommendation,
    check_fraction,
    dec,
    grow,
    hours_text,
    listed,
    make,
    round_micros,
    share_of,
)


def failed_early(
    runs: Sequence[RunFacts],
    prices: Mapping[str, Decimal],
    *,
    early_fraction: float = 0.25,
    catch_rate: float = 1.0,
    min_finished: int = 3,
) -> list[Recommendation]:
    """Failed runs that died well before a normal run of their kind would end.

    Per (team, experiment_type): ``M`` = median ``duration_s`` of its finished
    runs (needs at least ``min_finished`` of them). A failed run is *early* when
    ``duration_s < early_fraction * M``. One recommendation per group:

    * savings = ``catch_rate * sum(cost of early failures)`` -- a pre-flight
      check (smoke test of data, config and a few steps) would have stopped
      them before they spent; ``catch_rate`` (default 1.0) is the share such a
      check is assumed to catch;
    * confidence = ``100 * grow(F, 5) * grow(E, 1)`` with ``F`` the finished
      runs behind the median (a median of 5 is half-trusted) and ``E`` the early
      failures (one is half-convincing, each more halves the doubt).
    """
    check_fraction("early_fraction", early_fraction)
    check_fraction("catch_rate", catch_rate)
    groups: dict[tuple[str, str], list[RunFacts]] = defaultdict(list)
    for run in runs:
        groups[(run.team, run.experiment_type)].append(run)
    out: list[Recommendation] = []
    for (team, kind), members in sorted(groups.items()):
        finished = [r.duration_s for r in members if r.status == "finished"]
        if len(finished) < max(1, min_finished):
            continue
        median = statistics.median(finished)
        cutoff = early_fraction * median
        early = sorted(
            (r for r in members if r.status == "failed" and r.duration_s < cutoff),
            key=lambda r: (r.started_at, r.run_key),
        )
        if not early:
            continue
        per_run = [(r.run_key, share_of(r.cost_micros, dec(catch_rate))) for r in early]
        text = (
            f"{len(early)} failed run(s) of team {team!r}, experiment type {kind!r} "
            f"stopped before {early_fraction:.0%} of the usual duration "
            f"(median {hours_text(median)} over {len(finished)} finished runs): run a short "
            f"pre-flight check (data, config, a few steps) before launching full runs."
        )
        evidence = [
            f"run {r.run_key} failed after {hours_text(r.duration_s)} "
            f"(cutoff {hours_text(cutoff)}), cost {format_usd(r.cost_micros)}"
            for r in early
        ]
        confidence = 100.0 * grow(len(finished), 5) * grow(len(early), 1)
        out += make(FAILED_EARLY, text, per_run, confidence, listed(evidence))
    return out


# --------------------------------------------------------------------------- b. idle GPU


def idle_gpu(
    runs: Sequence[RunFacts],
    prices: Mapping[str, Decimal],
    *,
    util_threshold: float = 0.4,
    target_util: float = 0.8,
) -> list[Recommendation]:
    """GPU runs whose mean utilisation (from the heartbeats) was low.

    A run with GPUs and a known ``gpu_util_mean = u < util_threshold`` is
    flagged. Doing the same work at ``target_util`` would take ``u / target_util``
    of the GPU time (fewer or smaller GPUs, bigger batches, faster input), so:

    * savings = ``sum(compute_cost * (1 - u / target_util))`` over flagged runs;
    * confidence = ``100 * grow(n, 2) * (0.5 + 0.5 * d)`` with ``n`` flagged runs
      and ``d`` = mean of ``(util_threshold - u) / util_threshold`` (how far
      below the threshold they sit: 0 just under it, 1 at zero use).
    """
    check_fraction("util_threshold", util_threshold)
    check_fraction("target_util", target_util)
    if util_threshold > target_util:
        raise ValueError("util_threshold must not exceed target_util")
    flagged = sorted(
        (
            r
            for r in runs
            if r.gpu_count > 0 and r.gpu_util_mean is not None and r.gpu_util_mean < util_threshold
        ),
        key=lambda r: (r.started_at, r.run_key),
    )
    if not flagged:
        return []
    target = dec(target_util)
    per_run = []
    depth = 0.0
    for r in flagged:
        util = max(0.0, float(r.gpu_util_mean or 0.0))
        per_run.append((r.run_key, share_of(r.compute_cost_micros, 1 - dec(util) / target)))
        depth += (util_threshold - util) / util_threshold
    depth /= len(flagged)
    mean_util = statistics.fmean(max(0.0, r.gpu_util_mean or 0.0) for r in flagged)
    text = (
        f"{len(flagged)} GPU run(s) averaged {mean_util:.0%} GPU utilisation "
        f"(below {util_threshold:.0%}): raise batch size or data-loader workers, or use "
        f"fewer GPUs, to reach about {target_util:.0%}."
    )
    evidence = [
        f"run {r.run_key} ({r.gpu_count}x {r.gpu_type or 'GPU'}): utilisation "
        f"{r.gpu_util_mean:.0%}, compute cost {format_usd(r.compute_cost_micros)}"
        for r in flagged
    ]
    confidence = 100.0 * grow(len(flagged), 2) * (0.5 + 0.5 * depth)
    return make(IDLE_GPU, text, per_run, confidence, listed(evidence))


# --------------------------------------------------------------------------- c. duplicates


def duplicate_configs(
    runs: Sequence[RunFacts], prices: Mapping[str, Decimal]
) -> list[Recommendation]:
    """Runs that repeat the exact config of an earlier run that finished.

    Within a project, runs are taken in start order; a run whose non-empty
    ``config_hash`` equals that of a *finished* run started strictly earlier is
    a repeat (whatever its own outcome). The first finished run of a config is
    the original; repeats never become originals.

    * savings = ``sum(cost of the repeats)`` (reuse the finished result instead);
    * confidence = ``100 * grow(R, 1)`` with ``R`` repeats: one repeat is
      half-convincing (it may be a deliberate re-run), each more halves the doubt.
    """
    ordered = sorted(runs, key=lambda r: (r.project, r.started_at, r.run_key))
    originals: dict[tuple[str, str], RunFacts] = {}
    repeats: list[tuple[RunFacts, RunFacts]] = []
    for run in ordered:
        if not run.config_hash:
            continue
        key = (run.project, run.config_hash)
        original = originals.get(key)
        if original is not None and original.started_at < run.started_at:
            repeats.append((run, original))
        elif original is None and run.status == "finished":
            originals[key] = run
    if not repeats:
        return []
    per_run = [(r.run_key, r.cost_micros) for r, _ in repeats]
    text = (
        f"{len(repeats)} run(s) repeated the exact config of an earlier finished run: reuse "
        f"the logged results (or change the seed/config deliberately) instead of re-running."
    )
    evidence = [
        f"run {r.run_key} (project {r.project!r}) repeats config {r.config_hash} of finished "
        f"run {o.run_key}, cost {format_usd(r.cost_micros)}"
        for r, o in repeats
    ]
    confidence = 100.0 * grow(len(repeats), 1)
    return make(DUPLICATE_CONFIGS, text, per_run, confidence, listed(evidence))


# --------------------------------------------------------------------------- d. unused artifacts


def unused_artifacts(
    runs: Sequence[RunFacts],
    prices: Mapping[str, Decimal],
    *,
    now: datetime | None = None,
    min_age_days: float = 1.0,
    half_life_days: float = 7.0,
) -> list[Recommendation]:
    """Artifacts stored but never consumed by a later ``use_artifact``.

    An artifact counts when ``used`` is false, it has a storage cost, and its
    run ended at least ``min_age_days`` before ``now`` (a fresh artifact has not
    had its chance to be used yet). Its age ``a`` (days) runs from the run's end.

    * savings = ``sum(storage_cost_micros)`` of those artifacts (delete them or
      move them to a cheaper tier);
    * confidence = ``100 * sum(s_i * grow(a_i, half_life_days)) / sum(s_i)``: the
      storage-weighted belief that an artifact unused for ``a`` days stays
      unused, one half after ``half_life_days`` (default a week).
    """
    now = now or datetime.now(timezone.utc)
    items = []
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_key)):
        age_days = (now - run.ended_at).total_seconds() / 86_400
        if age_days < min_age_days:
            continue
        for art in run.artifacts:
            if not art.used and art.storage_cost_micros > 0:
                items.append((run, art, age_days))
    if not items:
        return []
    per_run_totals: dict[str, int] = defaultdict(int)
    for run, art, _ in items:
        per_run_totals[run.run_key] += art.storage_cost_micros
    total = sum(art.storage_cost_micros for _, art, _ in items)
    weighted = sum(art.storage_cost_micros * grow(age, half_life_days) for _, art, age in items)
    confidence = 100.0 * weighted / total
    total_bytes = sum(art.bytes for _, art, _ in items)
    text = (
        f"{len(items)} artifact(s) ({total_bytes / 1e9:.2f} GB) were stored but never used by "
        f"a later run: delete them or move them to cold storage."
    )
    evidence = [
        f"artifact {art.name} of run {run.run_key}: {art.bytes} bytes, unused for "
        f"{age:.0f} day(s), storage {format_usd(art.storage_cost_micros)}"
        for run, art, age in items
    ]
    return make(UNUSED_ARTIFACTS, text, list(per_run_totals.items()), confidence, listed(evidence))


# --------------------------------------------------------------------------- e. spot


def spot(
    runs: Sequence[RunFacts],
    prices: Mapping[str, Decimal],
    *,
    spot_discount: float = 0.65,
    max_hours: float = 4.0,
    require_checkpoints: bool = True,
) -> list[Recommendation]:
    """On-demand runs that spot (preemptible) capacity would have served.

    Spot capacity is typically 60-70% cheaper than on-demand (cloud list prices
    for GPU instances); ``spot_discount`` defaults to 0.65. A run on
    ``capacity_type == "on-demand"`` is a candidate when it is short
    (``duration_s < max_hours`` hours, so a preemption loses little) and
    checkpoint-friendly: it logged at least one artifact it could resume from
    (skip that test with ``require_checkpoints=False``).

    * savings = ``sum(compute_cost * spot_discount)`` over candidates (storage is
      not discounted);
    * confidence = ``100 * (C / D) * grow(C, 2)`` with ``C`` candidates among
      ``D`` on-demand runs: a team whose on-demand work is mostly short and
      resumable is a safe fit for spot, a lone candidate is not yet a pattern.
    """
    if not 0 < spot_discount < 1:
        raise ValueError(f"spot_discount must be within (0, 1), got {spot_discount!r}")
    if max_hours <= 0:
        raise ValueError(f"max_hours must be positive, got {max_hours!r}")
    on_demand = [r for r in runs if r.capacity_type == "on-demand"]
    candidates = sorted(
        (
            r
            for r in on_demand
            if r.duration_s < max_hours * 3600 and (r.artifacts or not require_checkpoints)
        ),
        key=lambda r: (r.started_at, r.run_key),
    )
    if not candidates:
        return []
    discount = dec(spot_discount)
    per_run = [(r.run_key, share_of(r.compute_cost_micros, discount)) for r in candidates]
    share = len(candidates) / len(on_demand)
    text = (
        f"{len(candidates)} of {len(on_demand)} on-demand run(s) were shorter than "
        f"{max_hours:g} h and checkpointed: run them on spot capacity "
        f"(about {spot_discount:.0%} cheaper) and resume from the last checkpoint on preemption."
    )
    evidence = [
        f"run {r.run_key}: on-demand for {hours_text(r.duration_s)}, {len(r.artifacts)} "
        f"artifact(s), compute cost {format_usd(r.compute_cost_micros)}"
        for r in candidates
    ]
    confidence = 100.0 * share * grow(len(candidates), 2)
    return make(SPOT, text, per_run, confidence, listed(evidence))


# --------------------------------------------------------------------------- f. smaller GPU


def smaller_gpu(
    runs: Sequence[RunFacts],
    prices: Mapping[str, Decimal],
    *,
    headroom: float = 1.2,
) -> list[Recommendation]:
    """Runs whose peak GPU memory fits a cheaper GPU from :data:`GPU_MEMORY_GB`.

    For a run on a known, priced GPU ``G`` (price ``p``) with a known
    ``gpu_mem_peak_gb``, the need is ``peak * headroom``. The target is the
    cheapest priced GPU ``T`` (price ``q < p``) with ``GPU_MEMORY_GB[T] >= need``
    (ties: less memory, then name). One recommendation per (G, T):

    * savings = ``sum(gpu_cost * (1 - q / p))`` where ``gpu_cost =
      min(compute_cost, gpu_count * hours * p)`` -- the run's cost at the current
      GPU price, never more than its compute cost (CPU and storage do not shrink
      with the GPU);
    * confidence = ``100 * grow(n, 2) * (n / K) * (0.5 + 0.5 * m)`` with ``n`` runs
      moving from G to T, ``K`` runs on G with a known peak (does the whole
      workload fit, or only some of it?) and ``m`` the smallest spare memory
      share ``(GPU_MEMORY_GB[T] - need) / GPU_MEMORY_GB[T]`` among the ``n``.
    """
    if headroom < 1:
        raise ValueError(f"headroom must be at least 1, got {headroom!r}")
    price = {name: dec(value) for name, value in prices.items()}
    known: dict[str, int] = defaultdict(int)
    moves: dict[tuple[str, str], list[tuple[RunFacts, int, float]]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_key)):
        current = run.gpu_type
        if (
            run.gpu_count <= 0
            or run.gpu_mem_peak_gb is None
            or current not in GPU_MEMORY_GB
            or price.get(current, Decimal(0)) <= 0
        ):
            continue
        known[current] += 1
        p = price[current]
        need = run.gpu_mem_peak_gb * headroom
        options = [
            name
            for name, mem in GPU_MEMORY_GB.items()
            if name != current and mem >= need and name in price and 0 < price[name] < p
        ]
        if not options:
            continue
        target = min(options, key=lambda n: (price[n], GPU_MEMORY_GB[n], n))
        q = price[target]
        at_price = Decimal(run.gpu_count) * dec(run.duration_s) / SECONDS_PER_HOUR * p
        gpu_cost = min(Decimal(run.compute_cost_micros), at_price * MICROS_PER_USD)
        saved = round_micros(gpu_cost * (p - q) / p)
        margin = (GPU_MEMORY_GB[target] - need) / GPU_MEMORY_GB[target]
        moves[(current, target)].append((run, saved, margin))
    out: list[Recommendation] = []
    for (current, target), moved in sorted(moves.items()):
        n = len(moved)
        peak = max(float(r.gpu_mem_peak_gb or 0.0) for r, _, _ in moved)
        margin = min(m for _, _, m in moved)
        text = (
            f"{n} run(s) on {current} ({GPU_MEMORY_GB[current]} GB) peaked at "
            f"{peak:.1f} GB per GPU; with {headroom:g}x headroom they fit a {target} "
            f"({GPU_MEMORY_GB[target]} GB, ${price[target]}/GPU-hour vs ${price[current]})."
        )
        evidence = [
            f"run {r.run_key}: peak {r.gpu_mem_peak_gb:.1f} GB on {r.gpu_count}x {current}, "
            f"saves {format_usd(saved)}"
            for r, saved, _ in moved
        ]
        confidence = 100.0 * grow(n, 2) * (n / known[current]) * (0.5 + 0.5 * margin)
        per_run = [(r.run_key, saved) for r, saved, _ in moved]
        out += make(SMALLER_GPU, text, per_run, confidence, listed(evidence))
    return out


# --------------------------------------------------------------------------- all rules
