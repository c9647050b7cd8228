"""Governance policies and what each does when a limit is passed."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from enum import Enum

from genops.errors import BudgetExceededError, BudgetInfo

_log = logging.getLogger("genops.policy")


class GovernancePolicy(str, Enum):
    """What happens when a budget or cost limit is passed."""

    AUDIT_ONLY = "audit_only"  # record the violation, do nothing else
    ADVISORY = "advisory"  # record and warn, carry on
    ENFORCED = "enforced"  # record and stop: BudgetExceededError

    @classmethod
    def parse(cls, value: object) -> GovernancePolicy:
        """A policy from the enum itself or its name (any case, ``-`` or ``_``)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            text = value.strip().lower().replace("-", "_")
            for policy in cls:
                if text in (policy.value, policy.name.lower()):
                    return policy
        choices = ", ".join(p.value for p in cls)
        raise ValueError(f"unknown governance policy; expected one of {choices}")


class BudgetWarning(UserWarning):
    """An advisory limit was passed; the work goes ahead."""


def apply_policy(
    policy: GovernancePolicy,
    message: str,
    budget: BudgetInfo | None,
    record: Callable[[str], None] | None = None,
    stacklevel: int = 3,
) -> None:
    """Act on a passed limit: raise (enforced), warn (advisory) or only record."""
    if record is not None:
        record(message)
    if policy is GovernancePolicy.ENFORCED:
        raise BudgetExceededError(message, budget)
    if policy is GovernancePolicy.ADVISORY:
        _log.info("genops (advisory): %s", message)
        warnings.warn(f"genops: {message}", BudgetWarning, stacklevel=stacklevel)
    else:
        _log.info("genops (audit only): %s", message)
