"""Customer usage for billing: a customer's runs, experiments and cost in one UTC month,
by project, team and category (``GetCustomerUsage``, ``genops report customers``).

A run counts in the month it was last active (``runs.as_of_ns``), as in every other cost
summary of the ledger; hand-added cost lines count in the month they were added. Money
is the runs' recorded totals (equal to their priced lines of the catalog version in
force) plus priced hand-added lines: integer micro-dollars throughout.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from genops.catalog import CATEGORIES
from genops_processor.storage import to_ns

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A billing period that is not a month (YYYY-MM)."""


@dataclass
class CustomerUsage:
    customer_id: str
    runs: int = 0
    failed_runs: int = 0
    experiments: int = 0
    cost_micros: int = 0
    by_project: dict[str, int] = field(default_factory=dict)
    by_team: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)


def month(period: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a UTC month given as YYYY-MM."""
    match = _PERIOD.match(period or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise PeriodError(f"billing_period {period!r}: expected a month as YYYY-MM")
    year, number = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, number, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(year + number // 12, number % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return start, end


def customer_usage(
    conn: Any,
    period: str,
    customer_id: str = "",
    teams: frozenset[str] | None = None,
    customers: frozenset[str] | None = None,
) -> list[CustomerUsage]:
    """Usage per customer in ``period`` (one customer when ``customer_id`` is given; runs
    of ``teams`` only, and of ``customers`` only, when those are given), largest first.
    Runs without a customer are listed under ``""``."""
    start, end = month(period)
    clauses = ["COALESCE(customer_id, '') = ?"] if customer_id else ["TRUE"]
    params: list[Any] = [customer_id] if customer_id else []
    if teams is not None:
        clauses.append("team IN (SELECT unnest(?::VARCHAR[]))")
        params.append(sorted(teams))
    if customers is not None:
        clauses.append("customer_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(sorted(customers))
    where = " AND ".join(clauses)
    run_where = f"{where} AND as_of_ns >= ? AND as_of_ns < ?"
    run_params = [*params, to_ns(start), to_ns(end)]
    usage: dict[str, CustomerUsage] = {}

    def of(customer: str | None) -> CustomerUsage:
        key = customer or ""
        return usage.setdefault(key, CustomerUsage(key))

    categories = ", ".join(f"SUM({c}_micros)" for c in CATEGORIES)
    for row in conn.execute(
        "SELECT customer_id, count(*), count(*) FILTER (WHERE status = 'failed'), "
        "count(DISTINCT NULLIF(experiment_id, '')) + "
        "count(*) FILTER (WHERE COALESCE(experiment_id, '') = ''), "
        f"SUM(cost_micros), {categories} FROM runs WHERE {run_where} GROUP BY 1",
        run_params,
    ).fetchall():
        item = of(row[0])
        item.runs, item.failed_runs, item.experiments = int(row[1]), int(row[2]), int(row[3])
        item.cost_micros += int(row[4] or 0)
        for category, micros in zip(CATEGORIES, row[5:], strict=True):
            _add(item.by_category, category, micros)
    for column, target in (("project", "by_project"), ("team", "by_team")):
        for customer, name, micros in conn.execute(
            f"SELECT customer_id, COALESCE({column}, ''), SUM(cost_micros) FROM runs "
            f"WHERE {run_where} GROUP BY 1, 2",
            run_params,
        ).fetchall():
            _add(getattr(of(customer), target), name, micros)
    for customer, project, team, category, micros in conn.execute(
        "SELECT customer_id, COALESCE(project, ''), COALESCE(team, ''), category, "
        f"SUM(amount_micros) FROM manual_costs WHERE {where} AND priced "
        "AND at_ns >= ? AND at_ns < ? GROUP BY ALL",
        run_params,
    ).fetchall():
        item = of(customer)
        item.cost_micros += int(micros or 0)
        _add(item.by_category, category or "other", micros)
        _add(item.by_project, project, micros)
        _add(item.by_team, team, micros)
    if customer_id and customer_id not in usage:
        usage[customer_id] = CustomerUsage(customer_id)
    return sorted(usage.values(), key=lambda u: (-u.cost_micros, u.customer_id))


def _add(totals: dict[str, int], key: str, micros: Any) -> None:
    if micros:
        totals[key] = totals.get(key, 0) + int(micros)
