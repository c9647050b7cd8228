"""ListRuns pages and ``genops report`` at any ledger size, against real processors.

The million-run test is marked ``large`` (``-m "not large"`` leaves it out): it builds
its ledger in SQL (``INSERT ... SELECT FROM range()`` into the processor's own schema)
in a few seconds and reads it through both ``--db`` and ``--endpoint``.
"""

from __future__ import annotations

import json
import re
import subprocess

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops.money import format_usd
from genops_processor.limits import LIST_RUNS_DEFAULT_PAGE, LIST_RUNS_MAX_PAGE, REPORT_TOP_ROWS
from genops_processor.storage import Storage
from tests.helpers import BIN, ROUND_CATALOG, start_processor

TEAMS, PROJECTS = 37, 101
START_NS = 1_764_000_000 * 10**9


def build_ledger(path, runs: int, same_start_every: int = 1) -> None:
    """``runs`` finished runs: cost (i % 1000) + 1 micros, team i % 37, project i % 101,
    one violation every 1000th run; ``same_start_every`` runs share a start time (ties
    the keyset must break by run key)."""
    with Storage(path) as db:
        db.call(
            lambda conn: conn.execute(
                f"""
                INSERT INTO runs (run_key, run_id, run_name, wandb_project, team, project,
                    customer_id, cost_center, environment, status, final, error, gpu_type,
                    gpu_count, cpu_count, instance_type, compute_start_ns, as_of_ns,
                    log_calls, artifact_bytes, artifact_files, artifact_count, sequence,
                    catalog_version, cost_micros, unpriced_skus, declared_storage_micros,
                    violations)
                SELECT printf('key-%08d', i), printf('run-%08d', i), 'trial', 'bench',
                    'team-' || (i % {TEAMS}), 'project-' || (i % {PROJECTS}), '', '', '',
                    'finished', TRUE, '', 'T4', 1, 0, '',
                    {START_NS} + (i // {same_start_every}) * 1000000000,
                    {START_NS} + (i // {same_start_every}) * 1000000000 + 60000000000,
                    0, 0, 0, 0, 1, 'test-round-1', (i % 1000) + 1, [], 0,
                    CASE WHEN i % 1000 = 0 THEN ['over budget: run ' || i] ELSE [] END
                FROM range({runs}) t(i)
                """
            )
        )


def expected_total(runs: int) -> int:
    return sum((i % 1000) + 1 for i in range(runs))


def genops(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "genops"), *args], capture_output=True, text=True, timeout=timeout
    )


def check_tables(stdout: str, runs: int) -> None:
    assert f"Total: {format_usd(expected_total(runs))} over {runs} run(s)" in stdout
    assert f"newest {REPORT_TOP_ROWS} of {runs:,}" in stdout
    assert f"Violations ({runs // 1000})" in stdout
    # Every team is among the largest: each team's line is its exact sum.
    team_0 = sum((i % 1000) + 1 for i in range(0, runs, TEAMS))
    assert re.search(rf"team-0 +│ +{len(range(0, runs, TEAMS))} +│ +\{format_usd(team_0)}", stdout)
    # Projects past the top 50 are summed on one line.
    assert f"({PROJECTS - REPORT_TOP_ROWS} other projects)" in stdout


@pytest.mark.large
def test_report_of_a_million_runs_from_the_file_and_from_the_processor(tmp_path, admin_cli):
    runs = 1_000_000
    build_ledger(tmp_path / "genops.duckdb", runs)

    offline = genops("report", "--db", str(tmp_path / "genops.duckdb"))
    assert offline.returncode == 0, offline.stderr
    check_tables(offline.stdout, runs)

    processor = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG))
    try:
        live = genops("report", "--endpoint", processor.endpoint)
        assert live.returncode == 0, live.stderr
        check_tables(live.stdout, runs)
        assert live.stdout == offline.stdout

        # A page deep in the ledger costs a page: the 200th of 5,000 is the last.
        stub = processor.stub()
        request = pb.ListRunsRequest(page_size=LIST_RUNS_MAX_PAGE)
        last = None
        for _ in range(3):  # a few pages in, to see the token carry on
            page = stub.ListRuns(request, timeout=60)
            assert len(page.runs) == LIST_RUNS_MAX_PAGE
            if last is not None:
                assert page.runs[0].run_key == f"key-{int(last[4:]) - 1:08d}"
            last = page.runs[-1].run_key
            request = pb.ListRunsRequest(
                page_size=LIST_RUNS_MAX_PAGE, page_token=page.next_page_token
            )
    finally:
        assert processor.stop() == 0, "".join(processor.log)


