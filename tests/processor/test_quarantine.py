"""A ledger poisoned by hand (rows written with raw SQL, as an older processor let
them in) opens, sets the bad rows aside with a reason, and every query answers.
Real DuckDB files in tmp_path, no gRPC."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from genops_processor.analytics.queries import cost_summary, daily_costs, team_attribution
from genops_processor.budgets import Budget, decide
from genops_processor.budgets.spend import budget_states, spend_query
from genops_processor.domain import Scope
from genops_processor.limits import MAX_RUN_MICROS
from genops_processor.storage import Storage, queries
from genops_processor.storage.quarantine import quarantined
from genops_processor.storage.schema import SCHEMA

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC)
NOW_NS = int(NOW.timestamp() * 1e9)
HOUR_NS = 3_600 * 10**9
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
INT64_MAX = 2**63 - 1

# (run_key, team, cost_micros, compute_start_ns, as_of_ns, declared_storage_micros)
SANE = [
    ("ok-a", "alpha", 36_000_000, NOW_NS - HOUR_NS, NOW_NS, 0),
    ("ok-b", "beta", 72_000_000, NOW_NS - 2 * HOUR_NS, NOW_NS, 0),
    ("rich-a", "alpha", 10**12, NOW_NS - HOUR_NS, NOW_NS, 0),  # $1,000,000: sane, large
]
POISON = [
    ("near-max", "alpha", INT64_MAX - 5, NOW_NS - HOUR_NS, NOW_NS, 0),
    ("negative", "alpha", -(10**13), NOW_NS - HOUR_NS, NOW_NS, -(10**13)),
    ("extreme-times", "alpha", 0, -(2**63 - 1), INT64_MAX, 0),
    ("declared-1", "beta", 5 * 10**18, NOW_NS - HOUR_NS, NOW_NS, 5 * 10**18),
    ("declared-2", "beta", 5 * 10**18, NOW_NS - HOUR_NS, NOW_NS, 5 * 10**18),
]


def insert_run(conn, key, team, cost, start, as_of, declared) -> None:
    conn.execute(
        "INSERT INTO runs (run_key, run_id, team, project, status, final, gpu_type, gpu_count, "
        "cpu_count, compute_start_ns, as_of_ns, log_calls, artifact_bytes, artifact_files, "
        "artifact_count, sequence, catalog_version, cost_micros, declared_storage_micros, "
        "experiment_id, compute_micros, storage_micros, data_transfer_micros, tracking_micros, "
        "unpriced_lines) VALUES (?, ?, ?, 'p', 'finished', TRUE, 'T4', 1, 0, ?, ?, 1, 0, 0, 0, "
        "1, 'v1', ?, ?, 'exp-1', ?, ?, 0, 0, 0)",
        [key, key, team, start, as_of, cost, declared, max(cost - declared, 0), declared],
    )
    conn.execute(
        "INSERT INTO cost_lines VALUES (?, 'T4', 'compute', 'gpu-hour', 1, 36, ?, TRUE, 'v1', "
        "'test', '2026-12-01', ?)",
        [key, cost, as_of],
    )


@pytest.fixture
def poisoned(tmp_path):
    """A ledger file with three sane runs and five that break the money invariants,
    plus a hold and a hand-added line with impossible amounts."""
    path = tmp_path / "poisoned.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(SCHEMA)
    for row in SANE + POISON:
        insert_run(conn, *row)
    conn.execute(
        "INSERT INTO holds (hold_id, team, project, customer_id, cost_center, environment, "
        "amount_micros, status, created_ns) VALUES "
        "('h-huge', 'alpha', '', '', '', '', ?, 'open', ?), "
        "('h-ok', 'alpha', '', '', '', '', 5000000, 'open', ?)",
        [INT64_MAX, NOW_NS, NOW_NS],
    )
    conn.execute(
        "INSERT INTO manual_costs (trace_id, span_id, experiment_id, team, project, customer_id, "
        "cost_center, environment, sku, category, amount_micros, priced, catalog_version, at_ns) "
        "VALUES ('t', 's-neg', 'exp-1', 'alpha', '', '', '', '', 'x', 'compute', ?, TRUE, 'v1', ?)",
        [-(10**14), NOW_NS],
    )
    conn.close()
    return path


SANE_KEYS = {row[0] for row in SANE}
ALPHA_SPEND = 36_000_000 + 10**12 + 5_000_000  # its runs and its sane open hold
BETA_SPEND = 72_000_000


def every_query(conn) -> dict:
    """Every read the API and reports make, on one connection."""
    budgets = [
        Budget("alpha", Scope(team="alpha"), 100_000_000, "enforced", period="total"),
        Budget("beta", Scope(team="beta"), 100_000_000, "enforced", period="total"),
        Budget("all", Scope(), 10**15, "enforced", period="total"),
    ]
    return {
        "runs": {r.run_key for r in queries.list_runs(conn)},
        "usage": queries.usage_since(conn, Scope(team="alpha"), EPOCH),
        "states": {s.budget.name: s.spent_micros for s in budget_states(conn, budgets, NOW)},
        "summary": cost_summary(conn, Scope(), EPOCH),
        "attribution": team_attribution(conn, EPOCH),
        "daily": daily_costs(conn, Scope(), EPOCH),
        "experiment": queries.experiment(conn, "exp-1"),
        "versions": queries.catalog_version_totals(conn),
    }


def test_a_poisoned_ledger_opens_and_quarantines_each_bad_row_with_its_reason(poisoned):
    with Storage(poisoned) as db:
        answers = db.call(every_query)
        aside = db.call(quarantined)
    reasons = {(row["source"], row["row_key"]): row["reason"] for row in aside}
    assert {key for source, key in reasons if source == "runs"} == {row[0] for row in POISON}
    assert "cost_micros 9223372036854775802 outside" in reasons[("runs", "near-max")]
    assert "negative compute_start_ns" in reasons[("runs", "extreme-times")]
    assert "cost_micros -10000000000000 outside" in reasons[("runs", "negative")]
    assert ("holds", "h-huge") in reasons and ("manual_costs", "s-neg") in reasons
    assert ("cost_lines", "declared-1") in reasons  # a quarantined run's lines go with it
    assert answers["runs"] == SANE_KEYS
    assert answers["states"] == {
        "alpha": ALPHA_SPEND,
        "beta": BETA_SPEND,
        "all": ALPHA_SPEND + BETA_SPEND,
    }
    assert answers["usage"].spent_micros == 36_000_000 + 10**12
    assert answers["summary"].total_micros == 36_000_000 + 72_000_000 + 10**12
    assert sum(row[-1] for row in answers["attribution"]) == answers["summary"].total_micros
    assert sum(m for _, m in answers["daily"]) == answers["summary"].total_micros
    assert sum(v.priced_micros for v in answers["versions"]) == answers["summary"].total_micros
    assert {r.run_key for r in answers["experiment"].runs} == SANE_KEYS


def test_quarantine_survives_reopening_and_sets_nothing_else_aside(poisoned):
    with Storage(poisoned) as db:
        first = db.call(quarantined)
    with Storage(poisoned) as db:
        again = db.call(quarantined)
        runs = db.call(lambda c: {r.run_key for r in queries.list_runs(c)})
    assert again == first and runs == SANE_KEYS


def test_a_poisoned_ledger_answers_read_only_before_any_quarantine(poisoned):
    """``genops report --db`` opens read-only: nothing can be moved, the reads leave
    the bad runs out and every sum still answers."""
    with Storage(poisoned, read_only=True) as db:
        runs = db.call(lambda c: {r.run_key for r in queries.list_runs(c)})
        versions = db.call(queries.catalog_version_totals)
        usage = db.call(lambda c: queries.usage_since(c, Scope(team="alpha"), EPOCH))
    assert runs == SANE_KEYS
    assert versions and usage.spent_micros == 36_000_000 + 10**12


def test_negative_money_never_reduces_spend_even_before_quarantine(poisoned):
    """The spend SQL alone (a raw connection, nothing quarantined): a run of -$10M does
    not offset alpha's $1M run, and an enforced $100 budget keeps denying."""
    conn = duckdb.connect(str(poisoned), read_only=True)
    try:
        budget = Budget("alpha", Scope(team="alpha"), 100_000_000, "enforced", period="total")
        spent = spend_query(conn, budget, EPOCH)
        decision = decide([budget], 1_000_000, NOW, lambda b, since: spend_query(conn, b, since))
    finally:
        conn.close()
    assert spent >= 10**12 + 36_000_000  # negatives clamp to 0; huge rows cannot overflow
    assert decision.outcome == "deny"


