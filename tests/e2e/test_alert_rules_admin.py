"""Alert rules can be listed and deleted (audited), are capped per team with a clear
refusal, and a deleted rule fires no more. Real processor, real gRPC and CLI."""

from __future__ import annotations

import json
import subprocess

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import limits, storage
from genops_processor.record import audit_events
from tests.e2e.test_alerts import wait_for
from tests.e2e.test_analytics import MIDDAY_ZONE, run_span, send
from tests.helpers import BIN


def cost_rule(team: str, threshold: float = 80.0) -> pb.AlertRule:
    return pb.AlertRule(
        kind="cost", scope=pb.Scope(team=team), threshold=threshold, channels=["log://"]
    )


def genops_alerts(processor, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "genops"), "alerts", *args, "--endpoint", processor.endpoint],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_rule_is_listed_then_deleted_and_the_deletion_audited(processor):
    stub = processor.stub()
    kept = stub.AddAlertRule(cost_rule("vision", 50), timeout=10).rule_id
    gone = stub.AddAlertRule(cost_rule("vision", 90), timeout=10).rule_id
    listed = json.loads(genops_alerts(processor, "rules", "--json").stdout)
    assert [r["rule_id"] for r in listed] == [kept, gone]

    deleted = genops_alerts(processor, "delete-rule", gone, "--actor", "ops-lead")
    assert deleted.returncode == 0, deleted.stderr
    assert f"alert rule {gone} deleted" in deleted.stdout
    listed = json.loads(genops_alerts(processor, "rules", "--json").stdout)
    assert [r["rule_id"] for r in listed] == [kept]

    again = genops_alerts(processor, "delete-rule", gone)
    assert again.returncode == 1
    assert again.stderr.strip() == f"genops alerts: rule_id '{gone}': no such alert rule"
    assert "Traceback" not in again.stderr

    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        events = db.call(lambda c: audit_events(c, "alert_rule.deleted"))
        rules = db.call(lambda c: c.execute("SELECT rule_id FROM alert_rules").fetchall())
    # the actor is who authenticated (the CLI's admin token); --actor is only reported
    assert [(e["actor"], e["detail"]["rule_id"]) for e in events] == [("admin", gone)]
    assert "ops-lead" in json.dumps(events[0]["detail"])
    assert events[0]["detail"]["team"] == "vision"
    assert rules == [(kept,)]


def test_rules_past_the_team_cap_are_refused_until_one_is_deleted(processor):
    stub = processor.stub()
    ids = [
        stub.AddAlertRule(cost_rule("vision", 1 + i % 99), timeout=10).rule_id
        for i in range(limits.MAX_ALERT_RULES_PER_TEAM)
    ]
    with pytest.raises(grpc.RpcError) as refused:
        stub.AddAlertRule(cost_rule("vision"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"at most {limits.MAX_ALERT_RULES_PER_TEAM}" in refused.value.details()
    assert "delete-rule" in refused.value.details()
    assert stub.AddAlertRule(cost_rule("nlp"), timeout=10).rule_id  # another team: room
    stub.DeleteAlertRule(pb.DeleteAlertRuleRequest(rule_id=ids[0], actor="t"), timeout=10)
    assert stub.AddAlertRule(cost_rule("vision"), timeout=10).rule_id  # room again
    rules = stub.ListAlertRules(pb.ListAlertRulesRequest(), timeout=10).rules
    assert len(rules) == limits.MAX_ALERT_RULES_PER_TEAM + 1


def test_a_rule_with_too_many_channels_is_refused_naming_the_field(processor):
    stub = processor.stub()
    rule = cost_rule("vision")
    rule.channels[:] = ["log://"] * (limits.MAX_RULE_CHANNELS + 1)
    with pytest.raises(grpc.RpcError) as refused:
        stub.AddAlertRule(rule, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("channels:")


def test_deleting_nothing_is_refused_naming_the_field(processor):
    stub = processor.stub()
    with pytest.raises(grpc.RpcError) as refused:
        stub.DeleteAlertRule(pb.DeleteAlertRuleRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rule_id" in refused.value.details()


def test_a_deleted_rule_fires_no_more(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        'budgets:\n  - {name: vision-daily, scope: {team: vision}, daily_limit: "36", '
        f"timezone: {MIDDAY_ZONE}}}\n"
    )
    processor = start_processor_with("--policy", str(policy))
    stub = processor.stub()
    kept = stub.AddAlertRule(cost_rule("vision", 50), timeout=10).rule_id
    gone = stub.AddAlertRule(cost_rule("vision", 40), timeout=10).rule_id
    stub.DeleteAlertRule(pb.DeleteAlertRuleRequest(rule_id=gone), timeout=10)
    send(processor, [run_span(days_ago=0.01, hours=0.6)])  # 60 % of the budget

    def fired() -> list[str]:
        listed = stub.ListAlerts(pb.ListAlertsRequest(limit=10), timeout=10)
        return [a["rule_id"] for a in json.loads(listed.alerts_json)]

    assert wait_for(lambda: fired() == [kept])  # both would have fired in one evaluation
