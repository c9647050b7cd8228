"""Compliance: the rules, the frameworks, the data residency policies and the score.

Pure logic over :class:`Facts` (what an adapter knows about its scope); the adapter
gathers them (``genops.compliance_view``) and :func:`evaluate` turns them into a
:class:`ComplianceStatus`.

**Checks.** A check is one rule applied to one subject (the adapter, a W&B run, a
governed artifact, a budget). The rules (``policy`` of a violation):

* ``budget``: each budget of the adapter's scope at the processor has not reached its
  limit (the adapter's own daily limit against its local estimate when the processor
  cannot be asked).
* ``data_residency``: the adapter's region, each run's and each governed artifact's
  region (``governance_metadata["region"]``, else the adapter's) is one the
  ``data_residency_policy`` allows for the data's classification
  (``governance_metadata["data_classification"]``, else the adapter's
  ``security_level``); no region known under a residency policy is a violation.
* ``retention``: an artifact of personal data (classification in
  :data:`PERSONAL_DATA`) declares ``retention_period_days`` (a whole number above 0);
  a declared one must be such a number.
* ``artifact_metadata``: in the ``production`` environment a model artifact carries
  ``model_approval_status: approved``.
* ``production_approval``: in the ``production`` environment runs wait for approval
  (``require_approval=True``).
* ``framework:<name>``: each framework named in ``compliance_requirements=`` or by a
  ``compliance_checkpoint`` adds its rule set (:data:`FRAMEWORKS`).

**Score.** ``overall_score = 100 × passed checks / evaluated checks`` (one decimal;
100.0 when nothing was evaluated). Every check weighs the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Reports are written by genops.compliance_report; offered here too.
from genops.compliance_report import to_json, to_markdown, write_report  # noqa: F401

# -- data residency: one definition with the processor (genops.governance.residency) --
from genops.governance.residency import (  # noqa: E402, F401
    ANY_CLASSIFICATION,
    EU_REGIONS,
    RESIDENCY_POLICIES,
    US_REGIONS,
    ResidencyPolicy,
    outside_text,
    region,
    residency_policy,
)

# -- frameworks ------------------------------------------------------------------------
# framework -> its rules (documented in the README, "Compliance").
FRAMEWORKS = MappingProxyType(
    {
        "sox": ("approval", "audit_trail", "owner"),
        "gdpr": ("eu_residency", "retention", "classification"),
        "internal_audit": ("audit_trail", "owner"),
    }
)
# SOX (section 802) keeps audit records seven years.
SOX_AUDIT_RETENTION_YEARS = 7
PERSONAL_DATA = frozenset({"personal_data", "pii", "sensitive_personal_data", "phi"})
PRODUCTION = "production"
APPROVED = "approved"


def framework(value: Any) -> str:
    """A framework's name in any case (``SOX``, ``gdpr``, ``internal-audit``)."""
    name = str(value).strip().lower().replace("-", "_") if isinstance(value, str) else ""
    if name not in FRAMEWORKS:
        raise ValueError(
            f"unknown compliance framework {value!r}: expected one of {', '.join(FRAMEWORKS)}"
        )
    return name


def frameworks(values: Any) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError("compliance_requirements: expected a list of framework names")
    return tuple(dict.fromkeys(framework(v) for v in values))


# -- facts and results --------------------------------------------------------------------
@dataclass(frozen=True)
class ArtifactFacts:
    name: str
    type: str
    run_id: str
    metadata: Mapping[str, Any]
    region: str | None


@dataclass(frozen=True)
class BudgetFacts:
    name: str
    limit_micros: int
    spent_micros: int
    exceeded: bool
    source: str = "processor"  # or "local_estimate"


@dataclass(frozen=True)
class Facts:
    team: str | None = None
    project: str | None = None
    environment: str | None = None
    region: str | None = None
    residency: ResidencyPolicy | None = None
    security_level: str | None = None
    enable_governance: bool = True
    audit_log_retention_years: int | None = None
    require_approval: bool = False
    budgets: tuple[BudgetFacts, ...] = ()
    runs: tuple[tuple[str, str | None], ...] = ()  # (run id, region)
    artifacts: tuple[ArtifactFacts, ...] = ()
    frameworks: tuple[str, ...] = ()


