"""The audit trail as a hash chain, end to end: a real processor writes it, the DuckDB
file is tampered with directly (edit, delete, insert, swap) and ``genops audit verify``
names the first bad sequence number; exports (json, csv, parquet) verify alone, read
back equal to the stored events, and the README's outsider snippets check them; a
client exports only its teams' events, and every export is paged."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import grpc
import pytest

from genops.governance.audit_chain import EVENT_FIELDS
from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from genops_processor.limits import AUDIT_EXPORT_PAGE
from genops_processor.record import audit, audit_events
from tests.helpers import (
    BIN,
    ROOT,
    adapter_env,
    governed_env,
    last_json_line,
    run_python,
    run_training,
    start_processor,
)

POLICY = """
budgets:
  - {name: alpha-daily, scope: {team: alpha}, daily_limit: "100", mode: enforced}
  - {name: attacker-daily, scope: {team: attacker}, daily_limit: "100", mode: enforced}
audit_log_retention_years: 3
"""


def genops(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "genops"), *args], capture_output=True, text=True, timeout=120, env=env
    )


def check(stub, team: str, micros: int = 1_000_000) -> pb.CheckBudgetResponse:
    scope = pb.Scope(team=team, project="p")
    return stub.CheckBudget(pb.CheckBudgetRequest(scope=scope, requested_micros=micros))


@pytest.fixture
def ledger(tmp_path, admin_cli):
    """A processor's ledger after decisions of two teams, a refusal and a policy change;
    (processor stopped, its db path, the events' kinds)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    processor = start_processor(tmp_path, "--policy", str(policy))
    try:
        for _ in range(3):
            check(processor.stub("trainer"), "alpha")
        check(processor.stub("admin"), "attacker")  # a team the trainer does not act for
        with pytest.raises(grpc.RpcError):
            check(processor.stub("trainer"), "attacker")
        budget = {"name": "beta-daily", "scope": {"team": "beta"}, "daily_limit": "5"}
        processor.stub("admin").SetBudget(
            pb.SetBudgetRequest(budget_json=json.dumps(budget), reason="test")
        )
    finally:
        assert processor.stop() == 0
    return processor.db


def stored(db: Path) -> list[dict]:
    with storage.Storage(db, read_only=True) as ledger:
        events = ledger.call(audit_events)
    for event in events:
        event["detail"] = json.dumps(event["detail"], sort_keys=True, default=str)
        event.pop("at")
    return events


def verify_db(db: Path) -> subprocess.CompletedProcess:
    return genops("audit", "verify", "--db", str(db))


def tampered(db: Path, tmp_path: Path, name: str, *sql: str) -> Path:
    copy = tmp_path / f"{name}.duckdb"
    shutil.copyfile(db, copy)
    with duckdb.connect(str(copy)) as conn:
        for statement in sql:
            conn.execute(statement)
    return copy


def test_the_chain_covers_decisions_refusals_and_policy_changes(ledger):
    events = stored(ledger)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    kinds = [e["kind"] for e in events]
    assert kinds.count("budget.decision") == 4
    assert "access.refused" in kinds and "policy.changed" in kinds
    decision = next(e for e in events if e["kind"] == "budget.decision")
    assert decision["actor"] == "trainer" and decision["team"] == "alpha"
    assert decision["policy_version"] == "1"  # the policy file, stored at start
    inputs = json.loads(decision["detail"])
    assert inputs["outcome"] == "allow" and inputs["budgets"][0][:3] == [
        "alpha-daily",
        "enforced",
        100_000_000,
    ]
    result = verify_db(ledger)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"intact: {len(events)} event(s)")


