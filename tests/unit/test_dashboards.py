"""The dashboards are code (dashboards/generate.py): the checked-in JSON is what the
script makes, and every panel keeps the conventions the script's doc states."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"


def _generator():
    spec = importlib.util.spec_from_file_location("dashboards_generate", DASHBOARDS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATE = _generator()
BOARDS = GENERATE.build()


def _panels():
    for name, board in BOARDS.items():
        for panel in board["panels"]:
            yield pytest.param(name, panel, id=f"{name}:{panel['title']}")


def test_the_checked_in_json_is_what_the_script_makes():
    assert GENERATE.main(["--check"]) == 0, "run: python dashboards/generate.py"
    assert sorted(p.name for p in DASHBOARDS.glob("*.json")) == sorted(BOARDS)


def test_four_dashboards_with_the_filters_and_a_datasource_variable():
    titles = {board["title"] for board in BOARDS.values()}
    assert titles == {
        "GenOps: Cost overview",
        "GenOps: Budgets & forecast",
        "GenOps: Governance & audit",
        "GenOps: Pipeline health",
    }
    for board in BOARDS.values():
        names = [v["name"] for v in board["templating"]["list"]]
        assert names[:3] == ["datasource", "team", "project"]


def test_no_datasource_uid_is_hard_coded():
    for name in BOARDS:
        text = (DASHBOARDS / name).read_text()
        uids = set(re.findall(r'"uid": "([^"]*)"', text)) - {name.removesuffix(".json")}
        assert uids == {"${datasource}"}, (name, uids)


@pytest.mark.parametrize(("name", "panel"), list(_panels()))
def test_every_panel_honours_the_filters_or_says_it_is_processor_wide(name, panel):
    exprs = [t["expr"] for t in panel["targets"]]
    assert exprs
    if GENERATE.ALL_TEAMS in panel["description"]:
        assert name == "genops-pipeline.json", "only pipeline health has processor-wide panels"
        assert not any("team" in e for e in exprs)
        return
    for expr in exprs:
        # every selector of a metric names both filters (audit events: the team only)
        for selector in re.findall(r"\b(genops_\w+)\{([^}]*)\}", expr):
            metric, labels = selector
            assert re.search(r'team=~"\$team\|?"', labels), (panel["title"], expr)
            if metric != "genops_audit_events":
                assert re.search(r'project=~"\$project\|?"', labels), (panel["title"], expr)
        assert re.search(r"\bgenops_\w+\{", expr), (panel["title"], expr)


def test_utilisation_is_not_capped_and_money_uses_no_counter_increase():
    for board in BOARDS.values():
        for panel in board["panels"]:
            defaults = panel["fieldConfig"]["defaults"]
            if defaults.get("unit") == "percentunit":
                assert "max" not in defaults, panel["title"]
            for t in panel["targets"]:
                if re.search(r"genops_(cost|runs|budget_decisions)\b", t["expr"]):
                    assert "increase(" not in t["expr"] and "rate(" not in t["expr"]
