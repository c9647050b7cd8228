"""``genops report`` filters and formats, ``--version``, and the read commands' tables,
against one real processor (its ledger built from OTLP run spans with known costs: the
round catalog prices a T4 at $36/h) and, after it stops, the ledger file it left."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import time

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from tests import helpers
from tests.helpers import BIN, ROUND_CATALOG, start_processor, token_of
from tests.synthetic_spans import export, run_span

DAY_NS = 86_400 * 10**9
NOW_NS = time.time_ns()
HOSTILE_TEAM = "<script>alert(1)</script>"
# (team, project, days ago the run ended, hours on one T4 at $36/h)
RUNS = (
    ("nlp", "summariser", 2, 0.5),
    ("nlp", "summariser", 5, 0.5),
    ("nlp", "translator", 9, 0.5),
    ("vision", "detector", 3, 1.0),
    ("vision", "detector", 12, 1.0),
    ("ml-team", "churn", 1, 0.25),
    (HOSTILE_TEAM, "x", 4, 0.1),
)
POLICY = """
budgets:
  - {name: nlp-monthly, scope: {team: nlp}, limit: "200", period: monthly}
  - {name: all-weekly, scope: {}, limit: "500", period: weekly, mode: advisory}
"""


def micros(hours: float) -> int:
    return round(hours * 36 * 1_000_000)


def iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).isoformat()


def genops(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if helpers.CREDENTIALS_ON:
        env["GENOPS_TOKEN"] = token_of("admin")
    return subprocess.run(
        [str(BIN / "genops"), *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    """A processor with the RUNS and two budgets; stopped at the end of the module."""
    tmp = tmp_path_factory.mktemp("report")
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    proc = start_processor(tmp, "--catalog", str(ROUND_CATALOG), "--policy", str(policy))
    try:
        spans = [
            run_span(team, project=project, as_of_ns=NOW_NS - days * DAY_NS, hours=hours)
            for team, project, days, hours in RUNS
        ]
        export(proc.endpoint, token_of("admin") if proc.credentials else None, spans)
        yield proc
    finally:
        proc.stop()


def report(ledger, *args: str) -> subprocess.CompletedProcess:
    return genops("report", "--endpoint", ledger.endpoint, *args)


def started_after(days: float) -> set[tuple[str, str, int]]:
    """The RUNS whose start is less than ``days`` ago."""
    return {
        (team, project, micros(hours))
        for team, project, ago, hours in RUNS
        if ago * DAY_NS + hours * 3600e9 < days * DAY_NS
    }


def rows_of(result: subprocess.CompletedProcess) -> set[tuple[str, str, int]]:
    assert result.returncode == 0, result.stderr
    return {(r["team"], r["project"], r["cost_micros"]) for r in json.loads(result.stdout)}


def test_both_commands_print_their_version():
    for command in ("genops", "genops-processor"):
        result = subprocess.run(
            [str(BIN / command), "--version"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{command} ") and "genops-processor" in result.stdout


def test_since_until_team_and_project_select_the_runs_that_started_in_range(ledger):
    since = iso(NOW_NS - 6 * DAY_NS)
    assert rows_of(report(ledger, "--since", since, "--json")) == started_after(6)
    nlp = json.loads(report(ledger, "--since", since, "--team", "nlp", "--format", "json").stdout)
    assert [r["project"] for r in nlp] == ["summariser", "summariser"]
    until = iso(NOW_NS - int(4.5 * DAY_NS))
    older = json.loads(report(ledger, "--until", until, "--project", "detector", "--json").stdout)
    assert [(r["team"], r["cost_micros"]) for r in older] == [("vision", micros(1.0))]


def test_without_options_the_report_is_what_it_was(ledger):
    plain = report(ledger, "--json")
    assert plain.stdout == report(ledger, "--format", "json").stdout
    assert rows_of(plain) == {(t, p, micros(h)) for t, p, _, h in RUNS}
    tables = report(ledger)
    assert tables.returncode == 0, tables.stderr
    total = sum(micros(h) for *_, h in RUNS)
    assert f"Total: ${total / 1e6:,.2f} over {len(RUNS)} run(s)" in tables.stdout


def test_csv_holds_the_json_rows(ledger):
    result = report(ledger, "--format", "csv", "--team", "vision")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    as_json = json.loads(report(ledger, "--json", "--team", "vision").stdout)
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in as_json]
    assert [int(r["cost_micros"]) for r in rows] == [micros(1.0), micros(1.0)]
    assert list(rows[0]) == list(as_json[0])


def test_a_filter_that_matches_nothing_says_so(ledger):
    future = iso(NOW_NS + DAY_NS)
    tables = report(ledger, "--team", "nlp", "--since", future)
    assert tables.returncode == 0, tables.stderr
    assert tables.stdout.startswith("No runs of team nlp, since ")
    assert report(ledger, "--team", "nlp", "--since", future, "--json").stdout == "[]\n"


def test_output_file_is_written_whole(ledger, tmp_path):
    out = tmp_path / "runs.csv"
    result = report(ledger, "--format", "csv", "-o", str(out))
    assert result.returncode == 0 and f"wrote csv to {out}" in result.stderr
    assert len(out.read_text().splitlines()) == len(RUNS) + 1
    assert not (tmp_path / "runs.csv.partial").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "2026-12-05", "--until", "2026-12-01"), "'2026-12-05' is not before"),
        (("--since", "2026-12-01", "--until", "2026-12-01T00:00:00Z"), "is not before --until"),
        (("--since", "yesterday"), "'--since': 'yesterday' is not a date"),
        (("--until", "2026-02-30"), "'--until': '2026-02-30' is not a date"),
        (("--until", "9999-12-31"), "'--until': '9999-12-31' is not a date"),
        (("--since", "1969-12-31"), "'--since': '1969-12-31' is outside 1970..2261"),
        (("--since", "1990-01-01", "--until", "2026-01-01"), "at most 3,660"),
        (("--team", ""), "'--team': must not be empty"),
        (("--team", "x" * 257), "257 characters; at most 256"),
        (("--project", "a\x1b]0;owned\x07"), "'--project': 'a\\x1b]0;owned\\x07' holds control"),
        (("--team", "nobody-here"), "'--team': no run of 'nobody-here' in the ledger"),
        (("--project", "nothing"), "'--project': no run of 'nothing' in the ledger"),
        (("--format", "pdf"), "'pdf' is not one of 'table', 'json', 'csv', 'html'"),
        (("--json", "--format", "csv"), "--json is --format json"),
        (("-o", "report.txt"), "--output goes with --format json, csv or html"),
    ],
)
def test_bad_arguments_are_usage_errors(ledger, tmp_path, args, message):
    result = subprocess.run(
        [str(BIN / "genops"), "report", "--endpoint", ledger.endpoint, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=dict(os.environ, GENOPS_TOKEN=token_of("admin")),
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "\x1b" not in result.stderr and not list(tmp_path.iterdir())


def test_list_runs_refuses_a_window_that_ends_before_it_starts(ledger):
    stub = ledger.stub()
    with pytest.raises(grpc.RpcError) as refused:
        stub.ListRuns(pb.ListRunsRequest(since_ns=NOW_NS, until_ns=NOW_NS - 1), timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as negative:
        stub.ListRuns(pb.ListRunsRequest(since_ns=-1), timeout=30)
    assert negative.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_budgets_show_is_a_table(ledger):
    result = genops("budgets", "show", "--endpoint", ledger.endpoint)
    assert result.returncode == 0, result.stderr
    assert "nlp-monthly" in result.stdout and "team=nlp" in result.stdout
    assert "{" not in result.stdout and "│" in result.stdout
    assert json.loads(genops("budgets", "show", "--endpoint", ledger.endpoint, "--json").stdout)


def test_approvals_say_when_there_are_none_and_refuse_an_unknown_status(ledger):
    empty = genops("approvals", "--endpoint", ledger.endpoint)
    assert empty.returncode == 0 and empty.stdout == "no pending approvals\n", empty
    every = genops("approvals", "--endpoint", ledger.endpoint, "--status", "all")
    assert every.stdout == "no approvals\n"
    assert genops("approvals", "--endpoint", ledger.endpoint, "--json").stdout == "[]\n"
    bogus = genops("approvals", "--endpoint", ledger.endpoint, "--status", "bogus")
    assert bogus.returncode == 2 and bogus.stdout == ""
    assert "Invalid value for '--status': 'bogus' is not one of" in bogus.stderr
