"""Data residency in the central policy: the regions each classification of data may
live in, held against every run's reported region. Pure logic, plus the policy in force
attached to the writer's connection so that ingest can stamp each run's record.

The policy file's ``data_residency`` (the lists and names are
:mod:`genops.governance.residency`, the adapter's own)::

    data_residency:
      policy: eu_gdpr_compliant      # us_only | eu_gdpr_compliant | a mapping:
                                     # {personal_data: [eu-west-1], "*": [eu-west-1, us-east-1]}
      name: eu-data                  # shown in messages (default: the named policy, or custom)
      mode: enforced                 # audit_only | advisory | enforced (default enforced)
      scope: {environment: production}   # optional: the runs it applies to (default all)

A run's classification is its ``genops.security_level`` (the adapter's); its region
``genops.region``. At run start (``CheckBudget``) a region outside the policy is
denied under ``enforced`` (a client's stricter ``governance_policy`` tightens the
mode, never loosens it), recorded as a ``residency.violation`` audit event under
``advisory`` and ``audit_only``; every run's record keeps the verdict (``runs.residency``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genops.governance.residency import ResidencyPolicy, outside_text, residency_policy
from genops_processor.domain import Scope

_MODES = ("audit_only", "advisory", "enforced")
_SCOPE_KEYS = ("team", "project", "customer_id", "cost_center", "environment")


class ResidencyConfigError(ValueError):
    """``data_residency`` of the policy is invalid; the message names the key."""


@dataclass(frozen=True)
class ResidencyRule:
    policy: ResidencyPolicy
    mode: str = "enforced"
    scope: Scope = Scope()

    def applies(self, scope: Scope) -> bool:
        return self.scope.covers(scope)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    mode: str
    policy: str
    region: str
    classification: str
    text: str

    @property
    def shown(self) -> str:
        """What the run's record keeps."""
        if self.allowed:
            return f"allowed: {self.text}"
        return f"violation ({self.mode}): {self.text}"

    def detail(self) -> dict[str, str]:
        return {
            "region": self.region,
            "data_classification": self.classification,
            "data_residency_policy": self.policy,
            "mode": self.mode,
            "reason": self.text,
        }


def parse(value: object, where: str) -> ResidencyRule | None:
    """The policy file's ``data_residency`` (None when absent)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ResidencyConfigError(f"{where}: expected a mapping with 'policy'")
    unknown = set(value) - {"policy", "name", "mode", "scope"}
    if unknown:
        raise ResidencyConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if value.get("policy") is None:
        raise ResidencyConfigError(
            f"{where}.policy is missing (us_only, eu_gdpr_compliant or a mapping)"
        )
    try:
        policy = residency_policy(value["policy"])
    except ValueError as error:
        raise ResidencyConfigError(f"{where}.policy: {error}") from None
    if value.get("name") is not None:
        name = str(value["name"]).strip()
        if not name or not name.isprintable():
            raise ResidencyConfigError(f"{where}.name: expected a printable name")
        policy = ResidencyPolicy(name, policy.allowed)
    mode = str(value.get("mode", "enforced")).lower()
    if mode not in _MODES:
        raise ResidencyConfigError(f"{where}.mode {mode!r}: expected one of {', '.join(_MODES)}")
    scope_raw = value.get("scope") or {}
    if not isinstance(scope_raw, dict) or set(scope_raw) - set(_SCOPE_KEYS):
        raise ResidencyConfigError(f"{where}.scope: keys must be among {', '.join(_SCOPE_KEYS)}")
    return ResidencyRule(policy, mode, Scope(**{k: str(v) for k, v in scope_raw.items()}))


def judge(
    rule: ResidencyRule | None,
    scope: Scope,
    region: str,
    classification: str,
    subject: str,
    client_mode: str | None = None,
) -> Verdict | None:
    """The verdict on ``region`` for data of ``classification``; None when no rule applies
    to the scope or the rule does not constrain that classification."""
    if rule is None or not rule.applies(scope):
        return None
    policy = rule.policy
    if policy.regions_for(classification) is None:
        return None
    where = region.strip().lower()
    mode = rule.mode
    if client_mode in _MODES and _MODES.index(client_mode) > _MODES.index(mode):
        mode = client_mode  # a client can only tighten the central policy
    if policy.allows(where or None, classification or None):
        text = f"{subject}: region {where} is allowed by '{policy.name}'"
        return Verdict(True, mode, policy.name, where, classification, text)
    text = outside_text(subject, where, policy, classification or None)
    return Verdict(False, mode, policy.name, where, classification, f"{text} (processor policy)")


# -- the policy in force, for ingest --------------------------------------------------
_ATTACHED: weakref.WeakKeyDictionary[Any, Callable[[], ResidencyRule | None]] = (
    weakref.WeakKeyDictionary()
)


def attach(conn: Any, rule: Callable[[], ResidencyRule | None]) -> None:
    """Ingest on ``conn`` judges each run with ``rule()`` (the policy in force)."""
    _ATTACHED[conn] = rule


def rule_of(conn: Any) -> ResidencyRule | None:
    found = _ATTACHED.get(conn)
    return found() if found is not None else None
