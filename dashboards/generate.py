"""The four Grafana dashboards, as code: ``python dashboards/generate.py`` writes them
beside this file; ``--check`` exits 1 when a checked-in JSON differs from what this
script makes (tests/unit/test_dashboards_current.py runs the same check).

Plain dicts, no Grafana SDK: the JSON model is small and stable (schemaVersion 39).
Conventions every panel follows:

- the datasource is the template variable ``$datasource`` (no uid in the JSON), so the
  dashboards import into any Grafana with a Prometheus datasource;
- every query of a scoped metric filters on ``$team`` and ``$project`` (``FILTER``);
  budgets and alerts also show the budgets that span every team or project (scope
  ``""``); panels about the processor itself say "all teams" in their description;
- money and counts come from the ledger's gauges (``genops_cost_usd``, ``genops_runs``,
  ``genops_budget_decisions``, ...): "in range" is the gauge now minus the gauge at the
  range's start (``in_range``), exact, with no extrapolation and no counter reset;
- utilisation is a ratio with no maximum: 130 % shows as 130 %.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
FILTER = 'team=~"$team", project=~"$project"'
# Budgets and their alerts: also those whose scope names no team / project.
BUDGET_FILTER = 'team=~"$team|", project=~"$project|"'
ALL_TEAMS = "Processor-wide (all teams: the metric has no team label)."


def in_range(metric: str, by: str = "", selector: str = FILTER) -> str:
    """The gauge's growth over the dashboard's range, per ``by`` (its value when it had
    no series at the range's start: it was zero then)."""
    grouping = f" by ({by})" if by else ""
    now = f"sum{grouping} ({metric}{{{selector}}})"
    then = f"sum{grouping} ({metric}{{{selector}}} offset $__range)"
    return f"({now} - {then}) or {now}"


def quantile(q: float, histogram: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket[$__rate_interval])))"


class Layout:
    """Panels placed left to right, rows of 24 columns."""

    def __init__(self) -> None:
        self.panels: list[dict] = []
        self.x = self.y = self.row_h = 0

    def add(self, panel: dict, w: int, h: int) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def target(expr: str, legend: str = "__auto", ref: str = "A", instant: bool = False) -> dict:
    return {
        "datasource": DS,
        "refId": ref,
        "expr": expr,
        "legendFormat": legend,
        "instant": instant,
        "range": not instant,
    }


def panel(kind: str, title: str, description: str, targets: list[dict], unit: str, **extra):
    defaults = {"unit": unit, "color": {"mode": "palette-classic"}}
    defaults.update(extra.pop("defaults", {}))
    body = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": extra.pop("options", {}),
    }
    body.update(extra)
    return body


def stat(title: str, description: str, expr: str, unit: str, decimals: int = 2) -> dict:
    return panel(
        "stat",
        title,
        description,
        [target(expr, instant=True)],
        unit,
        defaults={"decimals": decimals, "color": {"mode": "thresholds"}},
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
        },
    )


def series(title: str, description: str, targets: list[dict], unit: str) -> dict:
    return panel(
        "timeseries",
        title,
        description,
        targets,
        unit,
        options={"legend": {"displayMode": "table", "placement": "right"}},
    )


