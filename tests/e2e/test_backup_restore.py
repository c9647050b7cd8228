"""Backups: a consistent copy of the ledger taken while runs stream in, restorable into a
new ledger whose totals equal the source's at the backup's point (its audit sequence);
restores never overwrite; the newest backup's age is held against an RPO.

Real processor subprocesses, real OTLP over gRPC (runs built by hand: many, quickly),
real DuckDB files; the `genops backup` commands as a user runs them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import threading
import time

import duckdb
import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from tests.helpers import BIN, start_processor, token_of
from tests.synthetic_spans import export, run_span

TEAM = "ml-team"


def genops(*args: str, env_token: str | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if env_token:
        env["GENOPS_TOKEN"] = env_token
    return subprocess.run(
        [str(BIN / "genops"), *args], capture_output=True, text=True, timeout=300, env=env
    )


class Stream:
    """Runs sent continuously (batches of 20, as the trainer) until stopped."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.sent = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def _run(self) -> None:
        token = token_of("trainer")
        try:
            while not self._stop.is_set():
                export(self.endpoint, token, [run_span(TEAM) for _ in range(20)])
                self.sent += 20
        except BaseException as error:  # reported by the test
            self.error = error

    def wait_for(self, runs: int) -> None:
        deadline = time.monotonic() + 120
        while self.sent < runs and self.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.error is None, self.error
        assert self.sent >= runs, f"only {self.sent} runs sent"

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def ledger_facts(path) -> dict:
    with storage.Storage(path, read_only=True) as db:
        return db.call(
            lambda conn: {
                "totals": conn.execute(
                    "SELECT count(*), COALESCE(SUM(cost_micros), 0) FROM runs"
                ).fetchone(),
                "runs": dict(conn.execute("SELECT run_key, cost_micros FROM runs").fetchall()),
                "events": [
                    r[0]
                    for r in conn.execute(
                        "SELECT event_id FROM audit_events ORDER BY "
                        + ("seq" if _has_seq(conn) else "occurred_at, event_id")
                    ).fetchall()
                ],
                "lines": conn.execute(
                    "SELECT count(*), COALESCE(SUM(amount_micros), 0) FROM cost_lines"
                ).fetchone(),
            }
        )


def _has_seq(conn) -> bool:
    return bool(
        conn.execute(
            "SELECT count(*) FROM duckdb_columns() "
            "WHERE table_name = 'audit_events' AND column_name = 'seq'"
        ).fetchone()[0]
    )


def test_a_backup_taken_while_runs_stream_in_restores_to_the_source_at_that_point(
    start_processor_with, tmp_path
):
    backups = tmp_path / "backups"
    proc = start_processor_with("--backup-dir", str(backups))
    stub = proc.stub()
    taken = []
    with Stream(proc.endpoint) as stream:
        for runs in (300, 2_000):  # two backups, each while batches keep arriving
            stream.wait_for(runs)
            status = stub.CreateBackup(pb.CreateBackupRequest(), timeout=300)
            assert status.path and status.runs > 0 and status.last_backup_at, status
            taken.append(status)
        stream.wait_for(taken[-1].runs + 200)  # and after the last one
    assert proc.stop() == 0
    print(
        f"\nbackups held the writer {[s.blocked_ms for s in taken]} ms at "
        f"{[s.runs for s in taken]} runs (2 shared cores, a busy machine)"
    )
    source = ledger_facts(proc.db)
    assert source["totals"][0] > taken[-1].runs  # runs kept arriving after the backups
    for status in taken:
        restored_path = tmp_path / f"restored-{status.backup_id}.duckdb"
        result = genops("backup", "restore", status.path, "--db", str(restored_path))
        assert result.returncode == 0, result.stderr
        assert f"{status.runs} run(s)" in result.stdout
        restored = ledger_facts(restored_path)
        # the totals the backup recorded are those of the copy ...
        assert restored["totals"] == (status.runs, status.cost_micros)
        # ... and those of the source at that point: every run as it was (each is one
        # finished span, unchanged since), the audit chain up to the backup's event
        assert all(source["runs"][key] == cost for key, cost in restored["runs"].items())
        assert restored["lines"][0] == len(restored["runs"]) > 0
        position = source["events"].index(status.audit_event_id) + 1
        assert restored["events"] == source["events"][:position]
        if status.audit_seq:
            assert status.audit_seq == position
        # a restored ledger is a working ledger: a processor opens it and reports it
        reopen = tmp_path / f"reopen-{status.backup_id}"
        reopen.mkdir()
        again = start_processor(reopen, "--db", str(restored_path))
        try:
            assert len(again.runs()) == status.runs
        finally:
            assert again.stop() == 0
    manifest = json.loads((backups / f"genops-{taken[0].backup_id}.json").read_text())
    assert (
        manifest["runs"] == taken[0].runs and manifest["audit_event_id"] == taken[0].audit_event_id
    )


def test_offline_backup_and_restore_refuses_to_overwrite(processor, tmp_path):
    export(processor.endpoint, token_of("trainer"), [run_span(TEAM) for _ in range(5)])
    assert processor.stop() == 0
    made = genops(
        "backup", "create", "--db", str(processor.db), "--to", str(tmp_path / "b"), "--json"
    )
    assert made.returncode == 0, made.stderr
    manifest = json.loads(made.stdout)
    assert manifest["runs"] == 5
    # the backup is recorded in the source ledger, with its audit event
    with storage.Storage(processor.db, read_only=True) as db:
        kinds = db.call(
            lambda c: c.execute(
                "SELECT kind FROM audit_events WHERE event_id = ?", [manifest["audit_event_id"]]
            ).fetchall()
        )
    assert kinds == [("backup.created",)]

    existing = tmp_path / "existing.duckdb"
    existing.write_bytes(processor.db.read_bytes())
    before = hashlib.sha256(existing.read_bytes()).hexdigest()
    refused = genops("backup", "restore", manifest["path"], "--db", str(existing))
    assert refused.returncode == 1
    assert "exists: restore only into a new ledger file" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert hashlib.sha256(existing.read_bytes()).hexdigest() == before  # untouched

    stray_wal = tmp_path / "fresh.duckdb.wal"  # another ledger's log: never adopted
    stray_wal.write_bytes(b"x")
    refused = genops("backup", "restore", manifest["path"], "--db", str(tmp_path / "fresh.duckdb"))
    assert refused.returncode == 1 and "fresh.duckdb.wal exists" in refused.stderr
    assert not (tmp_path / "fresh.duckdb").exists()


