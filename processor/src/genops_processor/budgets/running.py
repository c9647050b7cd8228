"""Running spend: each budget's spend in its current period, kept as state.

``spend.spend_query`` derives a budget's spend from every stored run and hold; a
decision that did so would grow slower with every day of history. Instead the
writer thread keeps, per budget account (scope, period, time zone), the spend of
its current period (:class:`RunningSpend`, attached to the writer's connection by
the service), and every function that changes runs, holds or hand-added lines
moves it by exactly what it changed:

- it names what it touches (run keys, hold ids, manual line keys) to
  :func:`moving`, around its writes;
- the contribution of those *units* (each touched run that no live hold covers,
  pro rata in the period; each live hold family the touched holds belong to, as
  the larger of its amount and what it funds; each touched line) is evaluated from
  the ledger before and after, and the difference is added. Both evaluations read
  the committed ledger on the writer thread, so writes that rolled back move
  nothing, and nothing interleaves;
- a new hold funded by nobody moves spend by its amount (:func:`added`), with no
  read at all: a budget decision reads its accounts and writes its hold;
- ingest moves the runs no hold covers (no hold id, stored or new) by their states
  before and after (:func:`runs_moved`), which the writer keeps in memory
  (``storage.run_rows.RunCache``): no read either. Only runs with a hold go through
  :func:`moving`.

An account is derived from the ledger in full (``spend_query``) when first read,
when its period rolls over, on start, and when a re-pricing job ends; if an
evaluation fails, every account is dropped and derived again when next read.
``tests/processor/test_running_spend.py`` checks that the two always agree.

Everything here runs on the writer thread only (no lock).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from genops.money import saturate_int64
from genops_processor.budgets import live_holds
from genops_processor.budgets.policy import Budget, BudgetState, decide
from genops_processor.domain import RunState, Scope
from genops_processor.limits import RUNNING_SPEND_ACCOUNTS
from genops_processor.storage import to_ns
from genops_processor.storage.key_lookup import rows_by_key
from genops_processor.storage.per_connection import PerConnection
from genops_processor.storage.queries import SANE_AMOUNT, manual_cost_since

_FIELDS = ("team", "project", "customer_id", "cost_center", "environment")
Account = tuple[Scope, str, str]  # (scope, period, time zone)


@dataclass
class _Total:
    since: dt.datetime
    since_ns: int
    micros: int


@dataclass(frozen=True)
class _Unit:
    """One unit's contribution: a run (pro rata), a family (flat) or a line (from at_ns)."""

    scope: Scope
    micros: int
    start_ns: int | None = None  # run: compute start
    as_of_ns: int | None = None  # run: as of; line: at; None: flat (a hold family)
    pro_rata: bool = False

    def since(self, since_ns: int) -> int:
        if self.as_of_ns is None:
            return self.micros
        if self.as_of_ns < since_ns:
            return 0
        if not self.pro_rata:
            return self.micros
        if self.start_ns is None:
            return 0  # as the SQL: its share is NULL, summed as nothing
        if self.as_of_ns <= self.start_ns:
            return self.micros
        inside = self.as_of_ns - max(self.start_ns, since_ns)
        return self.micros * inside // (self.as_of_ns - self.start_ns)