def test_a_sane_ledger_sets_nothing_aside(tmp_path):
    path = tmp_path / "sane.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(SCHEMA)
    for row in SANE:
        insert_run(conn, *row)
    conn.close()
    with Storage(path) as db:
        assert db.call(quarantined) == []
        spent = db.call(
            lambda c: spend_query(c, Budget("b", Scope(), MAX_RUN_MICROS, "enforced"), EPOCH)
        )
    assert spent == 36_000_000 + 72_000_000 + 10**12


def test_sane_runs_whose_sum_passes_int64_saturate_and_decisions_are_recorded(tmp_path):
    """10,000 runs at the per-run maximum ($1e9 each, $1e13 in all: past int64 micros):
    nothing is quarantined, spend saturates, a decision is still recorded."""
    from genops_processor.budgets.decisions import list_decisions, record_decision

    path = tmp_path / "rich.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(SCHEMA)
    conn.execute(
        "INSERT INTO runs (run_key, team, status, final, compute_start_ns, as_of_ns, log_calls, "
        "artifact_bytes, artifact_files, artifact_count, sequence, cost_micros, compute_micros) "
        "SELECT 'r' || i, 'alpha', 'finished', TRUE, ?, ?, 0, 0, 0, 0, 1, ?, ? "
        "FROM range(10000) t(i)",
        [NOW_NS - HOUR_NS, NOW_NS, MAX_RUN_MICROS, MAX_RUN_MICROS],
    )
    conn.close()
    budget = Budget("alpha", Scope(team="alpha"), 100_000_000, "enforced", period="total")
    with Storage(path) as db:
        assert db.call(quarantined) == []

        def decide_and_record(c):
            decision = decide([budget], 1, NOW, lambda b, since: spend_query(c, b, since))
            record_decision(c, Scope(team="alpha"), "", "", decision, NOW)
            return decision, list_decisions(c)

        decision, recorded = db.call(decide_and_record)
        usage = db.call(lambda c: queries.usage_since(c, Scope(team="alpha"), EPOCH))
    assert decision.outcome == "deny" and decision.deciding.spent_micros == INT64_MAX
    assert recorded[-1]["spent_micros"] == INT64_MAX
    assert usage.spent_micros == 10_000 * MAX_RUN_MICROS  # exact in Python; saturated on the wire
