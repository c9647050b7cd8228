"""Writing a decoded batch: spans once each, run states, cost lines, artifacts, experiments.

Each batch is one transaction. A span already stored (same trace_id and span_id) with the
same content is skipped, so a retried OTLP request changes nothing; with other content it
is rejected (a span id is not reused). A span compacted to its ids (storage/compaction.py)
has no content left to compare: it can only be recognised as a duplicate, and is skipped.
A span that would change a run it does not own (:func:`ledger.conflict`: another scope,
hardware or compute start, usage going down) is rejected too. Rejected spans are not
stored; their ids and reason are recorded in ``span_rejections``.

If the ledger still refuses a batch with a data error (a value the validation let through
and DuckDB cannot store), the batch is split in halves and each stored on its own, down
to the single spans that fail: those are rejected as ``unstorable``, the rest is stored,
and the client is not asked to retry what can never succeed. The caller is answered only
after the commit.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from genops_processor.budgets import reservations, residency, running
from genops_processor.domain import (
    ArtifactEvent,
    Batch,
    ExperimentEvent,
    ManualCostEvent,
    Rejection,
    RunState,
    SpanRecord,
)
from genops_processor.ingest import ledger, validation
from genops_processor.pricing import CatalogSource
from genops_processor.pricing import cost_lines as pricing
from genops_processor.record import audit
from genops_processor.storage import id_bytes, is_data_error, rolled_back, run_cache, store_runs
from genops_processor.storage.client_json import json_object
from genops_processor.storage.columnwise import text_array
from genops_processor.storage.stored_span_ids import stored_span_ids

_log = logging.getLogger(__name__)

# The incoming spans stored already, with their content; one compacted past the
# raw-content window is recognised by its ids alone (its content: NULL, kind included).
# One statement: each costs ~1 ms before it reads a row. It scans every span kept, so it
# is asked only about the spans that may be stored (storage/stored_span_ids.py).
_STORED = (
    "SELECT i.trace_id, i.span_id, s.kind, s.name, s.run_key, s.start_ns, s.end_ns, "
    "s.attributes FROM incoming_spans i JOIN spans s "
    "ON s.trace_id = i.trace_id AND s.span_id = i.span_id "
    "UNION ALL SELECT i.trace_id, i.span_id, NULL, NULL, NULL, NULL, NULL, NULL "
    "FROM incoming_spans i JOIN span_ids c "
    f"ON c.trace_id = {id_bytes('i.trace_id')} AND c.span_id = {id_bytes('i.span_id')}"
)
# Arrow tables this module registers (storage/run_rows.py drops its own after use)
_TEMPORARY = ("incoming_spans", "accepted_spans", "new_artifacts", "new_experiments", "new_manual")


@dataclass(frozen=True)
class IngestResult:
    new_spans: int
    duplicate_spans: int
    runs: tuple[RunState, ...]
    previous_cost_micros: dict[str, int]
    previous_final: dict[str, bool]
    rejected: tuple[Rejection, ...] = field(default_factory=tuple)


def ingest_batch(conn: Any, batch: Batch, catalogs: CatalogSource) -> IngestResult:
    """Store a batch in a transaction of its own; isolates (and rejects) the spans the
    ledger cannot store."""
    try:
        return _moving_spend(conn, batch, lambda: _ingest_isolating(conn, batch, catalogs))
    except BaseException:
        running.lost_track(conn)  # some halves of the batch may have been committed
        raise


def ingest_batches(
    conn: Any, batches: Sequence[Batch], catalogs: CatalogSource
) -> list[IngestResult | Exception]:
    """Several requests' batches in one transaction and one commit (a group commit: each
    request is answered after the commit that holds it). Each batch sees the ones before
    it, as if stored one after the other. If any of them fails, the transaction is rolled
    back and each is stored alone (:func:`ingest_batch`): only the failing one fails, and
    the spans the ledger cannot store are isolated as they are alone."""
    if len(batches) > 1:
        try:
            return list(_ingest_together(conn, batches, catalogs))
        except Exception:
            _log.debug("a group of %d ingest batches failed; storing each alone", len(batches))
    results: list[IngestResult | Exception] = []
    for batch in batches:
        try:
            results.append(ingest_batch(conn, batch, catalogs))
        except Exception as error:
            results.append(error)
    return results


def _ingest_together(conn: Any, batches: Sequence[Batch], catalogs: CatalogSource):
    cache = run_cache(conn)
    conn.begin()
    try:
        results = [
            _moving_spend(conn, b, lambda b=b: _in_transaction(conn, b, catalogs)) for b in batches
        ]
        conn.commit()
    except BaseException:
        cache.settle(committed=False)
        running.lost_track(conn)  # moved by batches that were rolled back
        try:
            conn.rollback()
        except Exception:  # noqa: S110 - a failed commit already ended it; its error follows
            pass
        rolled_back(conn)  # the audit chain's head is read again
        raise
    cache.settle(committed=True)
    return results


def _moving_spend(conn: Any, batch: Batch, store) -> IngestResult:
    """``store()`` the batch, moving budgets' running spend by what it changed (its runs,
    their holds, its lines): for runs no hold covers, from their states before and after,
    in memory; for the others, their hold families and lines, read from the ledger
    around the writes."""
    cache = run_cache(conn)
    keys = list(dict.fromkeys(event.span.run_key for event in batch.usage))
    before = cache.states(conn, keys)
    held = {event.span.run_key for event in batch.usage if event.labels.hold_id}
    held.update(k for k, state in before.items() if state.labels.hold_id or cache.row(k) is None)
    holds = {event.labels.hold_id for event in batch.usage}
    lines = [(event.span.trace_id, event.span.span_id) for event in batch.manual_costs]
    with running.moving(conn, [k for k in keys if k in held], holds, lines):
        result = store()
    running.runs_moved(conn, before, (s for s in result.runs if s.run_key not in held))
    return result


def _ingest_isolating(conn: Any, batch: Batch, catalogs: CatalogSource) -> IngestResult:
    try:
        return _ingest_once(conn, batch, catalogs)
    except Exception as error:
        if not is_data_error(error):
            raise  # transient (storage): the client retries the whole request
        keys = list(dict.fromkeys((s.trace_id, s.span_id) for s in batch.spans))
        if len(keys) <= 1:
            _log.warning("span %s rejected: the ledger cannot store it: %s", keys, error)
            return IngestResult(0, 0, (), {}, {}, _unstorable(batch, error))
        half = set(keys[: len(keys) // 2])
        first = _ingest_isolating(conn, _part(batch, lambda k: k in half), catalogs)
        second = _ingest_isolating(conn, _part(batch, lambda k: k not in half), catalogs)
        return _combined(first, second)


def _unstorable(batch: Batch, error: BaseException) -> tuple[Rejection, ...]:
    seen = {(s.trace_id, s.span_id): s for s in batch.spans}
    return tuple(
        Rejection(s.trace_id, s.span_id, s.run_key, validation.UNSTORABLE, str(error)[:200])
        for s in seen.values()
    )


def _part(batch: Batch, keep) -> Batch:
    def mine(events):
        return tuple(e for e in events if keep((e.span.trace_id, e.span.span_id)))

    return Batch(
        usage=mine(batch.usage),
        artifacts=mine(batch.artifacts),
        experiments=mine(batch.experiments),
        manual_costs=mine(batch.manual_costs),
        sender=batch.sender,
    )


def split(batch: Batch, max_spans: int) -> list[Batch]:
    """``batch`` as consecutive parts of at most ``max_spans`` distinct spans, in order (one
    pass; copies of a span stay together). Stored one after the other, the parts give the
    ledger the batch gives: each sees the ones before it, and a retry of the whole request
    after a failure between parts finds the stored parts as duplicates."""
    keys = dict.fromkeys((s.trace_id, s.span_id) for s in batch.spans)
    if len(keys) <= max_spans:
        return [batch]
    part_of = {key: index // max_spans for index, key in enumerate(keys)}
    count = -(-len(keys) // max_spans)

    def spread(events) -> list[tuple]:
        parts: list[list] = [[] for _ in range(count)]
        for event in events:
            parts[part_of[(event.span.trace_id, event.span.span_id)]].append(event)
        return [tuple(p) for p in parts]

    usage, artifacts = spread(batch.usage), spread(batch.artifacts)
    experiments, manual = spread(batch.experiments), spread(batch.manual_costs)
    return [
        Batch(
            usage=usage[i],
            artifacts=artifacts[i],
            experiments=experiments[i],
            manual_costs=manual[i],
            sender=batch.sender,
        )
        for i in range(count)
    ]


def combine(results: Sequence[IngestResult]) -> IngestResult:
    """The result of the parts of one request (:func:`split`), stored in order."""
    total = results[0]
    for result in results[1:]:
        total = _combined(total, result)
    return total


def _combined(first: IngestResult, second: IngestResult) -> IngestResult:
    runs = {state.run_key: state for state in (*first.runs, *second.runs)}
    return IngestResult(
        new_spans=first.new_spans + second.new_spans,
        duplicate_spans=first.duplicate_spans + second.duplicate_spans,
        runs=tuple(runs.values()),
        previous_cost_micros={**second.previous_cost_micros, **first.previous_cost_micros},
        previous_final={**second.previous_final, **first.previous_final},
        rejected=first.rejected + second.rejected,
    )


def _ingest_once(conn: Any, batch: Batch, catalogs: CatalogSource) -> IngestResult:
    if not batch.spans:
        return IngestResult(0, 0, (), {}, {})
    cache = run_cache(conn)
    conn.begin()
    try:
        result = _in_transaction(conn, batch, catalogs)
        conn.commit()
    except BaseException:
        cache.settle(committed=False)
        conn.rollback()
        rolled_back(conn)  # the audit chain's head is read again (ingest_batch retries)
        raise
    cache.settle(committed=True)
    return result


def _in_transaction(conn: Any, batch: Batch, catalogs: CatalogSource) -> IngestResult:
    if not batch.spans:
        return IngestResult(0, 0, (), {}, {})
    try:
        return _ingest_in_transaction(conn, batch, catalogs)
    finally:
        for name in _TEMPORARY:
            conn.unregister(name)


def _content(span: SpanRecord) -> tuple:
    return (span.kind, span.name, span.run_key, span.start_ns, span.end_ns, span.attributes_json)


def _spans_table(records: Sequence[SpanRecord]) -> pa.Table:
    return pa.table(
        {
            "trace_id": text_array([s.trace_id for s in records]),
            "span_id": text_array([s.span_id for s in records]),
            "kind": text_array([s.kind for s in records]),
            "name": text_array([s.name for s in records]),
            "run_key": text_array([s.run_key for s in records]),
            "start_ns": pa.array([s.start_ns for s in records], pa.int64()),
            "end_ns": pa.array([s.end_ns for s in records], pa.int64()),
            "attributes": text_array([s.attributes_json for s in records]),
        }
    )


def _ingest_in_transaction(conn, batch: Batch, catalogs: CatalogSource) -> IngestResult:
    rejected: list[Rejection] = []
    refused: set[tuple] = set()  # spans of this batch not stored: rejected

    def reject(span: SpanRecord, reason: str, message: str) -> None:
        rejected.append(Rejection(span.trace_id, span.span_id, span.run_key, reason, message))
        refused.add((span.trace_id, span.span_id))

    records: dict[tuple, SpanRecord] = {}
    for span in batch.spans:
        key = (span.trace_id, span.span_id)
        if key not in records:
            records[key] = span
        elif _content(records[key]) != _content(span):  # the first copy stands
            rejected.append(Rejection(*key, span.run_key, validation.DUPLICATE_SPAN_ID, _dup(span)))
    # Each registration of an Arrow table, and each removal, costs ~0.2 ms whatever its
    # size: a batch of new spans (the usual one) registers its spans once, and they are
    # inserted from that same table.
    conn.register("incoming_spans", _spans_table(list(records.values())))
    known = stored_span_ids(conn)
    hashes = known.hashes(conn, "incoming_spans")
    asked = known.maybe_stored(conn, hashes)  # the others are certainly new
    narrowed = bool(asked) and len(asked) < len(records)  # the ledger asked about these only
    if narrowed:
        conn.register("incoming_spans", _spans_table([records[key] for key in asked]))
    stored: dict[tuple, tuple | None] = {}
    rows = conn.execute(_STORED).fetchall() if asked != [] else []
    for row in rows:  # kind is NOT NULL: NULL is compacted
        key = (row[0], row[1])
        if row[2] is None:
            stored[key] = None  # only its ids are known, whatever else says
        elif key not in stored:
            stored[key] = tuple(row[2:])
    for key, content in stored.items():
        if content is not None and content != _content(records[key]):
            reject(records[key], validation.DUPLICATE_SPAN_ID, _dup(records[key]))
    new = {key for key in records if key not in stored and key not in refused}
    states = run_cache(conn).states(conn, {e.span.run_key for e in _unique_new(batch.usage, new)})
    events = _owned(_unique_new(batch.usage, new), states, reject)
    experiments = _owned_experiments(conn, _unique_new(batch.experiments, new), reject)
    new -= refused
    events = [e for e in events if (e.span.trace_id, e.span.span_id) in new]
    accepted = "incoming_spans"
    if narrowed or len(new) < len(records):  # incoming_spans is not exactly the new spans
        accepted = "accepted_spans"
        conn.register(accepted, _spans_table([records[k] for k in records if k in new]))
    if new:
        conn.execute(
            "INSERT INTO spans (trace_id, span_id, kind, name, run_key, start_ns, end_ns, "
            f"attributes) SELECT * FROM {accepted}"
        )
    known.written(hashes[key] for key in records if key in new)
    artifacts = _unique_new(batch.artifacts, new)
    changed, lines = ledger.apply_events(states, events, catalogs)
    if changed:
        changed = _judge_residency(conn, states, changed, batch.sender)
        store_runs(conn, changed.values(), states, lines)
        reservations.track(conn, changed.values())
        _audit_runs(conn, states, changed, batch.sender)
    if artifacts:
        _write_artifacts(conn, artifacts, batch.sender)
    experiments = [x for x in experiments if (x.span.trace_id, x.span.span_id) in new]
    if experiments:
        _write_experiments(conn, experiments)
    manual = _unique_new(batch.manual_costs, new)
    if manual:
        _write_manual_costs(conn, manual, catalogs)
    if rejected:  # one statement for all of them (executemany costs ~0.5 ms a row)
        conn.execute(
            "INSERT INTO span_rejections (trace_id, span_id, run_key, reason) "
            "SELECT unnest(?), unnest(?), unnest(?), unnest(?)",
            [
                [r.trace_id for r in rejected],
                [r.span_id for r in rejected],
                [r.run_key for r in rejected],
                [r.reason for r in rejected],
            ],
        )
    return IngestResult(
        new_spans=len(new),
        duplicate_spans=len(records) - len(new) - len(refused),
        runs=tuple(changed.values()),
        previous_cost_micros={key: state.cost_micros for key, state in states.items()},
        previous_final={key: state.final for key, state in states.items()},
        rejected=tuple(rejected),
    )


def _judge_residency(
    conn, before: dict[str, RunState], after: dict[str, RunState], actor: str
) -> dict[str, RunState]:
    """Each new run (or one whose region or classification changed) stamped with the
    policy's data_residency verdict. A violation is audited here for a run that never
    asked at its start (no hold: CheckBudget audited the others)."""
    rule = residency.rule_of(conn)
    if rule is None:
        return after
    now = dt.datetime.now(dt.timezone.utc)
    judged = dict(after)
    for key, run in after.items():
        old = before.get(key)
        labels = run.labels
        if old is not None and (old.labels.region, old.labels.security_level) == (
            labels.region,
            labels.security_level,
        ):
            continue
        subject = f"run {run.run_id or key} of team {run.scope.team or '-'}"
        verdict = residency.judge(rule, run.scope, labels.region, labels.security_level, subject)
        shown = verdict.shown if verdict is not None else ""
        judged[key] = replace(run, labels=replace(labels, residency=shown))
        if verdict is not None and not verdict.allowed and not labels.hold_id:
            detail = {**verdict.detail(), "outcome": "recorded", "run_key": key}
            audit(
                conn,
                "residency.violation",
                actor or "processor",
                {**detail, "run_id": run.run_id, **run.scope.as_dict()},
                now,
                region=verdict.region,
            )
    return judged


def _audit_runs(conn, before: dict[str, RunState], after: dict[str, RunState], actor: str) -> None:
    """``run.started`` for a run the ledger did not know, ``run.finished`` for one that
    became final (its cost, status and exit code): in the batch's transaction; the actor
    is the principal that sent the spans, the team the run's."""
    now = dt.datetime.now(dt.timezone.utc)
    for key, run in after.items():
        detail = {"run_key": key, "run_id": run.run_id, **run.scope.as_dict()}
        previous = before.get(key)
        if previous is None:
            audit(conn, "run.started", actor, {**detail, "run_name": run.run_name}, now)
        if run.final and not (previous is not None and previous.final):
            outcome = {"status": run.status, "cost_micros": run.cost_micros}
            finished = {**detail, **outcome, "exit_code": run.exit_code}
            audit(conn, "run.finished", actor, finished, now)


