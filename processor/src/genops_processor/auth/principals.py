"""Who is calling: a principal, its role and the scope it acts for.

Roles, from least to most power over the ledger:

- ``client``: checks, reserves, renews and releases budget for its own teams (only the
  holds it created), sends spans for its own teams, reads only its own teams.
- ``approver``: what a client reads, plus deciding approvals of its teams.
- ``auditor``: reads everything, changes nothing.
- ``admin``: everything: budgets, policies, catalogs, re-pricing, alert rules, any hold.

A principal's ``teams`` bound what it may act for; ``projects`` and ``customers``, when
not empty, narrow it further. Admins and auditors are not bound by teams.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Role(str, enum.Enum):
    CLIENT = "client"
    APPROVER = "approver"
    AUDITOR = "auditor"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown role {value!r} (one of: {names})") from None


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    teams: frozenset[str] = field(default_factory=frozenset)
    projects: frozenset[str] = field(default_factory=frozenset)
    customers: frozenset[str] = field(default_factory=frozenset)
    # how it proved who it is: "token", "jwt", "mtls" or "local" (no credentials configured)
    method: str = "token"
    # authentication factors a JWT's ``amr`` claim listed (e.g. "pwd", "otp", "hwk")
    factors: frozenset[str] = field(default_factory=frozenset)

    @property
    def reads_everything(self) -> bool:
        return self.role in (Role.ADMIN, Role.AUDITOR)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def acts_for(self, team: str, project: str = "", customer: str = "") -> bool:
        """May this principal act (spend, send spans, decide) for this scope?"""
        if self.role is Role.ADMIN:
            return True
        if self.role is Role.AUDITOR:
            return False
        if team not in self.teams:
            return False
        if self.projects and project and project not in self.projects:
            return False
        if self.customers and customer and customer not in self.customers:
            return False
        return True

    def reads(self, team: str) -> bool:
        """May this principal read this team's runs, costs and budgets?"""
        return self.reads_everything or team in self.teams

    @property
    def has_second_factor(self) -> bool:
        """True when a verified JWT's ``amr`` shows more than a password (RFC 8176 values)."""
        return bool(self.factors & SECOND_FACTORS) or "mfa" in self.factors


# RFC 8176 authentication method references that are a second factor
SECOND_FACTORS = frozenset({"mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "retina"})

# Who acts when the processor runs without credentials (loopback only): the local operator.
LOCAL_OPERATOR = Principal(name="local", role=Role.ADMIN, method="local")
# Who a refused, unauthenticated call is recorded as.
ANONYMOUS = "anonymous"
