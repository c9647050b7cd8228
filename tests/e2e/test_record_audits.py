"""What the record says about alerts and exports: a monitoring rule's alert, its
escalation and every delivery attempt are audit events; a notification is one, its actor
the authenticated principal (not the sender a client names); ``genops audit export --db``
records the export in the ledger it read, and an export that wrote nothing records
nothing. Real processor, local webhooks, real DuckDB."""

from __future__ import annotations

import json
import subprocess

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from genops_processor.record.audit_log import audit_events
from tests.e2e.test_alerts import wait_for
from tests.e2e.test_monitoring import (
    GOVERNANCE_RULE,
    exceed_budget,
    got,
    governance_processor,
    inbox,  # noqa: F401 - a fixture
    recent,
    register,
    send,
)
from tests.helpers import BIN


def _events(db, kind: str) -> list[dict]:
    with storage.Storage(db, read_only=True) as ledger:
        return ledger.call(lambda conn: audit_events(conn, kind))


def test_a_rules_alert_its_escalation_and_its_deliveries_are_audited(
    start_processor_with,
    tmp_path,
    inbox,  # noqa: F811
):
    processor = governance_processor(start_processor_with, tmp_path, inbox)
    register(processor, tmp_path, GOVERNANCE_RULE.format(minutes=0.01))
    exceed_budget(processor)
    assert wait_for(lambda: len(got("lead")) == 1 and len(got("director")) == 1)
    # A client names a sender; the record names who authenticated.
    processor.stub("trainer").Notify(
        pb.NotifyRequest(channels=["team_lead"], subject="weekly", sender="mallory-claims"),
        timeout=10,
    )
    assert wait_for(lambda: len(got("lead")) == 2)
    assert processor.stop() == 0
    [fired] = _events(processor.db, "alert.fired")
    assert fired["detail"]["rule_kind"] == "governance" and fired["team"] == "vision"
    assert fired["detail"]["channels"] == ["team_lead"]
    [escalated] = _events(processor.db, "alert.escalated")
    assert escalated["detail"]["alert_id"] == fired["detail"]["alert_id"]
    assert escalated["detail"]["contact"] == "ml_director"
    deliveries = _events(processor.db, "alert.delivery")
    delivered = {(d["detail"]["alert_id"], d["detail"]["channel"]) for d in deliveries}
    assert (fired["detail"]["alert_id"], "team_lead") in delivered
    assert (fired["detail"]["alert_id"], "ml_director") in delivered
    assert all(d["detail"]["status"] == "delivered" for d in deliveries)
    [sent] = _events(processor.db, "notification.sent")
    assert sent["actor"] == "trainer" and sent["detail"]["sender"] == "mallory-claims"


def _export(db, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "genops"), "audit", "export", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_export_from_a_ledger_file_is_recorded_in_it(start_processor_with, tmp_path):
    processor = start_processor_with()
    send(processor, [recent(0.1)])
    assert processor.stop() == 0
    before = len(_events(processor.db, None))
    out = tmp_path / "audit.csv"
    result = _export(processor.db, "--format", "csv", "-o", str(out))
    assert result.returncode == 0, result.stderr
    [event] = _events(processor.db, "audit.exported")
    assert event["seq"] == before + 1  # after the range it exported
    assert event["detail"]["events"] == before and event["detail"]["output"] == str(out)
    assert json.loads(event["reported"])["pid"] > 0  # who ran it, as reported
    # The export's own file ends before its event, and verifies alone.
    verify = subprocess.run(
        [str(BIN / "genops"), "audit", "verify", "--file", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stderr


def test_an_export_that_writes_nothing_records_nothing(start_processor_with, tmp_path):
    processor = start_processor_with()
    assert processor.stop() == 0
    result = _export(processor.db, "--format", "json", "-o", str(tmp_path / "no" / "such.json"))
    assert result.returncode == 1 and "genops audit export:" in result.stderr
    assert _events(processor.db, "audit.exported") == []
