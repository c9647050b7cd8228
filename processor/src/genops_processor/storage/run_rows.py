"""Run rows and cost lines: a run's state <-> its ``runs`` row, and their Arrow-batch writes.
Functions take the writer thread's connection.

The writer keeps the states of the runs ingest touched lately in memory (:class:`RunCache`,
one per connection, least recently used dropped past ``RUN_STATE_CACHE_RUNS``), so a batch
of heartbeats does not read its runs back from the ledger, and a run the ledger certainly
does not hold is not looked up (:mod:`~.stored_run_keys`). The cache only ever holds what
the ledger holds: a miss is read from the ledger, states enter it after the commit that
stored them (:meth:`RunCache.settle`), and every other write of run rows drops them
(:func:`write_runs` the runs it writes, :func:`forget_runs` all of them). Ingest writes
through :func:`store_runs`, which updates only the columns that changed.

DuckDB finds the rows an ``UPDATE ... FROM`` names by scanning the whole table (it uses
no index for it), so an update of a few runs would cost more every day the ledger grows.
The cache keeps, beside each run, a lower bound of the rowid of its ``runs`` row and of
its ``cost_lines`` rows (a row read: its rowid; a row appended: the table's next rowid
then). An update names ``rowid >= `` the least bound of its rows, and DuckDB skips the
row groups before it: a heartbeat's update reads the recent part of the table, however
long the ledger's history. A bound is only a hint: when an update so bounded changes
fewer rows than it names, it runs again unbounded and the bounds are dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from genops_processor.domain import (
    CostBreakdown,
    CostLine,
    HardwareUse,
    RunLabels,
    RunState,
    RunUsage,
    Scope,
)
from genops_processor.limits import RUN_STATE_CACHE_RUNS
from genops_processor.storage.columnwise import text_array
from genops_processor.storage.key_lookup import rows_by_key
from genops_processor.storage.per_connection import PerConnection
from genops_processor.storage.stored_run_keys import StoredRunKeys

RUN_COLUMNS = (
    "run_key",
    "run_id",
    "run_name",
    "wandb_project",
    "team",
    "project",
    "customer_id",
    "cost_center",
    "environment",
    "status",
    "final",
    "error",
    "gpu_type",
    "gpu_count",
    "cpu_count",
    "instance_type",
    "compute_start_ns",
    "as_of_ns",
    "log_calls",
    "artifact_bytes",
    "artifact_files",
    "artifact_count",
    "sequence",
    "catalog_version",
    "cost_micros",
    "unpriced_skus",
    "declared_storage_micros",
    "experiment_id",
    "tags",
    "workflow",
    "metrics_last",
    "region",
    "storage_tier",
    "retention_days",
    "capacity_type",
    "wandb_mode",
    "declared_catalog",
    "config_hash",
    "violations",
    "gpu_util_mean",
    "gpu_mem_peak_gb",
    "artifacts_used",
    "hold_id",
    "compute_micros",
    "storage_micros",
    "data_transfer_micros",
    "tracking_micros",
    "unpriced_lines",
    "exit_code",
    "security_level",
    "residency",
)


def runs_by_key(conn: Any, keys: Sequence[str]) -> dict[str, RunState]:
    return {row[0]: row_to_state(row) for row in _rows_by_key(conn, keys)}


def _rows_by_key(conn: Any, keys: Sequence[str]) -> list[tuple]:
    """The runs' rows, each followed by its rowid."""
    return rows_by_key(conn, f"SELECT {', '.join(RUN_COLUMNS)}, rowid FROM runs", "run_key", keys)


# (state, row as stored, the SKUs of its lines of the state's catalog version or None
# when not known, a lower bound of its runs row's rowid, of its lines' rowids; None:
# not known)
_Entry = tuple[RunState, tuple, "frozenset[str] | None", "int | None", "int | None"]
_TABLES = ("runs", "cost_lines")


