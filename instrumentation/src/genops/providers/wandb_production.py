"""Production configuration from the guide: one object that sets an adapter's
production limits and security requirements.

::

    from genops.providers.wandb_production import ProductionConfiguration
    config = ProductionConfiguration(environment="production", max_daily_cost=10000.0,
                                     security_level="enterprise", require_mfa=True)
    adapter = instrument_wandb(team="ml", project="p", production_config=config)

Fields are checked when the object is made (:class:`ProductionConfigError`, a
``ValueError`` naming the field). ``instrument_wandb(production_config=...)``
applies them (:func:`apply`):

* ``environment``, ``security_level``: the adapter's (a different explicit keyword
  is an error: the two would disagree about what the runs are);
* ``max_daily_cost``: the adapter's daily limit, **enforced** by the processor
  whatever the governance policy (the lower of it and an explicit
  ``daily_budget_limit``);
* ``max_concurrent_experiments``: the lower of it and the keyword;
* ``enable_encryption_at_rest``, ``enable_encryption_in_transit``, ``require_mfa``:
  required when either the keyword or the configuration asks (checked as the
  keywords are, before any run);
* ``audit_log_retention_years``: the longer of it and the keyword;
* ``backup_frequency_hours``, ``disaster_recovery_rpo_hours``: kept, and reported by
  ``adapter.generate_production_report()`` against the processor's backups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genops.attributes import MAX_CONCURRENT_EXPERIMENTS, SECURITY_LEVELS
from genops.money import format_usd, parse_usd_micros

# Validation ranges (not resource caps): longer than a century is a typing error.
MAX_RETENTION_YEARS = 100
MAX_HOURS = 24 * 366


class ProductionConfigError(ValueError):
    """A field of a ProductionConfiguration is invalid; the message names it."""


def _error(name: str, value: Any, reason: str) -> ProductionConfigError:
    return ProductionConfigError(f"ProductionConfiguration {name}={value!r}: {reason}")


@dataclass(frozen=True)
class ProductionConfiguration:
    """The guide's production settings; see the module docstring for their effects."""

    environment: str = "production"
    security_level: str = "enterprise"
    max_concurrent_experiments: int | None = None
    max_daily_cost: float | None = None
    enable_encryption_at_rest: bool = False
    enable_encryption_in_transit: bool = False
    require_mfa: bool = False
    audit_log_retention_years: int | None = None
    backup_frequency_hours: float | None = None
    disaster_recovery_rpo_hours: float | None = None

    def __post_init__(self) -> None:
        env = self.environment
        if not isinstance(env, str) or not env.strip() or any(c.isspace() for c in env.strip()):
            raise _error("environment", env, "expected a name such as 'production'")
        level = self.security_level
        if not isinstance(level, str) or level.strip().lower() not in SECURITY_LEVELS:
            raise _error("security_level", level, f"expected one of {', '.join(SECURITY_LEVELS)}")
        object.__setattr__(self, "environment", env.strip())
        object.__setattr__(self, "security_level", level.strip().lower())
        _whole(
            "max_concurrent_experiments",
            self.max_concurrent_experiments,
            1,
            MAX_CONCURRENT_EXPERIMENTS,
        )
        if self.max_daily_cost is not None:
            try:
                parse_usd_micros(self.max_daily_cost)
            except ValueError as error:
                raise _error("max_daily_cost", self.max_daily_cost, str(error)) from None
        for name in ("enable_encryption_at_rest", "enable_encryption_in_transit", "require_mfa"):
            if not isinstance(getattr(self, name), bool):
                raise _error(name, getattr(self, name), "expected True or False")
        _whole("audit_log_retention_years", self.audit_log_retention_years, 1, MAX_RETENTION_YEARS)
        for name in ("backup_frequency_hours", "disaster_recovery_rpo_hours"):
            _hours(name, getattr(self, name))

    @property
    def max_daily_cost_micros(self) -> int | None:
        return None if self.max_daily_cost is None else parse_usd_micros(self.max_daily_cost)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ProductionConfiguration:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ProductionConfigError(
                f"ProductionConfiguration: unknown field(s) {', '.join(unknown)}"
            )
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def warnings(self) -> list[str]:
        """What the configuration allows that its own numbers say it should not."""
        found = []
        every, rpo = self.backup_frequency_hours, self.disaster_recovery_rpo_hours
        if every is not None and rpo is not None and every > rpo:
            found.append(
                f"backup_frequency_hours {every:g} is longer than disaster_recovery_rpo_hours "
                f"{rpo:g}: just before a backup, up to {every:g} h of the ledger could be lost"
            )
        return found


def _whole(name: str, value: Any, least: int, most: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(name, value, "expected a whole number")
    if value < least or (most is not None and value > most):
        bound = f"from {least} to {most}" if most is not None else f"of at least {least}"
        raise _error(name, value, f"expected a whole number {bound}")


def _hours(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(name, value, "expected a number of hours")
    if not 0 < value <= MAX_HOURS:
        raise _error(name, value, f"expected hours above 0 and at most {MAX_HOURS}")


def parse(value: Any) -> ProductionConfiguration | None:
    """The adapter option's parser: a ProductionConfiguration or a mapping of its fields."""
    if value is None or isinstance(value, ProductionConfiguration):
        return value
    if isinstance(value, Mapping):
        return ProductionConfiguration.from_dict(value)
    raise ValueError("expected a ProductionConfiguration or a mapping of its fields")


def apply(options: Any) -> Any:
    """The adapter's options with its production configuration applied (see above)."""
    config = options.production_config
    if config is None:
        return options
    sources = dict(options.sources)
    changes: dict[str, Any] = {}

    def explicit(name: str) -> bool:
        return sources.get(name, "default") != "default"

    for name in ("environment", "security_level"):
        mine, theirs = getattr(config, name), getattr(options, name)
        if explicit(name) and theirs is not None and str(theirs).lower() != mine.lower():
            raise ProductionConfigError(
                f"{name}={theirs!r} disagrees with production_config.{name}={mine!r}: "
                "give one of them"
            )
        changes[name] = mine
        sources[name] = "production_config"
    cap = config.max_daily_cost_micros
    if cap is not None:
        own = options.daily_budget_limit if explicit("daily_budget_limit") else cap
        changes["daily_budget_limit"] = min(own, cap)
        sources["daily_budget_limit"] = "production_config"  # enforced (config.daily_limit_mode)
    most = config.max_concurrent_experiments
    if most is not None:
        own = options.max_concurrent_experiments
        changes["max_concurrent_experiments"] = most if own is None else min(own, most)
    for name in ("enable_encryption_at_rest", "enable_encryption_in_transit", "require_mfa"):
        changes[name] = getattr(options, name) or getattr(config, name)
    years = config.audit_log_retention_years
    if years is not None:
        own = options.audit_log_retention_years
        changes["audit_log_retention_years"] = years if own is None else max(own, years)
    return dataclasses.replace(options, **changes, sources=sources)


def describe(config: ProductionConfiguration) -> dict[str, Any]:
    """The configuration as a report shows it (money as dollars text)."""
    shown = config.to_dict()
    if config.max_daily_cost_micros is not None:
        shown["max_daily_cost"] = format_usd(config.max_daily_cost_micros)
    return shown