def _dup(span: SpanRecord) -> str:
    return f"span {span.span_id} of trace {span.trace_id}: duplicate span id with other content"


def _owned(events: list, states: dict[str, RunState], reject) -> list:
    """The events that may apply to their runs, in order: each checked against the run as
    the stored state and the batch's earlier events leave it."""
    current: dict[str, RunState] = dict(states)
    later = Counter(event.span.run_key for event in events)  # events of a run still to check
    accepted = []
    for event in events:
        key = event.span.run_key
        later[key] -= 1
        found = ledger.conflict(current.get(key), event)
        if found is not None:
            reject(event.span, *found)
            continue
        if later[key]:  # the state only the run's next events are checked against
            current[key] = ledger.merge(current.get(key), event)
        accepted.append(event)
    return accepted


def _owned_experiments(conn, experiments: list, reject) -> list:
    """An experiment's scope is its first span's: another scope for its id is rejected."""
    ids = sorted({x.experiment_id for x in experiments})
    scopes = {}
    if ids:
        rows = conn.execute(
            "SELECT experiment_id, team, project, customer_id, cost_center, environment "
            "FROM experiments WHERE list_contains(?, experiment_id)",
            [ids],
        ).fetchall()
        scopes = {r[0]: tuple(r[1:]) for r in rows}
    accepted = []
    for x in experiments:
        scope = tuple(x.scope.as_dict().values())
        if scopes.setdefault(x.experiment_id, scope) != scope:
            reject(
                x.span,
                validation.SCOPE_CHANGED,
                f"experiment {x.experiment_id!r} belongs to another scope",
            )
            continue
        accepted.append(x)
    return accepted