class RunCache:
    """Run states as the ledger holds them, by run key, least recently used dropped past
    ``capacity``. Each is kept with its row as stored, so a write can update only the
    columns that changed. A row its state does not write back unchanged (a NULL written
    by hand, which the state reads as 0 or '') is read but not kept.

    What a transaction writes is *staged* (:meth:`stage`): seen by the transaction's own
    later reads, kept once it commits and dropped if it rolls back (:meth:`settle`)."""

    def __init__(self, capacity: int = RUN_STATE_CACHE_RUNS) -> None:
        # run key -> (state, row, the SKUs of its lines of the state's catalog version,
        # None when not known)
        self._kept: OrderedDict[str, _Entry] = OrderedDict()
        self._staged: dict[str, _Entry] = {}
        self.capacity = capacity
        self.misses = 0  # run keys read from the ledger (tests and profiles)
        # per table, a lower bound of the rowid its next appended row gets
        self._next_rowid: dict[str, int | None] = {}
        self._unknown_next_rowids()
        self.unbounded_retries = 0  # bounded updates that missed rows (tests and profiles)
        self.stored_keys = StoredRunKeys()  # keys not stored are not looked up

    def __len__(self) -> int:
        return len(self._kept)

    def __contains__(self, key: str) -> bool:
        return key in self._kept

    def states(self, conn: Any, keys: Iterable[str]) -> dict[str, RunState]:
        """The stored state of each of ``keys`` that has a row (from memory, else read)."""
        found: dict[str, RunState] = {}
        missing = []
        kept, staged = self._kept, self._staged
        for key in keys:
            entry = staged.get(key) or kept.get(key)
            if entry is None:
                missing.append(key)
            else:
                if key in kept:
                    kept.move_to_end(key)
                found[key] = entry[0]
        if missing:  # not written by the open transaction: their rows are committed ones
            missing = self.stored_keys.maybe_stored(conn, missing)
            self.misses += len(missing)
            for *row, rowid in _rows_by_key(conn, missing):
                state = found[row[0]] = row_to_state(row)
                written = state_to_row(state)
                if written == tuple(row):
                    self._keep((state, written, None, rowid, None))
        return found

    def rowid_bounds(self, key: str) -> tuple[int | None, int | None]:
        """Lower bounds of the rowids of the run's row and of its lines (None: unknown)."""
        entry = self._staged.get(key) or self._kept.get(key)
        return (None, None) if entry is None else (entry[3], entry[4])

    def next_rowid(self, conn: Any, table: str, appended: int) -> int:
        """A lower bound of the rowid of the next row appended to ``table``, which is
        about to get ``appended`` rows."""
        bound = self._next_rowid[table]
        if bound is None:
            bound = conn.execute(f"SELECT COALESCE(max(rowid), -1) + 1 FROM {table}").fetchall()
            bound = int(bound[0][0])
        self._next_rowid[table] = bound + appended
        return bound

    def forget_rowids(self) -> None:
        """The bounds kept may be wrong (rows moved, a transaction rolled back): none is
        used until read again."""
        self._unknown_next_rowids()
        for entries in (self._kept, self._staged):
            for key, entry in entries.items():
                if entry[3] is not None or entry[4] is not None:
                    entries[key] = (*entry[:3], None, None)

    def _unknown_next_rowids(self) -> None:
        """Each table's next rowid is read from the ledger when next needed."""
        self._next_rowid = dict.fromkeys(_TABLES)

    def row(self, key: str) -> tuple | None:
        """The row stored for ``key`` when known, else None."""
        entry = self._staged.get(key) or self._kept.get(key)
        return None if entry is None else entry[1]

    def line_skus(self, key: str, catalog_version: str) -> frozenset[str] | None:
        """The SKUs of the run's stored lines of that catalog version, when known."""
        entry = self._staged.get(key) or self._kept.get(key)
        if entry is None or entry[2] is None or entry[0].catalog_version != catalog_version:
            return None
        return entry[2]

    def stage(self, written: Iterable[_Entry]) -> None:
        """These (state, row, line SKUs) were written by the open transaction."""
        for entry in written:
            self._staged[entry[0].run_key] = entry

    def settle(self, committed: bool) -> None:
        """The open transaction ended: what it wrote is kept (committed) or dropped."""
        staged, self._staged = self._staged, {}
        if committed:
            for entry in staged.values():
                self._keep(entry)
        else:
            self.forget(staged)
            self._unknown_next_rowids()  # a rollback frees appended rowids

    def forget(self, keys: Iterable[str] | None = None) -> None:
        """Drop these runs (None: all); they are read from the ledger when next needed."""
        if keys is None:
            self._kept.clear()
            self._staged.clear()
            self._unknown_next_rowids()
            return
        for key in keys:
            self._kept.pop(key, None)
            self._staged.pop(key, None)

    def _keep(self, entry: _Entry) -> None:
        key = entry[0].run_key
        self._kept[key] = entry
        self._kept.move_to_end(key)
        while len(self._kept) > self.capacity:
            self._kept.popitem(last=False)


_CACHES: PerConnection[RunCache] = PerConnection(RunCache)


def run_cache(conn: Any) -> RunCache:
    """The run-state cache of this connection (one per connection, made when first asked)."""
    return _CACHES.get(conn)


