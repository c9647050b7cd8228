"""Customer usage for a billing month: ``adapter.generate_customer_usage_report`` (the
guide's call, in a real interpreter) and ``genops report customers --period --csv``, from
a running processor and from the ledger file; a client sees only its own scope.

Runs are built by hand (tests/synthetic_spans.py) so that they fall in chosen months."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import time

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.auth import credentials
from tests.helpers import BIN, adapter_env, last_json_line, run_python, token_of
from tests.synthetic_spans import export, run_span


def at(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 10**9)


NOV = at("2026-11-15T12:00:00+00:00")

REPORT = r"""
import json, sys
from genops.providers.wandb import instrument_wandb
adapter = instrument_wandb(team="ml-team", project="churn", customer_id="acme")
try:
    usage_report = adapter.generate_customer_usage_report(
        customer_id=sys.argv[1] if len(sys.argv) > 1 else "acme", billing_period="2026-11"
    )
    print(f"Customer usage: {usage_report['total_experiments']} experiments")
    print(f"Customer cost: ${usage_report['total_cost']:.2f}")
    print(json.dumps(usage_report))
except Exception as error:
    print(json.dumps({"error": type(error).__name__, "message": str(error)}))
"""


@pytest.fixture
def ledger(processor):
    """acme: 3 runs in November 2026 (two in one experiment, one on its own; two projects),
    one in October, one now; globex: one in November; acme in November for a team the
    test clients do not act for ("outsiders", sent by the admin)."""
    trainer = token_of("trainer")
    export(
        processor.endpoint,
        trainer,
        [
            run_span("ml-team", project="churn", customer="acme", as_of_ns=NOV, experiment_id="e1"),
            run_span("ml-team", project="churn", customer="acme", as_of_ns=NOV, experiment_id="e1"),
            run_span("ml-team", project="vision", customer="acme", as_of_ns=NOV, hours=2),
            run_span("ml-team", customer="acme", as_of_ns=at("2026-10-31T23:00:00+00:00")),
            run_span("ml-team", customer="acme"),
            run_span("nlp", customer="globex", as_of_ns=NOV, hours=3),
        ],
    )
    export(
        processor.endpoint,
        token_of("admin"),
        [run_span("outsiders", project="secret", customer="acme", as_of_ns=NOV, hours=5)],
    )
    runs = {
        (r.scope.team, r.scope.project, r.scope.customer_id, r.ended_at[:7]): r
        for r in processor.runs()
    }
    return processor, runs


def cost_of(processor, *, team=None, customer=None, month="2026-11") -> int:
    return sum(
        r.cost_micros
        for r in processor.runs()
        if r.ended_at.startswith(month)
        and (team is None or r.scope.team in team)
        and (customer is None or r.scope.customer_id == customer)
    )


def genops(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if token:
        env["GENOPS_TOKEN"] = token
    return subprocess.run(
        [str(BIN / "genops"), *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_the_guides_customer_report_counts_the_clients_own_runs_of_the_month(ledger, tmp_path):
    processor, _ = ledger
    result = run_python(REPORT, tmp_path / "job", adapter_env(processor.endpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    report = last_json_line(result.stdout)
    assert "Customer usage: 2 experiments" in result.stdout  # e1, and the run on its own
    assert report["total_runs"] == 3
    expected = cost_of(processor, team={"ml-team"}, customer="acme")
    assert expected > 0 and report["total_cost_micros"] == expected
    assert report["total_cost"] == pytest.approx(expected / 1e6)
    assert set(report["cost_by_project"]) == {"churn", "vision"}
    assert sum(report["cost_by_project"].values()) == pytest.approx(expected / 1e6)
    assert report["cost_by_team"] == {"ml-team": pytest.approx(expected / 1e6)}
    assert report["cost_by_category"]["compute"] == pytest.approx(expected / 1e6)
    assert (report["period_start"], report["period_end"])[0].startswith("2026-11-01")


def test_report_customers_csv_from_the_processor_and_from_the_file(ledger):
    processor, _ = ledger
    live = genops(
        "report", "customers", "--period", "2026-11", "--csv", "--endpoint", processor.endpoint
    )
    assert live.returncode == 0, live.stderr
    rows = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(live.stdout))}
    assert set(rows) == {"acme", "globex"}
    acme = rows["acme"]
    assert int(acme["cost_micros"]) == cost_of(processor, customer="acme")  # admin: every team
    assert acme["runs"] == "4" and json.loads(acme["by_team"]).keys() == {"ml-team", "outsiders"}
    assert int(rows["globex"]["cost_micros"]) == cost_of(processor, customer="globex")
    assert processor.stop() == 0
    offline = genops(
        "report", "customers", "--period", "2026-11", "--csv", "--db", str(processor.db)
    )
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout == live.stdout
    table = genops("report", "customers", "--period", "2026-11", "--db", str(processor.db))
    assert table.returncode == 0 and "acme" in table.stdout and "globex" in table.stdout


def test_a_client_sees_only_its_teams_and_its_customers(ledger, tmp_path):
    processor, _ = ledger
    # the trainer (a client of the test teams, any customer) asking for acme: the
    # outsiders' acme run is not counted
    stub = processor.stub("trainer")
    answer = stub.GetCustomerUsage(
        pb.CustomerUsageRequest(customer_id="acme", billing_period="2026-11"), timeout=30
    )
    [acme] = answer.customers
    assert acme.runs == 3 and "outsiders" not in acme.by_team_micros
    assert acme.cost_micros == cost_of(processor, team={"ml-team"}, customer="acme")
    # a client bound to customer acme asking for globex: refused, and audited
    token = credentials.create(
        processor.credentials, "acme-client", "client", ["ml-team", "nlp"], customers=["acme"]
    )
    deadline = time.monotonic() + 30
    while True:  # the processor reloads its credentials file by itself
        try:
            processor_stub = pb_grpc_stub(processor.endpoint, token)
            processor_stub.GetBackupStatus(pb.GetBackupStatusRequest(), timeout=10)
            break
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert time.monotonic() < deadline, "new principal never accepted"
            time.sleep(0.2)
    result = run_python(
        REPORT.replace('sys.argv[1] if len(sys.argv) > 1 else "acme"', '"globex"'),
        tmp_path / "job",
        adapter_env(processor.endpoint, tmp_path, GENOPS_TOKEN=token),
    )
    refused = last_json_line(result.stdout)
    assert refused["error"] == "GovernanceRefused", refused
    assert "PERMISSION_DENIED" in refused["message"] and "customer 'globex'" in refused["message"]
    # asking for every customer, it gets only acme (nlp's globex run is left out)
    everyone = processor_stub.GetCustomerUsage(
        pb.CustomerUsageRequest(billing_period="2026-11"), timeout=30
    )
    assert [c.customer_id for c in everyone.customers] == ["acme"]
    cli = genops(
        "report",
        "customers",
        "--period",
        "2026-11",
        "--customer",
        "globex",
        "--endpoint",
        processor.endpoint,
        token=token,
    )
    assert cli.returncode == 1 and "PERMISSION_DENIED" in cli.stderr


@pytest.mark.parametrize("period", ["2026-13", "26-11", "2026-11-01", "", "1900-01"])
def test_a_billing_period_must_be_a_month(processor, period):
    with pytest.raises(grpc.RpcError) as refused:
        processor.stub().GetCustomerUsage(
            pb.CustomerUsageRequest(billing_period=period), timeout=30
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "billing_period" in refused.value.details()


def pb_grpc_stub(endpoint: str, token: str):
    from genops.governance.v1 import governance_pb2_grpc as pb_grpc
    from genops.transport import ChannelSecurity, open_channel

    channel = open_channel(endpoint, False, ChannelSecurity(token=token, token_source="test"))
    return pb_grpc.GovernanceServiceStub(channel)