@pytest.mark.parametrize("kind", ["garbage", "other_duckdb", "missing"])
def test_restore_refuses_what_is_not_a_genops_backup(tmp_path, kind):
    source = tmp_path / "backup.duckdb"
    if kind == "garbage":
        source.write_bytes(b"\0not a database" * 100)
    elif kind == "other_duckdb":
        conn = duckdb.connect(str(source))
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.close()
    target = tmp_path / "new.duckdb"
    result = genops("backup", "restore", str(source), "--db", str(target))
    assert result.returncode == 1, result.stdout
    expected = {
        "garbage": "is not a DuckDB ledger",
        "other_duckdb": "is not a genops ledger backup",
        "missing": "no backup at",
    }[kind]
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not target.exists()


def test_backup_status_holds_the_newest_backup_against_the_rpo(processor, tmp_path):
    stub = processor.stub()
    none = stub.GetBackupStatus(pb.GetBackupStatusRequest(rpo_hours=4), timeout=30)
    assert not none.last_backup_at and not none.within_rpo and not none.scheduled
    # without --backup-dir a processor takes no backup on request (no path from a caller)
    with pytest.raises(grpc.RpcError) as refused:
        stub.CreateBackup(pb.CreateBackupRequest(), timeout=30)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "--backup-dir" in refused.value.details()
    assert processor.stop() == 0

    empty = genops("backup", "status", "--db", str(processor.db), "--rpo-hours", "4")
    assert empty.returncode == 1 and "no backup within the last 4 h" in empty.stderr
    made = genops("backup", "create", "--db", str(processor.db), "--to", str(tmp_path / "b"))
    assert made.returncode == 0, made.stderr
    fresh = genops("backup", "status", "--db", str(processor.db), "--rpo-hours", "4", "--json")
    assert fresh.returncode == 0, fresh.stderr
    assert json.loads(fresh.stdout)["within_rpo"] is True
    # the newest backup made ten hours old (the ledger edited, no waiting)
    ten_hours_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=10)
    with storage.Storage(processor.db) as db:
        db.call(lambda c: c.execute("UPDATE backups SET taken_at = ?", [ten_hours_ago]))
    stale = genops("backup", "status", "--db", str(processor.db), "--rpo-hours", "4")
    assert stale.returncode == 1 and "no backup within the last 4 h" in stale.stderr
    assert (
        genops("backup", "status", "--db", str(processor.db), "--rpo-hours", "24").returncode == 0
    )


def test_scheduled_backups_and_what_a_client_sees(start_processor_with, tmp_path):
    backups = tmp_path / "scheduled"
    proc = start_processor_with("--backup-dir", str(backups), "--backup-every-hours", "0.0003")
    export(proc.endpoint, token_of("trainer"), [run_span(TEAM)])
    deadline = time.monotonic() + 60
    status = pb.BackupStatus()
    while time.monotonic() < deadline and not status.last_backup_at:
        status = proc.stub("trainer").GetBackupStatus(
            pb.GetBackupStatusRequest(rpo_hours=1), timeout=30
        )
        time.sleep(0.2)
    assert status.last_backup_at and status.scheduled and status.within_rpo
    assert status.path == ""  # where backups live: admins and auditors only
    admin_view = proc.stub("auditor").GetBackupStatus(pb.GetBackupStatusRequest(), timeout=30)
    assert admin_view.path.startswith(str(backups.resolve()))
    # a client may not take one
    with pytest.raises(grpc.RpcError) as refused:
        proc.stub("trainer").CreateBackup(pb.CreateBackupRequest(), timeout=30)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert proc.stop() == 0
    assert sorted(backups.glob("genops-*.duckdb")), "no scheduled backup file"
    assert not list(backups.glob("*.partial*"))  # whole backups only


def test_a_failed_backup_is_audited_and_never_listed(start_processor_with, tmp_path):
    not_a_dir = tmp_path / "occupied"
    not_a_dir.write_text("a file where the backup directory should be")
    proc = start_processor_with("--backup-dir", str(not_a_dir))
    export(proc.endpoint, token_of("trainer"), [run_span(TEAM)])
    with pytest.raises(grpc.RpcError) as failed:
        proc.stub().CreateBackup(pb.CreateBackupRequest(), timeout=60)
    assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert failed.value.details().startswith("backup failed: ")
    status = proc.stub().GetBackupStatus(pb.GetBackupStatusRequest(rpo_hours=24), timeout=30)
    assert not status.last_backup_at and not status.within_rpo
    assert proc.stop() == 0
    with storage.Storage(proc.db, read_only=True) as db:
        kinds = db.call(
            lambda c: c.execute(
                "SELECT kind FROM audit_events WHERE kind LIKE 'backup.%' ORDER BY occurred_at"
            ).fetchall()
        )
        rows = db.call(lambda c: c.execute("SELECT count(*) FROM backups").fetchone()[0])
    assert kinds == [("backup.created",), ("backup.failed",)] and rows == 0
    assert not_a_dir.read_text().startswith("a file")  # nothing written over it
