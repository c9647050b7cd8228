"""Re-pricing stored usage under another catalog version.

Every run active since a date is priced again from its stored usage; the new
version's lines are added beside the old ones (history keeps both), the run's
current cost switches to the new version, and an audit event records who did
it, with the totals before and after. Runs in batches, one transaction each,
reporting progress after every batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from genops_processor.pricing import catalog_store, cost_lines
from genops_processor.pricing.cost_lines import Catalog, CatalogSource
from genops_processor.record import audit
from genops_processor.storage import run_rows

Progress = Callable[[int, int], None]  # (runs done, runs in all)
_BATCH = 500


@dataclass(frozen=True)
class RepriceResult:
    catalog_version: str
    runs: int
    before_micros: int
    after_micros: int
    audit_event_id: str


def reprice(
    conn: Any,
    catalog: Catalog,
    since: dt.datetime | None,
    actor: str,
    now: dt.datetime,
    progress: Progress | None = None,
) -> RepriceResult:
    catalog_store.register(conn, catalog, actor, now)
    since_ns = int(since.timestamp() * 1e9) if since else 0
    keys = [
        row[0]
        for row in conn.execute(
            "SELECT run_key FROM runs WHERE as_of_ns >= ? ORDER BY run_key", [since_ns]
        ).fetchall()
    ]
    before = after = 0
    source = CatalogSource(catalog)
    for start in range(0, len(keys), _BATCH):
        chunk = keys[start : start + _BATCH]
        conn.begin()
        try:
            states = run_rows.runs_by_key(conn, chunk)
            priced, lines = {}, {}
            for key, state in states.items():
                before += state.cost_micros
                # The new version prices the run whatever version it declared.
                new_state, new_lines = cost_lines.price(
                    replace(state, labels=replace(state.labels, catalog_version="")), source
                )
                priced[key] = replace(new_state, labels=state.labels)
                lines[key] = new_lines
                after += new_state.cost_micros
            run_rows.write_runs(conn, priced.values())
            run_rows.write_lines(conn, priced.values(), lines)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        if progress is not None:
            progress(min(start + _BATCH, len(keys)), len(keys))
    event = audit(
        conn,
        "costs.repriced",
        actor,
        {
            "catalog_version": catalog.version,
            "since": since.isoformat() if since else None,
            "runs": len(keys),
            "before_micros": before,
            "after_micros": after,
        },
        now,
    )
    return RepriceResult(catalog.version, len(keys), before, after, event)
