"""Clean errors from ``genops`` and ``genops-processor``: a disk that is full, a read-only
file system, a ledger locked by another processor, a missing ledger and bad arguments
each end with one line on stderr naming the cause, a non-zero exit, no traceback, and
nothing created by accident.

Disk full and read-only use a real tmpfs (``mount -t tmpfs``; the tests run as root
here); where mounting is not permitted they are skipped, saying so.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from genops_processor import storage
from tests.e2e.test_reprice_resume import V2, build_ledger
from tests.helpers import BIN, ROUND_CATALOG


def run(*args: str, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess:
    program, *rest = args
    return subprocess.run(
        [str(BIN / program), *rest], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def processor_on(db: Path, *extra: str) -> subprocess.CompletedProcess:
    """A processor that must fail at start (a timeout here would be the failure)."""
    return run(
        "genops-processor",
        "--db",
        str(db),
        "--listen",
        "127.0.0.1:0",
        "--catalog",
        str(ROUND_CATALOG),
        *extra,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tmpfs of the given size; unmounted after the test."""
    mounted: list[Path] = []

    def mount(size: str, name: str = "fs") -> Path:
        where = tmp_path / name
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(directory: Path) -> Path:
    """Fill a file system to the last byte; returns the filler file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as error:
                    assert error.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


# -- disk full ---------------------------------------------------------------------------


def test_processor_on_a_full_disk_names_it_and_leaves_nothing(tmpfs):
    disk = tmpfs("64k")
    fill(disk)  # room for nothing
    db = disk / "genops.duckdb"
    line = assert_one_line_error(processor_on(db), "genops-processor:", "disk full")
    assert str(db) in line
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_reprice_on_a_full_disk_names_it_and_the_ledger_stays_whole(tmpfs):
    disk = tmpfs("16m")
    db = disk / "genops.duckdb"
    build_ledger(db, runs=2_000)
    catalog = disk.parent / "v2.yaml"
    catalog.write_text(V2)
    filler = fill(disk)
    reprice = ("genops", "costs", "reprice", "--catalog", str(catalog), "--db", str(db))
    line = assert_one_line_error(run(*reprice), "genops costs reprice:", "disk full")
    assert "no transaction is active" not in line
    filler.unlink()
    with storage.Storage(db, read_only=True) as store:
        versions = store.call(
            lambda c: c.execute("SELECT catalog_version, count(*) FROM runs GROUP BY 1").fetchall()
        )
    # Nothing half-done: every run on one version (none or some steps committed).
    assert sum(n for _, n in versions) == 2_000
    done = run(*reprice)
    assert done.returncode == 0, done.stderr
    assert "repriced 2000 run(s) under test-round-2" in done.stdout


def test_the_cause_is_named_for_a_failed_commit_not_the_failed_rollback(tmpfs):
    """DuckDB answers a rollback after a failed commit with "cannot rollback - no
    transaction is active"; the writer names the commit's cause."""
    disk = tmpfs("2m")
    db = disk / "genops.duckdb"
    with storage.Storage(db) as store:
        store.call(lambda c: c.execute("CREATE TABLE filler_rows (x VARCHAR)"))
        fill(disk)

        def write(conn):
            conn.begin()
            try:
                conn.execute("INSERT INTO filler_rows SELECT repeat('x', 2000) FROM range(5000)")
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

        with pytest.raises(storage.StorageError, match="^disk full: cannot write .*genops"):
            store.call(write)


# -- read-only ---------------------------------------------------------------------------


@pytest.fixture
def read_only_ledger(tmpfs):
    disk = tmpfs("32m", "ro")
    db = disk / "genops.duckdb"
    build_ledger(db, runs=10)
    done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"remounting read-only is not permitted here: {done.stderr.strip()}")
    return db


def test_processor_on_a_read_only_ledger_names_it(read_only_ledger):
    assert_one_line_error(processor_on(read_only_ledger), "genops-processor:", "read-only")


def test_processor_in_a_read_only_directory_creates_nothing(read_only_ledger):
    new = read_only_ledger.parent / "new" / "genops.duckdb"
    assert_one_line_error(processor_on(new), "genops-processor:", "read-only")
    assert not new.parent.exists()


def test_writing_commands_on_a_read_only_ledger_name_it(read_only_ledger, tmp_path):
    catalog = tmp_path / "v2.yaml"
    catalog.write_text(V2)
    db = str(read_only_ledger)
    assert_one_line_error(
        run("genops", "costs", "reprice", "--catalog", str(catalog), "--db", db),
        "genops costs reprice:",
        "read-only",
    )
    assert_one_line_error(
        run("genops", "ledger", "compact", "--db", db), "genops ledger compact:", "read-only"
    )
    # Reading a read-only ledger is fine.
    report = run("genops", "report", "--db", db, "--json")
    assert report.returncode == 0, report.stderr


