"""Re-pricing stored usage under another catalog version, as a resumable job.

Every run active since a date is priced again from its stored usage; the new
version's lines are added beside the old ones (history keeps both) and the run's
current cost switches to the new version. The work is a job row in
``reprice_jobs``: :func:`start` registers the catalog, records the job and audits
its start; each :func:`step` re-prices the next runs in ``run_key`` order and moves
the job's cursor and running totals in the same transaction, so a job killed at any
point has each run wholly on one version and the row says exactly how far it got.
The step that finds nothing left audits the completion with the totals before and
after. An unfinished job is resumed by asking for the same version again (or by
:func:`resume`, from the stored catalog); another version is refused until it ends.
Each step is its own writer job, so budget decisions go between steps.
"""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, Protocol

from genops_processor.limits import REPRICE_BATCH_RUNS
from genops_processor.pricing import catalog_store, cost_lines
from genops_processor.pricing.cost_lines import Catalog, CatalogSource
from genops_processor.record import audit
from genops_processor.storage import run_rows, to_ns, transaction


class RepriceRefused(ValueError):
    """Another re-pricing job is unfinished, or there is none to resume."""


@dataclass(frozen=True)
class RepriceJob:
    job_id: str
    catalog_version: str
    since_ns: int
    actor: str
    total_runs: int
    done_runs: int
    last_run_key: str | None
    before_micros: int
    after_micros: int
    finished: bool
    audit_event_id: str  # the completion event; "" until finished

    @property
    def since(self) -> dt.datetime | None:
        if not self.since_ns:
            return None
        return dt.datetime.fromtimestamp(self.since_ns / 1e9, dt.timezone.utc)

    def describe(self) -> str:
        """One line for reports: how far an unfinished job got."""
        since = f" since {self.since:%Y-%m-%d %H:%M} UTC" if self.since_ns else ""
        return (
            f"re-pricing to {self.catalog_version}{since} is incomplete: "
            f"{self.done_runs} of {self.total_runs} run(s) done"
        )


@dataclass(frozen=True)
class RepriceResult:
    catalog_version: str
    runs: int
    before_micros: int
    after_micros: int
    audit_event_id: str


_JOB_COLUMNS = (
    "job_id, catalog_version, since_ns, actor, total_runs, done_runs, last_run_key, "
    "before_micros, after_micros, finished_at IS NOT NULL, audit_event_id"
)


def _job(row: Any) -> RepriceJob:
    return RepriceJob(
        job_id=row[0],
        catalog_version=row[1],
        since_ns=row[2],
        actor=row[3] or "",
        total_runs=row[4] or 0,
        done_runs=row[5],
        last_run_key=row[6],
        before_micros=int(row[7]),
        after_micros=int(row[8]),
        finished=bool(row[9]),
        audit_event_id=row[10] or "",
    )


def unfinished(conn: Any) -> RepriceJob | None:
    """The job that has not finished, if any (a ledger older than jobs has none)."""
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'reprice_jobs'"
    ).fetchone()[0]
    if not exists:
        return None
    row = conn.execute(
        f"SELECT {_JOB_COLUMNS} FROM reprice_jobs WHERE finished_at IS NULL "
        "ORDER BY started_at LIMIT 1"
    ).fetchone()
    return None if row is None else _job(row)


def start(
    conn: Any, catalog: Catalog, since: dt.datetime | None, actor: str, now: dt.datetime
) -> tuple[RepriceJob, bool]:
    """A new job for ``catalog`` (audited), or the unfinished job for the same version and
    date, resumed (True). Refuses while a job for another version or date is unfinished."""
    since_ns = to_ns(since) if since else 0
    with transaction(conn):
        catalog_store.register(conn, catalog, actor, now)
        job = unfinished(conn)
        if job is not None:
            if (job.catalog_version, job.since_ns) != (catalog.version, since_ns):
                raise RepriceRefused(
                    f"{job.describe().replace('is incomplete', 'is unfinished')}; "
                    "finish it first (genops costs reprice --resume)"
                )
            return _resumed(conn, job, actor, now), True
        job_id = uuid.uuid4().hex
        total = _remaining(conn, since_ns, None)
        audit(
            conn,
            "costs.reprice_started",
            actor,
            {
                "job_id": job_id,
                "catalog_version": catalog.version,
                "since": since.isoformat() if since else None,
                "runs": total,
            },
            now,
        )
        conn.execute(
            "INSERT INTO reprice_jobs VALUES (?, ?, ?, ?, ?, ?, 0, NULL, 0, 0, NULL, NULL)",
            [job_id, catalog.version, since_ns, actor, now, total],
        )
    return _load(conn, job_id), False


