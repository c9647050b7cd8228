"""Monitoring from the guide: :class:`AlertManager` and :class:`ProductionMonitor`.

Rules are registered with the processor, which evaluates them against the
ledger (after every ingest and on its timer), stores each alert once and
delivers it with retries to the channels (see the processor's ``alerts`` and
``alert_rules`` modules): names such as ``slack://alerts`` and ``team_lead``
that the processor's policy defines under ``channels:``, or ``log://``. An
address or an undefined name is refused by the processor (INVALID_ARGUMENT).

Rules cover the adapter's team and project (as its daily budget does).
Health checks and scheduled jobs run on one daemon thread per manager, first
after one interval, then every interval; an exception in them is logged and
never reaches the training loop. When the processor cannot be reached, rule
registrations and reports wait in memory and are sent once it answers.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from genops.config import known_secrets
from genops.governance import redaction
from genops.governance.v1 import governance_pb2 as pb
from genops.governance_client import GovernanceClient, GovernanceRefused, GovernanceUnavailable

_log = logging.getLogger("genops.monitoring")

METRICS = ("daily_cost", "budget_utilization", "experiment_failure_rate", "error_rate_percentage")
VIOLATION_TYPES = ("budget_exceeded", "policy_violation", "approval_denied")
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
HEALTH_STATUSES = ("healthy", "degraded", "unhealthy")
NAMED_INTERVALS = {"minutely": 60.0, "hourly": 3_600.0, "daily": 86_400.0, "weekly": 604_800.0}
_UNITS = {"s": 1.0, "m": 60.0, "h": 3_600.0, "d": 86_400.0}
_RETRY_EVERY_S = 5.0


class MonitoringError(ValueError):
    """A monitoring call with bad input; the message names the argument."""


@dataclass(frozen=True)
class RegisteredRule:
    """A rule as the processor stored it ("" id while it waits for the processor)."""

    kind: str
    rule_id: str = ""
    unresolved: tuple[str, ...] = ()
    pending: bool = False


def parse_interval(value: object, name: str = "interval") -> float:
    """Seconds from a number of seconds, 'hourly' / 'daily' / 'weekly', or '15m', '2h'."""
    if isinstance(value, bool):
        raise MonitoringError(f"{name}={value!r}: expected seconds, 'daily' or e.g. '15m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip().lower() in NAMED_INTERVALS:
        seconds = NAMED_INTERVALS[value.strip().lower()]
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise MonitoringError(
            f"{name}={value!r}: expected seconds, one of "
            f"{', '.join(NAMED_INTERVALS)}, or e.g. '15m'"
        )
    if not seconds > 0:
        raise MonitoringError(f"{name}={value!r}: must be above 0")
    return seconds


class _Link:
    """The manager's line to the processor: calls that wait when it is away."""

    def __init__(self, adapter: Any) -> None:
        if adapter is None:
            from genops.providers.wandb import get_current_adapter

            adapter = get_current_adapter()
        if adapter is None or not hasattr(adapter, "usage"):
            raise MonitoringError(
                "monitoring needs an adapter: pass the one instrument_wandb() returned"
            )
        self.adapter = adapter
        settings = adapter.instrumentation_settings()
        options = adapter.options
        self.client = GovernanceClient(
            settings.governance_target,
            settings.governance_secure,
            options.connection_timeout_seconds,
            options.retry_attempts,
            options.retry_backoff_factor,
            security=settings.governance_security,
        )
        self.sender = f"{adapter.team or ''}/{adapter.project or ''}"
        self._pending: list[tuple[str, Any, Callable[[Any], None]]] = []
        self._lock = threading.Lock()
        self._warned = False

    def scope(self) -> pb.Scope:
        """The adapter's team and project: what its daily budget covers too."""
        full = self.adapter.usage.scope_pb()
        return pb.Scope(team=full.team, project=full.project)

    def client_limits(self) -> pb.ClientLimits:
        return self.adapter.usage.client_limits_pb()

    def call(self, method: str, request: Any, done: Callable[[Any], None]) -> bool:
        """Send now if the processor answers (True), else keep it for later (False)."""
        with self._lock:
            if not self._pending and self._send(method, request, done):
                return True
            self._pending.append((method, request, done))
            return False

    def flush(self) -> int:
        """Send what waited, in order; returns how many still wait. One the processor
        refuses (it can never succeed) is dropped with a warning naming why."""
        with self._lock:
            while self._pending:
                method, request, done = self._pending[0]
                try:
                    if not self._send(method, request, done):
                        break
                except MonitoringError as error:
                    _log.warning("genops: %s; dropped", error)
                self._pending.pop(0)
            return len(self._pending)

    def _send(self, method: str, request: Any, done: Callable[[Any], None]) -> bool:
        try:
            response = getattr(self.client, method)(request)
        except GovernanceRefused as error:  # waiting would not help: tell it, drop it
            raise MonitoringError(str(error)) from None
        except GovernanceUnavailable as error:
            if not self._warned:
                self._warned = True
                _log.warning("genops: monitoring waits for the processor (%s)", error)
            return False
        except grpc.RpcError as error:  # an answer: the processor refuses this request
            raise MonitoringError(
                f"the processor refused {method}: {error.details() or error.code().name}"
            ) from None
        self._warned = False
        done(response)
        return True