def _unique_new(events: Sequence, new: set) -> list:
    seen: set = set()
    result = []
    for event in events:
        key = (event.span.trace_id, event.span.span_id)
        if key in new and key not in seen:
            seen.add(key)
            result.append(event)
    return result


def _write_artifacts(conn, artifacts: Sequence[ArtifactEvent], actor: str) -> None:
    table = pa.table(
        {
            "trace_id": text_array([a.span.trace_id for a in artifacts]),
            "span_id": text_array([a.span.span_id for a in artifacts]),
            "run_key": text_array([a.span.run_key for a in artifacts]),
            "name": text_array([a.name for a in artifacts]),
            "type": text_array([a.type for a in artifacts]),
            "bytes": pa.array([a.bytes for a in artifacts], pa.int64()),
            "files": pa.array([a.files for a in artifacts], pa.int64()),
            "logged_ns": pa.array([a.span.end_ns for a in artifacts], pa.int64()),
            "governance_metadata": text_array(
                [a.governance_metadata_json or None for a in artifacts]
            ),
            "cost_estimate_micros": pa.array(
                [a.cost_estimate_micros for a in artifacts], pa.int64()
            ),
        }
    )
    conn.register("new_artifacts", table)
    conn.execute("INSERT OR IGNORE INTO artifacts SELECT * FROM new_artifacts")
    now = dt.datetime.now(dt.timezone.utc)
    # each artifact's event carries its run's team (one lookup per batch with artifacts;
    # the runs of this batch are stored already): its team's readers see it
    keys = sorted({a.span.run_key for a in artifacts})
    teams = dict(
        conn.execute(
            "SELECT run_key, team FROM runs WHERE list_contains(?, run_key)", [keys]
        ).fetchall()
    )
    for a in artifacts:  # with the artifact, in its transaction
        detail = {"run_key": a.span.run_key, "name": a.name, "type": a.type, "bytes": a.bytes}
        metadata = json_object(a.governance_metadata_json)
        team = teams.get(a.span.run_key) or ""
        detail = {**detail, "governance_metadata": metadata}
        audit(conn, "artifact.logged", actor, detail, now, team=team)


