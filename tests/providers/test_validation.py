"""validate_setup / print_validation_result against a real processor, real wandb settings
and real config files; no stand-ins."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from genops import setup_checks
from genops.providers.wandb_validation import (
    Check,
    ValidationResult,
    print_validation_result,
    validate_setup,
)
from tests.helpers import token_of

CATEGORIES = (
    "Environment Configuration",
    "W&B API Connectivity",
    "GenOps Governance Setup",
    "Cost Tracking Capabilities",
    "OpenTelemetry Integration",
)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean, offline, attributed environment; HOME is empty (no ~/.genops, no ~/.netrc)."""
    for name in list(os.environ):
        if name.startswith(("GENOPS_", "OTEL_", "WANDB_")) or name == "NETRC":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("GENOPS_TEAM", "ml-team")
    monkeypatch.setenv("GENOPS_PROJECT", "churn")
    return monkeypatch


def point_at(env, endpoint: str) -> None:
    env.setenv("GENOPS_ENDPOINT", endpoint)
    env.setenv("GENOPS_TOKEN", token_of("trainer"))  # a client of the test teams
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{endpoint}")


def by_name(result: ValidationResult) -> dict[str, Check]:
    return {check.name: check for check in result.checks}


def test_passes_against_a_real_processor_offline_without_an_api_key(env, processor):
    point_at(env, processor.endpoint)
    result = validate_setup(
        include_connectivity_tests=True,
        include_governance_tests=True,
        include_performance_tests=True,
    )
    checks = by_name(result)
    assert result["overall_status"] == result.overall_status == "PASSED", result.as_dict()
    assert {c.status for c in result.checks} <= {"passed", "skipped"}, result.as_dict()
    assert checks["credentials"].message == "no API key needed in offline mode"
    assert checks["W&B API"].status == "skipped"
    assert "offline" in checks["W&B API"].message
    assert checks["processor reachable"].status == "passed"
    assert processor.endpoint in checks["processor reachable"].message
    assert checks["budget check"].message.startswith("CheckBudget($0): ALLOW")
    assert checks["budget status"].status == "passed"
    assert checks["OTLP export"].status == "passed"
    assert "µs" in checks["log() overhead"].message
    assert {c.category for c in result.checks} == set(CATEGORIES)


def test_result_reads_as_an_object_and_as_a_read_only_mapping(env, unused_port):
    point_at(env, f"127.0.0.1:{unused_port}")
    result = validate_setup(include_connectivity_tests=False)
    assert "overall_status" in result and "nope" not in result
    assert set(result.keys()) == {"overall_status", "checks", "summary"}
    assert dict(result) == {
        "overall_status": result.overall_status,
        "checks": result.checks,
        "summary": result.summary,
    }
    assert result["checks"][0]["name"] == result.checks[0].name
    assert sum(result["summary"].values()) == len(result.checks)
    # W&B API, processor, security posture, 2 budget calls, OTLP, log()
    assert result.summary["skipped"] == 7
    with pytest.raises(TypeError):
        result["overall_status"] = "FAILED"
    with pytest.raises(TypeError):
        result.summary["failed"] = 0
    json.dumps(result.as_dict())


POLICY = """
budgets:
  - name: ml-team-daily
    scope: {team: ml-team}
    daily_limit: "25.00"
    mode: advisory
  - name: churn-frozen
    scope: {team: ml-team, project: churn}
    daily_limit: "0"
    mode: %s
"""


@pytest.mark.parametrize(
    ("mode", "status", "decision"),
    [
        ("enforced", "failed", "DENY"),
        ("advisory", "warning", "WARN"),
        ("audit_only", "passed", "ALLOW"),
    ],
)
def test_budget_check_reports_the_decision_and_the_budgets(
    env, start_processor_with, tmp_path, mode, status, decision
):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY % mode)
    point_at(env, start_processor_with("--policy", str(policy)).endpoint)
    result = validate_setup(include_governance_tests=True)
    checks = by_name(result)
    decided = checks["budget check"]
    assert decided.status == status, decided
    assert decided.message.startswith(f"CheckBudget($0): {decision}")
    assert "ml-team-daily (advisory: $0.00 of $25.00)" in decided.message
    assert "churn-frozen" in decided.message
    assert f"churn-frozen ({mode}: $0.00 of $0.00)" in checks["budget status"].message
    assert result.overall_status == ("FAILED" if mode == "enforced" else "PASSED")


