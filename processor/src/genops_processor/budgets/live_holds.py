"""Live holds: the holds that count in spend now, and the runs still running, in memory.

A run check asks what its run counts for now (its hold, or its cost) and what its
experiment's hold has left; the holds' SQL derives both from every stored run (the
runs carrying a hold are found by a scan: no index on ``runs.hold_id``), so a check
would grow slower with every day of history. Instead the writer thread keeps:

- every *live* hold (open, or funded by an open hold: it counts inside its family)
  with its amount, status, parent, owner and the cost of each run carrying it;
- the last ``CLOSED_HOLDS_KEPT`` holds closed while the processor kept them, the same
  way: a run whose hold expired (silent past the hold timeout) and that goes on checking
  counts its runs' cost, which the ledger could only find by that scan (115 ms a check on
  a year-seeded ledger, every decision waiting behind it); a closed hold asked about
  that memory does not keep (closed before the processor started, or forgotten past the
  bound) is read from the ledger once (:meth:`LiveHolds.recall`) and kept among them
  from then on;
- every run not final yet: its run id and cost (a check without a hold counts the
  run's cost);
- each principal's count of open holds (its cap).

It is derived from the ledger when attached (processor start); a re-pricing step
reads again the costs of the runs it re-priced that memory keeps; and every function
of :mod:`genops_processor.budgets.reservations` that writes holds (reserve, extend,
release, expire, commit through ``track``) moves it in the same step. Inside a
transaction each change registers its undo with the writer's connection
(``on_rollback``): a rolled-back transaction leaves memory as the ledger.
``tests/processor/test_live_holds.py`` checks that the two always agree.

Past ``LIVE_RUNS_KEPT`` running runs the run table is dropped and lookups of a run
without a hold read the ledger (as before this module). Writer thread only (no lock).
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from genops_processor.domain import RunState, Scope
from genops_processor.limits import CLOSED_HOLDS_KEPT, LIVE_RUNS_KEPT
from genops_processor.storage.key_lookup import rows_by_key
from genops_processor.storage.per_connection import PerConnection

_log = logging.getLogger(__name__)
_SCOPE = "team, project, customer_id, cost_center, environment"


@dataclass
class Hold:
    scope: Scope
    status: str
    amount_micros: int
    parent: str = ""  # the hold that funds it ("" none)
    principal: str = ""
    carried: bool = False  # a run carries it (a run's own hold)
    runs: dict[str, int] = field(default_factory=dict)  # run_key -> cost of runs carrying it

    @property
    def run_micros(self) -> int:
        return sum(self.runs.values())

    def copy(self) -> Hold:
        return replace(self, runs=dict(self.runs))


@dataclass(frozen=True)
class Family:
    """An open hold with what it funds (as ``reservations.Family``, from memory)."""

    hold_id: str
    scope: Scope
    amount_micros: int
    run_micros: int
    funded_micros: int
    parent_hold_id: str
    carried: bool

    @property
    def used_micros(self) -> int:
        return self.run_micros + self.funded_micros

    @property
    def counted_micros(self) -> int:
        return max(self.amount_micros, self.used_micros)

    @property
    def left_micros(self) -> int:
        return max(0, self.amount_micros - self.used_micros)


class LiveHolds:
    def __init__(self, runs_kept: int = LIVE_RUNS_KEPT, closed_kept: int | None = None) -> None:
        self.holds: dict[str, Hold] = {}  # live holds, and closed ones kept (``_closed``)
        self._closed: OrderedDict[str, None] = OrderedDict()  # closed holds, oldest first
        self.closed_kept = CLOSED_HOLDS_KEPT if closed_kept is None else closed_kept
        self._children: dict[str, set[str]] = defaultdict(set)
        self._carrier: dict[str, str] = {}  # run_key -> the live hold it carries
        self._open: Counter[str] = Counter()  # principal -> open holds
        # run_key -> (run_id, cost) of runs not final; None: too many, read the ledger
        self.running: dict[str, tuple[str, int]] | None = {}
        self._by_run_id: dict[str, set[str]] = defaultdict(set)
        self._run_scope: dict[str, Scope] = {}  # run_key -> scope of runs in ``running``
        # Runs started and not final, per scope: running runs, and the open holds of
        # run starts no run carries yet (no parent: an experiment's runs are its own).
        self._running_in: Counter[Scope] = Counter()
        self._starting_in: Counter[Scope] = Counter()
        self.runs_kept = runs_kept

    # -- reading ---------------------------------------------------------------------
    def open_holds_of(self, principal: str) -> int:
        return self._open.get(principal, 0)

    def hold(self, hold_id: str) -> Hold | None:
        """The hold kept: live, or among the last closed (None: unknown, or read the
        ledger)."""
        return self.holds.get(hold_id)

    def family(self, hold_id: str) -> Family | None:
        """An open hold and what it funds; None when it is not open."""
        hold = self.holds.get(hold_id)
        if hold is None or hold.status != "open":
            return None
        funded = sum(self._funded_count(c) for c in self._children.get(hold_id, ()))
        return Family(
            hold_id,
            hold.scope,
            hold.amount_micros,
            hold.run_micros,
            funded,
            hold.parent,
            hold.carried,
        )

    def funding_parent(self, hold_id: str) -> Family | None:
        hold = self.holds.get(hold_id)
        return self.family(hold.parent) if hold is not None and hold.parent else None

    def _funded_count(self, hold_id: str) -> int:
        child = self.holds[hold_id]
        if child.status == "open":
            return max(child.amount_micros, child.run_micros)
        return child.run_micros

    def run_cost(self, run_id: str) -> int | None:
        """What the runs of ``run_id`` not final yet cost; None: not kept (read the ledger)."""
        if self.running is None:
            return None
        return sum(self.running[k][1] for k in self._by_run_id.get(run_id, ()))

    def runs_not_final(self, scope: Scope) -> int | None:
        """Runs of exactly ``scope`` started and not final: the running ones and the run
        starts whose hold no run carries yet; None: not kept (read the ledger)."""
        if self.running is None:
            return None
        return self._running_in.get(scope, 0) + self._starting_in.get(scope, 0)

    def top(self, hold_id: str) -> Family | None:
        """The family a live hold counts in: its open parent's, else its own (if open)."""
        return self.funding_parent(hold_id) or self.family(hold_id)

    # -- rebuilding ------------------------------------------------------------------
    def rebuild(self, conn: Any) -> None:
        """Derive everything from the ledger (start, after re-pricing)."""
        self.__init__(self.runs_kept, self.closed_kept)
        rows = conn.execute(
            f"SELECT hold_id, COALESCE(parent_hold_id, ''), status, amount_micros, "
            f"COALESCE(principal, ''), run_key IS NOT NULL, {_SCOPE} FROM holds "
            "WHERE status = 'open' OR parent_hold_id IN "
            "(SELECT hold_id FROM holds WHERE status = 'open')"
        ).fetchall()
        for hold_id, parent, status, amount, principal, carried, *scope in rows:
            scope = Scope(*(v or "" for v in scope))
            self._put(hold_id, Hold(scope, status, int(amount), parent, principal, carried))
        if self.holds:
            for run_key, hold_id, cost in conn.execute(
                "SELECT run_key, hold_id, cost_micros FROM runs "
                "WHERE hold_id IN (SELECT unnest(?::VARCHAR[]))",
                [list(self.holds)],
            ).fetchall():
                hold = self.holds[hold_id]
                hold.runs[run_key] = max(int(cost or 0), 0)
                hold.carried = True
                self._carrier[run_key] = hold_id
        for run_key, run_id, cost, *scope in conn.execute(
            f"SELECT run_key, run_id, cost_micros, {_SCOPE} FROM runs WHERE NOT final"
        ).fetchall():
            scope = Scope(*(v or "" for v in scope))
            self._put_run(run_key, (run_id or "", int(cost or 0)), scope)

    def refresh(self, conn: Any, after_key: str | None, upto_key: str | None) -> None:
        """Runs with keys in (``after_key``, ``upto_key``] were re-priced: the costs kept
        of those among them that memory holds are read again (usually none)."""
        if upto_key is None:
            return
        keys = [
            k
            for k in {*(self.running or ()), *self._carrier}
            if (after_key is None or k > after_key) and k <= upto_key
        ]
        for run_key, cost in rows_by_key(
            conn, "SELECT run_key, cost_micros FROM runs", "run_key", keys
        ):
            cost = int(cost or 0)
            if self.running is not None and run_key in self.running:
                self._change_run(conn, run_key)
                self._put_run(run_key, (self.running[run_key][0], cost), self._run_scope[run_key])
            if (hold_id := self._carrier.get(run_key)) is not None:
                self._change(conn, [hold_id])
                hold = self.holds[hold_id].copy()
                hold.runs[run_key] = max(cost, 0)
                self._put(hold_id, hold)

    def recall(self, conn: Any, hold_id: str) -> Hold | None:
        """A hold memory does not keep, as the ledger has it (its row, then the runs
        carrying it: one scan of runs); None when the ledger has no such hold. A closed
        one is kept among the last closed from now on, as if closed here, so the next
        checks of it count from memory. (A hold that counts in spend, open or funded by
        an open hold, is kept already; should one not be, it is answered, not kept.)"""
        row = conn.execute(
            f"SELECT COALESCE(parent_hold_id, ''), status, amount_micros, "
            f"COALESCE(principal, ''), run_key IS NOT NULL, {_SCOPE} FROM holds "
            "WHERE hold_id = ?",
            [hold_id],
        ).fetchone()
        if row is None:
            return None
        parent, status, amount, principal, carried, *scope = row
        runs = {
            run_key: max(int(cost or 0), 0)
            for run_key, cost in conn.execute(
                "SELECT run_key, cost_micros FROM runs WHERE hold_id = ?", [hold_id]
            ).fetchall()
        }
        scope = Scope(*(v or "" for v in scope))
        hold = Hold(scope, status, int(amount), parent, principal, carried or bool(runs), runs)
        funder = self.holds.get(parent) if parent else None
        if status == "open" or (funder is not None and funder.status == "open"):
            _log.warning("hold %s counts in spend but was not in memory: ledger read", hold_id)
            return hold
        self._change(conn, [hold_id])
        self._put(hold_id, hold)
        self._forget_oldest_closed(conn)
        return hold

    # -- changing (each registers its undo with the connection's transaction) ---------
    def reserve(
        self, conn: Any, hold_id: str, scope: Scope, amount: int, parent: str, principal: str
    ) -> None:
        self._change(conn, [hold_id])
        self._put(hold_id, Hold(scope, "open", amount, parent, principal))

    def extend(self, conn: Any, hold_id: str, amount: int) -> None:
        hold = self.holds.get(hold_id)
        if hold is not None and hold.status == "open" and amount > hold.amount_micros:
            self._change(conn, [hold_id])
            self._put(hold_id, replace(hold.copy(), amount_micros=amount))

    def close(self, conn: Any, hold_ids: Iterable[str], status: str) -> None:
        """Open holds closed (released, expired, committed): each stays, with the
        closed holds it funded, among the last ``closed_kept`` closed."""
        closing = [h for h in hold_ids if h in self.holds and self.holds[h].status == "open"]
        if not closing:
            return
        self._change(conn, closing)
        for hold_id in closing:
            self._put(hold_id, replace(self.holds[hold_id].copy(), status=status))
        self._forget_oldest_closed(conn)

    def _forget_oldest_closed(self, conn: Any) -> None:
        """Past ``closed_kept`` closed holds, the oldest no open hold funds leave."""
        passed = 0
        while len(self._closed) > self.closed_kept and passed < len(self._closed):
            oldest = next(iter(self._closed))
            if self._live(oldest):  # counts in its open parent's family: kept
                self._closed.move_to_end(oldest)
                passed += 1
                continue
            self._change(conn, [oldest])
            self._put(oldest, None)

    def live(self) -> dict[str, Hold]:
        """The live holds (open, or funded by an open hold), without the closed kept."""
        return {h: hold for h, hold in self.holds.items() if self._live(h)}

    def track(self, conn: Any, states: Iterable[RunState]) -> None:
        """Runs written: their costs, the holds they carry (a final run commits its
        open hold), and whether they still run."""
        undo: list[tuple[str, tuple[str, int] | None, Scope | None]] = []
        try:
            self._track(conn, states, undo)
        finally:  # one undo for the batch's running runs, newest change undone first
            if undo:
                on_rollback(conn, lambda: [self._put_run(*u) for u in reversed(undo)])

    def _track(self, conn: Any, states: Iterable[RunState], undo: list) -> None:
        for state in states:
            hold_id = state.labels.hold_id
            old = self._carrier.get(state.run_key)
            if hold_id in self.holds or old is not None:
                self._change(conn, [h for h in {hold_id, old} if h in self.holds])
                if old is not None and old != hold_id:
                    moved = self.holds[old].copy()
                    moved.runs.pop(state.run_key, None)
                    self._put(old, moved)
                if hold_id in self.holds:
                    hold = self.holds[hold_id].copy()
                    hold.runs[state.run_key] = max(state.cost_micros, 0)
                    hold.carried = hold.carried or hold.status == "open"
                    self._put(hold_id, hold)
                    if state.final:
                        self.close(conn, [hold_id], "committed")
            if self.running is not None:
                key = state.run_key
                entry = None if state.final else (state.run_id, state.cost_micros)
                old_entry = self.running.get(key)
                if old_entry == entry:
                    continue
                scope = self._run_scope.get(key)
                undo.append((key, old_entry, scope))
                if old_entry is not None and entry is not None and old_entry[0] == entry[0]:
                    if scope == state.scope:  # a heartbeat: only its cost moved
                        self.running[key] = entry
                        continue
                self._put_run(key, entry, state.scope)

    # -- plumbing --------------------------------------------------------------------
    def _live(self, hold_id: str) -> bool:
        hold = self.holds[hold_id]
        if hold.status == "open":
            return True
        parent = self.holds.get(hold.parent) if hold.parent else None
        return parent is not None and parent.status == "open"

    def _put(self, hold_id: str, hold: Hold | None) -> None:
        old = self.holds.pop(hold_id, None)
        self._closed.pop(hold_id, None)
        if old is not None:
            if old.parent:
                self._children[old.parent].discard(hold_id)
                if not self._children[old.parent]:
                    del self._children[old.parent]
            if old.status == "open" and old.principal:
                self._open[old.principal] -= 1
                if not self._open[old.principal]:
                    del self._open[old.principal]
            for run_key in old.runs:
                self._carrier.pop(run_key, None)
            if _starting(old):
                self._starting_in[old.scope] -= 1
                if not self._starting_in[old.scope]:
                    del self._starting_in[old.scope]
        if hold is None:
            return
        self.holds[hold_id] = hold
        if hold.status != "open":
            self._closed[hold_id] = None
        if _starting(hold):
            self._starting_in[hold.scope] += 1
        if hold.parent:
            self._children[hold.parent].add(hold_id)
        if hold.status == "open" and hold.principal:
            self._open[hold.principal] += 1
        for run_key in hold.runs:
            self._carrier[run_key] = hold_id

    def _put_run(
        self, run_key: str, entry: tuple[str, int] | None, scope: Scope | None = None
    ) -> None:
        if self.running is None:
            return
        old = self.running.pop(run_key, None)
        if old is not None:
            keys = self._by_run_id[old[0]]
            keys.discard(run_key)
            if not keys:
                del self._by_run_id[old[0]]
            old_scope = self._run_scope.pop(run_key)
            self._running_in[old_scope] -= 1
            if not self._running_in[old_scope]:
                del self._running_in[old_scope]
        if entry is None:
            return
        if len(self.running) >= self.runs_kept:
            _log.warning(
                "more than %d runs are running (LIVE_RUNS_KEPT): run checks without a hold "
                "read the ledger from now on",
                self.runs_kept,
            )
            self.running, self._by_run_id = None, defaultdict(set)
            self._run_scope, self._running_in = {}, Counter()
            return
        self.running[run_key] = entry
        self._by_run_id[entry[0]].add(run_key)
        scope = scope if scope is not None else Scope()
        self._run_scope[run_key] = scope
        self._running_in[scope] += 1

    def _change(self, conn: Any, hold_ids: Iterable[str]) -> None:
        """Before changing these holds: how to put them back if the transaction rolls back."""
        saved = [(h, self.holds[h].copy() if h in self.holds else None) for h in hold_ids]
        on_rollback(conn, lambda: [self._put(h, old) for h, old in reversed(saved)])

    def _change_run(self, conn: Any, run_key: str) -> None:
        old = self.running.get(run_key) if self.running is not None else None
        scope = self._run_scope.get(run_key)
        on_rollback(conn, lambda: self._put_run(run_key, old, scope))


def _starting(hold: Hold) -> bool:
    """An open hold of a run start no run carries yet (a run not final, not yet in runs)."""
    return hold.status == "open" and not hold.carried and not hold.parent


def on_rollback(conn: Any, undo: Callable[[], object]) -> None:
    """Run ``undo`` if the connection's current transaction rolls back (nothing when no
    transaction is open: the statement that changed the ledger is committed already)."""
    register = getattr(conn, "on_rollback", None)
    if register is not None:
        register(undo)


_ATTACHED: PerConnection[LiveHolds] = PerConnection(LiveHolds)


def attach(conn: Any) -> LiveHolds:
    """The live holds of the writer's connection, derived from its ledger (one per
    connection: services sharing a storage share it)."""
    live = _ATTACHED.get(conn)
    live.rebuild(conn)
    return live


def of(conn: Any) -> LiveHolds | None:
    """The live holds kept for this connection; None (read the ledger) when none are."""
    return _ATTACHED.find(conn)