def forget_runs(conn: Any, keys: Iterable[str] | None = None) -> None:
    """Run rows were written other than by :func:`write_runs` (an UPDATE): drop their cached
    states (None: every run's)."""
    if (cache := _CACHES.find(conn)) is not None:
        cache.forget(keys)


def state_to_row(s: RunState) -> tuple:
    return (
        s.run_key,
        s.run_id,
        s.run_name,
        s.wandb_project,
        s.scope.team,
        s.scope.project,
        s.scope.customer_id,
        s.scope.cost_center,
        s.scope.environment,
        s.status,
        s.final,
        s.error,
        s.hardware.gpu_type,
        s.hardware.gpu_count,
        s.hardware.cpu_count,
        s.hardware.instance_type,
        s.usage.compute_start_ns,
        s.usage.as_of_ns,
        s.usage.log_calls,
        s.usage.artifact_bytes,
        s.usage.artifact_files,
        s.usage.artifact_count,
        s.usage.sequence,
        s.catalog_version,
        s.cost_micros,
        list(s.unpriced_skus),
        s.usage.declared_storage_micros,
        s.labels.experiment_id,
        s.labels.tags_json,
        s.labels.workflow_json,
        s.labels.metrics_last_json,
        s.labels.region,
        s.labels.storage_tier,
        s.labels.retention_days,
        s.labels.capacity_type,
        s.labels.wandb_mode,
        s.labels.catalog_version,
        s.labels.config_hash,
        list(s.violations),
        s.labels.gpu_util_mean,
        s.labels.gpu_mem_peak_gb,
        s.labels.artifacts_used_json,
        s.labels.hold_id,
        s.breakdown.compute,
        s.breakdown.storage,
        s.breakdown.data_transfer,
        s.breakdown.tracking,
        s.breakdown.unpriced_lines,
        s.exit_code,
        s.labels.security_level or None,
        s.labels.residency or None,
    )


def row_to_state(r: Sequence) -> RunState:
    return RunState(
        run_key=r[0],
        run_id=r[1] or "",
        run_name=r[2] or "",
        wandb_project=r[3] or "",
        scope=Scope(
            team=r[4] or "",
            project=r[5] or "",
            customer_id=r[6] or "",
            cost_center=r[7] or "",
            environment=r[8] or "",
        ),
        status=r[9],
        final=bool(r[10]),
        error=r[11] or "",
        hardware=HardwareUse(
            gpu_type=r[12] or "",
            gpu_count=r[13] or 0,
            cpu_count=r[14] or 0,
            instance_type=r[15] or "",
        ),
        usage=RunUsage(  # NULL (a row written by hand) reads as 0, never breaks a read
            compute_start_ns=r[16] or 0,
            as_of_ns=r[17] or 0,
            log_calls=r[18] or 0,
            artifact_bytes=r[19] or 0,
            artifact_files=r[20] or 0,
            artifact_count=r[21] or 0,
            sequence=r[22] or 0,
            declared_storage_micros=r[26] or 0,
        ),
        catalog_version=r[23] or "",
        cost_micros=r[24] or 0,
        unpriced_skus=tuple(r[25] or ()),
        labels=RunLabels(
            experiment_id=r[27] or "",
            tags_json=r[28] or "",
            workflow_json=r[29] or "",
            metrics_last_json=r[30] or "",
            region=r[31] or "",
            storage_tier=r[32] or "",
            retention_days=r[33] or 0,
            capacity_type=r[34] or "",
            wandb_mode=r[35] or "",
            catalog_version=r[36] or "",
            config_hash=r[37] or "",
            gpu_util_mean=r[39],
            gpu_mem_peak_gb=r[40],
            artifacts_used_json=r[41] or "",
            hold_id=r[42] or "",
            security_level=r[49] or "",
            residency=r[50] or "",
        ),
        violations=tuple(r[38] or ()),
        breakdown=CostBreakdown(*(int(x or 0) for x in r[43:48])),
        exit_code=r[48],
    )


RUN_TYPES = {
    "final": pa.bool_(),
    "gpu_count": pa.int32(),
    "cpu_count": pa.int32(),
    "compute_start_ns": pa.int64(),
    "as_of_ns": pa.int64(),
    "log_calls": pa.int64(),
    "artifact_bytes": pa.int64(),
    "artifact_files": pa.int64(),
    "artifact_count": pa.int64(),
    "sequence": pa.int64(),
    "cost_micros": pa.int64(),
    "unpriced_skus": pa.list_(pa.string()),
    "declared_storage_micros": pa.int64(),
    "retention_days": pa.int32(),
    "violations": pa.list_(pa.string()),
    "gpu_util_mean": pa.float64(),
    "gpu_mem_peak_gb": pa.float64(),
    "compute_micros": pa.int64(),
    "storage_micros": pa.int64(),
    "data_transfer_micros": pa.int64(),
    "tracking_micros": pa.int64(),
    "unpriced_lines": pa.int32(),
    "exit_code": pa.int32(),
}


