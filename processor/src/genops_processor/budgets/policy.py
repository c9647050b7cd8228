"""Budget policy and budget decisions. Pure logic over domain types.

A policy file (YAML) declares budgets::

    timezone: Asia/Tokyo           # when days roll over for budgets that name no zone,
                                   # clients' own daily limits and daily_cost alert
                                   # rules (default UTC)
    budgets:
      - name: nlp-daily            # unique
        scope: {team: nlp}         # any of team, project, customer_id,
                                   # cost_center, environment; all must match
        daily_limit: "25.00"       # USD, as a string or number
        mode: enforced             # audit_only | advisory | enforced
        max_hold: "10.00"          # largest single reservation (default: the limit)
      - name: nlp-monthly
        scope: {team: nlp}
        period: monthly            # daily (default) | weekly | monthly | total
        timezone: Europe/Paris     # when periods roll over (default: the policy's)
        limit: "500"

Alerting (see :mod:`alert_settings` for addresses and secrets)::

    smtp: {host: mail.example.com, port: 587, from: genops@example.com,
           username: genops, password: ${env:SMTP_PASSWORD}}   # STARTTLS by default
    channels:                      # the only targets Notify and alert rules may name
      ops: {address: "webhook+https://hooks.example.com/genops", token_file: /run/secrets/t}
      slack://alerts: ${env:SLACK_WEBHOOK_URL}
      team_lead: email://lead@example.com

The audit trail (``genops audit prune``) keeps events at least this long::

    audit_log_retention_years: 7   # default 7 (DEFAULT_AUDIT_RETENTION_YEARS)

Where runs' data may live (see :mod:`residency`)::

    data_residency: {policy: eu_gdpr_compliant, mode: enforced}

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
from functools import cached_property, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from genops.money import MICROS_PER_USD, format_usd, parse_usd_micros
from genops_processor.budgets import residency as data_residency
from genops_processor.budgets.alert_settings import (
    DEFAULT_THRESHOLDS,
    LOG_CHANNEL,
    AlertConfigError,
    Channel,
    SmtpSettings,
    check_channel,
    redacted_policy,
    resolve,
    secret_value,
    shown_address,
)
from genops_processor.domain import Scope
from genops_processor.limits import (
    DEFAULT_MAX_HOLD_SHARE,
    MAX_AUDIT_RETENTION_YEARS,
    MAX_BUDGET_LIMIT_MICROS,
)

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
    alerts: tuple[str, ...] = ()  # channel names (Policy.channel), see alert_settings.py
    # What clients do when the processor is unreachable: open (run) | closed (refuse).
    # They learn it from every answer and keep it for when they cannot ask.
    fail_mode: str = "open"
    # The largest single reservation (policy key max_hold, USD); None: a share of the limit.
    max_hold_micros: int | None = None

    @property
    def hold_cap_micros(self) -> int:
        """What one reservation against this budget may hold at most."""
        if self.max_hold_micros is not None:
            return self.max_hold_micros
        return int(self.limit_micros * DEFAULT_MAX_HOLD_SHARE)

    def matches(self, scope: Scope) -> bool:
        return self.scope.covers(scope)


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
    # Runs of the scope started and not final at most (max_concurrent_experiments); 0 none.
    max_running_runs: int = 0


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
    # The channels of ``channels:``: the only ones Notify and monitoring rules may name.
    channels: tuple[Channel, ...] = ()
    # Addresses budgets list inline (policy file), by their names in ``Budget.alerts``.
    inline: tuple[Channel, ...] = ()
    # The policy as data (what the file or the admin API said), literal secrets included:
    # never shown or stored as is (``shown``).
    body: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    # Audit events younger than this are never pruned (genops audit prune); None: the
    # processor's --audit-retention-years, else DEFAULT_AUDIT_RETENTION_YEARS.
    audit_retention_years: float | None = None
    # Regions allowed per data classification (``data_residency``); None: no rule.
    residency: data_residency.ResidencyRule | None = None
    # When days roll over for budgets naming no zone, clients' own daily limits and
    # daily_cost alert rules (policy key ``timezone``).
    timezone: str = "UTC"

    @property
    def shown(self) -> dict:
        """The policy as every answer shows it and the ledger keeps it: secrets ``***``."""
        return redacted_policy(self.body)

    def channel(self, name: str) -> Channel | None:
        """The delivery target a name stands for (``log://`` always exists), or None."""
        if name == LOG_CHANNEL:
            return Channel(LOG_CHANNEL, LOG_CHANNEL, LOG_CHANNEL)
        for channel in (*self.channels, *self.inline):
            if channel.name == name:
                return channel
        return None

    def channel_names(self) -> list[str]:
        """What Notify and monitoring rules may name."""
        return [LOG_CHANNEL, *(c.name for c in self.channels)]

    def secrets(self) -> tuple[str, ...]:
        """Every secret value in force (to scrub from messages)."""
        found = [*self.smtp.secrets()]
        for channel in (*self.channels, *self.inline):
            found += channel.secrets()
        return tuple(found)

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
        unknown = set(data) - {
            "budgets",
            "smtp",
            "approvals",
            "channels",
            "audit_log_retention_years",
            "data_residency",
            "timezone",
        }
        if unknown:
            raise PolicyError(f"{origin}: unknown key(s) {', '.join(sorted(unknown))}")
        timezone = _timezone(data.get("timezone"), f"{origin}: timezone")
        channels = _channel_names(data.get("channels"), f"{origin}: channels")
        named = {c.name for c in channels}
        raw_budgets = data.get("budgets") or []
        if not isinstance(raw_budgets, list):
            raise PolicyError(f"{origin}: budgets: expected a list")
        budgets = [
            _budget(raw, f"{origin}: budgets[{i}]", named, timezone)
            for i, raw in enumerate(raw_budgets)
        ]
        inline = [channel for _budget, channels in budgets for channel in channels]
        budgets = [budget for budget, _channels in budgets]
        names = [b.name for b in budgets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise PolicyError(f"{origin}: budget name(s) used twice: {', '.join(duplicates)}")
        try:
            where = f"{origin}: data_residency"
            residency = data_residency.parse(data.get("data_residency"), where)
        except data_residency.ResidencyConfigError as error:
            raise PolicyError(str(error)) from None
        return cls(
            body=json.loads(json.dumps(data, default=str)),
            residency=residency,
            timezone=timezone,
            budgets=tuple(budgets),
            smtp=_smtp(data.get("smtp"), f"{origin}: smtp"),
            approvals=tuple(
                _approval(raw, f"{origin}: approvals[{i}]")
                for i, raw in enumerate(data.get("approvals") or [])
            ),
            channels=channels,
            inline=tuple(inline),
            audit_retention_years=audit_retention_years(
                data.get("audit_log_retention_years"), f"{origin}: audit_log_retention_years"
            ),
        )

    @classmethod
    def from_stored(cls, data: object, origin: str = "stored policy") -> Policy:
        """A policy version kept in the ledger. One stored before limits were bounded may
        hold a limit above MAX_BUDGET_LIMIT_MICROS (e.g. "1e30"): it is read as that
        maximum (logged), so that the ledger still opens; anything else invalid is refused."""
        return cls.from_dict(_bounded_limits(data, origin), origin)

    @cached_property
    def _budgets_by_team(self) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """Positions of the budgets naming each team, and of those naming none."""
        by_team: dict[str, list[int]] = {}
        for index, budget in enumerate(self.budgets):
            by_team.setdefault(budget.scope.team, []).append(index)
        any_team = tuple(by_team.pop("", ()))
        return {team: tuple(found) for team, found in by_team.items()}, any_team

    def budgets_for(self, scope: Scope, client: ClientLimits) -> list[Budget]:
        """The budgets a run with this scope falls under (in policy order), client limits
        applied. Only the budgets of the run's team and those of any team are looked at."""
        by_team, any_team = self._budgets_by_team
        result = []
        for index in sorted((*by_team.get(scope.team, ()), *any_team)):
            budget = self.budgets[index]
            if budget.matches(scope):
                mode = stricter(budget.mode, client.mode)
                result.append(budget if mode == budget.mode else replace(budget, mode=mode))
        if client.daily_limit_micros > 0:
            result.append(
                _client_budget(
                    scope.team,
                    scope.project,
                    client.daily_limit_micros,
                    client.limit_mode or client.mode or "advisory",
                    self.timezone,
                )
            )
        return result


@lru_cache(maxsize=4096)
def _client_budget(team: str, project: str, limit_micros: int, mode: str, zone: str) -> Budget:
    """A client's own daily limit as a budget on its team and project (the same frozen
    object for the same limit: every check of a client builds it)."""
    return Budget(
        name=f"client:{team or '*'}/{project or '*'}",
        scope=Scope(team=team, project=project),
        limit_micros=limit_micros,
        mode=mode,
        source="client",
        timezone=zone,
    )


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


_LONGEST_ZONE_NAME = 64  # the IANA database's longest is 32 characters


def _timezone(raw: object, where: str, default: str = "UTC") -> str:
    """A zone name ZoneInfo knows (``UTC``, ``Europe/Paris``, ``Etc/GMT-5``), ``default``
    when none is given (absent or null), else an error."""
    zone = default if raw is None else str(raw)
    try:
        if len(zone) > _LONGEST_ZONE_NAME:
            raise ValueError("too long")
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: e.g. a directory
        raise PolicyError(f"{where} {zone[:80]!r} is not a known time zone") from None
    return zone


def _budget(
    raw: object, where: str, named: set[str], timezone: str = "UTC"
) -> tuple[Budget, list[Channel]]:
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
        "max_hold",
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
    timezone = _timezone(raw.get("timezone"), f"{where}.timezone", timezone)
    alerts, inline = _budget_alerts(raw.get("alerts"), str(name), f"{where}.alerts", named)
    budget = Budget(
        name=str(name),
        scope=Scope(**{k: str(v) for k, v in scope_raw.items()}),
        limit_micros=_limit(raw.get(limit_key), f"{where}.{limit_key}"),
        mode=mode,
        period=period,
        timezone=timezone,
        thresholds=_thresholds(raw.get("thresholds"), f"{where}.thresholds"),
        alerts=alerts,
        fail_mode=_fail_mode(raw.get("fail_mode", "open"), f"{where}.fail_mode"),
        max_hold_micros=(
            None if raw.get("max_hold") is None else _limit(raw["max_hold"], f"{where}.max_hold")
        ),
    )
    return budget, inline


def _budget_alerts(
    value: object, budget: str, where: str, named: set[str]
) -> tuple[tuple[str, ...], list[Channel]]:
    """A budget's ``alerts``: names of ``channels:`` or addresses written inline. An
    inline address with a secret gets the name ``<budget>.alerts[i]`` (what the outbox
    and the alert history keep); one without (``email://…``, ``log://``) its own."""
    if value is None:
        return (), []
    if not isinstance(value, list):
        raise PolicyError(f"{where}: expected a list of channel names or addresses")
    keys, inline = [], []
    for i, entry in enumerate(value):
        entry = str(entry)
        if entry in named or entry == LOG_CHANNEL:
            keys.append(entry)
            continue
        channel = _target(f"{budget}.alerts[{i}]", {"address": entry}, f"{where}[{i}]")
        if channel.shown == entry and not channel.unavailable:
            channel = Channel(entry, channel.address, entry, unavailable=channel.unavailable)
        keys.append(channel.name)
        inline.append(channel)
    return tuple(keys), inline


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


_CHANNEL_KEYS = {"address", "address_file", "token", "token_file"}


def _channel_names(value: object, where: str) -> tuple[Channel, ...]:
    """``channels: {name: ADDRESS | {address | address_file, token | token_file}}``: the
    address (literal or ``${env:NAME}``); a webhook's token is sent as a bearer token."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected a mapping of names to channel addresses")
    channels = []
    for name, raw in sorted(value.items(), key=lambda item: str(item[0])):
        if isinstance(raw, dict):
            unknown = set(raw) - _CHANNEL_KEYS
            if unknown:
                raise PolicyError(
                    f"{where}.{name}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                    f"(expected {', '.join(sorted(_CHANNEL_KEYS))})"
                )
        else:
            raw = {"address": raw}
        channels.append(_target(str(name), raw, f"{where}.{name}"))
    return tuple(channels)


def _target(name: str, raw: dict, where: str) -> Channel:
    """One channel: its address and token resolved (literal, ``${env:NAME}``, ``*_file``)."""
    try:
        if raw.get("address") is not None and not isinstance(raw.get("address"), str):
            raise PolicyError(f"{where}: the address must be a string")
        address, missing = secret_value(raw, "address", where)
        token, token_missing = secret_value(raw, "token", where)
        if not address and not missing:
            raise PolicyError(f"{where}: an address is needed (address or address_file)")
        written = raw.get("address")
        if "address_file" in raw:
            shown = shown_address(address)
        elif written.startswith("${"):
            shown = written
        else:
            shown = shown_address(address or written)
        if address:
            check_channel(address, where)
        if any(ord(c) < 32 or ord(c) == 127 for c in address + token):
            raise PolicyError(f"{where}: the address or token holds a control character")
        if token and address and not address.startswith("webhook+"):
            raise PolicyError(f"{where}.token: only webhook+ channels send a token")
    except AlertConfigError as error:
        raise PolicyError(str(error)) from None
    return Channel(name, address, shown, token, missing or token_missing)


def _smtp(value: object, where: str) -> SmtpSettings:
    if value is None:
        return SmtpSettings()
    keys = {"host", "port", "from", "username", "password", "password_file", "starttls"}
    if not isinstance(value, dict) or set(value) - keys:
        raise PolicyError(f"{where}: expected some of {', '.join(sorted(keys))}")
    starttls = value.get("starttls", True)
    if not isinstance(starttls, bool):
        raise PolicyError(f"{where}.starttls {starttls!r}: expected true or false")
    try:
        password, missing = secret_value(value, "password", where)
        host, _ = resolve(str(value.get("host", "localhost")), f"{where}.host")
        username, _ = resolve(str(value.get("username") or ""), f"{where}.username")
    except AlertConfigError as error:
        raise PolicyError(str(error)) from None
    if (password or missing) and not username:
        raise PolicyError(f"{where}: a password needs a username")
    if (password or missing) and not starttls:
        raise PolicyError(
            f"{where}.starttls is false: the password would cross the network in clear "
            "(keep starttls: true)"
        )
    try:
        port = int(value.get("port", 25))
    except (TypeError, ValueError):
        raise PolicyError(f"{where}.port {value.get('port')!r} is not a number") from None
    if not 0 < port < 65536:
        raise PolicyError(f"{where}.port {port}: expected 1 to 65535")
    return SmtpSettings(
        host=host,
        port=port,
        sender=str(value.get("from", "genops@localhost")),
        username=username,
        password=password,
        starttls=starttls,
        unavailable=missing,
    )


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


def audit_retention_years(value: object, where: str) -> float | None:
    """``audit_log_retention_years``: a number of years in (0, MAX_AUDIT_RETENTION_YEARS]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"{where}: expected a number of years, got {value!r}")
    if not 0 < value <= MAX_AUDIT_RETENTION_YEARS:
        raise PolicyError(f"{where}: {value} is not in (0, {MAX_AUDIT_RETENTION_YEARS:g}]")
    return float(value)
