"""Asks the processor's governance API whether a run may start.

Called from the ``wandb.init`` wrapper before W&B creates anything. Under an
enforced budget a denial raises :class:`genops.errors.BudgetExceededError`;
an advisory breach warns and proceeds; audit-only proceeds (the processor
records every decision). When the API cannot be reached the configured fail
mode decides: ``open`` proceeds (logged once), ``closed`` refuses. A processor
that refuses the client's credentials (``UNAUTHENTICATED`` / ``PERMISSION_DENIED``:
no or a wrong ``GENOPS_TOKEN``) is treated the same way, with a warning saying
what to set: failing open keeps training going; failing closed still refuses,
so dropping the token never bypasses a closed budget.

With ``GENOPS_ENDPOINT`` unset the API is asked at the OTLP endpoint. When that
is a collector (it answers, but ``UNIMPLEMENTED``) the one line logged (or the
refusal) names that endpoint, says spans go there, and names
``GENOPS_ENDPOINT``. Every failure is told in one line, never a gRPC error's
multi-line text or a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import grpc
from google.protobuf import json_format

from genops import attributes as attr
from genops.config import (
    BudgetSettings,
    ConfigError,
    ExportSettings,
    InstrumentationSettings,
)
from genops.errors import (
    ApprovalDeniedError,
    ApprovalTimeoutError,
    BudgetExceededError,
    BudgetInfo,
)
from genops.governance.v1 import governance_pb2 as pb
from genops.governance_client import (
    GovernanceClient,
    GovernanceNotServed,
    GovernanceRefused,
    GovernanceUnavailable,
    describe,
)
from genops.money import format_usd
from genops.policy import BudgetWarning

if TYPE_CHECKING:
    from opentelemetry.instrumentation.wandb.hardware import Hardware

_log = logging.getLogger(__name__)
_OFFLINE_BATCH = 1_000  # offline decisions per report (the processor's cap is 10,000)

_MODES = {
    None: pb.POLICY_MODE_UNSPECIFIED,
    "audit_only": pb.POLICY_MODE_AUDIT_ONLY,
    "advisory": pb.POLICY_MODE_ADVISORY,
    "enforced": pb.POLICY_MODE_ENFORCED,
}


class BudgetGate:
    def __init__(self) -> None:
        self._clients: dict[tuple, GovernanceClient] = {}
        self._lock = threading.Lock()
        self._warned_unreachable = False

    def check(
        self,
        settings: InstrumentationSettings,
        wandb_kwargs: Mapping[str, object],
        hw: Hardware | None = None,
        accrued_ns: int = 0,
    ) -> pb.CheckBudgetResponse | None:
        """Ask before a run starts. ``hw`` is the hardware the run will hold: with no
        declared maximum, the processor reserves its cost for the reservation horizon."""
        budget = settings.budget
        if not budget.check_enabled:
            return None
        estimate = run_estimate(settings, hw, accrued_ns) if hw is not None else None
        request = budget_request(settings.attribution, budget, wandb_kwargs, estimate)
        from genops.context import funding_hold  # the experiment block's hold funds the run

        request.parent_hold_id = funding_hold()
        # Held against the processor's data_residency rules (enforced: denied there).
        request.region = str(settings.labels.get(attr.REGION, ""))
        request.data_classification = str(settings.labels.get(attr.SECURITY_LEVEL, ""))
        # One id for this check and its retries: the processor decides (and reserves) once.
        request.request_id = uuid.uuid4().hex
        try:
            response = self.client(settings).check_budget(request)
        except (GovernanceUnavailable, grpc.RpcError) as error:
            return self._unreachable(settings, budget, error, request)
        self._report_offline(settings)
        self._remember_fail_mode(settings, request.scope, response.budgets)
        self._apply(response)
        if response.decision == pb.DECISION_PENDING:
            self._wait_for_approval(settings, response)
        return response

    def _remember_fail_mode(self, settings, scope: pb.Scope, budgets) -> None:
        """Keep the strictest fail mode of this scope's budgets, for when we cannot ask."""
        mode = "closed" if any(b.fail_mode == "closed" for b in budgets) else "open"
        path = settings.offline_spool.parent / "fail-modes.json"
        try:
            known = json.loads(path.read_text()) if path.exists() else {}
            if known.get(_scope_key(scope)) != mode:
                known[_scope_key(scope)] = mode
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(known, sort_keys=True))
        except (OSError, ValueError):
            _log.debug("genops: cannot keep fail modes in %s", path, exc_info=True)

    def _learned_fail_mode(self, settings, scope: pb.Scope) -> str | None:
        path = settings.offline_spool.parent / "fail-modes.json"
        try:
            return json.loads(path.read_text()).get(_scope_key(scope))
        except (OSError, ValueError):
            return None

    def _spool(self, settings, request, decision: str, fail_mode: str, reason: str) -> None:
        """Keep a decision taken alone, to report once the processor is back."""
        record = pb.OfflineDecision(
            decided_at=dt.datetime.now(dt.timezone.utc).isoformat(),
            scope=request.scope,
            decision=decision,
            fail_mode=fail_mode,
            reason=reason,
            wandb_project=request.wandb_project,
            wandb_run_name=request.wandb_run_name,
        )
        try:
            path = settings.offline_spool
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as fh:
                fh.write(json_format.MessageToJson(record, indent=None) + "\n")
        except OSError:
            _log.warning(
                "genops: cannot keep an offline decision in %s",
                settings.offline_spool,
                exc_info=True,
            )

    def _report_offline(self, settings: InstrumentationSettings) -> None:
        """Send decisions taken while the processor was unreachable; forget them once sent."""
        path = settings.offline_spool
        if not path.exists():
            return
        claimed = path.with_suffix(f".{os.getpid()}.sending")
        try:
            path.rename(claimed)  # one process sends each line, once
        except OSError:
            return
        lines = [line for line in claimed.read_text().splitlines() if line.strip()]
        sent = 0
        try:  # in batches: the processor takes at most 10,000 per request
            for sent in range(0, len(lines), _OFFLINE_BATCH):
                batch = lines[sent : sent + _OFFLINE_BATCH]
                records = [json_format.Parse(line, pb.OfflineDecision()) for line in batch]
                self.client(settings)._call(
                    "ReportOfflineDecisions", pb.ReportOfflineDecisionsRequest(decisions=records)
                )
            claimed.unlink()
        except (GovernanceUnavailable, grpc.RpcError):
            with path.open("a") as fh:  # keep the unsent ones for the next time
                fh.writelines(line + "\n" for line in lines[sent:])
            claimed.unlink()

    def _wait_for_approval(self, settings: InstrumentationSettings, response) -> None:
        """Block until a person approves (return) or denies, or time runs out (raise)."""
        approval_id = response.approval_id
        _log.warning(
            "genops: this run waits for approval %s: `genops approve %s` or "
            "`genops deny %s` (times out in %.0f s)",
            approval_id,
            approval_id,
            approval_id,
            response.approval_timeout_ms / 1000,
        )
        deadline = time.monotonic() + response.approval_timeout_ms / 1000 + 10
        client = self.client(settings)
        while True:
            try:
                approval = client._call(
                    "GetApproval", pb.GetApprovalRequest(approval_id=approval_id)
                )
            except (GovernanceUnavailable, grpc.RpcError) as error:
                if time.monotonic() > deadline:
                    raise ApprovalTimeoutError(
                        f"approval {approval_id}: {describe(error)}"
                    ) from None
                time.sleep(1)
                continue
            if approval.status == "approved":
                _log.warning("genops: approval %s granted by %s", approval_id, approval.actor)
                return
            if approval.status == "denied":
                raise ApprovalDeniedError(
                    f"approval {approval_id} denied by {approval.actor or 'someone'}"
                    + (f": {approval.reason}" if approval.reason else "")
                )
            if approval.status == "timed_out" or time.monotonic() > deadline:
                raise ApprovalTimeoutError(
                    f"approval {approval_id} was not given in time "
                    f"({response.approval_timeout_ms / 1000:.0f} s)"
                )
            time.sleep(0.5)

    def check_run(
        self, settings: InstrumentationSettings, usage, next_check_s: float
    ) -> pb.CheckRunResponse | None:
        """Ask whether a running run may go on until its next check (None: unknown)."""
        static = usage.static_attributes
        asked = budget_request(settings.attribution, settings.budget, {})
        request = pb.CheckRunRequest(
            hold_id=str(static.get(attr.BUDGET_HOLD_ID, "")),
            scope=asked.scope,
            client_limits=asked.client_limits,
            run_id=usage.run_id,
            next_check_ns=int(next_check_s * 1e9),
            usage=pb.RunSnapshot(
                compute_start_ns=usage.compute_start_ns,
                as_of_ns=time.time_ns(),
                gpu_type=str(static.get(attr.HW_GPU_TYPE, "")),
                gpu_count=int(static.get(attr.HW_GPU_COUNT, 0)),
                cpu_count=int(static.get(attr.HW_CPU_COUNT, 0)),
                artifact_bytes=usage.artifact_bytes,
                declared_micros=usage.declared_storage_micros,
                region=str(static.get(attr.REGION, "")),
                catalog_version=str(static.get(attr.CATALOG_VERSION, "")),
                wandb_mode=str(static.get(attr.WANDB_MODE, "")),
            ),
        )
        try:
            return self.client(settings).check_run(request)
        except (GovernanceUnavailable, grpc.RpcError) as error:
            if not self._warned_unreachable:
                self._warned_unreachable = True
                _log.warning("genops: %s; the run goes on unchecked", failure_text(settings, error))
            return None

    def client(self, settings: InstrumentationSettings) -> GovernanceClient:
        budget = settings.budget
        key = (
            settings.governance_target,
            settings.governance_secure,
            budget.timeout_s,
            budget.retry_attempts,
            budget.retry_backoff_s,
        )
        security = settings.governance_security
        with self._lock:
            client = self._clients.get((*key, security))
            if client is None:
                client = GovernanceClient(*key, security=security)
                self._clients[(*key, security)] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def _apply(self, response: pb.CheckBudgetResponse) -> None:
        if response.decision == pb.DECISION_DENY and not response.HasField("deciding_budget"):
            # Denied by no budget (max_concurrent_experiments, the open-holds cap): the
            # processor's message says why.
            raise BudgetExceededError(response.message or "run start denied by the processor")
        if response.decision == pb.DECISION_DENY:
            raise BudgetExceededError.from_budget(
                _budget_info(response.deciding_budget, response.requested_micros)
            )
        if response.decision == pb.DECISION_WARN:
            info = _budget_info(response.deciding_budget, response.requested_micros)
            text = (
                f"genops: advisory budget '{info.name}' exceeded: limit "
                f"{format_usd(info.limit_micros)}, spent {format_usd(info.spent_micros)}, "
                f"requested {format_usd(info.requested_micros)}; the run continues"
            )
            if not response.HasField("deciding_budget"):  # not a budget (e.g. residency)
                text = f"genops: {response.message}; the run continues"
            _log.info(text)
            warnings.warn(text, BudgetWarning, stacklevel=4)

    def _unreachable(
        self,
        settings: InstrumentationSettings,
        budget: BudgetSettings,
        error: Exception,
        request: pb.CheckBudgetRequest,
    ) -> None:
        detail = failure_text(settings, error)
        learned = self._learned_fail_mode(settings, request.scope)
        fail_mode = "closed" if "closed" in (budget.fail_mode, learned) else "open"
        decision = "deny" if fail_mode == "closed" else "allow"
        self._spool(settings, request, decision, fail_mode, detail)
        if fail_mode == "closed":
            why = (
                "GENOPS_BUDGET_FAIL_MODE=closed"
                if budget.fail_mode == "closed"
                else "a budget of this scope fails closed"
            )
            raise BudgetExceededError(f"budget check failed: {detail}; refused: {why}") from None
        if not self._warned_unreachable:
            self._warned_unreachable = True
            _log.warning("genops: %s; budget fail mode is open, runs proceed unchecked", detail)
        return None


