"""Names from telemetry are shown literally in every table: rich markup is text, terminal
escapes and other control characters are made visible, JSON stays exact."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from genops_processor.cli import genops_main, report
from genops_processor.cli.literal import cell, literal, one_line

HOSTILE = {
    "[/]": "[/]",
    "[bold red]x": "[bold red]x",
    "\x1b[31mred": "\\x1b[31mred",
    "bell\x07": "bell\\x07",
    "two\nlines": "two\\nlines",
    "tab\there": "tab\\there",
    "csi\x9b2J": "csi\\x9b2J",
    "rtl\u202eevil": "rtl\\u202eevil",
    "zero\u200bwidth": "zero\\u200bwidth",
    "line\u2028sep": "line\\u2028sep",
    ":smile:": ":smile:",
}
FRIENDLY = ["research", "équipe ML", "团队", "a b", "C:\\runs", "50% [draft]"]


@pytest.mark.parametrize(("name", "shown"), HOSTILE.items(), ids=repr)
def test_hostile_names_print_as_their_characters(name, shown):
    assert literal(name) == shown
    assert cell(name).plain == shown


@pytest.mark.parametrize("name", FRIENDLY)
def test_ordinary_names_are_unchanged(name):
    assert literal(name) == name


def test_one_line_errors_have_no_line_breaks_or_escapes():
    assert one_line(RuntimeError("disk\nfull \x1b[2J now")) == "disk full \\x1b[2J now"


def _run(team: str, project: str = "p", run_id: str = "r1") -> pb.RunSummary:
    return pb.RunSummary(
        run_key=run_id * 4,
        run_id=run_id,
        scope=pb.Scope(team=team, project=project, customer_id=team),
        status="finished",
        cost_micros=1_500_000,
        unpriced_skus=[f"gpu-{team}"],
        violations=[f"unpriced: {team}"],
    )


def _tables(runs: list[pb.RunSummary]) -> str:
    totals = pb.RunTotals(
        runs=len(runs),
        cost_micros=sum(r.cost_micros for r in runs),
        teams=len(runs),
        by_team=[
            pb.RunGroupTotal(name=r.scope.team, runs=1, cost_micros=r.cost_micros) for r in runs
        ],
        projects=len(runs),
        by_project=[
            pb.RunGroupTotal(name=r.scope.project, runs=1, cost_micros=r.cost_micros) for r in runs
        ],
        violations=len(runs),
        newest_violations=[pb.RunViolation(run=r.run_id, violation=r.violations[0]) for r in runs],
    )
    out = io.StringIO()
    # No colour: any escape in the output would have come from a name.
    report.print_tables(totals, runs, Console(file=out, width=400, color_system=None))
    return out.getvalue()


def test_report_tables_show_a_team_named_close_tag_literally():
    """A team named ``[/]`` crashed table mode (rich: closing tag with nothing to close)."""
    text = _tables([_run("[/]", project="[bold red]x", run_id="[link=x]r")])
    assert text.count("[/]") >= 3  # the run row, the team table, the violation
    assert "[bold red]x" in text and "[link=x]r" in text


def test_report_tables_show_terminal_escapes_as_text():
    text = _tables([_run("\x1b[31m", project="\x1b]0;title\x07", run_id="\x1b[2J")])
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[31m" in text and "\\x1b]0;title\\x07" in text and "\\x1b[2J" in text


def test_report_json_keeps_names_exact():
    names = list(HOSTILE)
    rows = json.loads(report.to_json([_run(name, run_id=f"r{i}") for i, name in enumerate(names)]))
    assert [row["team"] for row in rows] == names
    out = io.StringIO()
    report.write_json([_run(name) for name in names], out)
    assert [row["team"] for row in json.loads(out.getvalue())] == names


def test_costs_versions_shows_a_hostile_catalog_version_literally(tmp_path):
    db = tmp_path / "genops.duckdb"
    with storage.Storage(db) as store:
        store.call(
            lambda c: c.execute(
                "INSERT INTO runs (run_key, catalog_version, cost_micros) VALUES ('k', ?, 5)",
                ["v\x1b[2J[/]"],
            )
        )
        store.call(
            lambda c: c.execute(
                "INSERT INTO cost_lines (run_key, sku, amount_micros, priced, catalog_version) "
                "VALUES ('k', 'T4', 5, true, ?)",
                ["v\x1b[2J[/]"],
            )
        )
    table = CliRunner().invoke(genops_main, ["costs", "versions", "--db", str(db)])
    assert table.exit_code == 0, table.output
    assert "v\\x1b[2J[/]" in table.output and "\x1b" not in table.output
    as_json = CliRunner().invoke(genops_main, ["costs", "versions", "--db", str(db), "--json"])
    assert json.loads(as_json.output)[0]["version"] == "v\x1b[2J[/]"
