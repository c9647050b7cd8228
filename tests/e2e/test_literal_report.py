"""``genops report`` on a ledger whose names came from hostile telemetry: a team named
``[/]`` (which crashed table mode), ``[bold red]x`` (markup) and ``\\x1b[31m`` (a
terminal escape) print literally from a ledger file and from a running processor, and
the JSON report keeps them exact."""

from __future__ import annotations

import json
import subprocess

from genops_processor import storage
from tests.helpers import BIN, ROUND_CATALOG, start_processor

TEAMS = ["[/]", "[bold red]x", "\x1b[31m", "plain"]
SHOWN = ["[/]", "[bold red]x", "\\x1b[31m", "plain"]


def hostile_ledger(db) -> None:
    with storage.Storage(db) as store:
        store.call(
            lambda conn: conn.executemany(
                "INSERT INTO runs (run_key, run_id, team, project, status, final, "
                "compute_start_ns, as_of_ns, catalog_version, cost_micros, unpriced_skus, "
                "violations) VALUES (?, ?, ?, ?, 'finished', true, 0, ?, 'test-round-1', ?, "
                "[], [])",
                [
                    [
                        f"key-{i}",
                        f"run-{i}",
                        team,
                        f"{team}-project",
                        10**9 * (i + 1),
                        1000 * (i + 1),
                    ]
                    for i, team in enumerate(TEAMS)
                ],
            )
        )


def genops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "genops"), *args], capture_output=True, text=True, timeout=120)


def assert_literal_tables(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "\x1b" not in result.stdout  # no colour off a terminal: escapes come from names
    for shown in SHOWN:
        assert shown in result.stdout
        assert f"{shown}-project" in result.stdout


def assert_exact_json(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["team"] for r in rows) == sorted(TEAMS)


def test_report_from_a_ledger_file_shows_names_literally(tmp_path):
    db = tmp_path / "genops.duckdb"
    hostile_ledger(db)
    assert_literal_tables(genops("report", "--db", str(db)))
    assert_exact_json(genops("report", "--db", str(db), "--json"))


def test_report_from_a_processor_shows_names_literally(tmp_path, admin_cli):
    hostile_ledger(tmp_path / "genops.duckdb")
    processor = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG))
    try:
        assert_literal_tables(genops("report", "--endpoint", processor.endpoint))
        assert_exact_json(genops("report", "--endpoint", processor.endpoint, "--json"))
    finally:
        assert processor.stop() == 0, "".join(processor.log)