def failure_text(settings: InstrumentationSettings, error: Exception) -> str:
    """One line for a failed governance call. When what answered does not implement
    the API: where it was asked, whether spans go there too, and what to set."""
    if isinstance(error, GovernanceRefused):  # credentials, not budget: say what to set
        return f"the processor at {error.target} refused {error.method}: {describe(error)}"
    if not isinstance(error, GovernanceNotServed):
        if isinstance(error, GovernanceUnavailable):
            return describe(error)
        return f"governance API at {settings.governance_target} answered {describe(error)}"
    where = f"the governance endpoint {error.target}"
    keep = ""
    export = _export_settings()
    if export is not None and export.target == error.target:
        origin = "" if export.source == "default" else f" ({export.source})"
        where = f"{error.target}, the OTLP endpoint{origin} where spans go (a collector?)"
        if export.source != "GENOPS_OTLP_ENDPOINT":  # else GENOPS_ENDPOINT moves spans too
            keep = f" and GENOPS_OTLP_ENDPOINT={error.target} to keep spans going there"
    elif export is not None:
        where += f" (spans go to the OTLP endpoint {export.target})"
    return (
        f"no governance API at {where}: it answered {error.method} with UNIMPLEMENTED; "
        f"set GENOPS_ENDPOINT to genops-processor's host:port{keep}"
    )


