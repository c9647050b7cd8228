"""Old backups pruned: all but the newest N (and those within the RPO window) go, each
removal audited; the newest good backup never goes; only a file the backup itself wrote
is ever deleted; what is kept still restores. The processor prunes after each scheduled
backup (BACKUPS_KEPT). Real processor subprocesses, real DuckDB files."""

from __future__ import annotations

import json
import time
from pathlib import Path

from genops_processor import storage
from genops_processor.limits import BACKUPS_KEPT
from genops_processor.record.audit_log import audit_events
from genops_processor.record.audit_trail import verify
from tests.e2e.test_backup_restore import TEAM, genops
from tests.helpers import token_of
from tests.synthetic_spans import export, run_span


def _ledger_with_backups(processor, tmp_path, count: int):
    export(processor.endpoint, token_of("trainer"), [run_span(TEAM) for _ in range(3)])
    assert processor.stop() == 0
    made = []
    for _ in range(count):
        result = genops(
            "backup", "create", "--db", str(processor.db), "--to", str(tmp_path / "b"), "--json"
        )
        assert result.returncode == 0, result.stderr
        made.append(json.loads(result.stdout))
    return made  # oldest first


def _prune(processor, tmp_path, *args: str):
    return genops(
        "backup", "prune", "--db", str(processor.db), "--backup-dir", str(tmp_path / "b"), *args
    )


def test_all_but_the_newest_are_pruned_audited_and_the_rest_restores(processor, tmp_path):
    made = _ledger_with_backups(processor, tmp_path, 4)
    shown = _prune(processor, tmp_path, "--keep", "2")
    assert shown.returncode == 0, shown.stderr
    assert "2 backup(s) to remove, 2 kept" in shown.stdout
    assert len(list((tmp_path / "b").glob("genops-*.duckdb"))) == 4  # nothing without --apply
    applied = _prune(processor, tmp_path, "--keep", "2", "--apply")
    assert applied.returncode == 0, applied.stderr
    left = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert left == sorted(
        name for m in made[2:] for name in (f"genops-{m['backup_id']}.duckdb",
                                            f"genops-{m['backup_id']}.json")
    )  # fmt: skip
    with storage.Storage(processor.db, read_only=True) as db:
        pruned = db.call(lambda conn: audit_events(conn, "backup.pruned"))
        assert db.call(verify).intact
        listed = db.call(lambda c: c.execute("SELECT count(*) FROM backups").fetchone()[0])
    assert sorted(e["detail"]["backup_id"] for e in pruned) == [m["backup_id"] for m in made[:2]]
    assert listed == 2
    # The documented restore still works on what is kept.
    restored = genops("backup", "restore", made[-1]["path"], "--db", str(tmp_path / "r.duckdb"))
    assert restored.returncode == 0, restored.stderr
    assert "3 run(s)" in restored.stdout


def test_a_backup_row_naming_another_file_never_deletes_it(processor, tmp_path):
    made = _ledger_with_backups(processor, tmp_path, 3)
    victim = tmp_path / "precious.duckdb"
    victim.write_bytes(b"not a backup")
    with storage.Storage(processor.db) as db:  # someone edits the ledger's backups table
        db.call(
            lambda c: c.execute(
                "UPDATE backups SET path = ? WHERE backup_id = ?",
                [str(victim), made[0]["backup_id"]],
            )
        )
    result = _prune(processor, tmp_path, "--keep", "1", "--apply")
    assert result.returncode == 0, result.stderr
    assert f"{made[0]['backup_id']} left alone" in result.stderr
    assert victim.read_bytes() == b"not a backup"
    assert (tmp_path / "b" / f"genops-{made[0]['backup_id']}.duckdb").exists()


def test_the_newest_good_backup_is_kept_whatever_keep_and_rpo_say(processor, tmp_path):
    made = _ledger_with_backups(processor, tmp_path, 3)
    newest = tmp_path / "b" / f"genops-{made[-1]['backup_id']}.duckdb"
    newest.unlink()  # the newest is lost: the one before it is now the newest good one
    result = _prune(processor, tmp_path, "--keep", "1", "--apply")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "b" / f"genops-{made[1]['backup_id']}.duckdb").exists()
    assert not (tmp_path / "b" / f"genops-{made[0]['backup_id']}.duckdb").exists()
    # within the RPO window every backup stays, whatever --keep says
    more = genops(
        "backup", "create", "--db", str(processor.db), "--to", str(tmp_path / "b"), "--json"
    )
    assert more.returncode == 0, more.stderr
    again = Path(json.loads(more.stdout)["path"])
    kept = _prune(processor, tmp_path, "--keep", "1", "--rpo-hours", "1", "--apply")
    assert kept.returncode == 0 and "0 backup(s) removed" in kept.stdout, kept.stdout
    assert again.exists()


def test_the_processor_prunes_after_its_scheduled_backups(start_processor_with, tmp_path):
    backups = tmp_path / "scheduled"
    proc = start_processor_with("--backup-dir", str(backups), "--backup-every-hours", "0.0001")
    export(proc.endpoint, token_of("trainer"), [run_span(TEAM)])
    first = None
    deadline = time.monotonic() + 120  # a bound on the wait, not a timing assertion
    while time.monotonic() < deadline:
        files = sorted(backups.glob("genops-*.duckdb"))
        first = first or (files[0] if files else None)
        if first is not None and not first.exists():
            break  # the oldest backup was pruned
        time.sleep(0.2)
    assert proc.stop() == 0
    assert first is not None and not first.exists()
    assert not first.with_suffix(".json").exists()  # its manifest went with it
    files = list(backups.glob("genops-*.duckdb"))
    assert 1 <= len(files) <= BACKUPS_KEPT + 1  # one may have been taken after the last prune
    with storage.Storage(proc.db, read_only=True) as db:
        pruned = db.call(lambda conn: audit_events(conn, "backup.pruned"))
    assert pruned and all(e["actor"] == "processor" for e in pruned)
