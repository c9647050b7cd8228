"""Exceptions raised to the user's program on purpose."""

from __future__ import annotations

from dataclasses import dataclass

from genops.money import format_usd


@dataclass(frozen=True)
class BudgetInfo:
    """What a denial says about the budget that denied it."""

    name: str
    limit_micros: int
    spent_micros: int
    requested_micros: int
    period: str = "daily"


class BudgetExceededError(ValueError):
    """An enforced budget does not allow this work.

    Raised from ``wandb.init`` before any W&B run is created. ``budget`` carries
    the numbers (``None`` when the budget could not be checked and the fail mode
    is ``closed``).
    """

    def __init__(self, message: str, budget: BudgetInfo | None = None) -> None:
        super().__init__(message)
        self.budget = budget

    @classmethod
    def from_budget(cls, budget: BudgetInfo, reason: str = "") -> BudgetExceededError:
        text = (
            f"budget '{budget.name}' exceeded: {budget.period} limit "
            f"{format_usd(budget.limit_micros)}, spent {format_usd(budget.spent_micros)}, "
            f"requested {format_usd(budget.requested_micros)}"
        )
        if reason:
            text = f"{text} ({reason})"
        return cls(text, budget)


class ApprovalDeniedError(BudgetExceededError):
    """A person denied the run's approval (``genops deny``)."""


class ApprovalTimeoutError(BudgetExceededError):
    """Nobody approved the run in time."""


class SecurityRequirementError(ValueError):
    """A security keyword of the adapter is not met (``enable_encryption_in_transit``,
    ``require_mfa``, ``enable_encryption_at_rest``): raised when the adapter is made,
    before any run, naming the keyword and what to change."""


class ComplianceViolationError(ValueError):
    """Under ``governance_policy="enforced"``, work that breaks a compliance rule
    (``compliance_requirements``, ``SecurityManager.compliance_checkpoint``) is refused
    before it starts; ``violations`` lists what failed (``policy``, ``description``)."""

    def __init__(self, message: str, violations: list | None = None) -> None:
        super().__init__(message)
        self.violations = list(violations or [])


class DataResidencyError(ComplianceViolationError):
    """Under ``enforced``, a region outside the ``data_residency_policy``: raised when
    the adapter is made (before any run) or before a governed artifact is logged."""
