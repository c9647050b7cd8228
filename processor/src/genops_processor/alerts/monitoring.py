"""The monitoring service behind ``genops.monitoring``: rules registered by clients,
evaluated after every ingest and on the processor's timer, delivered through the
alert channels; notifications (reports, health checks) delivered on request.

What fires is :mod:`rules`; how it travels is :mod:`delivery`. Every rule
registration and acknowledgement is an audit event; every alert is stored
once (rule, event) before it is sent, so a restart never sends it twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from genops_processor.alerts import delivery as alerts
from genops_processor.alerts import rules as alert_rules
from genops_processor.alerts.rules import Firing, Rule
from genops_processor.budgets import BudgetState, Policy, spend
from genops_processor.domain import Scope
from genops_processor.record import audit
from genops_processor.storage import Priority, Storage

_log = logging.getLogger(__name__)
Deliver = Callable[[alerts.Alert | alerts.Notice, Iterable[str]], None]
Record = Callable[[str, str, int, str, str], None]


class Monitoring:
    def __init__(
        self,
        storage: Storage,
        policy: Callable[[], Policy],
        clock: Callable[[], dt.datetime],
        deliver: Deliver,
        record_delivery: Record,
    ) -> None:
        self._storage, self._policy, self._clock = storage, policy, clock
        self._deliver, self._record_delivery = deliver, record_delivery
        self._rules: list[Rule] = storage.call(alert_rules.load_all)

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def unresolved(self, channels: Iterable[str]) -> list[str]:
        names = dict(self._policy().channels)
        return [c for c in channels if alerts.resolve(c, names) is None]

    async def add_rule(self, rule: Rule, actor: str) -> tuple[Rule, list[str]]:
        """Validate, store and audit a rule; returns it and its channels with no address."""
        now = self._clock()
        rule = dataclasses.replace(rule, created_at=now, created_by=actor).validated()

        def job(conn) -> None:
            alert_rules.save(conn, rule)
            audit(
                conn, "alert_rule.added", actor, {"rule_id": rule.rule_id, "kind": rule.kind}, now
            )

        await asyncio.wrap_future(self._storage.submit(job))
        self._rules.append(rule)
        missing = self.unresolved((*rule.channels, *rule.escalation_chain))
        if missing:
            _log.warning(
                "alert rule %s: no address for %s (map them under channels: in the policy)",
                rule.rule_id,
                ", ".join(missing),
            )
        return rule, missing

    def rules(self, scope: Scope | None = None) -> list[Rule]:
        if scope is None:
            return list(self._rules)
        return [r for r in self._rules if r.scope == scope]

    async def evaluate(self) -> list[str]:
        """Fire what the rules raise now, then escalate what waited too long."""
        if not self._rules:
            return []
        now, policy, rules = self._clock(), self._policy(), list(self._rules)

        def states(conn) -> Callable[[Rule], Sequence[BudgetState]]:
            return lambda rule: spend.budget_states(
                conn, policy.budgets_for(rule.scope, rule.client), now
            )

        def job(conn) -> tuple[list[tuple[str, Firing]], list]:
            fired = alert_rules.fired_keys(conn)
            new = []
            for firing in alert_rules.evaluate(conn, rules, now, states(conn), fired):
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
                new.append((alert_id, firing))
            escalations = alert_rules.due_escalations(conn, {r.rule_id: r for r in rules}, now)
            return new, escalations

        new, escalations = await asyncio.wrap_future(self._storage.submit(job, Priority.BULK))
        for alert_id, firing in new:
            rule = firing.rule
            contacts = rule.escalation_chain[:1]
            self._send(
                alerts.Notice(alert_id, firing.subject, firing.text, firing.detail),
                (*rule.channels, *contacts),
            )
        for alert_id, rule, level, subject, text in escalations:
            contact = rule.escalation_chain[level]
            notice = alerts.Notice(
                alert_id,
                f"{subject} (escalated to {contact}: not acknowledged)",
                f"{text}\nNot acknowledged after {rule.escalate_after_minutes:g} min; "
                f"acknowledge with: genops alerts ack {alert_id}",
                {"escalation_level": level, "contact": contact},
            )
            self._send(notice, (contact,))
        return [alert_id for alert_id, _ in new]

    async def notify(
        self, channels: Sequence[str], subject: str, body: Mapping[str, Any], sender: str
    ) -> tuple[str, list[str]]:
        """Send a message now; returns its id (its deliveries are recorded under it)."""
        if not channels:
            raise alert_rules.RuleError("channels: at least one is needed")
        notification_id = uuid.uuid4().hex
        text = str(body.get("text") or body.get("summary") or subject)
        now = self._clock()

        def job(conn) -> None:  # kept with the alerts; nothing to acknowledge or escalate
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

        await asyncio.wrap_future(self._storage.submit(job))
        self._send(
            alerts.Notice(notification_id, subject, text, {"sender": sender, "body": dict(body)}),
            channels,
        )
        return notification_id, self.unresolved(channels)

    async def acknowledge(self, alert_id: str, actor: str) -> bool:
        now = self._clock()

        def job(conn) -> bool:
            done = alert_rules.acknowledge(conn, alert_id, actor, now)
            if done:
                audit(conn, "alert.acknowledged", actor, {"alert_id": alert_id}, now)
            return done

        return await asyncio.wrap_future(self._storage.submit(job))

    async def history(self, limit: int) -> list[dict[str, Any]]:
        return await asyncio.wrap_future(
            self._storage.submit(lambda conn: alert_rules.history(conn, limit))
        )

    def _send(self, message: alerts.Alert | alerts.Notice, channels: Iterable[str]) -> None:
        names = dict(self._policy().channels)
        addresses = []
        for channel in channels:
            address = alerts.resolve(channel, names)
            if address is None:
                self._record_delivery(
                    message.alert_id,
                    channel,
                    1,
                    "failed",
                    f"no address for {channel!r}: map it under channels: in the policy",
                )
            else:
                addresses.append(address)
        if addresses:
            self._deliver(message, addresses)