@pytest.mark.parametrize(
    ("name", "sql", "bad_seq", "why"),
    [
        ("edit", ["UPDATE audit_events SET actor = 'someone-else' WHERE seq = 3"], 3, "altered"),
        ("delete", ["DELETE FROM audit_events WHERE seq = 2"], 2, "missing"),
        (
            "insert",  # a forged event given the place of event 4, the rest moved down
            [
                "UPDATE audit_events SET seq = seq + 1 WHERE seq >= 4",
                "INSERT INTO audit_events (event_id, occurred_at, kind, actor, detail, seq, "
                "team, reported, region, environment, client_address, policy_version, "
                "approval_id, business_context, prev_hash, hash) SELECT 'forged', "
                "occurred_at, kind, 'admin', detail, 4, team, reported, region, environment, "
                "client_address, policy_version, approval_id, business_context, hash, hash "
                "FROM audit_events WHERE seq = 3",
            ],
            4,
            "altered",
        ),
        (
            "swap",  # events 2 and 3 trade places
            [
                "UPDATE audit_events SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END "
                "WHERE seq IN (2, 3)"
            ],
            2,
            "",
        ),
        ("duplicate", ["INSERT INTO audit_events SELECT * REPLACE ('copy' AS event_id) "
                       "FROM audit_events WHERE seq = 5"], 5, "repeated"),
    ],
)  # fmt: skip
def test_verify_names_the_first_tampered_sequence_number(ledger, tmp_path, name, sql, bad_seq, why):
    copy = tampered(ledger, tmp_path, name, *sql)
    result = verify_db(copy)
    assert result.returncode == 1, result.stdout
    assert f"broken at sequence number {bad_seq}:" in result.stderr, result.stderr
    assert why in result.stderr
    assert verify_db(ledger).returncode == 0  # the original is untouched and intact


def test_exports_verify_alone_and_read_back_equal_to_the_ledger(ledger, tmp_path):
    before = {}
    for fmt in ("json", "csv", "parquet"):
        before[fmt] = stored(ledger)  # each export is itself an event, after its range
        out = tmp_path / f"audit.{fmt}"
        result = genops("audit", "export", "--db", str(ledger), "--format", fmt, "-o", str(out))
        assert result.returncode == 0, result.stderr
        alone = genops("audit", "verify", "--file", str(out))
        assert alone.returncode == 0, alone.stderr
    exported = stored(ledger)[-3:]
    assert [e["kind"] for e in exported] == ["audit.exported"] * 3
    detail = json.loads(exported[2]["detail"])
    assert detail["format"] == "parquet" and detail["events"] == len(before["parquet"])
    assert exported[2]["actor"] == "genops audit export" and exported[2]["reported"]
    with duckdb.connect() as conn:
        table = conn.execute(f"SELECT * FROM read_parquet('{tmp_path / 'audit.parquet'}')")
        names = [d[0] for d in table.description]
        parquet = [dict(zip(names, row, strict=True)) for row in table.fetchall()]
    assert names == list(EVENT_FIELDS)
    with open(tmp_path / "audit.csv", newline="") as source:
        from_csv = [{**r, "seq": int(r["seq"])} for r in csv.DictReader(source)]
    from_json = json.loads((tmp_path / "audit.json").read_text())["events"]
    assert parquet == before["parquet"]
    assert from_csv == before["csv"]
    assert from_json == before["json"]