class RunningSpend:
    def __init__(self, capacity: int = RUNNING_SPEND_ACCOUNTS) -> None:
        self._totals: OrderedDict[Account, _Total] = OrderedDict()
        # scope -> its accounts: a unit finds the accounts it counts in by pattern.
        self._by_scope: dict[Scope, set[Account]] = defaultdict(set)
        self.capacity = capacity
        self.derivations = 0  # full derivations from the ledger (tests and profiles)
        self._moving = False

    # -- reading ---------------------------------------------------------------------
    def spent(self, conn: Any, budget: Budget, since: dt.datetime) -> int:
        """A budget's spend since ``since`` (the start of its current period)."""
        account = (budget.scope, budget.period, budget.timezone)
        since_ns = to_ns(since)
        total = self._totals.get(account)
        if total is None or total.since_ns != since_ns:
            total = _Total(since, since_ns, _derive(conn, budget.scope, since))
            self.derivations += 1
            self._remember(account, total)
        else:
            self._totals.move_to_end(account)
        return saturate_int64(total.micros)

    def states(
        self, conn: Any, budgets: Sequence[Budget], now: dt.datetime
    ) -> tuple[BudgetState, ...]:
        """Each budget's state in its current period, nothing requested."""
        return decide(budgets, 0, now, lambda b, since: self.spent(conn, b, since)).states

    def _remember(self, account: Account, total: _Total) -> None:
        if account not in self._totals:
            self._by_scope[account[0]].add(account)
        self._totals[account] = total
        self._totals.move_to_end(account)
        while len(self._totals) > self.capacity:
            old, _ = self._totals.popitem(last=False)
            self._forget_scope(old)

    def _forget_scope(self, account: Account) -> None:
        accounts = self._by_scope.get(account[0])
        if accounts is not None:
            accounts.discard(account)
            if not accounts:
                del self._by_scope[account[0]]

    # -- rebuilding ------------------------------------------------------------------
    def rebuild(self, conn: Any, budgets: Iterable[Budget] = (), now: dt.datetime | None = None):
        """Derive every known account (and ``budgets``') from the ledger again."""
        known = list(self._totals.items())
        self.clear()
        for (scope, period, zone), total in known:
            account = Budget("account", scope, 0, "advisory", period=period, timezone=zone)
            self.spent(conn, account, total.since)
        if now is not None:
            self.states(conn, list(budgets), now)

    def clear(self) -> None:
        self._totals.clear()
        self._by_scope.clear()

    # -- changing --------------------------------------------------------------------
    def add(self, scope: Scope, micros: int) -> None:
        """A new open hold funded by nobody, with no run yet: it counts its amount."""
        if micros:
            self._apply([_Unit(scope, micros)], [])

    @contextmanager
    def change(
        self,
        conn: Any,
        run_keys: Iterable[str] = (),
        hold_ids: Iterable[str] = (),
        lines: Iterable[tuple[str, str]] = (),
    ) -> Iterator[None]:
        """Around writes that change these runs, holds (and the families they belong to)
        and manual lines (trace_id, span_id): moves every account by what they changed."""
        if self._moving:  # inside another change: its units may not cover these
            self.clear()
        if not self._totals:
            yield  # nothing kept: nothing to move
            return
        touched = _Touched.of(conn, list(dict.fromkeys(run_keys)), set(hold_ids), list(lines))
        before = touched.units(conn)
        self._moving = True
        try:
            yield
        finally:
            self._moving = False
            try:
                after = touched.units(conn)
            except BaseException:
                self.clear()  # cannot tell what changed: derive again when read
                raise
            self._apply(after, before)

    def _apply(self, added: Sequence[_Unit], removed: Sequence[_Unit]) -> None:
        grouped: dict[Scope, list[tuple[int, _Unit]]] = defaultdict(list)
        for sign, units in ((1, added), (-1, removed)):
            for unit in units:
                grouped[unit.scope].append((sign, unit))
        for scope, signed in grouped.items():
            for pattern in _patterns(scope):
                for account in self._by_scope.get(pattern, ()):
                    total = self._totals[account]
                    total.micros += sum(sign * u.since(total.since_ns) for sign, u in signed)


_ATTACHED: PerConnection[RunningSpend] = PerConnection(RunningSpend)


def attach(conn: Any) -> RunningSpend:
    """The running spend every change made through the writer's connection moves (one
    per connection: services sharing a storage share it)."""
    return _ATTACHED.get(conn)


def detach(conn: Any) -> None:
    _ATTACHED.drop(conn)


def moving(
    conn: Any,
    run_keys: Iterable[str] = (),
    hold_ids: Iterable[str] = (),
    lines: Iterable[tuple[str, str]] = (),
):
    """A context around writes to these runs, holds and lines (see :meth:`RunningSpend.change`);
    nothing when no running spend is attached (a command line tool, a test of storage)."""
    running = _ATTACHED.find(conn)
    if running is None:
        return nullcontext()
    return running.change(conn, run_keys, hold_ids, lines)