def write_runs(conn, states: Iterable[RunState]) -> None:
    """Insert or replace these runs' rows; their cached states are dropped."""
    rows = [state_to_row(s) for s in states]
    forget_runs(conn, [row[0] for row in rows])
    _insert(conn, rows, "INSERT OR REPLACE")


def store_runs(
    conn,
    states: Iterable[RunState],
    stored: Mapping[str, RunState],
    lines: Mapping[str, list[CostLine]],
) -> None:
    """Write these runs and replace their lines of the catalog version that priced them
    (:func:`write_lines`); ``stored`` holds their rows as they are (a run not in it has
    none). Inside a transaction whose end the caller reports with :meth:`RunCache.settle`.

    A run whose stored row the cache holds is updated in the columns that changed (the
    batch's union of them: an update of a few columns costs a fraction of a replace of
    fifty); a new run is appended; any other is replaced. Likewise its lines are updated
    in place when the cache knows it has lines of the same SKUs, else replaced."""
    cache = run_cache(conn)
    entries, new, replaced, updated = [], [], [], []
    same_lines, other_lines = [], []
    changed: set[int] = set()
    for state in states:
        row = state_to_row(state)
        key = state.run_key
        skus = frozenset(line.sku for line in lines.get(key, ()))
        known = cache.line_skus(key, state.catalog_version)
        same = known == skus
        (same_lines if same else other_lines).append(state)
        row_bound, lines_bound = cache.rowid_bounds(key)
        entries.append([state, row, skus, row_bound, lines_bound if same else None])
        if key not in stored:
            new.append(row)
            continue
        old = cache.row(key)
        if old is None:
            replaced.append(row)  # replaced in place: its rowid is not known
        elif old != row:
            changed.update(i for i in range(1, len(row)) if row[i] != old[i])
            updated.append((row, row_bound))
    if new:
        first = cache.next_rowid(conn, "runs", len(new))
        for entry in entries:
            if entry[0].run_key not in stored:
                entry[3] = first  # appended: at or past the table's next rowid
    _insert(conn, new, "INSERT")
    _insert(conn, replaced, "INSERT OR REPLACE")
    exact = True  # no bounded update missed a row: the bounds hold
    if updated:
        exact &= _update(
            conn, [r for r, _ in updated], sorted(changed), _least(b for _, b in updated)
        )
    if other_lines:
        first = _write_lines(conn, other_lines, lines, cache, stored)
        for entry in entries:
            if entry[0].run_key in first:
                entry[4] = first[entry[0].run_key]
    same_flat = [line for s in same_lines for line in lines.get(s.run_key, ())]
    if same_flat:
        keys = {line.run_key for line in same_flat}
        bounds = (e[4] for e in entries if e[0].run_key in keys)
        exact &= _update_lines(conn, same_flat, _least(bounds))
    if not exact:
        cache.unbounded_retries += 1
        cache.forget_rowids()
        for entry in entries:
            entry[3] = entry[4] = None
    cache.stage(tuple(entry) for entry in entries)


def _least(bounds: Iterable[int | None]) -> int | None:
    """The least of the bounds, or None when one is not known."""
    bounds = list(bounds)
    return None if not bounds or None in bounds else min(bounds)


def _table(rows: Sequence[tuple], indexes: Sequence[int]) -> pa.Table:
    names = [RUN_COLUMNS[i] for i in indexes]
    return pa.table(
        {
            name: pa.array([r[i] for r in rows], RUN_TYPES.get(name, pa.string()))
            for i, name in zip(indexes, names, strict=True)
        }
    )


def _insert(conn, rows: Sequence[tuple], verb: str) -> None:
    if not rows:
        return
    conn.register("changed_runs", _table(rows, range(len(RUN_COLUMNS))))
    try:
        conn.execute(f"{verb} INTO runs ({', '.join(RUN_COLUMNS)}) SELECT * FROM changed_runs")
    finally:
        conn.unregister("changed_runs")
    if (cache := _CACHES.find(conn)) is not None:
        cache.stored_keys.written(conn, [row[0] for row in rows])