@dataclass
class _Job:
    name: str
    fn: Callable[[], Any]
    interval_s: float
    next_at: float
    on_result: Callable[[Any, BaseException | None], None] | None = None


class _Scheduler:
    """One daemon thread running jobs when due and retrying what waits for the processor."""

    def __init__(self, link: _Link) -> None:
        self._link = link
        self._jobs: list[_Job] = []
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, job: _Job) -> None:
        with self._lock:
            self._jobs.append(job)
            self._start()
        self._wake.set()

    def ensure_running(self) -> None:
        """The thread retries what waits for the processor at least every few seconds."""
        with self._lock:
            self._start()

    def _start(self) -> None:  # under self._lock
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="genops-monitoring", daemon=True)
            self._thread.start()
            atexit.register(self._at_exit)

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def run_now(self, name: str | None = None) -> None:
        for job in list(self._jobs):
            if name is None or job.name == name:
                _run_job(job)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._link.flush()
            now = time.monotonic()
            with self._lock:
                due = [j for j in self._jobs if j.next_at <= now]
                for job in due:
                    job.next_at = now + job.interval_s
                wait = min((j.next_at for j in self._jobs), default=now + 60) - now
            for job in due:
                if not self._stopped.is_set():
                    _run_job(job)
            self._wake.wait(max(0.05, min(wait, _RETRY_EVERY_S)))
            self._wake.clear()

    def _at_exit(self) -> None:
        self._stopped.set()
        left = self._link.flush()
        if left:
            _log.warning(
                "genops: %d monitoring request(s) not sent: the processor is unreachable", left
            )


def _run_job(job: _Job) -> None:
    try:
        result, error = job.fn(), None
    except Exception as exc:  # a user's job never breaks training
        result, error = None, exc
        _log.warning("genops: scheduled %s failed: %s", job.name, exc, exc_info=True)
    if job.on_result is not None:
        try:
            job.on_result(result, error)
        except Exception:
            _log.warning("genops: handling the result of %s failed", job.name, exc_info=True)


class _Monitor:
    """What both managers share: the link, the scheduler, registering rules, notifying."""

    def __init__(self, adapter: Any = None) -> None:
        self._link = _Link(adapter)
        self.adapter = self._link.adapter
        self._scheduler = _Scheduler(self._link)
        self.rules: list[RegisteredRule] = []

    def _register(self, rule: pb.AlertRule) -> RegisteredRule:
        rule.scope.CopyFrom(self._link.scope())
        rule.client_limits.CopyFrom(self._link.client_limits())
        rule.created_by = self._link.sender
        index = len(self.rules)
        self.rules.append(RegisteredRule(rule.kind, pending=True))

        def done(stored: pb.AlertRule) -> None:
            self.rules[index] = RegisteredRule(
                stored.kind, stored.rule_id, tuple(stored.unresolved)
            )
            if stored.unresolved:
                _log.warning(
                    "genops: alert rule %s: the processor has no address for %s "
                    "(map them under channels: in its policy)",
                    stored.rule_id,
                    ", ".join(stored.unresolved),
                )

        try:
            sent = self._link.call("add_alert_rule", rule, done)
        except MonitoringError:
            self.rules.pop(index)
            raise
        if not sent:
            self._scheduler.ensure_running()
        return self.rules[index]

    def delete_rule(self, rule_id: str) -> bool:
        """Delete a rule at the processor (audited there); True once deleted, False while
        the processor is away (sent when it is back). MonitoringError: it has no such rule."""
        request = pb.DeleteAlertRuleRequest(rule_id=rule_id, actor=self._link.sender)

        def done(_response: pb.DeleteAlertRuleResponse) -> None:
            self.rules[:] = [r for r in self.rules if r.rule_id != rule_id]

        sent = self._link.call("delete_alert_rule", request, done)
        if not sent:
            self._scheduler.ensure_running()
        return sent

    def _notify(self, subject: str, body: object, channels: Sequence[str]) -> str:
        channels = _channels(channels, "channels")
        request = pb.NotifyRequest(
            channels=channels,
            subject=subject,
            body_json=json.dumps(_jsonable(body), default=str),
            scope=self._link.scope(),
            sender=self._link.sender,
        )
        sent: list[str] = []

        def done(response: pb.NotifyResponse) -> None:
            sent.append(response.notification_id)
            if response.unresolved:
                _log.warning(
                    "genops: no address for %s at the processor (map them under channels:)",
                    ", ".join(response.unresolved),
                )

        if not self._link.call("notify", request, done):
            self._scheduler.ensure_running()
        return sent[0] if sent else ""

    def flush(self) -> int:
        """Send what waits for the processor now; returns how many still wait."""
        return self._link.flush()

    def stop(self) -> None:
        """Stop the scheduled jobs and health checks of this manager."""
        self._scheduler.stop()


