"""genops.monitoring against a real processor: rules registered by a client, evaluated
by the processor on the runs it receives, delivered to local webhooks; escalation
and acknowledgement; health checks, scheduled jobs and reports; a processor that
is away at registration. Runs are sent as OTLP run spans (one T4 at $36/h in the
round catalog, so hours give dollars), ending now."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import subprocess
import threading
import time

import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from tests.e2e.test_alerts import wait_for
from tests.e2e.test_analytics import MIDDAY_ZONE, NOW, run_span, send
from tests.helpers import BIN, adapter_env, last_json_line, run_python, token_of


class Inbox(http.server.BaseHTTPRequestHandler):
    """A local webhook: every POST body, by path."""

    received: dict[str, list[dict]] = {}

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Inbox.received.setdefault(self.path.strip("/"), []).append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Names:
    """``inbox(path)``: the policy channel named ``path`` (rules and notifications may
    only name the policy's channels); ``inbox.address(path)``: where it delivers."""

    def __init__(self, port: int) -> None:
        self.port = port

    def __call__(self, path: str) -> str:
        return path

    def address(self, path: str) -> str:
        return f"webhook+http://127.0.0.1:{self.port}/{path}"

    def channels(self) -> str:
        paths = ("ops", "perf", "cost", "health", "reports", "lead", "director")
        return "channels:\n" + "".join(f'  {p}: "{self.address(p)}"\n' for p in paths)


@pytest.fixture
def inbox():
    Inbox.received = {}
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Inbox)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    yield Names(web.server_address[1])
    web.shutdown()


@pytest.fixture
def processor(start_processor_with, tmp_path, inbox):
    """The test processor, its policy naming the inbox's channels; its day (the
    client's daily limit, daily_cost rules) is one in which now is midday, so that runs
    that ended a second ago count whole at any UTC time."""
    policy = tmp_path / "channels.yaml"
    policy.write_text(f"timezone: {MIDDAY_ZONE}\n" + inbox.channels())
    return start_processor_with("--policy", str(policy))


def got(path: str) -> list[dict]:
    return Inbox.received.get(path, [])


def recent(hours: float, **kwargs):
    """A run span that ended a second ago."""
    ago = (dt.datetime.now(dt.timezone.utc) - NOW).total_seconds() + 1
    return run_span(days_ago=-ago / 86_400, hours=hours, **kwargs)


def client_script(body: str, limit: float = 100.0) -> str:
    return f"""
import json
from genops.providers.wandb import instrument_wandb
from genops.monitoring import AlertManager, ProductionMonitor
adapter = instrument_wandb(team="vision", project="analytics", daily_budget_limit={limit},
                           governance_policy="advisory")
{body}
adapter.cleanup()
"""


def register(processor, tmp_path, body: str, limit: float = 100.0, as_: str = "trainer"):
    """Run the client script as a test principal (the training client by default: it
    registers its team's rules and notifies the policy's channels)."""
    env = adapter_env(processor.endpoint, tmp_path, GENOPS_TOKEN=token_of(as_))
    result = run_python(client_script(body, limit), tmp_path / "client", env)
    assert result.returncode == 0, result.stderr
    return result