def test_processor_down_fails_the_governance_and_otlp_checks_quickly(env, unused_port):
    point_at(env, f"127.0.0.1:{unused_port}")
    result = validate_setup(include_connectivity_tests=True, include_governance_tests=True)
    checks = by_name(result)
    assert result["overall_status"] == "FAILED"
    for name in ("processor reachable", "budget check", "budget status", "OTLP export"):
        assert checks[name].status == "failed", checks[name]
        assert str(unused_port) in checks[name].message
        assert checks[name].fix
    assert checks["credentials"].status == "passed"
    # quickly: one attempt each, no retry loop (structure, not a timed assertion)
    for name in ("processor reachable", "budget check", "budget status"):
        assert "UNAVAILABLE, 1 attempt(s)" in checks[name].message, checks[name].message


def test_a_processor_that_never_answers_fails_at_the_deadline(env):
    """A listening socket nobody serves: connections open, no gRPC answer ever comes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        point_at(env, f"127.0.0.1:{silent.getsockname()[1]}")
        result = validate_setup(include_connectivity_tests=True)
    checks = by_name(result)
    assert "DEADLINE_EXCEEDED" in checks["processor reachable"].message
    assert "DEADLINE_EXCEEDED" in checks["OTLP export"].message  # ended by the deadline
    assert result.overall_status == "FAILED"


def test_config_file_typo_fails_naming_the_key_and_file(env, tmp_path):
    config = tmp_path / "genops.yaml"
    config.write_text("governance: {daily_budget_limt: 5}\n")
    env.setenv("GENOPS_CONFIG", str(config))
    result = validate_setup(include_connectivity_tests=False)
    checks = by_name(result)
    assert result["overall_status"] == "FAILED"
    assert checks["configuration"].status == "failed"
    assert "governance.daily_budget_limt" in checks["configuration"].message
    assert str(config) in checks["configuration"].message
    assert checks["config file"].message == f"using {config} (GENOPS_CONFIG)"
    assert checks["team and project"].status == "passed"  # the environment still attributes


def test_invalid_environment_value_fails_naming_the_variable(env):
    env.setenv("GENOPS_GPU_COUNT", "two")
    result = validate_setup(include_connectivity_tests=False)
    checks = by_name(result)
    assert result.overall_status == "FAILED"
    assert "GENOPS_GPU_COUNT" in checks["configuration"].message
    assert checks["hardware pricing"].status == "failed"


def test_online_mode_without_an_api_key_fails_the_credentials_check(env):
    env.setenv("WANDB_MODE", "online")
    result = validate_setup(include_connectivity_tests=False)
    checks = by_name(result)
    assert result.overall_status == "FAILED"
    assert checks["credentials"].status == "failed"
    assert "WANDB_API_KEY" in checks["credentials"].message
    assert "WANDB_MODE=offline" in checks["credentials"].fix
    assert checks["W&B API"].status == "skipped"  # no network call without a key


def test_online_with_an_unverifiable_key_fails_within_the_deadline(tmp_path, unused_port):
    """In its own interpreter: wandb.Api starts W&B's service process."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("GENOPS_", "OTEL_", "WANDB_"))
    }
    environ.update(
        HOME=str(tmp_path),
        WANDB_MODE="online",
        WANDB_API_KEY="0" * 40,
        WANDB_BASE_URL=f"http://127.0.0.1:{unused_port}",
        GENOPS_ENDPOINT=f"127.0.0.1:{unused_port}",
    )
    code = (
        "from genops.providers.wandb_validation import validate_setup\n"
        "c = {c.name: c for c in validate_setup().checks}['W&B API']\n"
        "print(c.status, c.message)\n"
    )
    done = subprocess.run(  # its timeout guards a hang; the deadline is the client's
        [sys.executable, "-c", code],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"failed http://127.0.0.1:{unused_port}"), done.stdout


