"""A small client of the processor's governance API, with deadlines and retries.

Retries only what is worth retrying (UNAVAILABLE, DEADLINE_EXCEEDED), with
exponential backoff: ``backoff * 2**n`` seconds before retry ``n``. When all
attempts fail it raises :class:`GovernanceUnavailable`; callers decide what
that means (a fail mode, or a local estimate).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc

_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class GovernanceUnavailable(RuntimeError):
    """The governance API could not be reached (after retries)."""

    def __init__(self, target: str, code: grpc.StatusCode | None, attempts: int) -> None:
        name = code.name if code is not None else "error"
        super().__init__(f"governance API at {target} unreachable ({name}, {attempts} attempt(s))")
        self.code = code


class GovernanceClient:
    def __init__(
        self,
        target: str,
        secure: bool = False,
        timeout_s: float = 2.0,
        retry_attempts: int = 0,
        retry_backoff_s: float = 0.2,
    ) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.retry_attempts = retry_attempts
        self.retry_backoff_s = retry_backoff_s
        self.calls = 0  # RPC attempts made, for diagnostics
        self._lock = threading.Lock()
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        if secure:
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self._stub = pb_grpc.GovernanceServiceStub(self._channel)

    def check_budget(self, request: pb.CheckBudgetRequest) -> pb.CheckBudgetResponse:
        return self._call("CheckBudget", request)

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

    def notify(self, request: pb.NotifyRequest) -> pb.NotifyResponse:
        return self._call("Notify", request)

    def acknowledge_alert(self, alert_id: str, actor: str) -> pb.AcknowledgeAlertResponse:
        return self._call(
            "AcknowledgeAlert", pb.AcknowledgeAlertRequest(alert_id=alert_id, actor=actor)
        )

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any) -> Any:
        code = None
        for attempt in range(self.retry_attempts + 1):
            if attempt:
                time.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
            with self._lock:
                self.calls += 1
            try:
                return getattr(self._stub, method)(request, timeout=self.timeout_s)
            except grpc.RpcError as error:
                code = error.code() if hasattr(error, "code") else None
                if code not in _RETRYABLE:
                    raise
        raise GovernanceUnavailable(self.target, code, self.retry_attempts + 1)