def bars(title: str, description: str, expr: str, legend: str, unit: str, **defaults) -> dict:
    return panel(
        "bargauge",
        title,
        description,
        [target(expr, legend, instant=True)],
        unit,
        defaults=defaults,
        options={
            "orientation": "horizontal",
            "displayMode": "gradient",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    )


def cost_overview() -> tuple[str, str, list[dict]]:
    grid = Layout()
    spent = "Priced cost recorded in the ledger during the range (runs and hand-added lines)."
    grid.add(stat("Cost in range", spent, in_range("genops_cost_usd"), "currencyUSD", 4), 6, 4)
    grid.add(
        stat(
            "Runs finished in range",
            "Runs that ended (finished or failed) during the range, from the ledger.",
            in_range("genops_runs", selector=FILTER + ', status=~"finished|failed"'),
            "none",
            0,
        ),
        6,
        4,
    )
    grid.add(
        stat(
            "Failed runs in range",
            "Runs that ended failed during the range, from the ledger.",
            in_range("genops_runs", selector=FILTER + ', status="failed"'),
            "none",
            0,
        ),
        6,
        4,
    )
    grid.add(
        stat(
            "Cost, all time",
            "Everything the ledger holds for the selected teams and projects.",
            f"sum(genops_cost_usd{{{FILTER}}})",
            "currencyUSD",
            4,
        ),
        6,
        4,
    )
    grid.add(
        series(
            "Cumulative cost by team",
            "The ledger's total per team over time (steps when runs are priced).",
            [target(f"sum by (team) (genops_cost_usd{{{FILTER}}})", "{{team}}")],
            "currencyUSD",
        ),
        12,
        8,
    )
    grid.add(
        series(
            "Spend rate by team",
            "USD per hour, the slope of the ledger's total (a rate: smoothed).",
            [
                target(
                    f"sum by (team) (deriv(genops_cost_usd{{{FILTER}}}[$__rate_interval])) * 3600",
                    "{{team}}",
                )
            ],
            "currencyUSD",
        ),
        12,
        8,
    )
    for label, title in (
        ("project", "Cost by project in range"),
        ("customer", "Cost by customer in range"),
        ("cost_center", "Cost by cost center in range"),
        ("environment", "Cost by environment in range"),
        ("category", "Cost by category in range"),
        ("team", "Cost by team in range"),
    ):
        grid.add(
            bars(
                title,
                f"Priced cost recorded during the range, per {label.replace('_', ' ')}.",
                in_range("genops_cost_usd", label),
                f"{{{{{label}}}}}",
                "currencyUSD",
                decimals=4,
            ),
            8,
            7,
        )
    grid.add(
        series(
            "Runs in the ledger by status",
            "Runs recorded, by status (running, finished, failed).",
            [target(f"sum by (status) (genops_runs{{{FILTER}}})", "{{status}}")],
            "none",
        ),
        24,
        7,
    )
    return "genops-cost-overview", "GenOps: Cost overview", grid.panels


def budgets_and_forecast() -> tuple[str, str, list[dict]]:
    grid = Layout()
    grid.add(
        stat(
            "Budget denials in range",
            "CheckBudget answers that refused a run during the range, from the ledger.",
            in_range("genops_budget_decisions", selector=FILTER + ', decision="deny"'),
            "none",
            0,
        ),
        6,
        4,
    )
    grid.add(
        stat(
            "Budget warnings in range",
            "CheckBudget answers that warned during the range, from the ledger.",
            in_range("genops_budget_decisions", selector=FILTER + ', decision="warn"'),
            "none",
            0,
        ),
        6,
        4,
    )
    grid.add(
        stat(
            "Open holds",
            "Reservations not yet released or committed.",
            f"sum(genops_holds_open{{{FILTER}}}) or vector(0)",
            "none",
            0,
        ),
        6,
        4,
    )
    grid.add(
        stat(
            "Money held",
            "USD reserved by open holds (counted against budgets with committed spend).",
            f"sum(genops_holds_open_usd{{{FILTER}}}) or vector(0)",
            "currencyUSD",
            4,
        ),
        6,
        4,
    )
    grid.add(
        bars(
            "Budget utilisation",
            "Spent / limit in the current period; not capped: above 100 % is overspent.",
            f"max by (budget) (genops_budget_utilization_ratio{{{BUDGET_FILTER}}})",
            "{{budget}}",
            "percentunit",
            min=0,
            thresholds={
                "mode": "absolute",
                "steps": [
                    {"color": "green", "value": None},
                    {"color": "orange", "value": 0.8},
                    {"color": "red", "value": 1},
                ],
            },
        ),
        12,
        8,
    )
    grid.add(
        series(
            "Spent vs limit",
            "Each budget's spend in its current period and its limit.",
            [
                target(
                    f"max by (budget) (genops_budget_spent_usd{{{BUDGET_FILTER}}})",
                    "{{budget}} spent",
                ),
                target(
                    f"max by (budget) (genops_budget_limit_usd{{{BUDGET_FILTER}}})",
                    "{{budget}} limit",
                    "B",
                ),
            ],
            "currencyUSD",
        ),
        12,
        8,
    )
    grid.add(
        bars(
            "Forecast at period end",
            "Spend at the period's end if it goes on at the period's average rate so far.",
            f"max by (budget) (genops_budget_forecast_usd{{{BUDGET_FILTER}}})",
            "{{budget}}",
            "currencyUSD",
            decimals=4,
        ),
        12,
        8,
    )
    grid.add(
        bars(
            "Forecast / limit",
            "Forecast at period end over the limit; above 100 %: on course to overspend.",
            f"max by (budget) (genops_budget_forecast_usd{{{BUDGET_FILTER}}}) / "
            f"max by (budget) (genops_budget_limit_usd{{{BUDGET_FILTER}}})",
            "{{budget}}",
            "percentunit",
            min=0,
        ),
        12,
        8,
    )
    grid.add(
        series(
            "Budget decisions by outcome",
            "CheckBudget answers recorded in the ledger (cumulative), by outcome.",
            [target(f"sum by (decision) (genops_budget_decisions{{{FILTER}}})", "{{decision}}")],
            "none",
        ),
        12,
        8,
    )
    grid.add(
        bars(
            "Alerts fired by budget",
            "Budget threshold alerts fired (all periods), from the ledger.",
            f"sum by (budget) (genops_alerts_fired{{{BUDGET_FILTER}}})",
            "{{budget}}",
            "none",
        ),
        12,
        8,
    )
    return "genops-budgets", "GenOps: Budgets & forecast", grid.panels


def governance_and_audit() -> tuple[str, str, list[dict]]:
    grid = Layout()
    audit_filter = 'team=~"$team|"'  # audit events carry a team (or none), not a project
    grid.add(
        stat(
            "Runs with violations in range",
            "Runs recorded during the range with at least one policy violation.",
            in_range("genops_runs_flagged"),
            "none",
            0,
        ),
        6,
        4,
    )
    grid.add(
        stat(
            "Denials in range",
            "Budget denials during the range (runs refused before they started).",
            in_range("genops_budget_decisions", selector=FILTER + ', decision="deny"'),
            "none",
            0,
        ),
        6,
        4,
    )
    grid.add(
        stat(
            "Audit events in range",
            "Events appended to the audit trail during the range (the project filter "
            "does not apply: audit events carry a team only).",
            in_range("genops_audit_events", selector=audit_filter),
            "none",
            0,
        ),
        6,
        4,
    )
    grid.add(
        stat(
            "Approvals pending",
            "Runs waiting for a person's approval.",
            f'sum(genops_approvals{{{FILTER}, status="pending"}}) or vector(0)',
            "none",
            0,
        ),
        6,
        4,
    )
    grid.add(
        bars(
            "Audit events by kind in range",
            "Audit trail events during the range, by kind (team filter only).",
            in_range("genops_audit_events", "kind", audit_filter),
            "{{kind}}",
            "none",
        ),
        12,
        9,
    )
    grid.add(
        bars(
            "Decisions by outcome in range",
            "Budget decisions during the range, by outcome.",
            in_range("genops_budget_decisions", "decision"),
            "{{decision}}",
            "none",
        ),
        12,
        9,
    )
    grid.add(
        series(
            "Audit trail growth",
            "Audit events recorded (cumulative), by kind (team filter only).",
            [target(f"sum by (kind) (genops_audit_events{{{audit_filter}}})", "{{kind}}")],
            "none",
        ),
        12,
        8,
    )
    grid.add(
        bars(
            "Approvals by status",
            "Approval requests (all time), by status.",
            f"sum by (status) (genops_approvals{{{FILTER}}})",
            "{{status}}",
            "none",
        ),
        12,
        8,
    )
    return "genops-governance", "GenOps: Governance & audit", grid.panels


def pipeline_health() -> tuple[str, str, list[dict]]:
    grid = Layout()
    for title, histogram in (
        ("Ingest latency", "genops_ingest_duration_seconds"),
        ("Commit time", "genops_commit_duration_seconds"),
        ("Budget decision latency", "genops_decision_duration_seconds"),
    ):
        grid.add(
            series(
                title,
                f"p50 and p99 of {histogram}. {ALL_TEAMS}",
                [
                    target(quantile(0.5, histogram), "p50"),
                    target(quantile(0.99, histogram), "p99", "B"),
                ],
                "s",
            ),
            8,
            8,
        )
    grid.add(
        series(
            "Writer queue depth",
            f"Jobs waiting for the DuckDB writer. {ALL_TEAMS}",
            [target("max(genops_writer_queue_depth)", "queued")],
            "none",
        ),
        8,
        8,
    )
    grid.add(
        series(
            "Spans received",
            f"Spans per second, by kind. {ALL_TEAMS}",
            [
                target(
                    "sum by (kind) (rate(genops_spans_received_total[$__rate_interval]))",
                    "{{kind}}",
                )
            ],
            "ops",
        ),
        8,
        8,
    )
    grid.add(
        bars(
            "Spans rejected in range",
            f"Spans refused at ingest, by reason (counter increase). {ALL_TEAMS}",
            "sum by (reason) (increase(genops_spans_rejected_total[$__range]))",
            "{{reason}}",
            "none",
        ),
        8,
        8,
    )
    grid.add(
        series(
            "Admission refusals",
            f"Calls refused with RESOURCE_EXHAUSTED, per second, by pool. {ALL_TEAMS}",
            [
                target(
                    "sum by (pool) (rate(genops_admission_refused_total[$__rate_interval]))",
                    "{{pool}}",
                )
            ],
            "ops",
        ),
        8,
        8,
    )
    grid.add(
        series(
            "Open holds",
            "Reservations open now, for the selected teams and projects.",
            [target(f"sum(genops_holds_open{{{FILTER}}}) or vector(0)", "open holds")],
            "none",
        ),
        8,
        8,
    )
    grid.add(
        series(
            "Alert delivery",
            f"Deliveries waiting in the outbox, and failed attempts by channel. {ALL_TEAMS}",
            [
                target("max(genops_alert_outbox)", "waiting"),
                target("sum by (channel) (genops_alert_delivery_failures)", "{{channel}}", "B"),
            ],
            "none",
        ),
        8,
        8,
    )
    grid.add(
        series(
            "Processor memory and CPU",
            f"Resident memory and CPU seconds per second (process_*). {ALL_TEAMS}",
            [
                target("max(process_resident_memory_bytes)", "resident bytes"),
                target("sum(rate(process_cpu_seconds_total[$__rate_interval]))", "cpu", "B"),
            ],
            "bytes",
        ),
        12,
        8,
    )
    grid.add(
        series(
            "Metrics freshness",
            f"Age of the ledger figures a scrape shows and how long reading them took. {ALL_TEAMS}",
            [
                target("max(genops_metrics_ledger_age_seconds)", "age"),
                target("max(genops_metrics_ledger_read_seconds)", "read", "B"),
            ],
            "s",
        ),
        12,
        8,
    )
    return "genops-pipeline", "GenOps: Pipeline health", grid.panels


def variables() -> list[dict]:
    def scoped(name: str, label: str, query: str) -> dict:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DS,
            "query": {"query": query, "refId": f"{name}-variable", "qryType": 1},
            "definition": query,
            "refresh": 2,  # on time range change
            "sort": 1,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [],
            "hide": 0,
            "regex": "",
        }

    datasource = {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "options": [],
        "hide": 0,
        "refresh": 1,
        "regex": "",
    }
    return [
        datasource,
        scoped("team", "Team", "label_values(genops_runs, team)"),
        scoped("project", "Project", 'label_values(genops_runs{team=~"$team"}, project)'),
    ]


def dashboard(uid: str, title: str, panels: list[dict]) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": "Generated by dashboards/generate.py; edit that, not this file.",
        "tags": ["genops"],
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "time": {"from": "now-24h", "to": "now"},
        "timezone": "utc",
        "refresh": "30s",
        "links": [
            {"type": "dashboards", "tags": ["genops"], "asDropdown": True, "title": "GenOps"}
        ],
        "annotations": {"list": []},
        "templating": {"list": variables()},
        "panels": panels,
    }


BUILDERS = (cost_overview, budgets_and_forecast, governance_and_audit, pipeline_health)


def build() -> dict[str, dict]:
    """File name -> dashboard."""
    out = {}
    for builder in BUILDERS:
        uid, title, panels = builder()
        out[f"{uid}.json"] = dashboard(uid, title, panels)
    return out


def render(board: dict) -> str:
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name, board in build().items():
        path = HERE / name
        text = render(board)
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)} (run python dashboards/generate.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
