"""Re-pricing is resumable and audited: ``genops costs reprice --db`` SIGKILLed mid-way
through 40,000 runs leaves a consistent ledger (every run wholly on one catalog, the job
row saying how far it got), and finishing it puts all 40,000 on the new catalog with
exact totals and both audit events."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from genops_processor.record import audit_events
from tests.helpers import BIN, ROUND_CATALOG, start_processor

RUNS = 40_000
V2 = """
version: "test-round-2"
currency: USD
rows:
  - {sku: T4,   category: compute, unit: gpu-hour,  unit_price: "72",  region: test, source: "test v2", date: 2026-11-29}
  - {sku: vcpu, category: compute, unit: vcpu-hour, unit_price: "7.2", region: test, source: "test v2", date: 2026-11-29}
default_region: test
"""  # noqa: E501
START_NS = 1_795_000_000 * 10**9  # 2026-11-18


def minutes(i: int) -> int:
    return i % 97 + 1


# One T4 and 4 vCPUs: $0.01 + 4 x $0.001 per second under test-round-1 = 14,000 µ$ a
# second; test-round-2 doubles both rates.
BEFORE = sum(minutes(i) * 60 * 14_000 for i in range(RUNS))
AFTER = 2 * BEFORE


def build_ledger(path, runs: int = RUNS) -> None:
    """A processor-schema ledger of finished runs priced under test-round-1 (raw SQL)."""
    with storage.Storage(path) as db:
        db.call(
            lambda conn: conn.execute(
                "INSERT INTO runs (run_key, run_id, run_name, team, project, status, final, "
                "gpu_type, gpu_count, cpu_count, compute_start_ns, as_of_ns, log_calls, "
                "artifact_bytes, artifact_files, artifact_count, sequence, catalog_version, "
                "cost_micros, unpriced_skus, declared_storage_micros, violations, "
                "compute_micros) "
                "SELECT printf('run-%06d', i), printf('r%d', i), 'r', 'team-' || (i % 7), "
                "'p', 'finished', true, 'T4', 1, 4, ?, ? + (i % 97 + 1) * 60 * 1000000000, "
                "0, 0, 0, 0, 1, 'test-round-1', (i % 97 + 1) * 60 * 14000, [], 0, [], "
                "(i % 97 + 1) * 60 * 14000 FROM range(?) t(i)",
                [START_NS, START_NS, runs],
            )
        )


def genops(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "genops"), *args], capture_output=True, text=True, timeout=timeout
    )


def reprice_args(db, catalog) -> list[str]:
    return [
        str(BIN / "genops"),
        "costs",
        "reprice",
        "--catalog",
        str(catalog),
        "--db",
        str(db),
        "--actor",
        "finance",
    ]


def kill_mid_way(db, catalog) -> None:
    """Start a real reprice and SIGKILL it once it reports 16,000 runs done."""
    proc = subprocess.Popen(
        reprice_args(db, catalog), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "16000/40000" in line:
                proc.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail(f"reprice ended before 16,000 runs: {''.join(seen)}")
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def ledger_state(db) -> dict:
    with storage.Storage(db, read_only=True) as store:
        return store.call(
            lambda conn: {
                "by_version": dict(
                    conn.execute("SELECT catalog_version, count(*) FROM runs GROUP BY 1").fetchall()
                ),
                "jobs": conn.execute(
                    "SELECT catalog_version, actor, done_runs, last_run_key, before_micros, "
                    "after_micros, finished_at IS NOT NULL FROM reprice_jobs"
                ).fetchall(),
                # The runs a job says it did are exactly the runs on the new catalog.
                "new_keys_max": conn.execute(
                    "SELECT max(run_key), count(*), sum(cost_micros) FROM runs "
                    "WHERE catalog_version = 'test-round-2'"
                ).fetchone(),
                "old_keys_min": conn.execute(
                    "SELECT min(run_key) FROM runs WHERE catalog_version = 'test-round-1'"
                ).fetchone()[0],
                "lines": dict(
                    conn.execute(
                        "SELECT catalog_version, count(DISTINCT run_key) FROM cost_lines GROUP BY 1"
                    ).fetchall()
                ),
                "total": conn.execute("SELECT sum(cost_micros) FROM runs").fetchone()[0],
                "started": audit_events(conn, "costs.reprice_started"),
                "finished": audit_events(conn, "costs.repriced"),
            }
        )


@pytest.fixture
def killed_ledger(tmp_path):
    db = tmp_path / "genops.duckdb"  # where start_processor puts its ledger
    build_ledger(db)
    catalog = tmp_path / "v2.yaml"
    catalog.write_text(V2)
    kill_mid_way(db, catalog)
    return db, catalog


def assert_consistent_part_way(state) -> int:
    [(version, actor, done, last_key, before, after, finished)] = state["jobs"]
    assert (version, actor, finished) == ("test-round-2", "finance", False)
    assert 16_000 <= done < RUNS
    new_max, new_count, new_sum = state["new_keys_max"]
    # Every run up to the job's cursor is on the new catalog, none after it.
    assert (new_count, new_max) == (done, last_key) and state["old_keys_min"] > last_key
    assert state["by_version"] == {"test-round-2": done, "test-round-1": RUNS - done}
    assert state["lines"] == {"test-round-2": done}
    # The job's running totals are exact for what it did.
    assert after == new_sum and before * 2 == after
    assert len(state["started"]) == 1 and state["finished"] == []
    return done


def assert_complete(state) -> None:
    assert state["by_version"] == {"test-round-2": RUNS}
    assert state["lines"] == {"test-round-2": RUNS}
    assert state["total"] == AFTER
    [(_, _, done, _, before, after, finished)] = state["jobs"]
    assert (done, before, after, finished) == (RUNS, BEFORE, AFTER, True)
    [started] = state["started"]
    [event] = state["finished"]
    assert started["detail"]["catalog_version"] == "test-round-2"
    assert event["detail"]["runs"] == RUNS
    assert event["detail"]["before_micros"] == BEFORE
    assert event["detail"]["after_micros"] == AFTER
    assert event["detail"]["job_id"] == started["detail"]["job_id"]


def test_a_killed_reprice_leaves_a_consistent_resumable_job_and_the_next_run_finishes_it(
    killed_ledger,
):
    db, catalog = killed_ledger
    done = assert_consistent_part_way(ledger_state(db))

    # Reports say the job is incomplete; JSON stays the runs alone.
    report = genops("report", "--db", str(db))
    assert report.returncode == 0, report.stderr
    assert f"re-pricing to test-round-2 is incomplete: {done} of {RUNS}" in report.stderr
    versions = genops("costs", "versions", "--db", str(db))
    assert f"re-pricing to test-round-2 is incomplete: {done} of {RUNS}" in versions.stderr

    # Re-pricing to another version is refused while this one is unfinished.
    other = catalog.with_name("v3.yaml")
    other.write_text(V2.replace("test-round-2", "test-round-3"))
    refused = genops("costs", "reprice", "--catalog", str(other), "--db", str(db))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "re-pricing to test-round-2 is unfinished" in refused.stderr

    resumed = subprocess.run(reprice_args(db, catalog), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming re-pricing to test-round-2 at {done}/{RUNS}" in resumed.stderr
    assert f"repriced {RUNS} run(s) under test-round-2" in resumed.stdout
    assert_complete(ledger_state(db))
    report = genops("report", "--db", str(db))
    assert "incomplete" not in report.stderr


def test_the_resume_flag_finishes_a_killed_job_from_the_stored_catalog(killed_ledger):
    db, catalog = killed_ledger
    catalog.unlink()  # the stored catalog version is enough
    resumed = genops("costs", "reprice", "--resume", "--db", str(db))
    assert resumed.returncode == 0, resumed.stderr
    assert_complete(ledger_state(db))
    again = genops("costs", "reprice", "--resume", "--db", str(db))
    assert again.returncode == 1
    assert again.stderr.strip() == "genops costs reprice: no unfinished re-pricing job"


def test_a_processor_started_on_a_killed_job_finishes_it(killed_ledger, tmp_path):
    db, _ = killed_ledger
    processor = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG))
    try:
        assert processor.db == db
        stub = processor.stub()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            versions = stub.ListCatalogVersions(pb.ListCatalogVersionsRequest(), timeout=10)
            current = {v.version: v for v in versions.versions if v.current}
            if "test-round-2" in current and current["test-round-2"].runs == RUNS:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the processor did not finish the re-pricing job")
        # A budget check answers while the job is (or was) under way.
        decision = stub.CheckBudget(pb.CheckBudgetRequest(scope=pb.Scope(team="team-1")), timeout=2)
        assert decision.decision
    finally:
        assert processor.stop() == 0, "".join(processor.log)
    assert_complete(ledger_state(db))


def test_an_uninterrupted_reprice_is_one_job_with_two_audit_events(tmp_path):
    db = tmp_path / "ledger.duckdb"
    build_ledger(db)
    catalog = tmp_path / "v2.yaml"
    catalog.write_text(V2)
    result = subprocess.run(reprice_args(db, catalog), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert_complete(ledger_state(db))
    versions = json.loads(genops("costs", "versions", "--db", str(db), "--json").stdout)
    assert {v["version"]: v["current"] for v in versions} == {"test-round-2": True}


def test_reprice_over_the_api_runs_between_budget_checks(tmp_path):
    """Each batch is its own writer job: checks keep answering during a reprice."""
    db = tmp_path / "genops.duckdb"
    build_ledger(db)
    processor = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG))
    try:
        stub = processor.stub()
        stream = stub.Reprice(
            pb.RepriceRequest(catalog_json=json.dumps(_v2_dict(tmp_path)), actor="finance"),
            timeout=300,
        )
        checks = 0
        last = None
        for update in stream:
            last = update
            if not update.finished and checks < 5:
                stub.CheckBudget(pb.CheckBudgetRequest(scope=pb.Scope(team="team-1")), timeout=2)
                checks += 1
        assert last is not None and last.finished and last.done == RUNS
        assert (last.before_micros, last.after_micros) == (BEFORE, AFTER)
        assert checks == 5
        with pytest.raises(grpc.RpcError) as bad:
            next(stub.Reprice(pb.RepriceRequest(catalog_json="{", actor="x"), timeout=10))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        assert processor.stop() == 0, "".join(processor.log)
    assert_complete(ledger_state(db))


def _v2_dict(tmp_path) -> dict:
    from genops_processor.pricing import Catalog

    path = tmp_path / "v2-api.yaml"
    path.write_text(V2)
    return Catalog.load(path).to_dict()