def resume(conn: Any, actor: str, now: dt.datetime) -> tuple[RepriceJob, Catalog]:
    """The unfinished job (audited as resumed by ``actor``) and its stored catalog."""
    with transaction(conn):
        job = unfinished(conn)
        if job is None:
            raise RepriceRefused("no unfinished re-pricing job")
        catalog = catalog_store.load_registered(conn)[job.catalog_version]
        return _resumed(conn, job, actor, now), catalog


class SpendHooks(Protocol):
    """What keeps derived spend beside the ledger (budgets' running spend, a layer above
    pricing, passes itself in): told which runs a step changes, and when the job ends."""

    def moving(self, conn: Any, run_keys: list[str]) -> AbstractContextManager: ...

    def rebuild(self, conn: Any) -> None: ...


class _NoSpend:
    def moving(self, conn: Any, run_keys: list[str]) -> AbstractContextManager:
        return nullcontext()

    def rebuild(self, conn: Any) -> None:
        return None


NO_SPEND = _NoSpend()  # a command line tool or a test: nothing derived to keep


def step(
    conn: Any,
    job: RepriceJob,
    catalog: Catalog,
    now: dt.datetime,
    batch: int = REPRICE_BATCH_RUNS,
    spend: SpendHooks = NO_SPEND,
) -> RepriceJob:
    """Re-price the next ``batch`` runs of the job, or finish it: one transaction."""
    keys = next_keys(conn, job, batch)
    if not keys:
        with transaction(conn):
            finished = _finish(conn, job, now)
        spend.rebuild(conn)  # derived again from the new prices
        return finished
    with spend.moving(conn, keys), transaction(conn):
        before, after = _reprice_runs(conn, keys, CatalogSource(catalog))
        conn.execute(
            "UPDATE reprice_jobs SET done_runs = done_runs + ?, last_run_key = ?, "
            "before_micros = before_micros + ?, after_micros = after_micros + ?, "
            "total_runs = greatest(total_runs, done_runs + ?) WHERE job_id = ?",
            [len(keys), keys[-1], before, after, len(keys), job.job_id],
        )
    return _load(conn, job.job_id)


def next_keys(conn: Any, job: RepriceJob, batch: int = REPRICE_BATCH_RUNS) -> list[str]:
    """The runs the job's next step re-prices."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT run_key FROM runs WHERE as_of_ns >= ? "
            "AND (CAST(? AS VARCHAR) IS NULL OR run_key > ?) ORDER BY run_key LIMIT ?",
            [job.since_ns, job.last_run_key, job.last_run_key, batch],
        ).fetchall()
    ]


def result(job: RepriceJob) -> RepriceResult:
    return RepriceResult(
        job.catalog_version, job.done_runs, job.before_micros, job.after_micros, job.audit_event_id
    )


def _reprice_runs(conn: Any, keys: list[str], source: CatalogSource) -> tuple[int, int]:
    states = run_rows.runs_by_key(conn, keys)
    priced, lines = {}, {}
    before = after = 0
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
    return before, after


def _remaining(conn: Any, since_ns: int, after_key: str | None) -> int:
    return conn.execute(
        "SELECT count(*) FROM runs WHERE as_of_ns >= ? "
        "AND (CAST(? AS VARCHAR) IS NULL OR run_key > ?)",
        [since_ns, after_key, after_key],
    ).fetchone()[0]


def _resumed(conn: Any, job: RepriceJob, actor: str, now: dt.datetime) -> RepriceJob:
    total = job.done_runs + _remaining(conn, job.since_ns, job.last_run_key)
    conn.execute("UPDATE reprice_jobs SET total_runs = ? WHERE job_id = ?", [total, job.job_id])
    audit(
        conn,
        "costs.reprice_resumed",
        actor,
        {"job_id": job.job_id, "catalog_version": job.catalog_version, "done": job.done_runs},
        now,
    )
    return replace(job, total_runs=total)


def _finish(conn: Any, job: RepriceJob, now: dt.datetime) -> RepriceJob:
    event = audit(
        conn,
        "costs.repriced",
        job.actor,
        {
            "job_id": job.job_id,
            "catalog_version": job.catalog_version,
            "since": job.since.isoformat() if job.since else None,
            "runs": job.done_runs,
            "before_micros": job.before_micros,
            "after_micros": job.after_micros,
        },
        now,
    )
    conn.execute(
        "UPDATE reprice_jobs SET finished_at = ?, audit_event_id = ?, total_runs = done_runs "
        "WHERE job_id = ?",
        [now, event, job.job_id],
    )
    return _load(conn, job.job_id)


def _load(conn: Any, job_id: str) -> RepriceJob:
    row = conn.execute(
        f"SELECT {_JOB_COLUMNS} FROM reprice_jobs WHERE job_id = ?", [job_id]
    ).fetchone()
    return _job(row)