def runs_moved(conn: Any, before: Mapping[str, RunState], after: Iterable[RunState]) -> None:
    """Runs that no hold covers (no hold id, stored or new) were committed as ``after``;
    ``before`` holds the stored states of those that had a row. Moves every account by
    the difference, from the states alone: no read. (Runs with a hold id go through
    :func:`moving`: their families are read from the ledger.)"""
    running = _ATTACHED.find(conn)
    if running is None or not running._totals:
        return
    after = list(after)
    old = [before[s.run_key] for s in after if s.run_key in before]
    running._apply([_run_unit(s) for s in after], [_run_unit(s) for s in old])


def lost_track(conn: Any) -> None:
    """What changed cannot be told (a job failed after some of its commits): every account
    is derived from the ledger again when next read."""
    if (running := _ATTACHED.find(conn)) is not None:
        running.clear()


def _run_unit(state: RunState) -> _Unit:
    """A run no live hold covers, as ``_Touched.units`` reads it from its row."""
    usage = state.usage
    return _Unit(
        state.scope, max(state.cost_micros, 0), usage.compute_start_ns, usage.as_of_ns, True
    )


def added(conn: Any, scope: Scope, micros: int) -> None:
    """A new open hold funded by nobody, with no run yet, was written."""
    if (running := _ATTACHED.find(conn)) is not None:
        running.add(scope, micros)


def rebuild(conn: Any) -> None:
    """The ledger changed in bulk (a re-pricing job ended): derive every account again."""
    if (running := _ATTACHED.find(conn)) is not None:
        running.rebuild(conn)


def _patterns(scope: Scope) -> Iterator[Scope]:
    """Every account scope that ``scope`` matches (its fields, each kept or blanked)."""
    values = [getattr(scope, f) for f in _FIELDS]
    kept = [(v, "") if v else ("",) for v in values]
    for combination in itertools.product(*kept):
        yield Scope(*combination)


def _derive(conn: Any, scope: Scope, since: dt.datetime) -> int:
    """Spend from the ledger, as ``spend.spend_query`` derives it (not saturated)."""
    # Imported here: spend reads reservations' SQL, and reservations moves running spend.
    from genops_processor.budgets import spend

    return (
        spend._run_cost_since(conn, scope, since)
        + spend.open_holds(conn, scope)
        + manual_cost_since(conn, scope, since)
    )


_SCOPE = ", ".join(_FIELDS)


def _scope(row: Sequence[Any]) -> Scope:
    return Scope(*(value or "" for value in row))