def test_unknown_gpu_type_warns_and_still_passes(env):
    env.setenv("GENOPS_GPU_TYPE", "B300")
    env.setenv("GENOPS_GPU_COUNT", "1")
    result = validate_setup(include_connectivity_tests=False)
    check = by_name(result)["hardware pricing"]
    assert check.status == "warning"
    assert "B300" in check.message and "unpriced" in check.message
    assert result["overall_status"] == "PASSED"
    assert result.summary["warnings"] == 1


def test_catalog_gpu_type_is_priced_and_no_gpu_is_cpu_only(env):
    env.setenv("GENOPS_GPU_TYPE", "Tesla T4")
    env.setenv("GENOPS_GPU_COUNT", "2")
    assert by_name(validate_setup(False))["hardware pricing"].message.startswith("2 x T4")
    env.delenv("GENOPS_GPU_TYPE")
    env.setenv("GENOPS_GPU_COUNT", "0")
    check = by_name(validate_setup(False))["hardware pricing"]
    assert (check.status, check.message[:8]) == ("passed", "CPU only")


def test_gpu_type_without_a_count_is_priced_as_one_gpu(env):
    env.setenv("GENOPS_GPU_TYPE", "H100")  # no GPU here, and no GENOPS_GPU_COUNT
    check = by_name(validate_setup(False))["hardware pricing"]
    assert check.status == "passed"
    assert check.message.startswith("1 x H100 (env)")


def test_a_check_that_raises_becomes_a_failed_check(env, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("catalog exploded")

    monkeypatch.setattr(setup_checks.Catalog, "load", broken)
    result = validate_setup(include_connectivity_tests=False)
    check = by_name(result)["price catalog"]
    assert check.status == "failed"
    assert "RuntimeError: catalog exploded" in check.message
    assert result.overall_status == "FAILED"


def test_missing_team_and_project_warn(env):
    env.delenv("GENOPS_TEAM")
    env.delenv("GENOPS_PROJECT")
    result = validate_setup(include_connectivity_tests=False)
    check = by_name(result)["team and project"]
    assert check.status == "warning" and "team and project" in check.message
    assert result.overall_status == "PASSED"


def test_prints_the_guides_layout_for_a_passed_run(env, processor, capsys):
    point_at(env, processor.endpoint)
    result = validate_setup(include_connectivity_tests=True, include_governance_tests=True)
    print_validation_result(result)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "✅ GenOps W&B Setup Validation"
    assert lines[1] == "Overall Status: PASSED"
    summary = result.summary
    assert lines[2].startswith(
        f"📊 Summary: ✅ Passed: {summary['passed']}, ⚠️ Warnings: 0, ❌ Failed: 0"
    )
    assert lines[3] == ""
    assert lines[4:] == [f"✅ {category}" for category in CATEGORIES]


def test_detailed_print_lists_each_check_with_fixes_for_problems(capsys):
    result = ValidationResult(
        (
            Check("configuration", CATEGORIES[0], "passed", "all parse"),
            Check("credentials", CATEGORIES[0], "failed", "no key", "export WANDB_API_KEY"),
            Check("W&B API", CATEGORIES[1], "skipped", "offline"),
            Check("processor reachable", CATEGORIES[2], "warning", "slow", "look"),
            Check("price catalog", CATEGORIES[3], "passed", "11 SKUs"),
            Check("entry points", CATEGORIES[4], "passed", "installed", "unused fix"),
        )
    )
    print_validation_result(result, detailed=True)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "❌ GenOps W&B Setup Validation"
    assert lines[1] == "Overall Status: FAILED"
    assert lines[2] == ("📊 Summary: ✅ Passed: 3, ⚠️ Warnings: 1, ❌ Failed: 1, ⏭️ Skipped: 1")
    assert "❌ Environment Configuration" in lines
    assert "⏭️ W&B API Connectivity" in lines
    assert "⚠️ GenOps Governance Setup" in lines
    assert "   ✅ configuration: all parse" in lines
    assert "   ❌ credentials: no key" in lines
    assert "      fix: export WANDB_API_KEY" in lines
    assert "      fix: look" in lines
    assert "unused fix" not in out  # fixes only for warnings and failures
    print_validation_result(result)
    assert "credentials" not in capsys.readouterr().out
