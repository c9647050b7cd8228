"""Budget policy and budget decisions. Pure logic over domain types.

A policy file (YAML) declares budgets::

    budgets:
      - name: nlp-daily            # unique
        scope: {team: nlp}         # any of team, project, customer_id,
                                   # cost_center, environment; all must match
        daily_limit: "25.00"       # USD, as a string or number
        mode: enforced             # audit_only | advisory | enforced
      - name: nlp-monthly
        scope: {team: nlp}
        period: monthly            # daily (default) | weekly | monthly | total
        timezone: Europe/Paris     # when periods roll over (default UTC)
        limit: "500"

A client may declare its own daily limit and mode; they can only tighten the
central policy: the client's limit becomes one more budget on the client's
team and project, and a budget's mode is the stricter of its own and the
client's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from genops.money import MICROS_PER_USD, format_usd, parse_usd_micros
from genops_processor.budgets.alert_settings import (
    DEFAULT_THRESHOLDS,
    AlertConfigError,
    SmtpSettings,
    check_channel,
)
from genops_processor.domain import Scope
from genops_processor.limits import MAX_BUDGET_LIMIT_MICROS

_log = logging.getLogger(__name__)
MODES = ("audit_only", "advisory", "enforced")
DEFAULT_APPROVAL_TIMEOUT_S = 600.0
_SCOPE_KEYS = ("team", "project", "customer_id", "cost_center", "environment")


class PolicyError(AlertConfigError):
    """The policy file is invalid; the message names the budget and the key."""


@dataclass(frozen=True)
class Budget:
    name: str
    scope: Scope  # empty fields match anything
    limit_micros: int
    mode: str
    period: str = "daily"
    source: str = "policy"
    timezone: str = "UTC"
    thresholds: tuple[int, ...] = (50, 80, 100)  # percent of the limit that alert
    alerts: tuple[str, ...] = ()  # channel addresses (see alerts.py)
    # What clients do when the processor is unreachable: open (run) | closed (refuse).
    # They learn it from every answer and keep it for when they cannot ask.
    fail_mode: str = "open"

    def matches(self, scope: Scope) -> bool:
        wanted = self.scope.as_dict()
        have = scope.as_dict()
        return all(not value or have[key] == value for key, value in wanted.items())


@dataclass(frozen=True)
class BudgetState:
    budget: Budget
    spent_micros: int
    period_start: dt.datetime
    exceeded: bool


@dataclass(frozen=True)
class ClientLimits:
    daily_limit_micros: int = 0
    mode: str | None = None
    # Mode of the client's own limit; None: ``mode``, else advisory.
    limit_mode: str | None = None


@dataclass(frozen=True)
class Decision:
    outcome: str  # allow | warn | deny
    requested_micros: int
    states: tuple[BudgetState, ...]
    deciding: BudgetState | None
    message: str


@dataclass(frozen=True)
class Policy:
    budgets: tuple[Budget, ...] = ()
    smtp: SmtpSettings = SmtpSettings()
    # (scope, timeout seconds): runs in such a scope wait for a person's approval.
    approvals: tuple[tuple[Scope, float], ...] = ()
    # Names monitoring rules may use for a delivery address: (name, address).
    channels: tuple[tuple[str, str], ...] = ()
    # The policy as data (what the file or the admin API said), for new versions.
    body: dict = field(default_factory=dict, compare=False, hash=False)

    def approval_timeout(self, scope: Scope, requested: bool) -> float | None:
        """Seconds a run in this scope may wait for approval, or None: none needed."""
        for rule_scope, timeout_s in self.approvals:
            if Budget("rule", rule_scope, 0, "enforced").matches(scope):
                return timeout_s
        return DEFAULT_APPROVAL_TIMEOUT_S if requested else None

    @classmethod
    def load(cls, path: str | Path | None) -> Policy:
        if path is None:
            return cls()
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise PolicyError(f"cannot read policy {path}: {error}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: object, origin: str = "policy") -> Policy:
        if not isinstance(data, dict):
            raise PolicyError(f"{origin}: expected a mapping with 'budgets'")
        unknown = set(data) - {"budgets", "smtp", "approvals", "channels"}
        if unknown:
            raise PolicyError(f"{origin}: unknown key(s) {', '.join(sorted(unknown))}")
        budgets = [
            _budget(raw, f"{origin}: budgets[{i}]")
            for i, raw in enumerate(data.get("budgets") or [])
        ]
        names = [b.name for b in budgets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise PolicyError(f"{origin}: budget name(s) used twice: {', '.join(duplicates)}")
        return cls(
            body=json.loads(json.dumps(data, default=str)),
            budgets=tuple(budgets),
            smtp=_smtp(data.get("smtp"), f"{origin}: smtp"),
            approvals=tuple(
                _approval(raw, f"{origin}: approvals[{i}]")
                for i, raw in enumerate(data.get("approvals") or [])
            ),
            channels=_channel_names(data.get("channels"), f"{origin}: channels"),
        )

    @classmethod
    def from_stored(cls, data: object, origin: str = "stored policy") -> Policy:
        """A policy version kept in the ledger. One stored before limits were bounded may
        hold a limit above MAX_BUDGET_LIMIT_MICROS (e.g. "1e30"): it is read as that
        maximum (logged), so that the ledger still opens; anything else invalid is refused."""
        return cls.from_dict(_bounded_limits(data, origin), origin)

    def budgets_for(self, scope: Scope, client: ClientLimits) -> list[Budget]:
        """The budgets a run with this scope falls under, client limits applied."""
        result = []
        for budget in self.budgets:
            if budget.matches(scope):
                result.append(replace(budget, mode=stricter(budget.mode, client.mode)))
        if client.daily_limit_micros > 0:
            own = Scope(team=scope.team, project=scope.project)
            result.append(
                Budget(
                    name=f"client:{scope.team or '*'}/{scope.project or '*'}",
                    scope=own,
                    limit_micros=client.daily_limit_micros,
                    mode=client.limit_mode or client.mode or "advisory",
                    source="client",
                )
            )
        return result


def stricter(mode: str, other: str | None) -> str:
    if other is None:
        return mode
    return max(mode, other, key=MODES.index)


PERIODS = ("daily", "weekly", "monthly", "total")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def period_start(now: dt.datetime, period: str, timezone: str = "UTC") -> dt.datetime:
    """Start of the budget period containing ``now``, in the budget's time zone:
    local midnight (daily), Monday's midnight (weekly), the 1st's (monthly), or
    the epoch (total)."""
    if period not in PERIODS:
        raise ValueError(f"unsupported period {period!r}")
    if period == "total":
        return _EPOCH
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone).date()
    if period == "weekly":
        local -= dt.timedelta(days=local.weekday())
    elif period == "monthly":
        local = local.replace(day=1)
    return dt.datetime.combine(local, dt.time(0), tzinfo=zone)


def decide(
    budgets: Sequence[Budget],
    requested_micros: int,
    now: dt.datetime,
    spent: Callable[[Budget, dt.datetime], int],
    strict: bool = False,
) -> Decision:
    """Evaluate budgets. Before work starts a budget is exceeded when its spend has
    reached the limit or spend + requested would pass it; ``strict`` (a running
    run's check) only when spend passes the limit."""
    states = []
    for budget in budgets:
        start = period_start(now, budget.period, budget.timezone)
        used = spent(budget, start)
        if strict:
            exceeded = used > budget.limit_micros
        else:
            exceeded = used >= budget.limit_micros or used + requested_micros > budget.limit_micros
        states.append(BudgetState(budget, used, start, exceeded))
    deciding = _strictest_breach(states)
    if deciding is None:
        return Decision("allow", requested_micros, tuple(states), None, "within budget")
    outcome = {"enforced": "deny", "advisory": "warn", "audit_only": "allow"}[deciding.budget.mode]
    budget = deciding.budget
    message = (
        f"budget '{budget.name}' ({budget.mode}) exceeded: limit "
        f"{format_usd(budget.limit_micros)}, spent {format_usd(deciding.spent_micros)}, "
        f"requested {format_usd(requested_micros)}"
    )
    return Decision(outcome, requested_micros, tuple(states), deciding, message)


def _strictest_breach(states: Iterable[BudgetState]) -> BudgetState | None:
    breached = [s for s in states if s.exceeded]
    if not breached:
        return None
    return max(breached, key=lambda s: MODES.index(s.budget.mode))


def _budget(raw: object, where: str) -> Budget:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected a mapping")
    unknown = set(raw) - {
        "name",
        "scope",
        "daily_limit",
        "limit",
        "period",
        "timezone",
        "mode",
        "thresholds",
        "alerts",
        "fail_mode",
    }
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name = raw.get("name")
    if not name:
        raise PolicyError(f"{where}.name is missing")
    where = f"{where} ({name})"
    scope_raw = raw.get("scope") or {}
    if not isinstance(scope_raw, dict) or set(scope_raw) - set(_SCOPE_KEYS):
        raise PolicyError(f"{where}.scope: keys must be among {', '.join(_SCOPE_KEYS)}")
    for key, value in scope_raw.items():
        if value is None or str(value).strip() == "":
            raise PolicyError(f"{where}.scope.{key} is empty: give a value or drop the key")
    mode = str(raw.get("mode", "enforced")).lower()
    if mode not in MODES:
        raise PolicyError(f"{where}.mode {mode!r}: expected one of {', '.join(MODES)}")
    period = str(raw.get("period", "daily")).lower()
    if period not in PERIODS:
        raise PolicyError(f"{where}.period {period!r}: expected one of {', '.join(PERIODS)}")
    if "limit" in raw and "daily_limit" in raw:
        raise PolicyError(f"{where}: give limit or daily_limit, not both")
    limit_key = "limit" if "limit" in raw else "daily_limit"
    if limit_key == "daily_limit" and period != "daily":
        raise PolicyError(f"{where}.daily_limit with period {period}: use limit")
    timezone = str(raw.get("timezone", "UTC"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"{where}.timezone {timezone!r} is not a known time zone") from None
    return Budget(
        name=str(name),
        scope=Scope(**{k: str(v) for k, v in scope_raw.items()}),
        limit_micros=_limit(raw.get(limit_key), f"{where}.{limit_key}"),
        mode=mode,
        period=period,
        timezone=timezone,
        thresholds=_thresholds(raw.get("thresholds"), f"{where}.thresholds"),
        alerts=tuple(_channel(str(a), f"{where}.alerts") for a in raw.get("alerts") or ()),
        fail_mode=_fail_mode(raw.get("fail_mode", "open"), f"{where}.fail_mode"),
    )


def _fail_mode(value: object, where: str) -> str:
    if value not in ("open", "closed"):
        raise PolicyError(f"{where} {value!r}: expected open or closed")
    return str(value)


def _approval(raw: object, where: str) -> tuple[Scope, float]:
    if not isinstance(raw, dict) or set(raw) - {"scope", "timeout_s"}:
        raise PolicyError(f"{where}: expected scope and timeout_s")
    scope_raw = raw.get("scope") or {}
    if not isinstance(scope_raw, dict) or set(scope_raw) - set(_SCOPE_KEYS):
        raise PolicyError(f"{where}.scope: keys must be among {', '.join(_SCOPE_KEYS)}")
    try:
        timeout_s = float(raw.get("timeout_s", DEFAULT_APPROVAL_TIMEOUT_S))
    except (TypeError, ValueError):
        raise PolicyError(f"{where}.timeout_s must be a number of seconds") from None
    if timeout_s <= 0:
        raise PolicyError(f"{where}.timeout_s must be above 0")
    return Scope(**{k: str(v) for k, v in scope_raw.items()}), timeout_s


def _thresholds(value: object, where: str) -> tuple[int, ...]:
    if value is None:
        return DEFAULT_THRESHOLDS
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1000 for v in value
    ):
        raise PolicyError(f"{where}: expected a list of percentages, e.g. [50, 80, 100]")
    return tuple(sorted(set(value)))


def _channel_names(value: object, where: str) -> tuple[tuple[str, str], ...]:
    """``channels: {slack://alerts: slack+https://hooks..., team_lead: email://...}``."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected a mapping of names to channel addresses")
    return tuple(
        (str(name), _channel(str(address), f"{where}.{name}"))
        for name, address in sorted(value.items())
    )


def _channel(address: str, where: str) -> str:
    try:
        return check_channel(address, where)
    except AlertConfigError as error:
        raise PolicyError(str(error)) from None


def _smtp(value: object, where: str) -> SmtpSettings:
    if value is None:
        return SmtpSettings()
    if not isinstance(value, dict) or set(value) - {"host", "port", "from"}:
        raise PolicyError(f"{where}: expected host, port and from")
    try:
        return SmtpSettings(
            host=str(value.get("host", "localhost")),
            port=int(value.get("port", 25)),
            sender=str(value.get("from", "genops@localhost")),
        )
    except ValueError:
        raise PolicyError(f"{where}.port {value.get('port')!r} is not a number") from None


def _bounded_limits(data: object, origin: str) -> object:
    if not isinstance(data, dict) or not isinstance(data.get("budgets"), list):
        return data
    budgets = []
    for raw in data["budgets"]:
        if isinstance(raw, dict):
            raw = dict(raw)
            for key in ("limit", "daily_limit"):
                if key in raw and _above_maximum(raw[key]):
                    _log.warning(
                        "%s: budget %r %s %r is above the maximum; read as %s",
                        origin,
                        raw.get("name"),
                        key,
                        raw[key],
                        format_usd(MAX_BUDGET_LIMIT_MICROS),
                    )
                    raw[key] = str(MAX_BUDGET_LIMIT_MICROS // MICROS_PER_USD)
        budgets.append(raw)
    return {**data, "budgets": budgets}


def _above_maximum(value: object) -> bool:
    try:
        parse_usd_micros(value, maximum=MAX_BUDGET_LIMIT_MICROS)
    except ValueError as error:
        return "maximum" in str(error)
    return False


def _limit(value: object, where: str) -> int:
    """A limit in dollars: finite, >= 0, at most MAX_BUDGET_LIMIT_MICROS, to the micro-dollar."""
    try:
        return parse_usd_micros(value, maximum=MAX_BUDGET_LIMIT_MICROS)
    except ValueError as error:
        raise PolicyError(f"{where} {value!r}: {error}") from None
