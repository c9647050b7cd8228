"""Holds cannot starve a budget: one reservation holds at most the budget's ``max_hold``,
a principal's open holds are capped, and an admin lists and releases any hold (the
ListHolds RPC and ``genops holds list|release``). A real processor with a credentials
file; the open-holds cap is exercised on Governance directly (a real DuckDB file), since
its default (1,000) is too many to open in a test."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import grpc
import pytest
import yaml

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor import storage
from genops_processor.auth import credentials
from genops_processor.budgets import ClientLimits, Policy
from genops_processor.domain import Scope
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.record import audit_events
from genops_processor.service import Governance
from tests.helpers import BIN, ROUND_CATALOG, start_processor

USD = 1_000_000
POLICY = """
budgets:
  - {name: lab-daily, scope: {team: lab}, daily_limit: "100", max_hold: "30", mode: enforced}
  - {name: lab-weekly, scope: {team: lab}, period: weekly, limit: "1000", mode: enforced}
"""


@pytest.fixture
def lab(tmp_path):
    cred = tmp_path / "credentials.yaml"
    tokens = {
        "admin": credentials.create(cred, "admin", "admin"),
        "greedy": credentials.create(cred, "greedy", "client", ["lab"]),
        "modest": credentials.create(cred, "modest", "client", ["lab"]),
    }
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    processor = start_processor(tmp_path, "--credentials", str(cred), "--policy", str(policy))
    try:
        yield processor, tokens
    finally:
        processor.stop()


def call(processor, token: str, name: str, request):
    with grpc.insecure_channel(processor.endpoint) as channel:
        stub = pb_grpc.GovernanceServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        return getattr(stub, name)(request, timeout=30, metadata=metadata)


def check(processor, token: str, usd: int) -> pb.CheckBudgetResponse:
    request = pb.CheckBudgetRequest(scope=pb.Scope(team="lab"), requested_micros=usd * USD)
    return call(processor, token, "CheckBudget", request)


def holds_cli(processor, token: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENOPS_")}
    env["GENOPS_TOKEN"] = token
    return subprocess.run(
        [str(BIN / "genops"), "holds", *args, "--endpoint", processor.endpoint],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_whole_budget_grab_is_capped_and_a_colleague_still_runs(lab):
    processor, tokens = lab
    grab = check(processor, tokens["greedy"], 100)
    assert grab.decision == pb.DECISION_ALLOW
    assert "reservation capped at $30.00 (max_hold of budget 'lab-daily'" in grab.message
    renewed = call(
        processor, tokens["greedy"], "RenewHold", pb.RenewHoldRequest(hold_id=grab.hold_id)
    )
    assert renewed.open and renewed.amount_micros == 30 * USD

    colleague = check(processor, tokens["modest"], 50)
    assert colleague.decision == pb.DECISION_ALLOW, colleague.message
    [daily] = [b for b in colleague.budgets if b.name == "lab-daily"]
    assert daily.spent_micros == 30 * USD  # what the grab holds, not the 100 it asked


def test_the_tightest_max_hold_of_the_budgets_applies(lab):
    processor, tokens = lab
    # lab-weekly sets no max_hold (its whole $1,000 may be held); lab-daily's $30 applies
    grab = check(processor, tokens["greedy"], 100)
    listed = call(processor, tokens["admin"], "ListHolds", pb.ListHoldsRequest()).holds
    assert [(h.principal, h.amount_micros) for h in listed] == [("greedy", 30 * USD)]
    assert grab.hold_id == listed[0].hold_id


def test_admin_lists_and_releases_a_hold_with_the_cli(lab):
    processor, tokens = lab
    grab = check(processor, tokens["greedy"], 100)
    # a client may not list holds, nor release another client's
    listed = holds_cli(processor, tokens["modest"], "list")
    assert listed.returncode == 1
    assert "may not call ListHolds" in listed.stderr
    refused = holds_cli(processor, tokens["modest"], "release", grab.hold_id)
    assert refused.returncode == 1 and "may not use hold" in refused.stderr

    shown = holds_cli(processor, tokens["admin"], "list", "--json")
    assert shown.returncode == 0, shown.stderr
    [hold] = json.loads(shown.stdout)["holds"]
    assert hold["hold_id"] == grab.hold_id and hold["principal"] == "greedy"
    assert hold["scope"]["team"] == "lab" and hold["status"] == "open"
    text = holds_cli(processor, tokens["admin"], "list")
    assert grab.hold_id in text.stdout and "│ greedy" in text.stdout

    released = holds_cli(processor, tokens["admin"], "release", grab.hold_id)
    assert released.returncode == 0, released.stderr
    assert f"hold {grab.hold_id} released" in released.stdout
    again = holds_cli(processor, tokens["admin"], "release", grab.hold_id)
    assert again.returncode == 1 and "no open hold" in again.stderr
    assert "no open holds" in holds_cli(processor, tokens["admin"], "list").stdout

    # the whole budget is free again
    assert check(processor, tokens["modest"], 30).decision == pb.DECISION_ALLOW
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        released_events = db.call(lambda conn: audit_events(conn, "hold.released"))
        refusals = db.call(lambda conn: audit_events(conn, "access.refused"))
    assert [(e["actor"], e["detail"]["principal"]) for e in released_events] == [
        ("admin", "greedy")
    ]
    assert sorted(e["actor"] for e in refusals) == ["modest", "modest"]


def test_a_principal_past_its_open_holds_cap_is_denied_and_told_why(tmp_path):
    db = storage.Storage(tmp_path / "ledger.duckdb").open()
    try:
        governance = Governance(
            db, CatalogSource(Catalog.load(ROUND_CATALOG)), Policy.from_dict(yaml.safe_load(POLICY))
        )

        def ask(principal: str):
            return asyncio.run(
                governance.check_budget(
                    Scope(team="lab"), USD, ClientLimits(), principal=principal, max_open_holds=2
                )
            )

        first, second = ask("greedy"), ask("greedy")
        assert first.hold_id and second.hold_id
        third = ask("greedy")
        assert third.decision.outcome == "deny" and not third.hold_id
        assert third.decision.message == (
            "principal 'greedy' has 2 open holds, at most 2 per principal "
            "(MAX_OPEN_HOLDS_PER_PRINCIPAL): release or finish some first"
        )
        assert ask("modest").hold_id  # the cap is per principal
        asyncio.run(governance.release_hold(first.hold_id))
        assert ask("greedy").hold_id
    finally:
        governance.close()
        db.close()