def _export_settings() -> ExportSettings | None:
    try:
        return ExportSettings.from_env()
    except ConfigError:  # told elsewhere; the hint does without it
        return None


def _scope_key(scope: pb.Scope) -> str:
    return "/".join(
        (scope.team, scope.project, scope.customer_id, scope.cost_center, scope.environment)
    )


def run_estimate(
    settings: InstrumentationSettings, hw: Hardware, accrued_ns: int = 0
) -> pb.RunEstimate | None:
    """What a run that declares no maximum reserves at its start: its hardware for
    ``GENOPS_RESERVATION_HOURS``, else until its first check: the ``accrued_ns`` it is
    billed for already (the hardware was held before ``wandb.init``) plus one heartbeat
    interval. None when it declares a maximum or the horizon is 0."""
    budget = settings.budget
    if budget.requested_micros > 0:
        return None
    if budget.reservation_hours is not None:
        horizon_ns = round(budget.reservation_hours * 3600 * 1e9)
    else:  # until the first check: what it costs already, and one heartbeat more
        horizon_ns = round(settings.heartbeat_interval_s * 1e9) + max(0, accrued_ns)
    if horizon_ns <= 0:
        return None
    return pb.RunEstimate(
        gpu_type=hw.gpu_type,
        gpu_count=hw.gpu_count,
        cpu_count=hw.cpu_count,
        region=str(settings.labels.get(attr.REGION, "")),
        catalog_version=str(settings.labels.get(attr.CATALOG_VERSION, "")),
        horizon_ns=horizon_ns,
    )


