"""A small client of the processor's governance API, with deadlines and retries.

Retries only what is worth retrying (UNAVAILABLE, DEADLINE_EXCEEDED), with
exponential backoff: ``backoff * 2**n`` seconds before retry ``n``. When all
attempts fail it raises :class:`GovernanceUnavailable`; callers decide what
that means (a fail mode, or a local estimate). A server that answers but does
not implement the governance API (gRPC ``UNIMPLEMENTED``: typically an
OpenTelemetry Collector, which carries OTLP but not this API) raises its
subclass :class:`GovernanceNotServed`, so callers treat it like an
unreachable API and may say more. A refusal of the caller's credentials
(``UNAUTHENTICATED`` / ``PERMISSION_DENIED``) is raised as the gRPC error; it is
never retried (:func:`genops.transport.refused` tells it). Every message is one
line.

Every call carries ``authorization: Bearer <token>`` when the client has a token
(:mod:`genops.transport`); with no ``security`` given, the transport variables
of the environment (``GENOPS_TOKEN``, ``GENOPS_CA`` ...) are used.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.transport import REFUSED, ChannelSecurity, open_channel, refusal_hint

_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
# Retries of an idempotent budget check whose deadline passed (the processor is busy).
DEADLINE_RETRIES = 3


class GovernanceUnavailable(RuntimeError):
    """The governance API could not be reached (after retries)."""

    def __init__(self, target: str, code: grpc.StatusCode | None, attempts: int) -> None:
        name = code.name if code is not None else "error"
        super().__init__(f"governance API at {target} unreachable ({name}, {attempts} attempt(s))")
        self.target = target
        self.code = code


class GovernanceNotServed(GovernanceUnavailable):
    """Something answers at the target, but not the governance API (``UNIMPLEMENTED``)."""

    def __init__(self, target: str, method: str) -> None:
        RuntimeError.__init__(
            self,
            f"{target} answers but does not implement the governance API "
            f"({method}: UNIMPLEMENTED); set GENOPS_ENDPOINT to genops-processor's host:port",
        )
        self.target = target
        self.code = grpc.StatusCode.UNIMPLEMENTED
        self.method = method


class GovernanceRefused(GovernanceUnavailable, grpc.RpcError):
    """The processor refused the caller's credentials (``UNAUTHENTICATED``) or right
    (``PERMISSION_DENIED``). For the instrumentation it is like an unreachable API
    (the fail mode decides, training goes on); it is also a gRPC error with the code,
    and says what to do about it (``hint``)."""

    def __init__(
        self, target: str, method: str, error: grpc.RpcError, security: ChannelSecurity
    ) -> None:
        self._code = error.code()
        self._details = error.details() if hasattr(error, "details") else ""
        self.target = target
        self.method = method
        self.hint = refusal_hint(security, self._code)
        RuntimeError.__init__(
            self, f"{target} refused {method}: {self._code.name}: {self._details} ({self.hint})"
        )

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def describe(error: BaseException) -> str:
    """One line for any failure of a governance call (a gRPC error's text spans lines)."""
    if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
        code = error.code()
        details = error.details() if hasattr(error, "details") else ""
        text = f"{code.name if code else 'error'}: {details or 'no details'}"
        if isinstance(error, GovernanceRefused):
            text += f" ({error.hint})"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


class GovernanceClient:
    def __init__(
        self,
        target: str,
        secure: bool = False,
        timeout_s: float = 2.0,
        retry_attempts: int = 0,
        retry_backoff_s: float = 0.2,
        *,
        security: ChannelSecurity | None = None,
        token: str | None = None,
    ) -> None:
        if security is None:
            from genops.config import channel_security

            security = channel_security()
        self.security = security.with_token(token, "token")
        self.target = target
        self.timeout_s = timeout_s
        self.retry_attempts = retry_attempts
        self.retry_backoff_s = retry_backoff_s
        self.calls = 0  # RPC attempts made, for diagnostics
        self._lock = threading.Lock()
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        self._channel = open_channel(target, secure, self.security, options=options)
        self._stub = pb_grpc.GovernanceServiceStub(self._channel)

    def check_budget(self, request: pb.CheckBudgetRequest) -> pb.CheckBudgetResponse:
        """A check with a ``request_id`` is idempotent at the processor, so a deadline
        that passed (a busy processor, not a missing one) is retried at least
        ``DEADLINE_RETRIES`` times before the caller decides alone."""
        extra = DEADLINE_RETRIES if request.request_id else 0
        return self._call("CheckBudget", request, extra_deadline_retries=extra)

    def check_run(self, request: pb.CheckRunRequest) -> pb.CheckRunResponse:
        return self._call("CheckRun", request)

    def usage(self, request: pb.GetUsageRequest) -> pb.GetUsageResponse:
        return self._call("GetUsage", request)

    def experiment(self, experiment_id: str) -> pb.GetExperimentResponse:
        return self._call("GetExperiment", pb.GetExperimentRequest(experiment_id=experiment_id))

    def list_runs(self, request: pb.ListRunsRequest) -> pb.ListRunsResponse:
        return self._call("ListRuns", request)

    def budget_status(self, request: pb.GetBudgetStatusRequest) -> pb.GetBudgetStatusResponse:
        return self._call("GetBudgetStatus", request)

    def register_catalog(self, catalog_json: str, origin: str) -> pb.RegisterCatalogResponse:
        return self._call(
            "RegisterCatalog", pb.RegisterCatalogRequest(catalog_json=catalog_json, origin=origin)
        )

    def release_hold(self, hold_id: str) -> pb.ReleaseHoldResponse:
        return self._call("ReleaseHold", pb.ReleaseHoldRequest(hold_id=hold_id))

    def renew_hold(self, hold_id: str) -> pb.RenewHoldResponse:
        return self._call("RenewHold", pb.RenewHoldRequest(hold_id=hold_id))

    def add_alert_rule(self, rule: pb.AlertRule) -> pb.AlertRule:
        return self._call("AddAlertRule", rule)

    def list_alert_rules(self, request: pb.ListAlertRulesRequest) -> pb.ListAlertRulesResponse:
        return self._call("ListAlertRules", request)

    def delete_alert_rule(self, request: pb.DeleteAlertRuleRequest) -> pb.DeleteAlertRuleResponse:
        return self._call("DeleteAlertRule", request)

    def notify(self, request: pb.NotifyRequest) -> pb.NotifyResponse:
        return self._call("Notify", request)

    def acknowledge_alert(self, alert_id: str, actor: str) -> pb.AcknowledgeAlertResponse:
        return self._call(
            "AcknowledgeAlert", pb.AcknowledgeAlertRequest(alert_id=alert_id, actor=actor)
        )

    def export_audit_page(self, request: pb.ExportAuditTrailRequest) -> pb.AuditEventPage:
        return self._call("ExportAuditTrail", request)

    def security_posture(self) -> pb.SecurityPosture:
        return self._call("GetSecurityPosture", pb.GetSecurityPostureRequest())

    def record_compliance_events(
        self, request: pb.RecordComplianceEventsRequest
    ) -> pb.RecordComplianceEventsResponse:
        return self._call("RecordComplianceEvents", request)

    def customer_usage(self, customer_id: str, billing_period: str) -> pb.CustomerUsageResponse:
        return self._call(
            "GetCustomerUsage",
            pb.CustomerUsageRequest(customer_id=customer_id, billing_period=billing_period),
        )

    def backup_status(self, rpo_hours: float = 0.0) -> pb.BackupStatus:
        return self._call("GetBackupStatus", pb.GetBackupStatusRequest(rpo_hours=rpo_hours))

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any, extra_deadline_retries: int = 0) -> Any:
        code = None
        attempts = 0
        deadline_retries = max(self.retry_attempts, extra_deadline_retries)
        while True:
            if attempts:
                time.sleep(self.retry_backoff_s * 2 ** (attempts - 1))
            attempts += 1
            with self._lock:
                self.calls += 1
            try:
                return getattr(self._stub, method)(request, timeout=self.timeout_s)
            except grpc.RpcError as error:
                code = error.code() if hasattr(error, "code") else None
                if code == grpc.StatusCode.UNIMPLEMENTED:
                    raise GovernanceNotServed(self.target, method) from None
                if code in REFUSED:
                    raise GovernanceRefused(self.target, method, error, self.security) from None
                if code not in _RETRYABLE:
                    raise
            limit = deadline_retries if code == grpc.StatusCode.DEADLINE_EXCEEDED else 0
            if attempts > max(self.retry_attempts, limit):
                raise GovernanceUnavailable(self.target, code, attempts)
