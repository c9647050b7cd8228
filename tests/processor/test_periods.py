"""Budget periods under an injected clock: midnight rollover (in the budget's time
zone) and the pro-rata split of a run that spans midnight. Real DuckDB, no gRPC."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from genops_processor.budgets import Policy, period_start
from genops_processor.domain import Batch, HardwareUse, RunUsage, Scope, SpanRecord, UsageEvent
from genops_processor.ingest import ingest_batch
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.service import Governance
from genops_processor.storage import Storage
from tests.helpers import ROUND_CATALOG

UTC = dt.timezone.utc
HOUR = 3_600 * 10**9


def ns(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1e9)


def finished_run(key: str, start: dt.datetime, end: dt.datetime) -> UsageEvent:
    """One vCPU at $3.60/h (round catalog): $3.60 per hour of the run."""
    return UsageEvent(
        span=SpanRecord(key, "01" * 8, "run", "wandb.run", key, ns(start), ns(end), "{}"),
        run_id=key[:8],
        run_name=key,
        wandb_project="p",
        scope=Scope(team="night"),
        hardware=HardwareUse(cpu_count=1),
        usage=RunUsage(compute_start_ns=ns(start), as_of_ns=ns(end)),
        status="finished",
        final=True,
    )


@pytest.fixture
def ledger(tmp_path):
    storage = Storage(tmp_path / "ledger.duckdb").open()
    catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
    yesterday = dt.datetime(2026, 11, 28, tzinfo=UTC)
    events = (
        finished_run("a" * 32, yesterday.replace(hour=10), yesterday.replace(hour=12)),  # $7.20
        finished_run(
            "b" * 32, yesterday.replace(hour=23), yesterday.replace(hour=23) + dt.timedelta(hours=2)
        ),  # noqa: E501  $7.20, half after midnight
    )
    storage.submit(lambda conn: ingest_batch(conn, Batch(usage=events), catalogs)).result()
    yield storage, catalogs
    storage.close()


def spent(ledger, policy_yaml: str, now: dt.datetime) -> dict[str, int]:
    import yaml

    storage, catalogs = ledger
    governance = Governance(
        storage, catalogs, Policy.from_dict(yaml.safe_load(policy_yaml)), clock=lambda: now
    )
    states = asyncio.run(governance.budget_status())
    return {s.budget.name: s.spent_micros for s in states}


POLICY = """
budgets:
  - {name: utc-daily, scope: {team: night}, daily_limit: 100}
  - {name: ny-daily, scope: {team: night}, daily_limit: 100, timezone: America/New_York}
  - {name: weekly, scope: {team: night}, period: weekly, limit: 100}
  - {name: total, scope: {team: night}, period: total, limit: 100}
"""


def test_a_run_spanning_midnight_is_split_pro_rata(ledger):
    now = dt.datetime(2026, 11, 29, 1, 30, tzinfo=UTC)
    budgets = spent(ledger, POLICY, now)
    assert budgets["utc-daily"] == 3_600_000  # the hour of run b after midnight only
    assert budgets["total"] == 14_400_000  # both runs, whole


def test_the_day_rolls_over_at_midnight_in_the_budget_s_time_zone(ledger):
    # New York's day began at 05:00 UTC on the 28th: run a (10-12 UTC) and all of b count.
    now = dt.datetime(2026, 11, 29, 1, 30, tzinfo=UTC)  # 20:30 on the 28th in New York
    assert spent(ledger, POLICY, now)["ny-daily"] == 14_400_000
    # At 06:00 UTC on the 29th New York's 29th has begun: nothing of either run is in it.
    assert spent(ledger, POLICY, dt.datetime(2026, 11, 29, 6, 0, tzinfo=UTC))["ny-daily"] == 0


def test_week_starts_on_monday(ledger):
    # 2026-11-28 is a Saturday, 2026-11-30 a Monday: the new week holds nothing yet.
    assert spent(ledger, POLICY, dt.datetime(2026, 11, 29, 12, tzinfo=UTC))["weekly"] == 14_400_000
    assert spent(ledger, POLICY, dt.datetime(2026, 11, 30, 0, 1, tzinfo=UTC))["weekly"] == 0


@pytest.mark.parametrize(
    "period, timezone, expected",
    [
        ("daily", "UTC", "2026-11-29T00:00:00+00:00"),
        ("daily", "Asia/Tokyo", "2026-11-30T00:00:00+09:00"),
        ("weekly", "UTC", "2026-11-23T00:00:00+00:00"),
        ("monthly", "Europe/Paris", "2026-11-01T00:00:00+01:00"),
        ("total", "UTC", "1970-01-01T00:00:00+00:00"),
    ],
)
def test_period_start(period, timezone, expected):
    now = dt.datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    assert period_start(now, period, timezone).isoformat() == expected


@pytest.mark.parametrize(
    "budget, key",
    [
        ({"name": "x", "period": "hourly", "limit": 1}, "period"),
        ({"name": "x", "timezone": "Mars/Olympus", "daily_limit": 1}, "timezone"),
        ({"name": "x", "period": "weekly", "daily_limit": 1}, "daily_limit"),
    ],
)
def test_bad_periods_name_the_key(budget, key):
    from genops_processor.budgets.policy import PolicyError

    with pytest.raises(PolicyError, match=key):
        Policy.from_dict({"budgets": [budget]})


def test_client_limits_and_daily_cost_rules_roll_over_in_the_policy_time_zone(ledger):
    """A client's own daily limit and a daily_cost rule have no zone of their own: their
    day is the policy's ``timezone`` (UTC by default)."""
    from genops_processor.alerts import rules
    from genops_processor.budgets import ClientLimits, decide, spend_query

    storage, _ = ledger
    now = dt.datetime(2026, 11, 29, 0, 30, tzinfo=UTC)  # 09:30 on the 29th in Tokyo
    rule = rules.Rule(
        "metric", Scope(team="night"), metric="daily_cost", threshold=5.0, channels=("log://",)
    ).validated()

    def at(zone: str):
        policy = Policy.from_dict({"timezone": zone})
        budgets = policy.budgets_for(Scope(team="night"), ClientLimits(100_000_000))

        def job(conn):
            (state,) = decide(budgets, 0, now, lambda b, since: spend_query(conn, b, since)).states
            firings = rules.evaluate(conn, [rule], now, lambda _r: (), set(), timezone=zone)
            return state.spent_micros, [(f.event_key, f.detail) for f in firings]

        return storage.submit(job).result()

    # UTC: the day began at midnight: run b's hour after it ($3.60), under $5: no alert.
    assert at("UTC") == (3_600_000, [])
    # Tokyo's 29th began at 15:00 UTC on the 28th: all of run b ($7.20), over $5.
    spent_tokyo, firings = at("Asia/Tokyo")
    assert spent_tokyo == 7_200_000
    ((key, detail),) = firings
    assert key == "2026-11-29" and detail["value"] == 7.2, detail
