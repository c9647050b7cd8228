"""The adapter's compliance and production reports, and its data residency checks.

A mixin of :class:`genops.adapter.GenOpsWandbAdapter` (as ``adapter_costs`` is): it
gathers :class:`genops.compliance.Facts` from the adapter's options, the processor's
budgets and what the adapter saw (its runs' regions, its governed artifacts, the
frameworks its experiments and checkpoints named), and acts on a failed rule as the
governance policy says: ``enforced`` raises before the work starts, ``advisory``
warns (:class:`ComplianceWarning`), ``audit_only`` only records.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from genops import compliance
from genops.compliance import ArtifactFacts, BudgetFacts, Check, Facts
from genops.errors import ComplianceViolationError, DataResidencyError
from genops.governance.v1 import governance_pb2 as pb
from genops.governance_client import GovernanceUnavailable
from genops.money import format_usd
from genops.policy import GovernancePolicy

_log = logging.getLogger("genops.compliance")


class ComplianceWarning(UserWarning):
    """A compliance rule failed under an advisory policy; the work goes ahead."""


class AdapterCompliance:
    """Compliance status and reports of a GenOpsWandbAdapter (see genops.compliance)."""

    options: Any
    _client: Any
    usage: Any

    @property
    def compliance_log(self) -> compliance.ComplianceLog:
        log = self.__dict__.get("_compliance_log")
        if log is None:
            log = self.__dict__.setdefault("_compliance_log", compliance.ComplianceLog())
        return log

    # -- facts -----------------------------------------------------------------------------
    def compliance_facts(self, ask_processor: bool = True) -> Facts:
        options, log = self.options, self.compliance_log
        return Facts(
            team=options.team,
            project=options.project,
            environment=options.environment,
            region=options.region,
            residency=options.data_residency_policy,
            security_level=options.security_level,
            enable_governance=options.enable_governance,
            audit_log_retention_years=options.audit_log_retention_years,
            require_approval=options.require_approval,
            budgets=self._budget_facts() if ask_processor else (),
            runs=tuple(log.runs),
            artifacts=tuple(log.artifacts),
            frameworks=tuple(log.frameworks),
        )

    def _budget_facts(self) -> tuple[BudgetFacts, ...]:
        self.usage.flush()  # this process's usage first, so the answer includes it
        try:
            response = self._client.budget_status(
                pb.GetBudgetStatusRequest(scope=self.usage.scope_pb())
            )
        except GovernanceUnavailable as error:
            _log.info("genops: %s; budget compliance from the local estimate", error)
            used, limit = self.usage.local_daily_micros(), self.options.daily_budget_limit
            return (BudgetFacts("daily_budget_limit", limit, used, used >= limit > 0, "local"),)
        return tuple(
            BudgetFacts(b.name, b.limit_micros, b.spent_micros, b.spent_micros >= b.limit_micros)
            for b in response.budgets
        )

    # -- the guide's reports -------------------------------------------------------------------
    def get_compliance_status(self) -> compliance.ComplianceStatus:
        """``overall_score`` (100 × passed / evaluated checks) and ``violations``
        (``policy``, ``description``, ``subject``, ``framework``)."""
        return compliance.evaluate(self.compliance_facts())

    def generate_compliance_report(self) -> dict[str, Any]:
        """The status as a report: ``compliance_score``, violations and every check.
        Write it with ``genops.compliance.write_report(report, "report.json" | ".md")``."""
        status = self.get_compliance_status()
        by_policy: dict[str, dict[str, int]] = {}
        for check in status["checks"]:
            counts = by_policy.setdefault(check["policy"], {"evaluated": 0, "violations": 0})
            counts["evaluated"] += 1
            counts["violations"] += 0 if check["passed"] else 1
        return {
            "compliance_score": status["overall_score"],
            "generated_at": status["evaluated_at"],
            "scope": status["scope"],
            "governance_policy": self.options.governance_policy.value,
            "frameworks": status["frameworks"],
            "checks_evaluated": status["checks_evaluated"],
            "checks_passed": status["checks_passed"],
            "by_policy": by_policy,
            "violations": [dict(v) for v in status["violations"]],
            "checks": status["checks"],
        }

    def generate_comprehensive_compliance_report(self) -> dict[str, Any]:
        """The compliance report plus every framework's own score, residency, retention,
        security settings, the production configuration and the checkpoints' verdicts."""
        report = self.generate_compliance_report()
        facts = self.compliance_facts(ask_processor=False)
        options = self.options
        residency = options.data_residency_policy
        report.update(
            framework_scores={
                name: _score(compliance.framework_checks(facts, name))
                for name in compliance.FRAMEWORKS
            },
            data_residency={
                "region": options.region,
                "policy": residency.to_dict() if residency is not None else None,
                "runs": [{"run_id": r, "region": g} for r, g in facts.runs],
            },
            retention={
                "audit_log_retention_years": options.audit_log_retention_years,
                "artifacts": [
                    {
                        "artifact": a.name,
                        "retention_period_days": a.metadata.get("retention_period_days"),
                    }
                    for a in facts.artifacts
                ],
            },
            security={
                "security_level": options.security_level,
                "enable_encryption_in_transit": options.enable_encryption_in_transit,
                "enable_encryption_at_rest": options.enable_encryption_at_rest,
                "require_mfa": options.require_mfa,
                "require_approval": options.require_approval,
            },
            production_config=_production(options),
            checkpoints=list(self.compliance_log.checkpoints),
        )
        return report

    def generate_production_report(self) -> dict[str, Any]:
        """Cost, budgets, failures, alerts, compliance and backup state in one report."""
        metrics = self.get_metrics()
        failures = self.generate_failure_report()
        status = self.get_compliance_status()
        config = self.options.production_config
        return {
            "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "scope": status["scope"],
            "cost": {
                "daily_usage": metrics.get("daily_usage"),
                "daily_budget_limit": metrics.get("daily_budget_limit"),
                "budget_remaining": metrics.get("budget_remaining"),
                "source": metrics.get("source"),
            },
            "budgets": metrics.get("budgets", {}),
            "failures": failures,
            "alerts": {
                "cost_alerts_fired": [
                    {"day": day, "threshold_percent": t} for day, t in self._alerts.fired
                ]
            },
            "compliance": {
                "compliance_score": status["overall_score"],
                "violations": [dict(v) for v in status["violations"]],
            },
            "production_config": _production(self.options),
            "configuration_warnings": config.warnings() if config is not None else [],
            "backup": self._backup_state(config),
        }

    def _backup_state(self, config: Any) -> dict[str, Any]:
        rpo = getattr(config, "disaster_recovery_rpo_hours", None)
        wanted = {
            "backup_frequency_hours": getattr(config, "backup_frequency_hours", None),
            "disaster_recovery_rpo_hours": rpo,
        }
        request_type = getattr(pb, "GetBackupStatusRequest", None)
        if request_type is None:
            return {"state": "unknown", "reason": "this client cannot ask", **wanted}
        try:
            answer = self._client._call("GetBackupStatus", request_type(rpo_hours=rpo or 0))
        except (GovernanceUnavailable, AttributeError) as error:
            return {"state": "unknown", "reason": str(error), **wanted}
        except Exception as error:  # the processor refused (an older one, a role)
            return {"state": "unknown", "reason": f"{type(error).__name__}: {error}", **wanted}
        if not answer.last_backup_at:
            state = "none"
        elif rpo:
            state = "within_rpo" if answer.within_rpo else "past_rpo"
        else:
            state = "taken"
        return {
            "state": state,
            "last_backup_at": answer.last_backup_at or None,
            "age_s": answer.age_s if answer.last_backup_at else None,
            "processor_schedule_hours": answer.every_hours if answer.scheduled else None,
            **wanted,
        }

    # -- residency and frameworks, as the policy says ----------------------------------------------
    def _check_residency_at_start(self) -> None:
        """Before any run: the adapter's own region against its residency policy."""
        facts = self.compliance_facts(ask_processor=False)
        check = compliance.residency_verdict(facts, "adapter", facts.region, facts.security_level)
        if check is not None and not check.passed:
            self._act([check], DataResidencyError, stacklevel=6)

    def _record_run_region(self, run_id: str) -> None:
        log = self.compliance_log
        log.add("runs", (run_id, self.options.region))
        facts = self.compliance_facts(ask_processor=False)
        check = compliance.residency_verdict(
            facts, f"run:{run_id}", self.options.region, facts.security_level
        )
        if check is not None and not check.passed:
            # enforced never gets here: the adapter was refused when it was made
            self._act([check], DataResidencyError, stacklevel=6)

    def _artifact_facts(self, artifact: Any, metadata: Mapping[str, Any], run_id: str):
        where = metadata.get("region") or metadata.get("data_region") or self.options.region
        return ArtifactFacts(
            name=str(getattr(artifact, "name", "") or "artifact"),
            type=str(getattr(artifact, "type", "") or ""),
            run_id=run_id,
            metadata=dict(metadata),
            region=_region_text(where),
        )

    def _check_artifact(self, facts_of_artifact: ArtifactFacts) -> None:
        """Before the artifact is logged: its region under the residency policy."""
        facts = self.compliance_facts(ask_processor=False)
        kind = compliance._classification(facts_of_artifact.metadata, facts)
        check = compliance.residency_verdict(
            facts, f"artifact:{facts_of_artifact.name}", facts_of_artifact.region, kind
        )
        if check is not None and not check.passed:
            self._act([check], DataResidencyError, stacklevel=5)

    def _require_frameworks(self, names: Sequence[str], what: str) -> list[Check]:
        """Check frameworks' rule sets now (before the work); remember them for the
        status. Enforced: ComplianceViolationError when any rule fails."""
        for name in names:
            self.compliance_log.add("frameworks", name)
        facts = self.compliance_facts(ask_processor=False)
        failed = [c for n in names for c in compliance.framework_checks(facts, n) if not c.passed]
        self.compliance_log.add(
            "checkpoints",
            {
                "what": what,
                "frameworks": list(names),
                "passed": not failed,
                "violations": [c.description for c in failed],
                "at": dt.datetime.now(dt.timezone.utc).isoformat(),
            },
        )
        if failed:
            self._act(failed, ComplianceViolationError, stacklevel=6, what=what)
        return failed

    def _act(
        self,
        failed: list[Check],
        error: type[ComplianceViolationError],
        stacklevel: int,
        what: str = "",
    ) -> None:
        text = "; ".join(c.description for c in failed)
        if what:
            text = f"{what}: {text}"
        policy = self.options.governance_policy
        if policy is GovernancePolicy.ENFORCED:
            raise error(f"{text} (enforced)", [c.violation() for c in failed])
        if policy is GovernancePolicy.ADVISORY:
            warnings.warn(f"genops: {text}", ComplianceWarning, stacklevel=stacklevel)
        _log.info("genops (%s): %s", policy.value, text)


def _score(checks: list[Check]) -> float:
    return round(100.0 * sum(c.passed for c in checks) / len(checks), 1) if checks else 100.0


def _production(options: Any) -> dict[str, Any] | None:
    config = options.production_config
    if config is None:
        return None
    from genops.providers.wandb_production import describe

    shown = describe(config)
    shown["daily_limit_in_force"] = format_usd(options.daily_budget_limit)
    return shown


def _region_text(value: Any) -> str | None:
    """A governed artifact's declared region; one that is no region name stays as text
    (cut to 64 characters), so that the residency check fails on it and says what it was."""
    if value is None:
        return None
    try:
        return compliance.region(value)
    except ValueError:
        return repr(value)[:64]
