"""The monitoring service behind ``genops.monitoring``: rules registered by clients,
evaluated off the ingest path, delivered through the alert channels; notifications
(reports, health checks) delivered on request.

What fires is :mod:`rules`; how it travels is :mod:`delivery` (through the
:mod:`outbox`). Every rule registration, deletion and acknowledgement is an
audit event; every alert is stored once (rule, event) with its outbox rows
before it is sent, so a restart neither sends it twice nor loses it.

Evaluation cost does not grow with every ingest: an ingest only marks the
scopes of the runs it changed; one evaluation follows at most
``ALERT_EVALUATION_DELAY_S`` later for the rules those scopes can move (many
ingests, one evaluation), in writer jobs of ``ALERT_RULES_PER_JOB`` rules at
bulk priority, so ingest and budget decisions go between them. The
processor's timer (``--alert-interval``) evaluates every rule and escalates.
Rules and notifications may only name the policy's channels (``channels:``, plus
``log://``): anything else, an address above all, is refused (``ChannelRefused``,
the field named) and audited (``channel.refused``), so no caller makes the processor
send to a place of its choosing. Rules are capped per team and in all (``MAX_ALERT_RULES_PER_TEAM``,
``MAX_ALERT_RULES``); ``genops alerts delete-rule`` removes one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from genops_processor.alerts import delivery as alerts
from genops_processor.alerts import history as alert_history
from genops_processor.alerts import outbox
from genops_processor.alerts import rules as alert_rules
from genops_processor.alerts.rules import Rule
from genops_processor.auth import context as auth_context
from genops_processor.budgets import Budget, BudgetState, Policy, decide, spend_query
from genops_processor.budgets.alert_settings import shown_address
from genops_processor.domain import Scope
from genops_processor.limits import (
    ALERT_CHANGED_SCOPES,
    ALERT_EVALUATION_DELAY_S,
    ALERT_EVALUATION_SHARE,
    ALERT_RULES_PER_JOB,
    MAX_ALERT_RULES,
    MAX_ALERT_RULES_PER_TEAM,
    MAX_NOTIFY_CHANNELS,
)
from genops_processor.record import audit
from genops_processor.storage import Priority, Storage, transaction

_log = logging.getLogger(__name__)


class RuleLimitError(alert_rules.RuleError):
    """Too many rules (per team or in all): delete some first."""


class ChannelRefused(alert_rules.RuleError):
    """A channel that is not one of the policy's; the message names the field."""


