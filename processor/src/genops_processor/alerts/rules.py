"""Monitoring rules registered by clients (``genops.monitoring``): what fires when.

Three kinds, each evaluated against the ledger by :func:`evaluate`:

* ``cost``: a scope's spend reached ``threshold`` percent of its limit (the
  client's daily limit when it declared one, else every budget the scope falls
  under); once per rule, budget and period.
* ``metric``: ``daily_cost`` (dollars spent today, in the policy's ``timezone``),
  ``budget_utilization`` (percent of the most used budget), ``experiment_failure_rate`` or
  ``error_rate_percentage`` (percent of the runs that ended in the last
  ``window_minutes`` and failed) reached ``threshold``; once per rule and
  window (per day for ``daily_cost``).
* ``governance``: each new event of ``violation_types`` in the scope since the
  rule was registered: ``budget_exceeded`` (a decision that found a budget
  exceeded), ``policy_violation`` (a run with a violation, such as an unpriced
  SKU or an unknown catalog), ``approval_denied`` (denied or timed out). It
  goes to the rule's channels and the first contact of its escalation chain;
  each next contact gets it when the previous did not acknowledge it within
  ``escalate_after_minutes`` (``genops alerts ack ID``).

Channels are delivery addresses (see
:mod:`genops_processor.budgets.alert_settings`) or names the policy maps to
one in ``channels:`` (``slack://alerts``, ``team_lead``). Names without an
address are reported back when the rule is registered and recorded as failed
deliveries, never dropped silently.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from genops.money import format_usd, to_dollars
from genops_processor.budgets import Budget, BudgetState, ClientLimits, period_start, spend_query
from genops_processor.domain import Scope
from genops_processor.limits import MAX_RULE_CHANNELS
from genops_processor.storage import scope_filter, to_ns

KINDS = ("cost", "metric", "governance")
METRICS = ("daily_cost", "budget_utilization", "experiment_failure_rate", "error_rate_percentage")
VIOLATION_TYPES = ("budget_exceeded", "policy_violation", "approval_denied")
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
DEFAULT_WINDOW_MINUTES = 60
DEFAULT_ESCALATE_AFTER_MINUTES = 30.0
_NS_PER_MINUTE = 60 * 10**9


class RuleError(ValueError):
    """A rule that cannot be evaluated; the message names the field."""


@dataclass(frozen=True)
class Rule:
    kind: str
    scope: Scope = Scope()
    client: ClientLimits = ClientLimits()
    threshold: float = 0.0
    metric: str = ""
    window_minutes: int = DEFAULT_WINDOW_MINUTES
    channels: tuple[str, ...] = ()
    violation_types: tuple[str, ...] = ()
    severity: str = "MEDIUM"
    escalation_chain: tuple[str, ...] = ()
    escalate_after_minutes: float = DEFAULT_ESCALATE_AFTER_MINUTES
    created_by: str = ""
    rule_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: dt.datetime | None = None

    def validated(self) -> Rule:
        if self.kind not in KINDS:
            raise RuleError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind == "cost" and not 0 < self.threshold <= 1000:
            raise RuleError(f"threshold_percentage {self.threshold} must be in (0, 1000]")
        if self.kind == "metric":
            if self.metric not in METRICS:
                raise RuleError(f"metric {self.metric!r} is not one of {', '.join(METRICS)}")
            if self.threshold < 0:
                raise RuleError(f"threshold {self.threshold} must not be negative")
        if self.window_minutes <= 0:
            raise RuleError(f"time_window_minutes {self.window_minutes} must be positive")
        if self.kind == "governance":
            unknown = [v for v in self.violation_types if v not in VIOLATION_TYPES]
            if unknown or not self.violation_types:
                raise RuleError(
                    f"violation_types {list(self.violation_types)}: expected some of "
                    f"{', '.join(VIOLATION_TYPES)}"
                )
            if self.severity not in SEVERITIES:
                raise RuleError(f"severity {self.severity!r} is not one of {', '.join(SEVERITIES)}")
            if self.escalate_after_minutes <= 0:
                raise RuleError("escalate_after_minutes must be positive")
        if not self.channels and not self.escalation_chain:
            raise RuleError("a rule needs at least one channel (or escalation contact)")
        if len(self.channels) + len(self.escalation_chain) > MAX_RULE_CHANNELS:
            raise RuleError(
                f"channels: {len(self.channels) + len(self.escalation_chain)} channels and "
                f"contacts, at most {MAX_RULE_CHANNELS} per rule"
            )
        return self

    def affected_by(self, budgets: Sequence[Budget], scopes: Iterable[Scope]) -> bool:
        """Can a change to runs of these scopes move what this rule watches (its own
        scope's runs, or the spend of one of its budgets)?"""
        watched = [Budget("rule", self.scope, 0, "audit_only"), *budgets]
        return any(b.matches(scope) for scope in scopes for b in watched)

    def to_json(self) -> str:
        body = asdict(self)
        body["created_at"] = self.created_at.isoformat() if self.created_at else None
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Rule:
        body = json.loads(text)
        body["scope"] = Scope(**body["scope"])
        body["client"] = ClientLimits(**body["client"])
        for name in ("channels", "violation_types", "escalation_chain"):
            body[name] = tuple(body[name])
        if body.get("created_at"):
            body["created_at"] = dt.datetime.fromisoformat(body["created_at"])
        return cls(**body)


@dataclass(frozen=True)
class Firing:
    """One alert a rule raised: to its channels and, for governance, its first contact."""

    rule: Rule
    event_key: str
    subject: str
    text: str
    detail: dict[str, Any]


# -- storage -------------------------------------------------------------------------


def save(conn: Any, rule: Rule) -> None:
    conn.execute(
        "INSERT INTO alert_rules VALUES (?, ?, ?, ?, ?)",
        [rule.rule_id, rule.kind, rule.to_json(), rule.created_at, rule.created_by],
    )


def delete(conn: Any, rule_id: str) -> Rule | None:
    """Remove a rule (its alerts stay in the history); the rule removed, or None."""
    rows = conn.execute(
        "DELETE FROM alert_rules WHERE rule_id = ? RETURNING body", [rule_id]
    ).fetchall()
    return Rule.from_json(rows[0][0]) if rows else None


def load_all(conn: Any) -> list[Rule]:
    rows = conn.execute("SELECT body FROM alert_rules ORDER BY created_at, rule_id").fetchall()
    return [Rule.from_json(body) for (body,) in rows]


def fired_keys(conn: Any, rules: Sequence[Rule]) -> set[tuple[str, str]]:
    """What these rules fired already (a governance rule's query leaves out its own)."""
    rule_ids = [r.rule_id for r in rules if r.kind != "governance"]
    if not rule_ids:
        return set()
    marks = ", ".join("?" * len(rule_ids))
    return {
        (rule_id, key)
        for rule_id, key in conn.execute(
            f"SELECT rule_id, event_key FROM alert_events WHERE rule_id IN ({marks})",
            list(rule_ids),
        ).fetchall()
    }


def record(
    conn: Any,
    alert_id: str,
    rule_id: str,
    event_key: str,
    subject: str,
    body: Mapping[str, Any],
    now: dt.datetime,
    acknowledged_by: str | None = None,
) -> None:
    """Store an alert once (rule, event); one stored acknowledged never escalates."""
    conn.execute(
        "INSERT INTO alert_events (alert_id, rule_id, event_key, subject, body, fired_at, level, "
        "escalated_at, acknowledged_at, acknowledged_by) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
        [
            alert_id,
            rule_id,
            event_key,
            subject,
            json.dumps(dict(body), default=str),
            now,
            now,
            now if acknowledged_by is not None else None,
            acknowledged_by,
        ],
    )


def acknowledge(conn: Any, alert_id: str, actor: str, now: dt.datetime) -> bool:
    rows = conn.execute(
        "UPDATE alert_events SET acknowledged_at = ?, acknowledged_by = ? "
        "WHERE alert_id = ? AND acknowledged_at IS NULL RETURNING alert_id",
        [now, actor, alert_id],
    ).fetchall()
    return bool(rows)


def due_escalations(
    conn: Any, rules: Mapping[str, Rule], now: dt.datetime
) -> list[tuple[str, Rule, int, str, str]]:
    """(alert id, rule, next level, subject, text) for unacknowledged governance alerts
    whose current contact had escalate_after_minutes; the level is advanced here."""
    result = []
    for alert_id, rule_id, level, escalated_at, subject, body in conn.execute(
        "SELECT alert_id, rule_id, level, escalated_at, subject, body FROM alert_events "
        "WHERE acknowledged_at IS NULL ORDER BY fired_at"
    ).fetchall():
        rule = rules.get(rule_id)
        if rule is None or level + 1 >= len(rule.escalation_chain):
            continue
        if escalated_at + dt.timedelta(minutes=rule.escalate_after_minutes) > now:
            continue
        conn.execute(
            "UPDATE alert_events SET level = ?, escalated_at = ? WHERE alert_id = ?",
            [level + 1, now, alert_id],
        )
        result.append((alert_id, rule, level + 1, subject, json.loads(body)["text"]))
    return result


# -- evaluation ----------------------------------------------------------------------

BudgetStates = Callable[[Rule], Sequence[BudgetState]]


def evaluate(
    conn: Any,
    rules: Sequence[Rule],
    now: dt.datetime,
    budget_states: BudgetStates,
    fired: set[tuple[str, str]],
    memo: dict[tuple, Any] | None = None,
    timezone: str = "UTC",
) -> list[Firing]:
    """Every alert the rules raise now that has not fired before. Rules of one scope
    share their queries (``memo``: one evaluation's results by question); a day
    (``daily_cost``) starts at midnight in ``timezone`` (the policy's)."""
    firings: list[Firing] = []
    memo = {} if memo is None else memo
    for rule in rules:
        if rule.kind == "cost":
            candidates = _cost(rule, budget_states(rule))
        elif rule.kind == "metric":
            candidates = _metric(conn, rule, now, budget_states, memo, timezone)
        else:
            candidates = _governance(conn, rule)
        firings += [f for f in candidates if (rule.rule_id, f.event_key) not in fired]
    return firings


def _cost(rule: Rule, states: Sequence[BudgetState]) -> list[Firing]:
    result = []
    for state in states:
        limit = state.budget.limit_micros
        if limit <= 0 or state.spent_micros * 100 < limit * rule.threshold:
            continue
        percent = 100 * state.spent_micros / limit
        result.append(
            Firing(
                rule,
                f"{state.budget.name}@{state.period_start.isoformat()}",
                f"GenOps cost alert: {state.budget.name} at {percent:.0f}% "
                f"(threshold {rule.threshold:g}%)",
                f"budget '{state.budget.name}' spent {format_usd(state.spent_micros)} of "
                f"{format_usd(limit)} ({percent:.1f}%, threshold {rule.threshold:g}%) in the "
                f"period from {state.period_start.isoformat()}",
                {
                    "budget": state.budget.name,
                    "spent_usd": to_dollars(state.spent_micros),
                    "limit_usd": to_dollars(limit),
                    "percent": round(percent, 2),
                },
            )
        )
    return result


def _metric(
    conn: Any,
    rule: Rule,
    now: dt.datetime,
    budget_states: BudgetStates,
    memo: dict,
    timezone: str = "UTC",
) -> list[Firing]:
    if rule.metric == "daily_cost":
        midnight = period_start(now, "daily", timezone)
        key = ("spend", rule.scope, midnight)  # shared with a daily budget of the scope
        if key not in memo:
            memo[key] = _spent_since(conn, rule.scope, midnight)
        value = to_dollars(memo[key])
        day = midnight.astimezone(ZoneInfo(timezone)).date().isoformat()
        key, unit, what = day, "$", f"spent today ({timezone})"
    elif rule.metric == "budget_utilization":
        states = [s for s in budget_states(rule) if s.budget.limit_micros > 0]
        if not states:
            return []
        value = max(100 * s.spent_micros / s.budget.limit_micros for s in states)
        key, unit, what = _window_key(now, rule.window_minutes), "%", "of the most used budget"
    else:  # experiment_failure_rate, error_rate_percentage
        key = ("failures", rule.scope, rule.window_minutes)
        if key not in memo:
            memo[key] = _failures(conn, rule.scope, now, rule.window_minutes)
        failed, ended = memo[key]
        if not ended:
            return []
        value = 100 * failed / ended
        key = _window_key(now, rule.window_minutes)
        unit = "%"
        what = f"of {ended} run(s) ended in the last {rule.window_minutes} min failed ({failed})"
    if value < rule.threshold:
        return []
    shown = f"${value:,.2f}" if unit == "$" else f"{value:.1f}%"
    limit = f"${rule.threshold:,.2f}" if unit == "$" else f"{rule.threshold:g}%"
    return [
        Firing(
            rule,
            key,
            f"GenOps metric alert: {rule.metric} {shown} (threshold {limit})",
            f"{rule.metric} is {shown} {what}; threshold {limit} ({_scope_text(rule.scope)})",
            {"metric": rule.metric, "value": round(value, 6), "threshold": rule.threshold},
        )
    ]


def _not_fired(key: str) -> str:
    """Each governance event fires once: the query leaves out what the rule fired already."""
    return f"NOT EXISTS (SELECT 1 FROM alert_events e WHERE e.rule_id = ? AND e.event_key = {key})"


_DECISION_NOT_FIRED = _not_fired("'decision:' || d.decision_id")
_RUN_NOT_FIRED = _not_fired("'run:' || r.run_key")
_APPROVAL_NOT_FIRED = _not_fired("'approval:' || a.approval_id")


def _governance(conn: Any, rule: Rule) -> list[Firing]:
    since = rule.created_at or dt.datetime.fromtimestamp(0, dt.timezone.utc)
    where, params = scope_filter(rule.scope)
    result = []
    if "budget_exceeded" in rule.violation_types:
        for decision_id, outcome, budget, spent, limit, message in conn.execute(
            "SELECT decision_id, decision, budget_name, spent_micros, limit_micros, message "
            f"FROM budget_decisions d WHERE {where} AND budget_name IS NOT NULL "
            f"AND decided_at >= ? AND {_DECISION_NOT_FIRED} "
            "ORDER BY decided_at",
            [*params, since, rule.rule_id],
        ).fetchall():
            result.append(
                _violation(
                    rule,
                    f"decision:{decision_id}",
                    "budget_exceeded",
                    f"budget '{budget}' exceeded ({outcome}): {message}",
                    {
                        "budget": budget,
                        "decision": outcome,
                        "spent_micros": spent,
                        "limit_micros": limit,
                    },
                )
            )
    if "policy_violation" in rule.violation_types:
        for run_key, run_id, violations in conn.execute(
            f"SELECT run_key, run_id, violations FROM runs r WHERE {where} "
            f"AND len(violations) > 0 AND as_of_ns >= ? "
            f"AND {_RUN_NOT_FIRED} ORDER BY as_of_ns",
            [*params, to_ns(since), rule.rule_id],
        ).fetchall():
            result.append(
                _violation(
                    rule,
                    f"run:{run_key}",
                    "policy_violation",
                    f"run {run_id or run_key}: {'; '.join(violations)}",
                    {"run_id": run_id or run_key, "violations": list(violations)},
                )
            )
    if "approval_denied" in rule.violation_types:
        for approval_id, status, actor, reason in conn.execute(
            f"SELECT approval_id, status, actor, reason FROM approvals a WHERE {where} "
            "AND status IN ('denied', 'timed_out') AND decided_at >= ? "
            f"AND {_APPROVAL_NOT_FIRED} ORDER BY decided_at",
            [*params, since, rule.rule_id],
        ).fetchall():
            result.append(
                _violation(
                    rule,
                    f"approval:{approval_id}",
                    "approval_denied",
                    f"approval {approval_id} {status.replace('_', ' ')}"
                    + (f" by {actor}" if actor else "")
                    + (f": {reason}" if reason else ""),
                    {"approval_id": approval_id, "status": status},
                )
            )
    return result


def _violation(rule: Rule, key: str, kind: str, text: str, detail: dict) -> Firing:
    return Firing(
        rule,
        key,
        f"[{rule.severity}] GenOps governance: {kind}",
        f"{text} ({_scope_text(rule.scope)})",
        {"violation_type": kind, "severity": rule.severity, **detail},
    )


def _spent_since(conn: Any, scope: Scope, since: dt.datetime) -> int:
    return spend_query(conn, Budget("rule", scope, 0, "audit_only"), since)


def _failures(conn: Any, scope: Scope, now: dt.datetime, window_minutes: int) -> tuple[int, int]:
    where, params = scope_filter(scope)
    failed, ended = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'failed'), count(*) FROM runs "
        f"WHERE {where} AND final AND as_of_ns >= ?",
        [*params, to_ns(now) - window_minutes * _NS_PER_MINUTE],
    ).fetchone()
    return int(failed), int(ended)


def _window_key(now: dt.datetime, window_minutes: int) -> str:
    return f"window:{to_ns(now) // (window_minutes * _NS_PER_MINUTE)}"


def _scope_text(scope: Scope) -> str:
    parts = [f"{k}={v}" for k, v in scope.as_dict().items() if v]
    return ", ".join(parts) or "all scopes"
