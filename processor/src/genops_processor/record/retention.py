"""Retention: artifacts and runs kept past their retention, and the clean-up plan.

An artifact's retention is the ``retention_period_days`` of its governance metadata
(``log_governed_artifact``), else the run's own retention (``runs.retention_days``), else
the default given (0: none, the artifact is not planned). A finished run's retention is
its ``retention_days``, else the run default. An item is past its retention once that
many days have gone since it was logged (artifact) or last active (run).

The plan only lists (:func:`plan`); :func:`apply` is separate and explicit. It never
touches money or the audit record: applied to an artifact, it records that the W&B
artifact is due for deletion (the plan's action names the call); applied to a run, the
run's raw span content is reduced to its span ids (as compaction does, so a span sent
again is still recognised). Each applied item is one ``retention.applied`` audit event,
in the same transaction as its ``retention_applied`` row; an applied item is not planned
again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from genops_processor.limits import RETENTION_APPLY_CHUNK, RETENTION_PLAN_MAX_ITEMS
from genops_processor.record.audit_log import audit_many
from genops_processor.storage import id_bytes, to_ns, transaction
from genops_processor.storage.client_json import json_object

_DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class Item:
    kind: str  # "artifact" | "run"
    key: str  # "trace_id/span_id" of the artifact's span, or the run key
    name: str
    run_key: str
    team: str
    project: str
    retention_days: int
    source: str  # "governance_metadata" | "run" | "default"
    expired_at: str
    action: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(
    conn: Any, now: dt.datetime, artifact_days: int = 0, run_days: int = 0
) -> tuple[list[Item], bool]:
    """Items past their retention, oldest first, at most RETENTION_PLAN_MAX_ITEMS
    (the flag: more were left out; apply these, then plan again)."""
    now_ns = to_ns(now)
    items: list[Item] = []
    for row in conn.execute(
        "SELECT a.trace_id || '/' || a.span_id, a.name, a.run_key, r.team, r.project, "
        "a.logged_ns, a.governance_metadata, r.retention_days, r.wandb_project "
        "FROM artifacts a JOIN runs r USING (run_key) "
        "WHERE NOT EXISTS (SELECT 1 FROM retention_applied x WHERE x.kind = 'artifact' "
        "AND x.item_key = a.trace_id || '/' || a.span_id) ORDER BY a.logged_ns"
    ).fetchall():
        key, name, run_key, team, project, logged_ns, metadata, run_retention, wandb_project = row
        days, source = _artifact_days(metadata, run_retention, artifact_days)
        if days and logged_ns and logged_ns + days * _DAY_NS <= now_ns:
            target = f"{wandb_project or project}/{name}"
            items.append(
                Item("artifact", key, name or "", run_key, team or "", project or "", days,
                     source, _iso(logged_ns + days * _DAY_NS),
                     f"delete W&B artifact {target} (wandb.Api().artifact({target!r}).delete())")
            )  # fmt: skip
            if len(items) > RETENTION_PLAN_MAX_ITEMS:
                return items[:RETENTION_PLAN_MAX_ITEMS], True
    run_sql = (
        "SELECT run_key, run_id, team, project, as_of_ns, retention_days, wandb_project "
        "FROM runs r WHERE final AND NOT EXISTS (SELECT 1 FROM retention_applied x "
        "WHERE x.kind = 'run' AND x.item_key = r.run_key) "
        "AND COALESCE(NULLIF(retention_days, 0), ?) > 0 "
        "AND as_of_ns + COALESCE(NULLIF(retention_days, 0), ?) * ?::HUGEINT <= ? "
        f"ORDER BY as_of_ns LIMIT {RETENTION_PLAN_MAX_ITEMS + 1}"
    )
    for run_key, run_id, team, project, as_of_ns, own, wandb_project in conn.execute(
        run_sql, [run_days, run_days, _DAY_NS, now_ns]
    ).fetchall():
        days = int(own) if own else run_days
        items.append(
            Item("run", run_key, run_id or run_key, run_key, team or "", project or "", days,
                 "run" if own else "default", _iso(as_of_ns + days * _DAY_NS),
                 f"delete W&B run {wandb_project or project}/{run_id or run_key}; "
                 "ledger: raw spans reduced to ids (cost and audit kept)")
        )  # fmt: skip
        if len(items) > RETENTION_PLAN_MAX_ITEMS:
            return items[:RETENTION_PLAN_MAX_ITEMS], True
    return items, False


def apply(conn: Any, items: list[Item], now: dt.datetime, actor: str) -> int:
    """Apply the clean-up of up to RETENTION_APPLY_CHUNK items (one transaction, one
    audit event each); returns how many were applied (items applied before: skipped)."""
    items = items[:RETENTION_APPLY_CHUNK]
    with transaction(conn):
        done = {
            (kind, key)
            for kind, key in conn.execute(
                "SELECT kind, item_key FROM retention_applied WHERE item_key IN "
                "(SELECT unnest(?::VARCHAR[]))",
                [[i.key for i in items]],
            ).fetchall()
        }
        todo = [i for i in items if (i.kind, i.key) not in done]
        events = audit_many(conn, "retention.applied", actor, [i.to_dict() for i in todo], now)
        for item, event_id in zip(todo, events, strict=True):
            if item.kind == "run":
                conn.execute(
                    f"INSERT INTO span_ids SELECT {id_bytes('trace_id')}, {id_bytes('span_id')} "
                    "FROM spans WHERE run_key = ?",
                    [item.key],
                )
                conn.execute("DELETE FROM spans WHERE run_key = ?", [item.key])
            conn.execute(
                "INSERT INTO retention_applied VALUES (?, ?, ?, ?, ?)",
                [item.kind, item.key, now, actor, event_id],
            )
    return len(todo)


def _artifact_days(metadata: str | None, run_retention: int | None, default: int):
    value = json_object(metadata).get("retention_period_days")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 36_600:
        return int(value), "governance_metadata"
    if run_retention:
        return int(run_retention), "run"
    return int(default), "default"


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).isoformat()