class Monitoring:
    def __init__(
        self,
        storage: Storage,
        policy: Callable[[], Policy],
        clock: Callable[[], dt.datetime],
        deliverer: alerts.Deliverer,
    ) -> None:
        self._storage, self._policy, self._clock = storage, policy, clock
        self._deliverer = deliverer
        self._rules: list[Rule] = storage.call(alert_rules.load_all)
        self._changed: set[Scope] = set()
        self._all_changed = False
        self._follow_up: asyncio.Task | None = None
        self._pause = ALERT_EVALUATION_DELAY_S

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def unresolved(self, channels: Iterable[str]) -> list[str]:
        policy = self._policy()
        return [c for c in channels if policy.channel(c) is None]

    async def _only_policy_channels(
        self, fields: Mapping[str, Sequence[str]], actor: str, method: str
    ) -> None:
        """Refuse (and audit) any channel that is not a name of the policy's ``channels:``."""
        allowed = set(self._policy().channel_names())
        refused = next(
            (
                (f"{name}[{i}]", shown_address(channel))
                for name, channels in fields.items()
                for i, channel in enumerate(channels)
                if channel not in allowed
            ),
            None,
        )
        if refused is None:
            return
        where, shown = refused
        now = self._clock()
        detail = {"method": method, "field": where, "channel": shown}
        await asyncio.wrap_future(
            self._storage.submit(lambda conn: audit(conn, "channel.refused", actor, detail, now))
        )
        raise ChannelRefused(
            f"{where}: {shown!r} is not a channel of the policy; name one of "
            f"{', '.join(sorted(allowed))} (addresses are defined under channels: in the "
            "policy, not sent by clients)"
        )

    # -- rules ---------------------------------------------------------------------------
    async def add_rule(self, rule: Rule, actor: str) -> tuple[Rule, list[str]]:
        """Validate, store and audit a rule; returns it and its channels with no address.
        Raises RuleLimitError past the caps (checked on the writer: no two adds race)."""
        now = self._clock()
        rule = dataclasses.replace(rule, created_at=now, created_by=actor).validated()
        await self._only_policy_channels(
            {"channels": rule.channels, "escalation_chain": rule.escalation_chain},
            actor,
            "AddAlertRule",
        )

        def job(conn) -> None:
            self._check_room(rule.scope.team)
            alert_rules.save(conn, rule)
            audit(
                conn, "alert_rule.added", actor, {"rule_id": rule.rule_id, "kind": rule.kind}, now
            )
            self._rules = [*self._rules, rule]

        await asyncio.wrap_future(self._storage.submit(job))
        missing = self.unresolved((*rule.channels, *rule.escalation_chain))
        if missing:
            _log.warning(
                "alert rule %s: no address for %s (map them under channels: in the policy)",
                rule.rule_id,
                ", ".join(missing),
            )
        return rule, missing

    def _check_room(self, team: str) -> None:
        if len(self._rules) >= MAX_ALERT_RULES:
            raise RuleLimitError(
                f"{len(self._rules)} alert rules already, at most {MAX_ALERT_RULES}: "
                "delete some first (genops alerts delete-rule RULE_ID)"
            )
        same_team = sum(1 for r in self._rules if r.scope.team == team)
        if same_team >= MAX_ALERT_RULES_PER_TEAM:
            raise RuleLimitError(
                f"team {team or '(none)'!r} has {same_team} alert rules already, at most "
                f"{MAX_ALERT_RULES_PER_TEAM}: delete some first (genops alerts delete-rule RULE_ID)"
            )

    async def delete_rule(self, rule_id: str, actor: str, reported_actor: str = "") -> Rule | None:
        """Remove a rule and audit it; its past alerts stay. None when there is no such rule.
        ``reported_actor``: who the request said it was (kept, not trusted)."""
        now = self._clock()

        def job(conn) -> Rule | None:
            removed = alert_rules.delete(conn, rule_id)
            if removed is not None:
                detail = {"rule_id": rule_id, "kind": removed.kind, **removed.scope.as_dict()}
                if reported_actor:
                    detail["reported_actor"] = reported_actor
                audit(conn, "alert_rule.deleted", actor, detail, now)
                self._rules = [r for r in self._rules if r.rule_id != rule_id]
            return removed

        return await asyncio.wrap_future(self._storage.submit(job))

    def rules(self, scope: Scope | None = None) -> list[Rule]:
        if scope is None:
            return list(self._rules)
        return [r for r in self._rules if r.scope == scope]

    # -- evaluation ----------------------------------------------------------------------
    def changed(self, scopes: Iterable[Scope]) -> None:
        """Runs of these scopes changed (an ingest): evaluate the rules they can move,
        once, shortly. Returns at once; many calls before then make one evaluation."""
        if not self._rules:
            return
        self._changed.update(scopes)
        if len(self._changed) > ALERT_CHANGED_SCOPES:
            self._all_changed = True
            self._changed.clear()
        if self._follow_up is None or self._follow_up.done():
            self._follow_up = asyncio.ensure_future(self._evaluate_changed())

    async def _evaluate_changed(self) -> None:
        while self._changed or self._all_changed:
            await asyncio.sleep(self._pause)
            scopes, everything = self._changed, self._all_changed
            self._changed, self._all_changed = set(), False
            policy = self._policy()
            rules = [
                r
                for r in self._rules
                if everything or r.affected_by(policy.budgets_for(r.scope, r.client), scopes)
            ]
            started = time.monotonic()
            try:
                await self._fire(rules)
            except Exception:
                _log.exception("evaluating alert rules failed")
            # However many rules, evaluating them takes at most this share of the writer.
            took = time.monotonic() - started
            self._pause = max(ALERT_EVALUATION_DELAY_S, took * (1 / ALERT_EVALUATION_SHARE - 1))

    async def evaluate(self) -> list[str]:
        """Fire what every rule raises now, then escalate what waited too long (the timer)."""
        if not self._rules:
            return []
        fired = await self._fire(list(self._rules))
        await self._escalate()
        return fired

    async def _fire(self, rules: Sequence[Rule]) -> list[str]:
        """Evaluate in bulk jobs of ALERT_RULES_PER_JOB rules; returns the new alert ids.
        One pass reads each figure (a scope's spend since a time, ...) once (``memo``)."""
        fired: list[str] = []
        now, policy, memo = self._clock(), self._policy(), {}
        for start in range(0, len(rules), ALERT_RULES_PER_JOB):
            chunk = rules[start : start + ALERT_RULES_PER_JOB]
            new, items = await asyncio.wrap_future(
                self._storage.submit(
                    lambda conn, c=chunk: self._fire_job(conn, c, now, policy, memo),
                    Priority.BULK,
                )
            )
            self._deliverer.start(items)
            fired += new
        return fired

    def _fire_job(
        self, conn, rules: Sequence[Rule], now: dt.datetime, policy: Policy, memo: dict
    ) -> tuple[list[str], list[outbox.Item]]:
        live = {r.rule_id for r in self._rules}  # not the ones deleted since
        rules = [r for r in rules if r.rule_id in live]

        def spent(budget: Budget, since: dt.datetime) -> int:
            key = ("spend", budget.scope, since)  # budgets of one scope spend alike
            if key not in memo:
                memo[key] = spend_query(conn, budget, since)
            return memo[key]

        def budget_states(rule: Rule) -> Sequence[BudgetState]:
            key = ("states", rule.scope, rule.client)
            if key not in memo:
                memo[key] = decide(policy.budgets_for(rule.scope, rule.client), 0, now, spent)
            return memo[key].states

        with transaction(conn):  # each alert with its outbox rows, or neither
            return self._record_firings(conn, rules, now, policy, budget_states, memo)

    @staticmethod
    def _record_firings(
        conn, rules: Sequence[Rule], now: dt.datetime, policy: Policy, budget_states, memo: dict
    ) -> tuple[list[str], list[outbox.Item]]:
        fired = alert_rules.fired_keys(conn, rules)
        new, items = [], []
        found = alert_rules.evaluate(conn, rules, now, budget_states, fired, memo, policy.timezone)
        for firing in found:
            alert_id = uuid.uuid4().hex
            alert_rules.record(
                conn,
                alert_id,
                firing.rule.rule_id,
                firing.event_key,
                firing.subject,
                {"text": firing.text, **firing.detail},
                now,
            )
            rule = firing.rule
            detail = {
                "alert_id": alert_id,
                "rule_id": rule.rule_id,
                "rule_kind": rule.kind,
                "event_key": firing.event_key,
                "subject": firing.subject,
                "channels": [*rule.channels, *rule.escalation_chain[:1]],
                **rule.scope.as_dict(),
            }
            audit(conn, "alert.fired", "processor", detail, now)
            notice = alerts.Notice(alert_id, firing.subject, firing.text, firing.detail)
            items += _enqueue(
                conn, notice, (*rule.channels, *rule.escalation_chain[:1]), policy, now
            )
            new.append(alert_id)
        return new, items

    async def _escalate(self) -> None:
        now, policy = self._clock(), self._policy()
        by_id = {r.rule_id: r for r in self._rules}

        def job(conn) -> list[outbox.Item]:
            items = []
            for alert_id, rule, level, subject, text in alert_rules.due_escalations(
                conn, by_id, now
            ):
                contact = rule.escalation_chain[level]
                detail = {"alert_id": alert_id, "rule_id": rule.rule_id, "level": level}
                audit(conn, "alert.escalated", "processor", {**detail, "contact": contact}, now)
                notice = alerts.Notice(
                    alert_id,
                    f"{subject} (escalated to {contact}: not acknowledged)",
                    f"{text}\nNot acknowledged after {rule.escalate_after_minutes:g} min; "
                    f"acknowledge with: genops alerts ack {alert_id}",
                    {"escalation_level": level, "contact": contact},
                )
                items += _enqueue(conn, notice, (contact,), policy, now)
            return items

        self._deliverer.start(await asyncio.wrap_future(self._storage.submit(job, Priority.BULK)))

    # -- notifications, acknowledgements, history -----------------------------------------
    async def notify(
        self, channels: Sequence[str], subject: str, body: Mapping[str, Any], sender: str
    ) -> tuple[str, list[str]]:
        """Send a message now; returns its id (its deliveries are recorded under it)."""
        if not channels:
            raise alert_rules.RuleError("channels: at least one is needed")
        if len(channels) > MAX_NOTIFY_CHANNELS:
            raise alert_rules.RuleError(
                f"channels: {len(channels)}, at most {MAX_NOTIFY_CHANNELS} per notification"
            )
        principal = auth_context.current_or_none()
        actor = principal.name if principal is not None else (sender or "unknown")
        await self._only_policy_channels({"channels": channels}, actor, "Notify")
        notification_id = uuid.uuid4().hex
        text = str(body.get("text") or body.get("summary") or subject)
        now, policy = self._clock(), self._policy()
        notice = alerts.Notice(
            notification_id, subject, text, {"sender": sender, "body": dict(body)}
        )

        def job(conn) -> list[outbox.Item]:  # kept with the alerts; nothing to acknowledge
            with transaction(conn):
                alert_rules.record(
                    conn,
                    notification_id,
                    "notification",
                    notification_id,
                    subject,
                    {"text": text, "sender": sender},
                    now,
                    acknowledged_by=sender or "notification",
                )
                detail = {"alert_id": notification_id, "subject": subject, "channels": [*channels]}
                audit(conn, "notification.sent", actor, {**detail, "sender": sender}, now)
                return _enqueue(conn, notice, channels, policy, now)

        self._deliverer.start(await asyncio.wrap_future(self._storage.submit(job)))
        return notification_id, self.unresolved(channels)

    async def acknowledge(self, alert_id: str, actor: str, reported_actor: str = "") -> bool:
        now = self._clock()

        def job(conn) -> bool:
            done = alert_rules.acknowledge(conn, alert_id, actor, now)
            if done:
                detail = {"alert_id": alert_id}
                if reported_actor:
                    detail["reported_actor"] = reported_actor
                audit(conn, "alert.acknowledged", actor, detail, now)
            return done

        return await asyncio.wrap_future(self._storage.submit(job))

    async def history(self, limit: int) -> list[dict[str, Any]]:
        return await asyncio.wrap_future(
            self._storage.submit(lambda conn: alert_history.recent(conn, limit))
        )


def _enqueue(
    conn,
    message: alerts.Notice,
    channels: Iterable[str],
    policy: Policy,
    now: dt.datetime,
) -> list[outbox.Item]:
    """Outbox rows for the channels the policy has (by name: the outbox never holds an
    address); a failed delivery for each it has not."""
    known = []
    for channel in channels:
        if policy.channel(channel) is None:
            outbox.record_unresolved(conn, message.alert_id, shown_address(channel), now)
        else:
            known.append(channel)
    return outbox.enqueue(conn, message, known, now)
