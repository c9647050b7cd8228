"""Check a GenOps + W&B setup before training, and say how to fix what is wrong.

::

    from genops.providers.wandb_validation import validate_setup, print_validation_result

    result = validate_setup(include_connectivity_tests=True, include_governance_tests=True)
    print_validation_result(result, detailed=True)
    assert result["overall_status"] == "PASSED"      # or result.overall_status

Five categories of checks, each ``passed``, ``warning``, ``failed`` or
``skipped``; the setup PASSES when nothing failed (warnings are allowed):

* **Environment Configuration**: every ``GENOPS_*`` value and the config file
  parse (a typo names its key and file); team and project are set; a W&B API
  key exists unless W&B runs offline or disabled; which config file is used.
* **W&B API Connectivity**: wandb is installed in a supported version; with
  ``include_connectivity_tests`` (the default) the W&B API answers (online
  mode only; given at most 10 s).
* **GenOps Governance Setup**: where budget checks go; with connectivity tests
  the processor answers ``ListRuns``; with ``include_governance_tests`` a
  ``CheckBudget`` for your team and project asking for $0 (the processor
  records that decision like any other) and ``GetBudgetStatus``.
* **Cost Tracking Capabilities**: the price catalog loads; the GPU model the
  runs will report (detected, or ``GENOPS_GPU_TYPE``) has a price.
* **OpenTelemetry Integration**: the instrumentor's entry point is installed
  (there is no distro or configurator of ours); with connectivity tests the
  endpoint governance spans go to accepts an (empty) export; with
  ``include_performance_tests`` the cost of the bookkeeping each ``wandb.log()``
  call pays, measured (no wandb involved).

Nothing raises out of :func:`validate_setup`: a check that breaks is reported
as failed, naming the exception. Network checks have short deadlines (3 s for
gRPC, 10 s for the W&B API). The result is a :class:`ValidationResult`, usable
as an object and as a read-only mapping; ``result.as_dict()`` is plain JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from genops.config import (
    ConfigError,
)
from genops.setup_checks import (
    CATEGORIES,
    CHECKS,
    CONNECTIVITY,
    FAILED,
    GOVERNANCE_TESTS,
    ICONS,
    PASSED,
    PERFORMANCE,
    SKIPPED,
    WARNING,
    Inputs,
    Outcome,
)

__all__ = ["Check", "ValidationResult", "print_validation_result", "validate_setup"]


# --------------------------------------------------------------------------- result types
class _ReadOnlyMapping(Mapping):
    """Mapping access to a dataclass's fields: ``obj['name']``, ``dict(obj)``."""

    _keys: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True, eq=False)
class Check(_ReadOnlyMapping):
    """One check: its ``status`` is passed, warning, failed or skipped."""

    name: str
    category: str
    status: str
    message: str
    fix: str = ""

    _keys = ("name", "category", "status", "message", "fix")


@dataclass(frozen=True, eq=False)
class ValidationResult(_ReadOnlyMapping):
    """``overall_status`` is PASSED when no check failed; ``summary`` counts statuses."""

    checks: tuple[Check, ...]
    overall_status: str = field(init=False)
    summary: Mapping[str, int] = field(init=False)

    _keys = ("overall_status", "checks", "summary")

    def __post_init__(self) -> None:
        counts = {key: 0 for key in ("passed", "warnings", "failed", "skipped")}
        names = {PASSED: "passed", WARNING: "warnings", FAILED: "failed", SKIPPED: "skipped"}
        for check in self.checks:
            counts[names[check.status]] += 1
        object.__setattr__(self, "summary", MappingProxyType(counts))
        object.__setattr__(self, "overall_status", "FAILED" if counts["failed"] else "PASSED")

    def category_status(self, category: str) -> str:
        """The worst status of a category's checks (skipped only when all were)."""
        statuses = {c.status for c in self.checks if c.category == category}
        for status in (FAILED, WARNING, PASSED):
            if status in statuses:
                return status
        return SKIPPED

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable)."""
        return {
            "overall_status": self.overall_status,
            "checks": [dict(check) for check in self.checks],
            "summary": dict(self.summary),
        }


def _run(name: str, category: str, check: Callable[[Inputs], Outcome], inputs: Inputs) -> Check:
    try:
        outcome = check(inputs)
    except ConfigError as error:
        outcome = Outcome(FAILED, str(error), "correct the value named in the message")
    except Exception as error:  # a broken check is a finding, never a crash
        outcome = Outcome(
            FAILED,
            f"the {name} check raised {type(error).__name__}: {error}",
            "report this with the message above",
        )
    return Check(name, category, outcome.status, outcome.message, outcome.fix)


def validate_setup(
    include_connectivity_tests: bool = True,
    include_governance_tests: bool = False,
    include_performance_tests: bool = False,
) -> ValidationResult:
    """Run every check; network ones only when asked. Never raises."""
    flags = {
        CONNECTIVITY: include_connectivity_tests,
        GOVERNANCE_TESTS: include_governance_tests,
        PERFORMANCE: include_performance_tests,
    }
    inputs = Inputs()
    checks = []
    for category, name, check, gates in CHECKS:
        off = [gate for gate in gates if not flags[gate]]
        if off:
            checks.append(Check(name, category, SKIPPED, f"not requested ({off[0]}=False)"))
        else:
            checks.append(_run(name, category, check, inputs))
    return ValidationResult(tuple(checks))


def print_validation_result(result: ValidationResult, detailed: bool = False) -> None:
    """Print the result: overall status, counts, one line per category (checks if detailed)."""
    summary = result.summary
    print(f"{'✅' if result.overall_status == 'PASSED' else '❌'} GenOps W&B Setup Validation")
    print(f"Overall Status: {result.overall_status}")
    counts = (
        f"📊 Summary: ✅ Passed: {summary['passed']}, ⚠️ Warnings: {summary['warnings']}, "
        f"❌ Failed: {summary['failed']}"
    )
    print(counts + (f", ⏭️ Skipped: {summary['skipped']}" if summary["skipped"] else ""))
    print()
    for category in CATEGORIES:
        print(f"{ICONS[result.category_status(category)]} {category}")
        if detailed:
            _print_checks(c for c in result.checks if c.category == category)


def _print_checks(checks) -> None:
    for check in checks:
        print(f"   {ICONS[check.status]} {check.name}: {check.message}")
        if check.status in (WARNING, FAILED) and check.fix:
            print(f"      fix: {check.fix}")
