"""SecurityManager from the guide: data classification, compliance checkpoints and
compliance reports, recorded in the processor's audit trail.

::

    from genops.security import SecurityManager
    security = SecurityManager(adapter)

    @security.classify_data("PII")
    def handle(data): ...                 # each call: one compliance.data_access event

    @security.compliance_checkpoint("SOX")
    def train(): ...                      # SOX's rules checked before each call

    @security.schedule_compliance_report(frequency="monthly")
    def report():
        security.submit_compliance_report(adapter.generate_comprehensive_compliance_report())

Events go to the processor (``RecordComplianceEvents``), which stores each as an audit
event whose actor is the authenticated principal: ``compliance.data_access``
(classification, function, the client's time and user), ``compliance.checkpoint``
(framework, function, verdict, failed rules) and ``compliance.report`` (the report).
Nothing of the decorated function's arguments or results is ever sent. Access events
are batched (sent every :data:`FLUSH_EVERY_S` seconds, every :data:`BATCH` events, and
at exit) on the monitoring scheduler's thread; while the processor is away they wait
in memory (at most :data:`MAX_WAITING` events; older ones are dropped, with one
warning) and are sent once it answers.

Under ``governance_policy="enforced"`` a checkpoint whose rules fail, or an access to
data whose classification the ``data_residency_policy`` does not allow in the
adapter's region, raises before the function runs (fail closed); ``advisory`` warns,
``audit_only`` records.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from genops import compliance
from genops.errors import ComplianceViolationError, DataResidencyError
from genops.governance.v1 import governance_pb2 as pb
from genops.monitoring import NAMED_INTERVALS, MonitoringError, _Job, _Monitor, parse_interval
from genops.policy import GovernancePolicy

__all__ = ["SecurityManager"]

_log = logging.getLogger("genops.security")

BATCH = 100  # access events per request
FLUSH_EVERY_S = 5.0
MAX_WAITING = 10_000  # access events kept while the processor is away
MAX_CLASSIFICATION_CHARS = 64
FREQUENCIES = {**NAMED_INTERVALS, "monthly": 30 * 86_400.0, "quarterly": 91 * 86_400.0}


def _classification(level: Any) -> str:
    if (
        not isinstance(level, str)
        or not level.strip()
        or len(level) > MAX_CLASSIFICATION_CHARS
        or not level.isprintable()
    ):
        raise ValueError(
            f"classify_data({level!r}): expected a classification name such as 'PII' "
            f"(at most {MAX_CLASSIFICATION_CHARS} printable characters)"
        )
    return level.strip()


def _name_of(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return ""


class SecurityManager(_Monitor):
    """Classification, checkpoints and compliance reports of one adapter's scope."""

    def __init__(self, adapter: Any = None) -> None:
        super().__init__(adapter)
        if not hasattr(self.adapter, "compliance_facts"):
            raise MonitoringError("SecurityManager needs a GenOpsWandbAdapter")
        self._events: list[pb.ComplianceEvent] = []
        self._events_lock = threading.Lock()
        self._dropped = 0
        self._user = _user()
        self.access_counts: dict[str, int] = {}
        due = time.monotonic() + FLUSH_EVERY_S
        self._scheduler.add(_Job("compliance-events", self.flush_events, FLUSH_EVERY_S, due))
        import atexit

        atexit.register(self._flush_at_exit)

    # -- decorators -------------------------------------------------------------------------
    def classify_data(self, level: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Each call of the decorated function records one access to ``level`` data
        (never the data). A residency policy that does not allow ``level`` data in the
        adapter's region: enforced raises DataResidencyError before the call."""
        classification = _classification(level)

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            name = _name_of(fn)

            def before() -> None:
                self._check_residency(classification, name)  # enforced: may refuse
                self._safely(self._access, classification, name)

            return _wrap(fn, before)

        return decorate

    def compliance_checkpoint(self, framework: str) -> Callable[[Callable[..., Any]], Any]:
        """Check ``framework``'s rules (genops.compliance.FRAMEWORKS) before each call;
        enforced: ComplianceViolationError and the function does not run (also when the
        check itself cannot be made: fail closed)."""
        name = compliance.framework(framework)  # an unknown framework fails here, at once

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            where = _name_of(fn)

            def before() -> None:
                adapter = self.adapter
                try:
                    failed = adapter._require_frameworks([name], f"checkpoint {where}")
                except ComplianceViolationError as error:
                    self._safely(self._checkpoint, name, where, error.violations)
                    raise
                except Exception as error:  # the check itself broke
                    failed = [f"{name} could not be evaluated: {type(error).__name__}: {error}"]
                    self._safely(self._checkpoint, name, where, failed)
                    if adapter.options.governance_policy is GovernancePolicy.ENFORCED:
                        raise ComplianceViolationError(
                            f"checkpoint {where}: {failed[0]} (enforced: refused)"
                        ) from error
                    _log.warning("genops: checkpoint %s: %s; going on", where, failed[0])
                    return
                self._safely(self._checkpoint, name, where, failed)

            return _wrap(fn, before)

        return decorate

    def schedule_compliance_report(
        self, frequency: str | float = "monthly"
    ) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Run the decorated function every ``frequency`` (``daily``, ``weekly``,
        ``monthly`` = 30 days, ``quarterly`` = 91 days, seconds, or ``'12h'``) on the
        monitoring scheduler's thread, first after one period. A report it returns and
        did not submit itself is submitted; an exception is logged, never raised."""
        key = frequency.strip().lower() if isinstance(frequency, str) else None
        seconds = FREQUENCIES[key] if key in FREQUENCIES else parse_interval(frequency, "frequency")

        def decorate(fn: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> Any:
                before = self.reports_submitted
                result = fn()
                if isinstance(result, Mapping) and self.reports_submitted == before:
                    self.submit_compliance_report(result)
                return result

            due = time.monotonic() + seconds
            self._scheduler.add(_Job(f"compliance-report:{_name_of(fn)}", run, seconds, due))
            return fn

        return decorate

    reports_submitted = 0

    def run_scheduled(self) -> None:
        """Run every scheduled compliance report now (a test, a manual trigger)."""
        self._scheduler.run_now()

    # -- reports ----------------------------------------------------------------------------
    def submit_compliance_report(
        self, report: Mapping[str, Any], channels: Sequence[str] | None = None
    ) -> str:
        """Store ``report`` in the audit trail (one ``compliance.report`` event) and, with
        ``channels``, deliver it there (names of the processor's policy). Returns the
        audit event id, or "" while the processor is away (sent once it answers)."""
        if not isinstance(report, Mapping):
            raise ValueError("submit_compliance_report: expected the report as a mapping")
        body = json.loads(json.dumps(dict(report), default=str))
        self.reports_submitted += 1
        ids: list[str] = []
        request = pb.RecordComplianceEventsRequest(
            scope=self._scope(),
            events=[self._event("report", {"report": body, "score": _score(body)})],
        )
        self.flush_events()
        if not self._link.call(
            "record_compliance_events", request, lambda r: ids.extend(r.event_ids)
        ):
            self._scheduler.ensure_running()
        if channels:
            self._notify("GenOps compliance report", body, channels)
        return ids[0] if ids else ""

    # -- events -----------------------------------------------------------------------------
    def flush_events(self) -> int:
        """Send the access events that wait; returns how many were handed over."""
        with self._events_lock:
            batch, self._events = self._events, []
        for start in range(0, len(batch), BATCH):
            request = pb.RecordComplianceEventsRequest(
                scope=self._scope(), events=batch[start : start + BATCH]
            )
            try:
                self._link.call("record_compliance_events", request, lambda _r: None)
            except MonitoringError as error:  # refused: it never can be stored
                _log.warning("genops: compliance events dropped: %s", error)
        return len(batch)

    def _checkpoint(self, framework: str, function: str, failed: Sequence[Any]) -> None:
        self._record(
            "checkpoint",
            {
                "framework": framework,
                "function": function,
                "passed": not failed,
                "violations": [getattr(c, "description", str(c)) for c in failed],
                "governance_policy": self.adapter.options.governance_policy.value,
            },
        )

    @staticmethod
    def _safely(step: Callable[..., None], *args: Any) -> None:
        """Our bookkeeping never breaks the user's function (a refusal is no bookkeeping)."""
        try:
            step(*args)
        except Exception:
            _log.warning("genops: compliance event not recorded", exc_info=True)

    def _access(self, classification: str, function: str) -> None:
        self.access_counts[classification] = self.access_counts.get(classification, 0) + 1
        self._record("data_access", {"classification": classification, "function": function})

    def _record(self, kind: str, detail: dict[str, Any]) -> None:
        event = self._event(kind, detail)
        with self._events_lock:
            self._events.append(event)
            full = len(self._events) >= BATCH
            over = len(self._events) - MAX_WAITING
            if over > 0:
                del self._events[:over]
                self._dropped += over
                if self._dropped == over:
                    _log.warning(
                        "genops: more than %d compliance events wait for the processor; "
                        "the oldest are dropped",
                        MAX_WAITING,
                    )
        if full:
            self.flush_events()

    def _event(self, kind: str, detail: dict[str, Any]) -> pb.ComplianceEvent:
        detail = {**detail, "reported_at": _now(), "reported_user": self._user}
        return pb.ComplianceEvent(kind=kind, detail_json=json.dumps(detail, sort_keys=True))

    def _scope(self) -> pb.Scope:
        return self.adapter.usage.scope_pb()

    def _check_residency(self, classification: str, function: str) -> None:
        facts = self.adapter.compliance_facts(ask_processor=False)
        check = compliance.residency_verdict(
            facts, f"function:{function}", facts.region, classification.lower()
        )
        if check is not None and not check.passed:
            self.adapter._act([check], DataResidencyError, stacklevel=7)

    def _flush_at_exit(self) -> None:
        try:
            self.flush_events()
            self._link.flush()
        except Exception:
            _log.debug("genops: compliance events not sent at exit", exc_info=True)


def _wrap(fn: Callable[..., Any], before: Callable[[], None]) -> Callable[..., Any]:
    """``fn`` with ``before()`` run ahead of each call (a coroutine function stays one)."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            before()
            return await fn(*args, **kwargs)

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before()
        return fn(*args, **kwargs)

    return wrapper


def _score(report: Mapping[str, Any]) -> Any:
    return report.get("compliance_score", report.get("overall_score"))
