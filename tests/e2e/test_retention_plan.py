"""Retention: artifacts and runs past their retention (``retention_period_days`` in
governance metadata, a run's own retention, or the defaults given) are listed with a
clean-up plan by ``genops retention plan``; nothing changes without ``--apply`` (admin),
which is audited. Runs at chosen ages are built by hand (tests/synthetic_spans.py)."""

from __future__ import annotations

import json
import subprocess
import time

from genops_processor import storage
from tests.helpers import BIN, token_of
from tests.synthetic_spans import DAY_NS, artifact_span, export, run_span

TEAM = "ml-team"


def genops(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if token:
        env["GENOPS_TOKEN"] = token
    return subprocess.run(
        [str(BIN / "genops"), *args], capture_output=True, text=True, timeout=120, env=env
    )


def old_ledger(processor):
    """old-run (100 days, its own retention 30 d) with old-model (metadata: 30 d) and
    kept-model (metadata: 365 d); plain-run (100 days, no retention) with plain-model;
    fresh-run (now). Returns the spans of old-run, to send again later."""
    ago = time.time_ns() - 100 * DAY_NS
    old = [
        run_span(TEAM, run_id="old-run", as_of_ns=ago, retention_days=30),
        artifact_span(
            TEAM, "old-run", "old-model", logged_ns=ago, metadata={"retention_period_days": 30}
        ),
        artifact_span(
            TEAM, "old-run", "kept-model", logged_ns=ago, metadata={"retention_period_days": 365}
        ),
    ]
    export(
        processor.endpoint,
        token_of("trainer"),
        [
            *old,
            run_span(TEAM, run_id="plain-run", as_of_ns=ago),
            artifact_span(TEAM, "plain-run", "plain-model", logged_ns=ago),
            run_span(TEAM, run_id="fresh-run"),
        ],
    )
    return old


def plan(*args: str, token: str | None = None) -> dict:
    result = genops("retention", "plan", "--json", *args, token=token)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def facts(path):
    with storage.Storage(path, read_only=True) as db:
        return db.call(
            lambda c: {
                "spans": c.execute(
                    "SELECT run_key, count(*) FROM spans GROUP BY 1 ORDER BY 1"
                ).fetchall(),
                "cost": c.execute("SELECT SUM(cost_micros), count(*) FROM runs").fetchone(),
                "applied": c.execute(
                    "SELECT kind, item_key, audit_event_id FROM retention_applied ORDER BY 1, 2"
                ).fetchall(),
                "events": c.execute(
                    "SELECT event_id, actor, detail FROM audit_events "
                    "WHERE kind = 'retention.applied' ORDER BY event_id"
                ).fetchall(),
            }
        )


def test_the_plan_lists_what_is_past_retention_and_changes_nothing(processor):
    old_ledger(processor)
    endpoint = ("--endpoint", processor.endpoint)
    items = plan(*endpoint)["items"]
    assert {(i["kind"], i["name"], i["source"], i["retention_days"]) for i in items} == {
        ("artifact", "old-model", "governance_metadata", 30),
        ("run", "old-run", "run", 30),
    }
    artifact = next(i for i in items if i["kind"] == "artifact")
    assert "delete W&B artifact p/old-model" in artifact["action"]
    # defaults plan what has no retention of its own; kept-model (365 d) and the fresh run
    # stay out of every plan
    with_defaults = plan(*endpoint, "--artifact-days", "90", "--run-days", "60")["items"]
    assert {(i["kind"], i["name"], i["source"]) for i in with_defaults} == {
        ("artifact", "old-model", "governance_metadata"),
        ("artifact", "plain-model", "default"),
        ("run", "old-run", "run"),
        ("run", "plain-run", "default"),
    }
    text = genops("retention", "plan", *endpoint)
    assert "2 item(s) past retention" in text.stdout and "--apply" in text.stdout
    assert processor.stop() == 0
    after = facts(processor.db)
    assert after["applied"] == [] and after["events"] == []  # a plan changes nothing
    assert dict(after["spans"])["old-run"] == 3


def test_apply_is_admin_only_audited_and_keeps_money(processor):
    old = old_ledger(processor)
    endpoint = ("--endpoint", processor.endpoint)
    runs_before = {r.run_key: r.cost_micros for r in processor.runs()}
    # an auditor may read the plan, not carry it out; a client may not even read it
    refused = genops("retention", "plan", "--apply", *endpoint, token=token_of("auditor"))
    assert refused.returncode == 1 and "may not apply a retention plan" in refused.stderr
    assert len(plan(*endpoint, token=token_of("auditor"))["items"]) == 2
    client = genops("retention", "plan", *endpoint, token=token_of("trainer"))
    assert client.returncode == 1 and "PERMISSION_DENIED" in client.stderr

    applied = plan(*endpoint, "--apply")
    assert applied["applied"] == 2
    assert plan(*endpoint)["items"] == []  # applied items are not planned again
    assert plan(*endpoint, "--apply")["applied"] == 0
    # a span of the cleaned-up run sent again is still recognised: nothing changes
    export(processor.endpoint, token_of("trainer"), old)
    assert {r.run_key: r.cost_micros for r in processor.runs()} == runs_before
    assert processor.stop() == 0
    after = facts(processor.db)
    assert [
        (k, key.split("/")[0] if k == "artifact" else key) for k, key, _ in after["applied"]
    ] == [
        ("artifact", old[1].trace_id.hex()),
        ("run", "old-run"),
    ]
    assert "old-run" not in dict(after["spans"])  # raw content reduced to span ids
    assert after["cost"] == (sum(runs_before.values()), len(runs_before))  # money kept
    events = {event_id: (actor, json.loads(detail)) for event_id, actor, detail in after["events"]}
    assert {e for _, _, e in after["applied"]} == set(events)  # one audit event per item
    assert {actor for actor, _ in events.values()} == {"admin"}
    assert {d["name"] for _, d in events.values()} == {"old-model", "old-run"}


def test_the_plan_and_apply_on_a_stopped_ledger(processor):
    old_ledger(processor)
    assert processor.stop() == 0
    db = ("--db", str(processor.db))
    assert len(plan(*db)["items"]) == 2
    assert facts(processor.db)["applied"] == []
    assert plan(*db, "--apply")["applied"] == 2
    after = facts(processor.db)
    assert len(after["applied"]) == len(after["events"]) == 2
    assert {actor for _, actor, _ in after["events"]} == {f"cli:{_user()}"}
    assert plan(*db)["items"] == []
    missing = genops("retention", "plan", "--db", str(processor.db) + ".nope")
    assert missing.returncode == 1 and "no ledger at" in missing.stderr


def _user() -> str:
    import getpass

    return getpass.getuser()
