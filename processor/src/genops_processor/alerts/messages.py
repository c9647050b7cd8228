"""What alerts carry: a budget threshold's :class:`Alert` or any other :class:`Notice`
(a monitoring rule's alert, a report, a health check)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from genops.money import format_usd


@dataclass(frozen=True)
class Alert:
    alert_id: str
    budget: str
    period_start: str
    threshold: int
    spent_micros: int
    limit_micros: int
    scope: Mapping[str, str] = field(default_factory=dict)  # the budget's, empty keys out
    mode: str = ""  # the budget's: audit_only | advisory | enforced

    @property
    def text(self) -> str:
        return (
            f"GenOps budget '{self.budget}' reached {self.threshold}%: spent "
            f"{format_usd(self.spent_micros)} of {format_usd(self.limit_micros)} "
            f"(period from {self.period_start})"
        )

    @property
    def subject(self) -> str:
        return f"GenOps budget alert: {self.budget} at {self.threshold}%"

    def payload(self) -> dict:
        return {**asdict(self), "scope": dict(self.scope), "text": self.text}


@dataclass(frozen=True)
class Notice:
    """Any other message: a monitoring rule's alert, a report, a health check."""

    alert_id: str
    subject: str
    text: str
    detail: Mapping[str, object]

    def payload(self) -> dict:
        return {
            "alert_id": self.alert_id,
            "subject": self.subject,
            "text": self.text,
            **self.detail,
        }