# -- locked by another process -----------------------------------------------------------


def test_a_second_processor_on_the_same_ledger_names_the_lock(processor):
    line = assert_one_line_error(processor_on(processor.db), "genops-processor:", "locked")
    assert f"(PID {processor.proc.pid})" in line
    assert processor.runs() == []  # the first one is unharmed


@pytest.mark.parametrize(
    "command",
    [
        ("report",),
        ("costs", "versions"),
        ("costs", "reprice", "--catalog", str(ROUND_CATALOG)),
        ("ledger", "compact"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_db_commands_on_a_ledger_a_processor_holds_name_the_lock(processor, command):
    line = assert_one_line_error(
        run("genops", *command, "--db", str(processor.db)), f"genops {command[0]}", "locked"
    )
    assert f"(PID {processor.proc.pid})" in line


# -- missing or not a ledger -------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("report",),
        ("report", "--json"),
        ("costs", "versions"),
        ("costs", "reprice", "--catalog", str(ROUND_CATALOG)),
        ("costs", "reprice", "--resume"),
        ("ledger", "compact"),
    ],
    ids=lambda c: " ".join(c),
)
def test_db_commands_refuse_a_missing_ledger_and_create_nothing(tmp_path, command):
    missing = tmp_path / "missing.duckdb"
    line = assert_one_line_error(run("genops", *command, "--db", str(missing)), "no ledger at")
    assert str(missing) in line
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_ledger_is_named(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a ledger\n" * 1000)
    for command in (("report",), ("costs", "versions")):
        assert_one_line_error(run("genops", *command, "--db", str(junk)), "not a DuckDB ledger")
    assert_one_line_error(processor_on(junk), "not a DuckDB ledger")
    assert junk.read_text() == "not a ledger\n" * 1000


# -- bad arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("genops", "alerts", "list", "--limit", "-1"), "'--limit': -1 is not in the range"),
        (("genops", "alerts", "list", "--limit", "0"), "'--limit': 0 is not in the range"),
        (("genops", "alerts", "list", "--limit", "99999999999"), "'--limit'"),
        (("genops", "alerts", "list", "--limit", "x"), "'--limit'"),
        (("genops", "ledger", "compact", "--db", "x", "--keep-days", "-1"), "'--keep-days'"),
        (("genops", "costs", "reprice", "--db", "x"), "--catalog"),
        (("genops", "costs", "reprice", "--resume"), "--resume needs --db"),
        (
            ("genops", "costs", "reprice", "--catalog", str(ROUND_CATALOG), "--since", "soon"),
            "'soon'",
        ),
        (("genops", "budgets", "set", "b", "--limit", "5", "--thresholds", "a"), "--thresholds"),
        (("genops", "nosuch"), "No such command"),
        (("genops-processor", "--hold-timeout", "-1"), "--hold-timeout"),
        (("genops-processor", "--alert-interval", "0"), "--alert-interval"),
        (("genops-processor", "--raw-span-days", "-1"), "--raw-span-days"),
        (("genops-processor", "--hold-timeout", "nan"), "--hold-timeout"),
        (("genops-processor", "--bogus"), "--bogus"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_bad_arguments_are_one_line_naming_the_option(tmp_path, args, needle):
    # Run where nothing may be created (the processor's default ledger is ./genops.duckdb).
    line = assert_one_line_error(run(*args, timeout=60, cwd=tmp_path), needle)
    assert line.startswith(args[0])
    assert list(tmp_path.iterdir()) == []


def test_a_running_processor_whose_disk_fills_names_it_to_the_exporter(tmpfs):
    """Ingest on a full disk answers UNAVAILABLE (retryable: nothing is lost) naming the
    disk, not DuckDB's "cannot rollback"; with room again the retry is stored."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
    from opentelemetry.proto.trace.v1 import trace_pb2

    from tests.e2e.test_analytics import run_span
    from tests.helpers import start_processor

    disk = tmpfs("24m")
    processor = start_processor(disk, "--catalog", str(ROUND_CATALOG))
    try:
        spans = [run_span(0.01, 0.5, team=f"t{i}") for i in range(200)]
        request = trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[
                trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])
            ]
        )
        filler = fill(disk)
        with processor.channel() as channel:
            export = trace_service_pb2_grpc.TraceServiceStub(channel).Export
            with pytest.raises(grpc.RpcError) as refused:
                export(request, timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "disk full" in refused.value.details()
            assert "no transaction is active" not in refused.value.details()
            filler.unlink()
            export(request, timeout=30)
        assert len(processor.runs()) == 200
    finally:
        processor.stop()
