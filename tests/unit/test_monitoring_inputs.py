"""Bad input to genops.monitoring and to the processor's rules: a clear error naming
the argument, before anything is registered. No processor is needed for these: a
call that got past validation would only wait for one (nothing listens here)."""

from __future__ import annotations

import pytest

from genops.monitoring import (
    AlertManager,
    MonitoringError,
    ProductionMonitor,
    parse_interval,
)
from genops_processor.alerts import Rule, RuleError
from genops_processor.budgets import Policy, PolicyError


@pytest.fixture
def adapter(tmp_path, monkeypatch, unused_port):
    from genops.providers.wandb import GenOpsWandbAdapter

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENOPS_ENDPOINT", f"127.0.0.1:{unused_port}")
    adapter = GenOpsWandbAdapter(team="t", project="p", retry_attempts=0)
    yield adapter
    adapter.cleanup()


@pytest.mark.parametrize(
    "value, seconds",
    [
        (30, 30.0),
        (0.5, 0.5),
        ("daily", 86_400.0),
        ("Hourly", 3_600.0),
        ("15m", 900.0),
        ("2h", 7_200.0),
        ("1.5d", 129_600.0),
        ("45s", 45.0),
    ],
)
def test_intervals(value, seconds):
    assert parse_interval(value) == seconds


@pytest.mark.parametrize("value", ["fortnightly", "15x", "", 0, -1, True, None])
def test_bad_intervals_name_the_argument(value):
    with pytest.raises(MonitoringError, match=r"^interval="):
        parse_interval(value)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m.add_cost_alert(0, ["log://"]), r"threshold_percentage=0: must be in"),
        (lambda m: m.add_cost_alert(1001, ["log://"]), r"threshold_percentage=1001"),
        (lambda m: m.add_cost_alert("80", ["log://"]), r"threshold_percentage='80': expected a"),
        (lambda m: m.add_cost_alert(80, []), r"notification_channels: at least one"),
        (lambda m: m.add_cost_alert(80, [""]), r"notification_channels: '' is not a channel"),
        (lambda m: m.add_performance_alert("latency", 5), r"metric='latency': expected one of"),
        (
            lambda m: m.add_performance_alert("experiment_failure_rate", 5, 0),
            r"time_window_minutes=0",
        ),
        (
            lambda m: m.add_governance_alert(["budget_exceded"]),
            r"violation_types=\['budget_exceded'\]: expected some of budget_exceeded",
        ),
        (
            lambda m: m.add_governance_alert(["budget_exceeded"], severity="urgent"),
            r"severity='urgent': expected one of LOW",
        ),
        (lambda m: m.health_check(interval_minutes=0), r"interval_minutes=0"),
    ],
)
def test_alert_manager_rejects_bad_input_by_name(adapter, call, message):
    manager = AlertManager(adapter)
    with pytest.raises(MonitoringError, match=message):
        call(manager)
    assert manager.rules == []  # nothing registered, nothing waiting


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m.add_metric_alert("daily_costs", 1, "log://"), r"metric='daily_costs'"),
        (lambda m: m.add_metric_alert("daily_cost", -1, "log://"), r"threshold=-1: must not"),
        (lambda m: m.add_metric_alert("daily_cost", 1, ""), r"alert_channel: '' is not"),
        (lambda m: m.schedule(interval="sometimes"), r"interval='sometimes'"),
        (lambda m: m.send_report({}, channels=[]), r"channels: at least one"),
    ],
)
def test_production_monitor_rejects_bad_input_by_name(adapter, call, message):
    with pytest.raises(MonitoringError, match=message):
        call(ProductionMonitor(adapter))


def test_a_manager_needs_an_adapter():
    with pytest.raises(MonitoringError, match="monitoring needs an adapter"):
        AlertManager(object())


@pytest.mark.parametrize(
    "rule, message",
    [
        (Rule(kind="budget", channels=("log://",)), r"kind 'budget' is not one of"),
        (Rule(kind="cost", threshold=0, channels=("log://",)), r"threshold_percentage 0"),
        (Rule(kind="metric", metric="x", channels=("log://",)), r"metric 'x' is not one of"),
        (Rule(kind="governance", channels=("log://",)), r"violation_types \[\]: expected"),
        (
            Rule(
                kind="governance",
                violation_types=("budget_exceeded",),
                severity="x",
                channels=("log://",),
            ),
            r"severity 'x'",
        ),
        (Rule(kind="cost", threshold=80), r"at least one channel"),
        (
            Rule(kind="metric", metric="daily_cost", window_minutes=0, channels=("log://",)),
            r"time_window_minutes 0",
        ),
    ],
)
def test_the_processor_validates_rules_too(rule, message):
    with pytest.raises(RuleError, match=message):
        rule.validated()


def test_rules_round_trip_through_json():
    rule = Rule(
        kind="governance",
        violation_types=("budget_exceeded",),
        severity="HIGH",
        escalation_chain=("team_lead",),
        channels=("log://",),
    ).validated()
    assert Rule.from_json(rule.to_json()) == rule


def test_policy_channel_names_must_map_to_addresses():
    policy = Policy.from_dict({"channels": {"slack://alerts": "slack+https://hooks.test/x"}})
    assert policy.channel("slack://alerts").address == "slack+https://hooks.test/x"
    assert policy.channel("slack://alerts").shown == "slack+https://hooks.test/***"
    with pytest.raises(PolicyError, match=r"channels\.team_lead: 'lead@x' is not a channel"):
        Policy.from_dict({"channels": {"team_lead": "lead@x"}})
    with pytest.raises(PolicyError, match="channels: expected a mapping"):
        Policy.from_dict({"channels": ["log://"]})