def budget_request(
    attribution: Mapping[str, str],
    budget: BudgetSettings,
    wandb_kwargs: Mapping[str, object],
    estimate: pb.RunEstimate | None = None,
) -> pb.CheckBudgetRequest:
    return pb.CheckBudgetRequest(
        scope=pb.Scope(
            team=attribution.get(attr.TEAM, ""),
            project=attribution.get(attr.PROJECT, ""),
            customer_id=attribution.get(attr.CUSTOMER_ID, ""),
            cost_center=attribution.get(attr.COST_CENTER, ""),
            environment=attribution.get(attr.ENVIRONMENT, ""),
        ),
        requested_micros=budget.requested_micros,
        client_limits=pb.ClientLimits(
            daily_limit_micros=budget.client_daily_limit_micros,
            policy_mode=_MODES[budget.policy_mode],
            daily_limit_mode=_MODES[budget.limit_mode],
            max_running_runs=budget.max_running_runs,
        ),
        wandb_project=str(wandb_kwargs.get("project") or ""),
        wandb_run_name=str(wandb_kwargs.get("name") or ""),
        require_approval=budget.require_approval,
        estimate=estimate,
    )


def _budget_info(state: pb.BudgetState, requested_micros: int) -> BudgetInfo:
    return BudgetInfo(
        name=state.name,
        limit_micros=state.limit_micros,
        spent_micros=state.spent_micros,
        requested_micros=requested_micros,
        period=state.period or "daily",
    )