@dataclass(frozen=True)
class _Touched:
    """What a job touches: runs by key, hold families by their top holds, lines."""

    run_keys: list[str]
    tops: list[str]  # the touched holds and their parents: the families' possible tops
    lines: list[tuple[str, str]]
    # live hold -> its runs, as memory knew them when first read: a hold the job closes
    # (expired, released) keeps them for the read after the writes; a run that joins a
    # hold in the job is one of its run_keys, read by key
    members: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, conn: Any, run_keys: list[str], hold_ids: set[str], lines) -> _Touched:
        rows = rows_by_key(conn, "SELECT hold_id FROM runs", "run_key", run_keys)
        hold_ids |= {row[0] for row in rows if row[0]}
        hold_ids.discard("")
        tops = set(hold_ids)
        rows = rows_by_key(conn, "SELECT parent_hold_id FROM holds", "hold_id", sorted(hold_ids))
        tops |= {row[0] for row in rows if row[0]}
        return cls(run_keys, sorted(tops), lines)

    def units(self, conn: Any) -> list[_Unit]:
        units = self._lines(conn)
        holds = self._families(conn)  # hold_id -> (parent, status, amount, scope)
        status = {h: row[1] for h, row in holds.items()}
        missing = {p for p, *_ in holds.values() if p and p not in status}
        if missing:
            status.update(
                rows_by_key(conn, "SELECT hold_id, status FROM holds", "hold_id", sorted(missing))
            )

        def live(hold_id: str | None) -> bool:
            if not hold_id or hold_id not in holds:
                return False
            parent, state, *_ = holds[hold_id]
            return state == "open" or (bool(parent) and status.get(parent) == "open")

        cost: dict[str, int] = defaultdict(int)  # live hold -> its runs' cost
        for scope_row, hold_id, micros, start_ns, as_of_ns in self._runs(conn, list(holds)):
            micros = max(micros or 0, 0)
            if live(hold_id):
                cost[hold_id] += micros
            elif as_of_ns is not None:
                units.append(_Unit(_scope(scope_row), micros, start_ns, as_of_ns, pro_rata=True))
        funded: dict[str, int] = defaultdict(int)
        for hold_id, (parent, state, amount, _) in holds.items():
            if parent and status.get(parent) == "open":
                count = max(amount, cost[hold_id]) if state == "open" else cost[hold_id]
                funded[parent] += count
        # Every top of a family: an open hold no open hold funds (a funded run's hold
        # becomes one when its experiment's hold closes first).
        for hold_id, (parent, state, amount, scope) in holds.items():
            if state == "open" and not (parent and status.get(parent) == "open"):
                units.append(_Unit(scope, max(amount, cost[hold_id] + funded[hold_id])))
        return units

    def _families(self, conn: Any) -> dict[str, tuple[str, str, int, Scope]]:
        if not self.tops:
            return {}
        select = (
            f"SELECT hold_id, COALESCE(parent_hold_id, ''), status, amount_micros, {_SCOPE} "
            "FROM holds"
        )
        rows = rows_by_key(conn, select, "hold_id", self.tops)
        # Few holds have a parent: this scan reads a column of mostly NULLs.
        rows += conn.execute(
            f"{select} WHERE parent_hold_id IN (SELECT unnest(?::VARCHAR[]))", [self.tops]
        ).fetchall()
        return {r[0]: (r[1], r[2], int(r[3]), _scope(r[4:9])) for r in rows}

    def _runs(self, conn: Any, hold_ids: list[str]) -> list[tuple]:
        select = (
            f"SELECT run_key, {_SCOPE}, hold_id, cost_micros, compute_start_ns, as_of_ns FROM runs"
        )
        members = _members(conn, hold_ids, self.members)
        if members is not None:  # every hold live: its runs are known, read by key
            rows = rows_by_key(
                conn, select, "run_key", list(dict.fromkeys(self.run_keys + members))
            )
        else:
            rows = rows_by_key(conn, select, "run_key", self.run_keys)
            # no index on runs.hold_id: a scan of that column (of the whole history)
            rows += conn.execute(
                f"{select} WHERE hold_id IN (SELECT unnest(?::VARCHAR[]))", [hold_ids]
            ).fetchall()
        unique = {r[0]: r for r in rows}.values()
        return [(r[1:6], r[6], r[7], r[8], r[9]) for r in unique]

    def _lines(self, conn: Any) -> list[_Unit]:
        if not self.lines:
            return []
        rows = conn.execute(
            f"SELECT {_SCOPE}, amount_micros, at_ns FROM manual_costs JOIN ("
            "SELECT unnest($1::VARCHAR[]) AS t, unnest($2::VARCHAR[]) AS s) k "
            f"ON trace_id = k.t AND span_id = k.s WHERE {SANE_AMOUNT}",
            [[t for t, _ in self.lines], [s for _, s in self.lines]],
        ).fetchall()
        return [_Unit(_scope(r[0:5]), int(r[5]), as_of_ns=r[6]) for r in rows if r[6] is not None]


def _members(conn: Any, hold_ids: list[str], known: dict[str, tuple[str, ...]]) -> list[str] | None:
    """The runs that carry these holds, as the live holds kept beside the ledger know
    them (budgets/live_holds.py: a live hold's runs are the runs whose hold_id it is), or
    knew them earlier in the job (``known``, filled here); None when one of the holds is
    neither (closed before the job, funded by no open hold): then only the ledger knows
    its runs. Measured: expiring 500 holds read their runs after closing them by a scan
    of ``runs.hold_id``, 51 ms a step on a year of a 10,000-run/day fleet."""
    if not hold_ids:
        return []
    live = live_holds.of(conn)
    members: list[str] = []
    for hold_id in hold_ids:
        hold = live.holds.get(hold_id) if live is not None else None
        if hold is not None:
            known[hold_id] = tuple(hold.runs)
        elif hold_id not in known:
            return None
        members.extend(known[hold_id])
    return members