def genops_alerts(processor, *args: str):
    result = subprocess.run(
        [str(BIN / "genops"), "alerts", *args, "--endpoint", processor.endpoint],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cost_alert_fires_once_per_period(processor, tmp_path, inbox):
    # (a channel the policy does not define is refused: tests/e2e/test_notify_channels.py)
    result = register(
        processor,
        tmp_path,
        f"""
rule = AlertManager(adapter).add_cost_alert(
    threshold_percentage=80, notification_channels=["{inbox("ops")}"])
print(json.dumps({{"id": rule.rule_id, "unresolved": list(rule.unresolved)}}))
""",
        limit=36.0,
    )
    rule = last_json_line(result.stdout)
    assert rule["id"] and rule["unresolved"] == []

    send(processor, [recent(0.5)])  # $18 of $36: 50 %, below the threshold
    send(processor, [recent(0.4)])  # $32.40: 90 %
    assert wait_for(lambda: len(got("ops")) == 1)
    send(processor, [recent(0.2)])  # $39.60: still this period's alert
    alert = got("ops")[0]
    assert alert["budget"] == "client:vision/analytics"
    assert alert["percent"] == 90.0 and alert["limit_usd"] == 36.0
    assert "GenOps cost alert" in alert["subject"]

    alerts = json.loads(genops_alerts(processor, "list", "--json"))
    assert [a["rule_id"] for a in alerts] == [rule["id"]]  # one alert, not two
    deliveries = {d["channel"]: d for d in alerts[0]["deliveries"]}
    assert deliveries[inbox("ops")]["status"] == "delivered"
    assert "spend >= 80% of the limit" in genops_alerts(processor, "rules")
    shown = genops_alerts(processor, "list")  # a table: the alert and its delivery
    assert "GenOps cost alert" in shown and "delivered after 1 attempt" in shown, shown


def test_performance_and_metric_alerts_fire_once_per_window(processor, tmp_path, inbox):
    register(
        processor,
        tmp_path,
        f"""
AlertManager(adapter).add_performance_alert(
    metric="experiment_failure_rate", threshold=5.0, time_window_minutes=60,
    notification_channels=["{inbox("perf")}"])
ProductionMonitor(adapter).add_metric_alert(
    metric="daily_cost", threshold=10.0, alert_channel="{inbox("cost")}")
""",
    )
    send(processor, [recent(0.1)])  # $3.60, finished: 0 % failed, $3.60 today
    send(processor, [recent(0.2, status="failed")])  # 1 of 2 failed; $10.80 today
    assert wait_for(lambda: len(got("perf")) == 1 and len(got("cost")) == 1)
    send(processor, [recent(0.1, status="failed")])  # same window, same day: nothing new
    alerts = json.loads(genops_alerts(processor, "list", "--json"))
    assert len(alerts) == 2
    assert got("perf")[0]["metric"] == "experiment_failure_rate"
    assert got("perf")[0]["value"] == 50.0
    assert got("cost")[0]["value"] == pytest.approx(10.8)


def governance_processor(start_processor_with, tmp_path, inbox):
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""
channels:
  team_lead: "{inbox.address("lead")}"
  ml_director: "{inbox.address("director")}"
budgets:
  - {{name: tiny, scope: {{team: vision}}, daily_limit: "0.01", mode: enforced}}
""")
    return start_processor_with("--policy", str(policy), "--alert-interval", "0.2")


def exceed_budget(processor) -> None:
    with processor.channel("trainer") as channel:
        response = pb_grpc.GovernanceServiceStub(channel).CheckBudget(
            pb.CheckBudgetRequest(
                scope=pb.Scope(team="vision", project="analytics"), requested_micros=1_000_000
            ),
            timeout=10,
        )
    assert response.decision == pb.DECISION_DENY


GOVERNANCE_RULE = """
AlertManager(adapter).add_governance_alert(
    violation_types=["budget_exceeded", "policy_violation"], severity="HIGH",
    escalation_chain=["team_lead", "ml_director"], escalate_after_minutes={minutes})
"""


def test_governance_alert_climbs_the_escalation_chain(start_processor_with, tmp_path, inbox):
    processor = governance_processor(start_processor_with, tmp_path, inbox)
    register(processor, tmp_path, GOVERNANCE_RULE.format(minutes=0.01))  # 0.6 s to acknowledge
    exceed_budget(processor)
    send(processor, [recent(0.01, gpu="B300")])  # a GPU no catalog prices: a violation
    assert wait_for(lambda: len(got("lead")) == 2)
    kinds = sorted(a["violation_type"] for a in got("lead"))
    assert kinds == ["budget_exceeded", "policy_violation"]
    assert all(a["subject"].startswith("[HIGH] GenOps governance") for a in got("lead"))
    assert wait_for(lambda: len(got("director")) == 2)  # nobody acknowledged
    assert all("escalated to ml_director" in a["subject"] for a in got("director"))
    alerts = json.loads(genops_alerts(processor, "list", "--json"))
    assert {a["escalation_level"] for a in alerts} == {1}


def test_an_acknowledged_alert_does_not_escalate(start_processor_with, tmp_path, inbox):
    processor = governance_processor(start_processor_with, tmp_path, inbox)
    register(processor, tmp_path, GOVERNANCE_RULE.format(minutes=0.05))  # 3 s to acknowledge
    exceed_budget(processor)
    assert wait_for(lambda: len(got("lead")) == 1)
    alert_id = got("lead")[0]["alert_id"]
    assert f"alert {alert_id} acknowledged" in genops_alerts(processor, "ack", alert_id)
    time.sleep(4)  # past the escalation time, several evaluations later
    assert got("director") == []
    (alert,) = json.loads(genops_alerts(processor, "list", "--json"))
    assert alert["escalation_level"] == 0 and alert["acknowledged_by"]
    again = subprocess.run(
        [str(BIN / "genops"), "alerts", "ack", alert_id, "--endpoint", processor.endpoint],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "no unacknowledged alert" in again.stderr


def test_health_checks_scheduled_jobs_and_reports(processor, tmp_path, inbox):
    result = register(
        processor,
        tmp_path,
        f"""
import time
manager = AlertManager(adapter)
statuses = iter(["degraded", "degraded", "healthy"])

@manager.health_check(interval_minutes=60, notification_channels=["{inbox("health")}"])
def check_system_health():
    metrics = adapter.get_metrics()
    return {{"status": next(statuses), "daily_usage": metrics["daily_usage"]}}

@manager.health_check(interval_minutes=60, notification_channels=["{inbox("health")}"])
def broken_check():
    raise RuntimeError("disk probe failed")

for _ in range(3):
    manager.run_health_checks()

monitor = ProductionMonitor(adapter)
calls = []

@monitor.schedule(interval=0.2)
def every_fifth_of_a_second():
    calls.append(time.monotonic())
    raise ValueError("a scheduled job's error is logged, never raised")

deadline = time.monotonic() + 20
while len(calls) < 2 and time.monotonic() < deadline:
    time.sleep(0.05)
report_id = monitor.send_report({{"title": "daily report", "runs": 3}},
                                channels=["{inbox("reports")}"])
print(json.dumps({{"status": manager.health_status(), "calls": len(calls), "id": report_id}}))
""",
    )
    out = last_json_line(result.stdout)
    assert out["calls"] >= 2 and out["id"]
    assert out["status"]["check_system_health"]["status"] == "healthy"
    assert out["status"]["broken_check"]["status"] == "error"
    assert "a scheduled job's error is logged" in result.stderr
    # degraded (changed), degraded (same: quiet), healthy (recovered); the broken one once
    assert wait_for(lambda: len(got("health")) == 3 and len(got("reports")) == 1)
    subjects = sorted(h["subject"] for h in got("health"))
    assert subjects == [
        "GenOps health check 'broken_check': error",
        "GenOps health check 'check_system_health': degraded",
        "GenOps health check 'check_system_health': healthy",
    ]
    report = got("reports")[0]
    assert report["subject"] == "daily report"
    assert report["body"] == {"title": "daily report", "runs": 3}
    assert report["alert_id"] == out["id"]


def test_rules_wait_for_a_processor_that_is_away(start_processor_with, tmp_path, unused_port):
    endpoint = f"127.0.0.1:{unused_port}"
    script = """
import json, subprocess, sys, time
from genops.providers.wandb import instrument_wandb
from genops.monitoring import AlertManager
adapter = instrument_wandb(team="vision", project="analytics", retry_attempts=0)
manager = AlertManager(adapter)
rule = manager.add_cost_alert(threshold_percentage=50, notification_channels=["log://"])
print(json.dumps({"pending": rule.pending}), flush=True)
sys.stdin.readline()  # the test starts the processor
deadline = time.monotonic() + 30
while (left := manager.flush()) and time.monotonic() < deadline:
    time.sleep(0.2)  # the channel reconnects with a backoff
print(json.dumps({"left": left, "id": manager.rules[0].rule_id}), flush=True)
"""
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "client.py").write_text(script)
    client = subprocess.Popen(
        [str(BIN / "python"), "client.py"],
        cwd=tmp_path / "job",
        env=adapter_env(endpoint, tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert json.loads(client.stdout.readline()) == {"pending": True}
    processor = start_processor_with("--listen", endpoint)
    client.stdin.write("go\n")
    client.stdin.flush()
    after = json.loads(client.stdout.readline())
    assert client.wait(timeout=60) == 0
    assert after["left"] == 0 and after["id"]
    assert "monitoring waits for the processor" in client.stderr.read()
    rules = json.loads(genops_alerts(processor, "rules", "--json"))
    assert [r["rule_id"] for r in rules] == [after["id"]]
    assert rules[0]["scope"] == {"team": "vision", "project": "analytics"}


def test_a_rule_the_processor_refuses_is_a_clear_error(processor, tmp_path, monkeypatch):
    """Client and processor validate alike; a refusal (version skew, say) still reads well.
    The rule is sent through the manager's private path to get past the client's checks."""
    from genops.monitoring import AlertManager, MonitoringError
    from genops.providers.wandb import GenOpsWandbAdapter

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENOPS_ENDPOINT", processor.endpoint)
    adapter = GenOpsWandbAdapter(team="vision", project="analytics", retry_attempts=0)
    manager = AlertManager(adapter)
    with pytest.raises(MonitoringError, match=r"refused add_alert_rule: kind 'bogus' is not one"):
        manager._register(pb.AlertRule(kind="bogus", channels=["log://"]))
    assert manager.rules == []
    assert manager.add_cost_alert(50, ["log://"]).rule_id  # the link still works
    adapter.cleanup()


def test_what_never_reached_the_processor_is_reported_at_exit(tmp_path, unused_port):
    result = run_python(
        """
from genops.providers.wandb import instrument_wandb
from genops.monitoring import AlertManager
adapter = instrument_wandb(team="vision", project="analytics", retry_attempts=0)
manager = AlertManager(adapter)
rule = manager.add_cost_alert(80, ["log://"])
print(rule.pending, rule.rule_id == "", manager.flush())
""",
        tmp_path / "job",
        adapter_env(f"127.0.0.1:{unused_port}", tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "1"]  # waiting, in order
    assert "1 monitoring request(s) not sent: the processor is unreachable" in result.stderr