def _update(conn, rows: Sequence[tuple], changed: Sequence[int], bound: int | None) -> bool:
    """Update these stored runs' ``changed`` columns, reading the rows from rowid ``bound``
    on (None: all). False when a bounded update missed rows (it ran again unbounded)."""
    conn.register("changed_runs", _table(rows, [0, *changed]))
    names = [RUN_COLUMNS[i] for i in changed]
    sql = (
        f"UPDATE runs SET {', '.join(f'{n} = u.{n}' for n in names)} "
        "FROM changed_runs u WHERE runs.run_key = u.run_key"
    )
    try:
        return _bounded(conn, sql, "runs", bound, len(rows))
    finally:
        conn.unregister("changed_runs")


def _bounded(conn, sql: str, table: str, bound: int | None, rows: int) -> bool:
    """Run the update ``sql`` on rows from rowid ``bound`` on; if that changed fewer than
    ``rows`` rows, run it again on every row. True when the bound held."""
    if bound is None:
        conn.execute(sql).fetchall()
        return True
    found = conn.execute(f"{sql} AND {table}.rowid >= {int(bound)}").fetchall()[0][0]
    if found >= rows:
        return True
    conn.execute(sql).fetchall()  # sets the same values again on the rows it found
    return False


def write_lines(conn, states: Iterable[RunState], lines: dict[str, list[CostLine]]) -> None:
    """Replace each run's lines of the catalog version that priced it (others stay)."""
    _write_lines(conn, list(states), lines, None, None)


def _write_lines(
    conn,
    states: list[RunState],
    lines: Mapping[str, list[CostLine]],
    cache: RunCache | None,
    stored: Mapping[str, RunState] | None,
) -> dict[str, int]:
    """:func:`write_lines`; with ``cache``, returns for each run whose lines were appended
    a lower bound of their rowids. With ``stored`` (the runs that have a row), a run not
    in it has no lines to delete: lines come with their run's row (quarantine moves both)
    and a line left over by hand under the same key fails the insert (primary key), so
    the delete, which reads the whole table, runs only for the runs stored."""
    old = states if stored is None else [s for s in states if s.run_key in stored]
    if old:
        conn.execute(
            "DELETE FROM cost_lines USING (SELECT unnest(?) AS k, unnest(?) AS v) d "
            "WHERE cost_lines.run_key = d.k AND cost_lines.catalog_version = d.v",
            [[s.run_key for s in old], [s.catalog_version for s in old]],
        )
    flat = [line for s in states for line in lines.get(s.run_key, [])]
    if not flat:
        return {}
    first = cache.next_rowid(conn, "cost_lines", len(flat)) if cache is not None else None
    conn.register("new_lines", _lines_table(flat))
    try:
        conn.execute("INSERT INTO cost_lines SELECT * FROM new_lines")
    finally:
        conn.unregister("new_lines")
    return {} if first is None else dict.fromkeys((line.run_key for line in flat), first)


_LINE_VALUES = (
    "category",
    "unit",
    "quantity",
    "unit_price",
    "amount_micros",
    "priced",
    "catalog_source",
    "catalog_date",
    "as_of_ns",
)


def _update_lines(conn, flat: Sequence[CostLine], bound: int | None) -> bool:
    """Lines whose keys (run, SKU, catalog version) are stored: their values replaced,
    reading the table from rowid ``bound`` on (see :func:`_bounded`)."""
    conn.register("new_lines", _lines_table(flat))
    sql = (
        f"UPDATE cost_lines SET {', '.join(f'{c} = u.{c}' for c in _LINE_VALUES)} "
        "FROM new_lines u WHERE cost_lines.run_key = u.run_key AND cost_lines.sku = u.sku "
        "AND cost_lines.catalog_version = u.catalog_version"
    )
    try:
        return _bounded(conn, sql, "cost_lines", bound, len(flat))
    finally:
        conn.unregister("new_lines")


def _lines_table(flat: Sequence[CostLine]) -> pa.Table:
    return pa.table(
        {
            "run_key": text_array([x.run_key for x in flat]),
            "sku": text_array([x.sku for x in flat]),
            "category": text_array([x.category for x in flat]),
            "unit": text_array([x.unit for x in flat]),
            "quantity": pa.array([x.quantity for x in flat], pa.decimal128(38, 12)),
            "unit_price": pa.array([x.unit_price for x in flat], pa.decimal128(18, 9)),
            "amount_micros": pa.array([x.amount_micros for x in flat], pa.int64()),
            "priced": pa.array([x.priced for x in flat], pa.bool_()),
            "catalog_version": text_array([x.catalog_version for x in flat]),
            "catalog_source": text_array([x.catalog_source for x in flat]),
            "catalog_date": text_array([x.catalog_date for x in flat]),
            "as_of_ns": pa.array([x.as_of_ns for x in flat], pa.int64()),
        }
    )
