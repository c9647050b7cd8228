"""An experiment's hold funds its runs.

A run opened inside an experiment block (``track_experiment_lifecycle(max_cost=…)``)
names the block's hold as its parent (``CheckBudgetRequest.parent_hold_id``). The
money is already reserved: the run draws on what the hold has left instead of
asking the budget again, and only what it needs beyond that (the excess) is
decided against the budget like any request (deny, warn, allow); an excess that
is not denied grows the hold. The run's own hold is linked to the parent, so
that spend counts the experiment once: the larger of its hold and what its runs
count for (:class:`genops_processor.budgets.reservations.Family`).

A parent that is unknown, not open, of another scope, itself funded, or a run's
own hold is not usable: the run is decided as a run of its own, and the decision
says why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from genops.money import format_usd
from genops_processor.budgets import reservations
from genops_processor.budgets.policy import Decision
from genops_processor.domain import Scope


@dataclass(frozen=True)
class Draw:
    """What a request asks of its parent hold and of the budget."""

    parent: reservations.Family | None  # None: no usable parent
    requested_micros: int  # what the run reserves (its own hold)
    refusal: str = ""  # why a named parent is not usable

    @property
    def excess_micros(self) -> int:
        """What the budget is asked for: what spend grows by when the run reserves."""
        if self.parent is None:
            return self.requested_micros
        after = max(self.parent.amount_micros, self.parent.used_micros + self.requested_micros)
        return after - self.parent.counted_micros

    @property
    def parent_hold_id(self) -> str:
        return self.parent.hold_id if self.parent is not None else ""

    def capped(self, decision: Decision, budgets) -> tuple[Draw, Decision]:
        """A reservation of at most the smallest hold cap (max_hold) of the policy's
        budgets (a client's own limit only tightens decisions, it does not shrink holds);
        a run its experiment funds is bounded by that hold instead."""
        central = [b for b in budgets if b.source != "client"]
        if self.parent is not None or not central:
            return self, decision
        tightest = min(central, key=lambda b: b.hold_cap_micros)
        cap = tightest.hold_cap_micros
        if self.requested_micros <= cap:
            return self, decision
        note = (
            f"reservation capped at {format_usd(cap)} (max_hold of budget '{tightest.name}'; "
            "the run's hold grows through CheckRun while the budget allows)"
        )
        return replace(self, requested_micros=cap), replace(
            decision, message=f"{decision.message}; {note}"
        )

    def explain(self, decision: Decision) -> Decision:
        """The decision's message, with what was drawn on the parent (or why nothing)."""
        if self.refusal:
            return replace(decision, message=f"{decision.message}; {self.refusal}")
        parent = self.parent
        if parent is None:
            return decision
        drawn = min(self.requested_micros, parent.left_micros)
        note = (
            f"{format_usd(drawn)} drawn on experiment hold {parent.hold_id} "
            f"({format_usd(parent.left_micros)} of its {format_usd(parent.amount_micros)} left)"
        )
        if self.excess_micros:
            note += f"; the budget was asked for the rest, {format_usd(self.excess_micros)}"
        return replace(decision, message=f"{decision.message}; {note}")

    def reserve(
        self, conn: Any, decision_id: str, scope: Scope, now_ns: int, principal: str = ""
    ) -> str:
        """The run's own hold (linked to its parent, which grows by the excess)."""
        parent = self.parent
        if parent is None:
            if self.requested_micros <= 0:
                return ""
            return reservations.reserve(
                conn, decision_id, scope, self.requested_micros, now_ns, principal=principal
            )
        # Even a run that asks for nothing gets a (zero) hold: it links the run's cost
        # to the experiment, where it counts.
        hold_id = reservations.reserve(
            conn, decision_id, scope, self.requested_micros, now_ns, parent.hold_id, principal
        )
        if self.excess_micros:
            reservations.extend(conn, parent.hold_id, parent.used_micros + self.requested_micros)
        return hold_id


def draw(conn: Any, parent_hold_id: str, scope: Scope, requested_micros: int) -> Draw:
    """What a run that names ``parent_hold_id`` may draw on it (writer connection)."""
    if not parent_hold_id:
        return Draw(None, requested_micros)
    parent = reservations.family(conn, parent_hold_id)
    why = ""
    if parent is None:
        why = "unknown or no longer open"
    elif parent.scope != scope:
        why = "of another scope"
    elif parent.parent_hold_id:
        why = "itself funded by another hold"
    elif parent.carried:
        why = "a run's own hold"
    if why:
        refusal = (
            f"parent hold {parent_hold_id[:64]!r} is not usable ({why}): "
            "decided as a run of its own"
        )
        return Draw(None, requested_micros, refusal)
    return Draw(parent, requested_micros)