def test_a_range_export_starts_from_the_hash_before_it_and_verifies_alone(ledger, tmp_path):
    # events 1..n, one per day back from today, so that a date range picks a middle part
    today = dt.datetime.now(dt.timezone.utc).replace(hour=12, minute=0)
    with storage.Storage(ledger) as db:
        for days in range(10, 0, -1):
            db.call(lambda c, d=days: audit(c, "test.day", "t", {"d": d}, today - dt.timedelta(d)))
        all_events = db.call(audit_events)
    since = (today - dt.timedelta(days=7)).date().isoformat()
    until = (today - dt.timedelta(days=4)).date().isoformat()
    out = tmp_path / "range.json"
    result = genops("audit", "export", "--db", str(ledger), "--since", since, "--until", until,
                    "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    part = json.loads(out.read_text())["events"]
    assert [json.loads(e["detail"])["d"] for e in part] == [7, 6, 5, 4]
    before = next(e for e in all_events if e["seq"] == part[0]["seq"] - 1)
    assert part[0]["prev_hash"] == before["hash"]
    assert genops("audit", "verify", "--file", str(out)).returncode == 0


def _readme_blocks() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Verifying an export yourself", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"```(python|sql)\n(.*?)```", section, re.S))


def test_an_outsider_verifies_an_export_with_the_readme_snippets(ledger, tmp_path, monkeypatch):
    """Exactly the README's Python (hashlib) and DuckDB SQL blocks, on exported files."""
    blocks = _readme_blocks()
    assert set(blocks) == {"python", "sql"}
    genops("audit", "export", "--db", str(ledger), "-o", str(tmp_path / "audit.json"))
    events = len(stored(ledger))  # the parquet export's range: up to the json export's event
    genops("audit", "export", "--db", str(ledger), "--format", "parquet", "-o",
           str(tmp_path / "audit.parquet"))  # fmt: skip
    snippet = tmp_path / "check.py"
    snippet.write_text(blocks["python"])
    run = subprocess.run(
        ["python3", str(snippet)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and run.stdout.startswith("intact:"), run.stderr
    monkeypatch.chdir(tmp_path)  # the snippet names audit.parquet
    with duckdb.connect() as conn:
        count, first_bad = conn.execute(blocks["sql"]).fetchone()
    assert count == events and first_bad is None

    # the same snippets on tampered files fail, naming the event
    data = json.loads((tmp_path / "audit.json").read_text())
    data["events"][2]["actor"] = "someone-else"
    (tmp_path / "audit.json").write_text(json.dumps(data))
    run = subprocess.run(
        ["python3", str(snippet)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0 and "event 3: content altered" in run.stderr
    with duckdb.connect() as conn:
        conn.execute(
            f"COPY (SELECT * REPLACE (CASE WHEN seq = 4 THEN 'x' ELSE kind END AS kind) "
            f"FROM read_parquet('{tmp_path / 'audit.parquet'}')) TO "
            f"'{tmp_path / 'forged.parquet'}' (FORMAT parquet)"
        )
        shutil.move(tmp_path / "forged.parquet", tmp_path / "audit.parquet")
        assert conn.execute(blocks["sql"]).fetchone()[1] == 4


def test_prune_keeps_the_retention_and_leaves_a_verifiable_checkpoint(ledger, tmp_path):
    old = dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc)
    copy = tmp_path / "old.duckdb"
    shutil.copyfile(ledger, copy)
    with duckdb.connect(str(copy)) as conn:  # the first three events: years old
        conn.execute("UPDATE audit_events SET occurred_at = ? WHERE seq <= 3", [old])
    # their hashes now differ: re-chain them as the processor would have written them
    with duckdb.connect(str(copy)) as conn:
        conn.execute("UPDATE audit_events SET seq = NULL")
    with storage.Storage(copy) as db:
        from genops_processor.storage.schema import chain_audit_events

        db.call(chain_audit_events)
    assert verify_db(copy).returncode == 0
    inside = genops("audit", "prune", "--db", str(copy), "--before", "2024-01-01", "--apply")
    assert inside.returncode == 1 and "kept 3 year(s)" in inside.stderr  # the policy's
    longer = genops("audit", "prune", "--db", str(copy), "--before", "2020-01-01",
                    "--retention-years", "10", "--apply")  # fmt: skip
    assert longer.returncode == 1 and "kept 10 year(s)" in longer.stderr
    plan = genops("audit", "prune", "--db", str(copy), "--before", "2020-01-01")
    assert "would prune 3 event(s) through sequence number 3" in plan.stdout
    done = genops("audit", "prune", "--db", str(copy), "--before", "2020-01-01", "--apply")
    assert done.returncode == 0, done.stderr
    events = stored(copy)
    assert events[0]["seq"] == 4
    checkpoint = events[-1]
    assert checkpoint["kind"] == "audit.pruned"
    assert json.loads(checkpoint["detail"])["through_seq"] == 3
    result = verify_db(copy)
    assert result.returncode == 0, result.stderr
    # deleting further old events, past the checkpoint, is found
    again = tampered(copy, tmp_path, "pruned-more", "DELETE FROM audit_events WHERE seq = 4")
    assert "broken at sequence number 4:" in verify_db(again).stderr


def _seeded(tmp_path: Path, events: int) -> Path:
    """A ledger holding ``events`` events of team alpha and team attacker alternately."""
    db = tmp_path / "genops.duckdb"
    now = dt.datetime.now(dt.timezone.utc)
    with storage.Storage(db) as ledger:

        def write(conn):
            for start in range(0, events, 500):
                details = [{"n": i} for i in range(start, min(start + 500, events))]
                for team in ("alpha", "attacker"):
                    audit_many_team(conn, details[: len(details) // 2], team, now)

        ledger.call(write)
    return db


def audit_many_team(conn, details, team, now):
    from genops_processor.record import audit_many

    audit_many(conn, "test.seeded", "seed", details, now, team=team)


def test_a_client_exports_only_its_teams_events_and_every_export_is_paged(tmp_path, admin_cli):
    db = _seeded(tmp_path, 2 * AUDIT_EXPORT_PAGE + 500)
    processor = start_processor(tmp_path)
    try:
        stub = processor.stub("trainer")  # a client of TEST_TEAMS: alpha, not attacker
        page = stub.ExportAuditTrail(pb.ExportAuditTrailRequest(page_size=10**6))
        assert len(page.events) == AUDIT_EXPORT_PAGE and page.more and page.filtered
        assert {e.team for e in page.events} == {"alpha"}
        out = tmp_path / "mine.csv"
        env = {**os.environ, "GENOPS_TOKEN": processor.tokens["trainer"]}
        result = genops("audit", "export", "--endpoint", processor.endpoint, "--format", "csv",
                        "-o", str(out), env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
        with open(out, newline="") as source:
            rows = list(csv.DictReader(source))
        assert rows and {r["team"] for r in rows} <= {"alpha", ""}
        assert not any(r["team"] == "attacker" for r in rows)
        # and the client may not verify the whole chain (it holds other teams' events)
        refused = genops("audit", "verify", "--endpoint", processor.endpoint, env=env)
        assert refused.returncode == 1 and "PERMISSION_DENIED" in refused.stderr

        admin = genops("audit", "export", "--endpoint", processor.endpoint, "--format",
                       "parquet", "-o", str(tmp_path / "all.parquet"))  # fmt: skip
        assert admin.returncode == 0, admin.stderr
        with duckdb.connect() as conn:
            teams = dict(
                conn.execute(
                    f"SELECT team, count(*) FROM read_parquet('{tmp_path / 'all.parquet'}') "
                    "GROUP BY team"
                ).fetchall()
            )
        assert teams["attacker"] == teams["alpha"] > AUDIT_EXPORT_PAGE
        assert genops("audit", "verify", "--file", str(tmp_path / "all.parquet")).returncode == 0
        verified = genops("audit", "verify", "--endpoint", processor.endpoint)
        assert verified.returncode == 0, verified.stderr
    finally:
        assert processor.stop() == 0
    assert db.exists()


ADAPTER_EXPORT = """
import datetime as dt, json, os
from genops.providers.wandb import instrument_wandb

adapter = instrument_wandb(team="alpha", project="p", enable_governance=True)
today = dt.date.today().isoformat()
trail = adapter.export_audit_trail(start_date="2020-01-01", end_date=today, format="parquet")
trail.save("mine.parquet")
teams = sorted({e["team"] for e in trail.events})
print(json.dumps({"events": len(trail["events"]), "teams": teams, "filtered": trail.filtered,
                  "intact": trail.verify().intact, "seqs": [e["seq"] for e in trail.events]}))
adapter.cleanup()
"""


def test_the_adapter_exports_the_callers_events_as_the_guide_asks(ledger, tmp_path, admin_cli):
    processor = start_processor(ledger.parent)  # the ledger of the fixture, running again
    try:
        run = run_python(ADAPTER_EXPORT, tmp_path / "client", adapter_env(processor.endpoint,
                         tmp_path))  # fmt: skip
    finally:
        assert processor.stop() == 0
    assert run.returncode == 0, run.stderr
    answer = last_json_line(run.stdout)
    mine = [e for e in stored(ledger) if e["team"] == "alpha"]
    assert answer["teams"] == ["alpha"] and answer["filtered"] and answer["intact"]
    assert answer["seqs"] == [e["seq"] for e in mine] and len(mine) >= 3
    with duckdb.connect() as conn:
        parquet = tmp_path / "client" / "mine.parquet"
        table = conn.execute(f"SELECT * FROM read_parquet('{parquet}')")
        names = [d[0] for d in table.description]
        assert [dict(zip(names, r, strict=True)) for r in table.fetchall()] == mine


def test_a_governed_run_and_a_credentials_change_are_in_the_chain(processor, tmp_path):
    """Run start and end, its budget decision, its artifact with governance metadata,
    and a principal added to the credentials file while the processor runs."""
    from genops_processor.auth import credentials

    run = run_training("train_basic.py", tmp_path / "run", governed_env(processor.endpoint,
                       TRAIN_SECONDS="0.2"))  # fmt: skip
    assert run.returncode == 0, run.result.stderr
    credentials.create(processor.credentials, "newcomer", "auditor")
    stub = processor.stub("admin")
    for _ in range(600):  # the file is re-read at most once a second, on a call
        stub.GetSecurityPosture(pb.GetSecurityPostureRequest())
        kinds = {e.kind for e in stub.ExportAuditTrail(pb.ExportAuditTrailRequest()).events}
        if {"run.finished", "credentials.changed"} <= kinds:
            break
        time.sleep(0.1)
    assert processor.stop() == 0
    events = stored(processor.db)
    by_kind = {e["kind"]: e for e in events}
    for kind in ("budget.decision", "run.started", "run.finished", "artifact.logged"):
        assert kind in by_kind, (kind, sorted(by_kind))
    assert by_kind["run.started"]["team"] == "ml-team"
    assert json.loads(by_kind["run.finished"]["detail"])["status"] == "finished"
    assert json.loads(by_kind["artifact.logged"]["detail"])["name"] == "weights"
    changed = json.loads(by_kind["credentials.changed"]["detail"])
    assert changed["added"] == ["newcomer"]
    assert "token" not in by_kind["credentials.changed"]["detail"]
    assert verify_db(processor.db).returncode == 0


def test_the_processors_audit_retention_option_guards_prune_too(ledger, tmp_path):
    """GENOPS_AUDIT_RETENTION_YEARS / --audit-retention-years: the longer of it and the
    policy's audit_log_retention_years (3 here) applies; a bad value names the variable."""
    env = {**os.environ, "GENOPS_AUDIT_RETENTION_YEARS": "10"}
    inside = genops("audit", "prune", "--db", str(ledger), "--before", "2020-01-01", env=env)
    assert inside.returncode == 1 and "kept 10 year(s)" in inside.stderr, inside.stderr
    assert "the latest allowed is 20" in inside.stderr  # a date, e.g. 2016-12-04
    shorter = {**os.environ, "GENOPS_AUDIT_RETENTION_YEARS": "1"}  # the policy's 3 wins
    refused = genops("audit", "prune", "--db", str(ledger), "--before", "2024-01-01", env=shorter)
    assert refused.returncode == 1 and "kept 3 year(s)" in refused.stderr, refused.stderr
    for bad in ("0", "-2", "nan", "101", "seven"):
        wrong = {**os.environ, "GENOPS_AUDIT_RETENTION_YEARS": bad}
        answer = genops("audit", "prune", "--db", str(ledger), "--before", "2020-01-01", env=wrong)
        assert answer.returncode == 2, (bad, answer.stderr)
        assert "GENOPS_AUDIT_RETENTION_YEARS" in answer.stderr, (bad, answer.stderr)


@pytest.mark.parametrize("bad", ["0", "-1", "inf", "1000"])
def test_the_processor_refuses_a_bad_audit_retention_at_start(bad):
    from genops_processor.settings import ProcessorSettings, SettingsError

    with pytest.raises(SettingsError, match="--audit-retention-years"):
        ProcessorSettings.resolve({}, audit_retention_years=bad)
    with pytest.raises(SettingsError, match="GENOPS_AUDIT_RETENTION_YEARS"):
        ProcessorSettings.resolve({"GENOPS_AUDIT_RETENTION_YEARS": bad})
    assert ProcessorSettings.resolve({}, audit_retention_years="12").audit_retention_years == 12


def test_run_and_artifact_events_name_the_sender_and_the_runs_team(processor, tmp_path):
    """The OTLP sender's authenticated principal is the actor of the events its spans
    cause (run start and end, artifacts), the run's team their team: so the trainer,
    exporting the trail, sees its own artifact events."""
    run = run_training("train_basic.py", tmp_path / "run", governed_env(processor.endpoint,
                       TRAIN_SECONDS="0.2"))  # fmt: skip
    assert run.returncode == 0, run.result.stderr
    trainer = processor.stub("trainer")
    for _ in range(600):  # spans are acknowledged after commit; the run's end may lag
        mine = trainer.ExportAuditTrail(pb.ExportAuditTrailRequest()).events
        if {"run.finished", "artifact.logged"} <= {e.kind for e in mine}:
            break
        time.sleep(0.1)
    seen = {e.kind: e for e in mine}
    assert "artifact.logged" in seen, sorted(seen)
    assert seen["artifact.logged"].team == "ml-team"
    assert processor.stop() == 0
    by_kind = {e["kind"]: e for e in stored(processor.db)}
    for kind in ("run.started", "run.finished", "artifact.logged"):
        assert by_kind[kind]["actor"] == "trainer", (kind, by_kind[kind])
        assert by_kind[kind]["team"] == "ml-team", (kind, by_kind[kind])