def _write_experiments(conn, experiments: Sequence[ExperimentEvent]) -> None:
    table = pa.table(
        {
            "experiment_id": text_array([x.experiment_id for x in experiments]),
            "name": text_array([x.name for x in experiments]),
            "experiment_type": text_array([x.experiment_type for x in experiments]),
            "status": text_array([x.status for x in experiments]),
            "team": text_array([x.scope.team for x in experiments]),
            "project": text_array([x.scope.project for x in experiments]),
            "customer_id": text_array([x.scope.customer_id for x in experiments]),
            "cost_center": text_array([x.scope.cost_center for x in experiments]),
            "environment": text_array([x.scope.environment for x in experiments]),
            "max_cost_micros": pa.array([x.max_cost_micros for x in experiments], pa.int64()),
            "estimated_cost_micros": pa.array(
                [x.estimated_cost_micros for x in experiments], pa.int64()
            ),
            "start_ns": pa.array([x.span.start_ns for x in experiments], pa.int64()),
            "end_ns": pa.array([x.span.end_ns for x in experiments], pa.int64()),
            "error": text_array([x.error for x in experiments]),
            "violations": text_array([json.dumps(list(x.violations)) for x in experiments]),
        }
    )
    conn.register("new_experiments", table)
    conn.execute("INSERT OR REPLACE INTO experiments SELECT * FROM new_experiments")