class _Record(dict):
    """A dict whose keys read as attributes too (``status.overall_score``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Violation(_Record):
    """``policy``, ``description``, ``subject``, ``framework`` ("" when none)."""


@dataclass(frozen=True)
class Check:
    policy: str
    subject: str
    passed: bool
    description: str
    framework: str = ""

    def violation(self) -> Violation:
        return Violation(
            policy=self.policy,
            description=self.description,
            subject=self.subject,
            framework=self.framework,
        )


class ComplianceStatus(_Record):
    """``overall_score``, ``violations``, ``checks_evaluated``, ``checks_passed``,
    ``checks`` (every check), ``frameworks``, ``evaluated_at``; a dict, written with
    :func:`write_report` as JSON or Markdown."""


def evaluate(facts: Facts, now: dt.datetime | None = None) -> ComplianceStatus:
    checks = list(_checks(facts))
    passed = sum(1 for c in checks if c.passed)
    score = round(100.0 * passed / len(checks), 1) if checks else 100.0
    return ComplianceStatus(
        overall_score=score,
        violations=[c.violation() for c in checks if not c.passed],
        checks_evaluated=len(checks),
        checks_passed=passed,
        checks=[c.__dict__.copy() for c in checks],
        frameworks=list(facts.frameworks),
        evaluated_at=(now or dt.datetime.now(dt.timezone.utc)).isoformat(),
        scope={"team": facts.team, "project": facts.project, "environment": facts.environment},
    )


def framework_checks(facts: Facts, name: str) -> list[Check]:
    """The checks of one framework's rule set (what a compliance_checkpoint runs)."""
    return [check for rule in FRAMEWORKS[name] for check in _RULES[rule](facts, name)]


def _checks(facts: Facts) -> Iterable[Check]:
    yield from _budget_checks(facts)
    yield from _residency_checks(facts)
    yield from _retention_checks(facts)
    yield from _metadata_checks(facts)
    if (facts.environment or "").lower() == PRODUCTION:
        yield _approval_check(facts, "production_approval", "")
    for name in facts.frameworks:
        yield from framework_checks(facts, name)


def _budget_checks(facts: Facts) -> Iterable[Check]:
    from genops.money import format_usd

    for b in facts.budgets:
        note = " (local estimate)" if b.source != "processor" else ""
        text = (
            f"budget '{b.name}' spent {format_usd(b.spent_micros)} of "
            f"{format_usd(b.limit_micros)}{note}"
        )
        yield Check("budget", f"budget:{b.name}", not b.exceeded, text)


def _classification(metadata: Mapping[str, Any], facts: Facts) -> str | None:
    value = metadata.get("data_classification")
    return str(value).lower() if value else facts.security_level


def _residency_check(facts: Facts, subject: str, where: str | None, kind: str | None) -> Check:
    policy = facts.residency
    assert policy is not None
    ok = policy.allows(where, kind)
    if ok and where is not None:
        text = f"{subject}: region {where} is allowed by '{policy.name}'"
    else:
        text = outside_text(subject, where, policy, kind)
    return Check("data_residency", subject, ok, text)


def residency_verdict(facts: Facts, subject: str, where: str | None, kind: str | None):
    """None when no residency policy applies, else the check."""
    if facts.residency is None:
        return None
    return _residency_check(facts, subject, where, kind)


def _residency_checks(facts: Facts) -> Iterable[Check]:
    if facts.residency is None:
        return
    yield _residency_check(facts, "adapter", facts.region, facts.security_level)
    for run_id, where in facts.runs:
        yield _residency_check(facts, f"run:{run_id}", where, facts.security_level)
    for a in facts.artifacts:
        kind = _classification(a.metadata, facts)
        yield _residency_check(facts, f"artifact:{a.name}", a.region, kind)


def retention_problem(metadata: Mapping[str, Any], classification: str | None) -> str | None:
    days = metadata.get("retention_period_days")
    if days is None:
        if classification in PERSONAL_DATA:
            return f"{classification} data without retention_period_days"
        return None
    if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
        return f"retention_period_days {days!r} is not a whole number of days above 0"
    return None


def _retention_checks(facts: Facts) -> Iterable[Check]:
    for a in facts.artifacts:
        kind = _classification(a.metadata, facts)
        problem = retention_problem(a.metadata, kind)
        if problem is None and "retention_period_days" not in a.metadata:
            continue  # nothing to check: no personal data, no retention declared
        subject = f"artifact:{a.name}"
        text = f"{subject}: {problem}" if problem else f"{subject}: retention declared"
        yield Check("retention", subject, problem is None, text)