class AlertManager(_Monitor):
    """Cost, performance and governance alerts, and periodic health checks (guide)."""

    def __init__(self, adapter: Any = None) -> None:
        super().__init__(adapter)
        self._default_channels: list[str] = []
        self._health: dict[str, dict[str, Any]] = {}

    def add_cost_alert(
        self, threshold_percentage: float, notification_channels: Sequence[str]
    ) -> RegisteredRule:
        """Alert when spend reaches this percent of the adapter's budgets, once a period."""
        threshold = _number(threshold_percentage, "threshold_percentage")
        if not 0 < threshold <= 1000:
            raise MonitoringError(
                f"threshold_percentage={threshold_percentage!r}: must be in (0, 1000]"
            )
        channels = _channels(notification_channels, "notification_channels")
        self._default_channels = self._default_channels or channels
        return self._register(pb.AlertRule(kind="cost", threshold=threshold, channels=channels))

    def add_performance_alert(
        self,
        metric: str,
        threshold: float,
        time_window_minutes: int = 60,
        notification_channels: Sequence[str] | None = None,
    ) -> RegisteredRule:
        """Alert when a metric reaches a threshold over a window (once per window)."""
        if metric not in METRICS:
            raise MonitoringError(f"metric={metric!r}: expected one of {', '.join(METRICS)}")
        value = _number(threshold, "threshold")
        if value < 0:
            raise MonitoringError(f"threshold={threshold!r}: must not be negative")
        window = _number(time_window_minutes, "time_window_minutes")
        if window <= 0 or window != int(window):
            raise MonitoringError(
                f"time_window_minutes={time_window_minutes!r}: a positive whole number"
            )
        return self._register(
            pb.AlertRule(
                kind="metric",
                metric=metric,
                threshold=value,
                window_minutes=int(window),
                channels=self._or_default(notification_channels),
            )
        )

    def add_governance_alert(
        self,
        violation_types: Sequence[str],
        severity: str = "MEDIUM",
        escalation_chain: Sequence[str] = (),
        notification_channels: Sequence[str] | None = None,
        escalate_after_minutes: float = 30.0,
    ) -> RegisteredRule:
        """Alert on each violation; unacknowledged ones climb the escalation chain."""
        types = [violation_types] if isinstance(violation_types, str) else list(violation_types)
        unknown = [t for t in types if t not in VIOLATION_TYPES]
        if unknown or not types:
            raise MonitoringError(
                f"violation_types={violation_types!r}: expected some of "
                f"{', '.join(VIOLATION_TYPES)}"
            )
        level = str(severity).upper()
        if level not in SEVERITIES:
            raise MonitoringError(f"severity={severity!r}: expected one of {', '.join(SEVERITIES)}")
        chain = _channels(escalation_chain, "escalation_chain", allow_empty=True)
        after = _number(escalate_after_minutes, "escalate_after_minutes")
        if after <= 0:
            raise MonitoringError(f"escalate_after_minutes={escalate_after_minutes!r}: above 0")
        channels = (
            _channels(notification_channels, "notification_channels")
            if notification_channels is not None
            else ([] if chain and not self._default_channels else self._or_default(None))
        )
        return self._register(
            pb.AlertRule(
                kind="governance",
                violation_types=types,
                severity=level,
                escalation_chain=chain,
                escalate_after_minutes=after,
                channels=channels,
            )
        )

    def health_check(
        self, interval_minutes: float = 15, notification_channels: Sequence[str] | None = None
    ) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Run the decorated function every interval; notify when its status changes
        away from healthy (and back). It returns {"status": ..., "health_score": ...}."""
        interval_s = parse_interval(
            _number(interval_minutes, "interval_minutes") * 60, "interval_minutes"
        )
        channels = self._or_default(notification_channels)

        def decorate(fn: Callable[[], Any]) -> Callable[[], Any]:
            name = getattr(fn, "__name__", "health_check")
            self._health[name] = {"status": "unknown"}

            def on_result(result: Any, error: BaseException | None) -> None:
                self._record_health(name, result, error, channels)

            self._scheduler.add(
                _Job(name, fn, interval_s, time.monotonic() + interval_s, on_result)
            )
            return fn

        return decorate

    def run_health_checks(self) -> dict[str, dict[str, Any]]:
        """Run every health check now, on this thread; returns the latest results."""
        for name in list(self._health):
            self._scheduler.run_now(name)
        return self.health_status()

    def health_status(self) -> dict[str, dict[str, Any]]:
        return {name: dict(result) for name, result in self._health.items()}

    def _record_health(
        self, name: str, result: Any, error: BaseException | None, channels: list[str]
    ) -> None:
        if error is not None:
            current = {"status": "error", "error": redaction.error_text(error, known_secrets())}
        elif isinstance(result, dict):
            current = dict(result)
            status = str(current.get("status", "")).lower()
            if status not in HEALTH_STATUSES:
                score = current.get("health_score")
                status = _status_of(score) if isinstance(score, int | float) else "error"
                if status == "error":
                    current["error"] = "no 'status' or 'health_score' in the result"
            current["status"] = status
        else:
            current = {"status": "error", "error": f"expected a dict, got {type(result).__name__}"}
        previous = self._health.get(name, {}).get("status", "unknown")
        current["checked_at"] = time.time()
        self._health[name] = current
        status = current["status"]
        if status != previous and not (previous == "unknown" and status == "healthy"):
            self._notify(f"GenOps health check '{name}': {status}", current, channels)

    def _or_default(self, channels: Sequence[str] | None) -> list[str]:
        if channels is not None:
            return _channels(channels, "notification_channels")
        return list(self._default_channels) or ["log://"]


class ProductionMonitor(_Monitor):
    """Metric alerts, scheduled jobs and reports for production training (guide)."""

    def add_metric_alert(self, metric: str, threshold: float, alert_channel: str) -> RegisteredRule:
        if metric not in METRICS:
            raise MonitoringError(f"metric={metric!r}: expected one of {', '.join(METRICS)}")
        value = _number(threshold, "threshold")
        if value < 0:
            raise MonitoringError(f"threshold={threshold!r}: must not be negative")
        channels = _channels([alert_channel], "alert_channel")
        return self._register(
            pb.AlertRule(kind="metric", metric=metric, threshold=value, channels=channels)
        )

    def schedule(
        self, interval: object = "daily"
    ) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Run the decorated function every interval (first after one interval)."""
        interval_s = parse_interval(interval)

        def decorate(fn: Callable[[], Any]) -> Callable[[], Any]:
            name = getattr(fn, "__name__", "scheduled job")
            self._scheduler.add(_Job(name, fn, interval_s, time.monotonic() + interval_s))
            return fn

        return decorate

    def run_scheduled(self) -> None:
        """Run every scheduled job now, on this thread (their errors are logged)."""
        self._scheduler.run_now()

    def send_report(self, report: object, channels: Sequence[str]) -> str:
        """Deliver a report (a dict, a dataclass or text) to channels; returns its id
        ("" while it waits for the processor)."""
        title = _report_title(report)
        return self._notify(title, report, channels)


def _status_of(score: float) -> str:
    return "healthy" if score >= 80 else "degraded" if score >= 60 else "unhealthy"


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MonitoringError(f"{name}={value!r}: expected a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise MonitoringError(f"{name}={value!r}: expected a finite number")
    return float(value)


def _channels(value: Iterable[str] | None, name: str, allow_empty: bool = False) -> list[str]:
    if isinstance(value, str):
        value = [value]
    items = list(value or [])
    if not items and not allow_empty:
        raise MonitoringError(f"{name}: at least one channel is needed")
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise MonitoringError(f"{name}: {item!r} is not a channel name or address")
    return [item.strip() for item in items]


def _jsonable(report: object) -> object:
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        return dataclasses.asdict(report)
    if isinstance(report, dict | list | str | int | float) or report is None:
        return report
    return getattr(report, "__dict__", str(report))


def _report_title(report: object) -> str:
    if isinstance(report, dict) and report.get("title"):
        return str(report["title"])
    return "GenOps report"