def _write_manual_costs(conn, events: Sequence[ManualCostEvent], catalogs: CatalogSource):
    priced = [(event, pricing.price_manual(event, catalogs)) for event in events]
    table = pa.table(
        {
            "trace_id": text_array([e.span.trace_id for e, _ in priced]),
            "span_id": text_array([e.span.span_id for e, _ in priced]),
            "experiment_id": text_array([e.experiment_id for e, _ in priced]),
            "run_id": text_array([e.run_id for e, _ in priced]),
            **{
                key: text_array([e.scope.as_dict()[key] for e, _ in priced])
                for key in _SCOPE_COLUMNS
            },
            "sku": text_array([e.sku for e, _ in priced]),
            "category": text_array([line.category for _, line in priced]),
            "unit": text_array([line.unit for _, line in priced]),
            # the line's quantity: rounded to the 12 decimals the column keeps
            "quantity": pa.array([line.quantity for _, line in priced], pa.decimal128(38, 12)),
            "unit_price": pa.array([line.unit_price for _, line in priced], pa.decimal128(18, 9)),
            "amount_micros": pa.array([line.amount_micros for _, line in priced], pa.int64()),
            "priced": pa.array([line.priced for _, line in priced], pa.bool_()),
            "catalog_version": text_array([line.catalog_version for _, line in priced]),
            "at_ns": pa.array([e.span.end_ns for e, _ in priced], pa.int64()),
        }
    )
    conn.register("new_manual", table)
    conn.execute("INSERT OR IGNORE INTO manual_costs SELECT * FROM new_manual")


_SCOPE_COLUMNS = ("team", "project", "customer_id", "cost_center", "environment")