def test_pages_serve_every_run_once_in_order_with_ties_and_json_streams_them(tmp_path, admin_cli):
    runs = 12_345
    build_ledger(tmp_path / "genops.duckdb", runs, same_start_every=7)
    processor = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG))
    try:
        stub = processor.stub()
        # No page_size: the default page; an older client's limit is a page size too.
        first = stub.ListRuns(pb.ListRunsRequest(), timeout=30)
        assert len(first.runs) == LIST_RUNS_DEFAULT_PAGE and first.next_page_token
        assert len(stub.ListRuns(pb.ListRunsRequest(limit=1), timeout=30).runs) == 1
        huge = stub.ListRuns(pb.ListRunsRequest(page_size=10**9), timeout=30)
        assert len(huge.runs) == LIST_RUNS_MAX_PAGE

        seen, token = [], ""
        while True:
            page = stub.ListRuns(pb.ListRunsRequest(page_size=1000, page_token=token), timeout=30)
            seen += [(r.started_at, r.run_key) for r in page.runs]
            token = page.next_page_token
            if not token:
                break
        keys = [k for _, k in seen]
        assert len(keys) == len(set(keys)) == runs
        # Newest first, ties by run key: the runs sharing a start time come key order.
        assert seen == sorted(seen, key=lambda s: (-_ns(s[0]), s[1]))

        with pytest.raises(grpc.RpcError) as bad:
            stub.ListRuns(pb.ListRunsRequest(page_token="not-a-token"), timeout=10)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in bad.value.details()

        live = genops("report", "--endpoint", processor.endpoint, "--json")
        assert live.returncode == 0, live.stderr
    finally:
        assert processor.stop() == 0, "".join(processor.log)
    rows = json.loads(live.stdout)
    assert [r["run_key"] for r in rows] == keys
    assert sum(r["cost_micros"] for r in rows) == expected_total(runs)
    offline = genops("report", "--db", str(tmp_path / "genops.duckdb"), "--json")
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout == live.stdout
    # The streamed JSON is what json.dumps of the same rows prints.
    assert live.stdout == json.dumps(rows, indent=2) + "\n"


def test_a_page_stops_at_its_byte_cap(tmp_path, admin_cli):
    """Runs with long names: a page is cut short at LIST_RUNS_PAGE_BYTES, never past the
    client's 4 MiB receive limit, and the next page carries on."""
    runs = 3_000
    build_ledger(tmp_path / "genops.duckdb", runs)
    with Storage(tmp_path / "genops.duckdb") as db:
        db.call(lambda conn: conn.execute("UPDATE runs SET run_name = repeat('n', 1000)"))
    processor = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG))
    try:
        stub = processor.stub()
        page = stub.ListRuns(pb.ListRunsRequest(page_size=LIST_RUNS_MAX_PAGE), timeout=30)
        assert 0 < len(page.runs) < runs and page.next_page_token
        assert page.ByteSize() <= 2 * 2**20
        total, token = 0, ""
        while True:
            page = stub.ListRuns(
                pb.ListRunsRequest(page_size=LIST_RUNS_MAX_PAGE, page_token=token), timeout=30
            )
            total += len(page.runs)
            token = page.next_page_token
            if not token:
                break
        assert total == runs
    finally:
        assert processor.stop() == 0, "".join(processor.log)


def _ns(iso: str) -> int:
    import datetime as dt

    moment = dt.datetime.fromisoformat(iso)
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000