def _metadata_checks(facts: Facts) -> Iterable[Check]:
    if (facts.environment or "").lower() != PRODUCTION:
        return
    for a in facts.artifacts:
        if a.type != "model":
            continue
        status = str(a.metadata.get("model_approval_status", "")).lower()
        subject = f"artifact:{a.name}"
        ok = status == APPROVED
        text = (
            f"{subject}: production model approved"
            if ok
            else f"{subject}: production model without model_approval_status 'approved'"
            f" (has {status or 'none'})"
        )
        yield Check("artifact_metadata", subject, ok, text)


def _approval_check(facts: Facts, policy: str, name: str) -> Check:
    ok = facts.require_approval
    text = (
        "runs wait for approval (require_approval)"
        if ok
        else "runs do not wait for approval: set require_approval=True "
        "(GENOPS_REQUIRE_APPROVAL) so that a person approves each run"
    )
    return Check(policy, "adapter", ok, text, name)


def _rule_approval(facts: Facts, name: str) -> list[Check]:
    return [_approval_check(facts, f"framework:{name}", name)]


def _rule_audit_trail(facts: Facts, name: str) -> list[Check]:
    years = facts.audit_log_retention_years
    least = SOX_AUDIT_RETENTION_YEARS if name == "sox" else 1
    if not facts.enable_governance:
        ok, text = False, "governance is off (enable_governance=False): no audit trail"
    elif years is None or years < least:
        ok = False
        text = (
            f"audit_log_retention_years is {years if years is not None else 'not set'}; "
            f"{name.upper() if name == 'sox' else name} needs at least {least}"
        )
    else:
        ok, text = True, f"audit trail kept {years} years"
    return [Check(f"framework:{name}", "adapter", ok, f"{name}: {text}", name)]


def _rule_owner(facts: Facts, name: str) -> list[Check]:
    ok = bool(facts.team)
    text = f"owner: team {facts.team}" if ok else "no named owner: set team= (GENOPS_TEAM)"
    return [Check(f"framework:{name}", "adapter", ok, f"{name}: {text}", name)]


def _rule_eu_residency(facts: Facts, name: str) -> list[Check]:
    where = facts.region
    ok = where is not None and where in EU_REGIONS
    text = (
        f"region {where} is in the EU"
        if ok
        else f"region {where or 'unknown'} is not an EU region "
        "(region=... with data_residency_policy='eu_gdpr_compliant')"
    )
    return [Check(f"framework:{name}", "adapter", ok, f"{name}: {text}", name)]


def _rule_retention(facts: Facts, name: str) -> list[Check]:
    checks = []
    for a in facts.artifacts:
        days = a.metadata.get("retention_period_days")
        problem = retention_problem(a.metadata, "personal_data")  # every artifact, here
        text = f"artifact:{a.name}: " + (problem or f"kept {days} days")
        checks.append(Check(f"framework:{name}", f"artifact:{a.name}", not problem, text, name))
    years = facts.audit_log_retention_years
    text = f"audit_log_retention_years {years}" if years else "audit_log_retention_years not set"
    checks.append(Check(f"framework:{name}", "adapter", bool(years), f"{name}: {text}", name))
    return checks


def _rule_classification(facts: Facts, name: str) -> list[Check]:
    checks = []
    for a in facts.artifacts:
        ok = bool(a.metadata.get("data_classification"))
        said = "classified" if ok else "has no data_classification"
        text = f"{name}: artifact:{a.name} {said}"
        checks.append(Check(f"framework:{name}", f"artifact:{a.name}", ok, text, name))
    ok = bool(facts.security_level)
    text = (
        f"security_level {facts.security_level}" if ok else "no security_level classifies the runs"
    )
    checks.append(Check(f"framework:{name}", "adapter", ok, f"{name}: {text}", name))
    return checks


_RULES = {
    "approval": _rule_approval,
    "audit_trail": _rule_audit_trail,
    "owner": _rule_owner,
    "eu_residency": _rule_eu_residency,
    "retention": _rule_retention,
    "classification": _rule_classification,
}


@dataclass
class ComplianceLog:
    """What an adapter remembers for compliance: its runs' regions, its governed
    artifacts, the frameworks in use and the checkpoints' verdicts (bounded)."""

    limit: int = 1_000
    runs: list[tuple[str, str | None]] = field(default_factory=list)
    artifacts: list[ArtifactFacts] = field(default_factory=list)
    frameworks: list[str] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, item: Any) -> None:
        items = getattr(self, kind)
        if kind == "frameworks":
            if item not in items:
                items.append(item)
            return
        items.append(item)
        del items[: max(0, len(items) - self.limit)]
