"""``genops report --db`` with filters and formats: a ledger file no processor holds
(built in SQL, as tests/e2e/test_report_paging.py builds it: run i of team-(i % 37) and
project-(i % 101) started at START_NS + i seconds, costing (i % 1000) + 1 micros)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from tests.e2e.test_report_paging import START_NS, build_ledger, genops

RUNS = 300


def at(seconds: int) -> str:
    return dt.datetime.fromtimestamp(START_NS / 1e9 + seconds, dt.timezone.utc).isoformat()


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ledger") / "genops.duckdb"
    build_ledger(path, RUNS)
    return str(path)


def test_filters_apply_to_a_ledger_file(db):
    team = json.loads(genops("report", "--db", db, "--team", "team-0", "--json").stdout)
    assert sorted(int(r["run_id"][4:]) for r in team) == list(range(0, RUNS, 37))
    window = genops("report", "--db", db, "--since", at(100), "--until", at(150), "--format", "csv")
    assert window.returncode == 0, window.stderr
    rows = list(csv.DictReader(io.StringIO(window.stdout)))
    assert sorted(int(r["run_id"][4:]) for r in rows) == list(range(100, 150))
    assert sum(int(r["cost_micros"]) for r in rows) == sum(i + 1 for i in range(100, 150))


def test_tables_total_the_filtered_runs_exactly(db):
    result = genops("report", "--db", db, "--project", "project-7")
    assert result.returncode == 0, result.stderr
    runs = list(range(7, RUNS, 101))
    assert f"over {len(runs)} run(s)" in result.stdout
    assert f"${sum(i + 1 for i in runs) / 1e6:.6f}" in result.stdout
    assert "Cost by run, project project-7" in result.stdout


def test_an_html_page_from_a_ledger_file_says_burn_downs_need_a_processor(db, tmp_path):
    out = tmp_path / "report.html"
    result = genops("report", "--db", db, "--format", "html", "-o", str(out))
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert "budget burn-downs need a running processor (--endpoint)" in html
    assert 'aria-label="cost over time by team"' in html
    assert html.count('<rect class="bar"') > 8  # eight teams apart, the rest as "other"
    assert "(other teams)" in html


def test_an_unknown_team_in_a_ledger_file_is_a_usage_error(db):
    result = genops("report", "--db", db, "--team", "team-99")
    assert result.returncode == 2 and result.stdout == ""
    assert "Invalid value for '--team': no run of 'team-99' in the ledger" in result.stderr


def test_audit_verify_prints_its_verdict_as_json(db):
    result = genops("audit", "verify", "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["intact"] is True and verdict["first_bad_seq"] is None
