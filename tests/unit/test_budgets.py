"""Unit tests for budget policies and budget decisions (pure logic)."""

from __future__ import annotations

import datetime as dt

import pytest

from genops_processor.budgets.policy import (
    Budget,
    ClientLimits,
    Policy,
    PolicyError,
    decide,
    period_start,
    stricter,
)
from genops_processor.domain import Scope

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 5, 14, 30, 15, tzinfo=UTC)
MIDNIGHT = dt.datetime(2026, 3, 5, tzinfo=UTC)


def budget(name: str, limit_micros: int, mode: str = "enforced", **scope: str) -> Budget:
    return Budget(name=name, scope=Scope(**scope), limit_micros=limit_micros, mode=mode)


def spent_from(table: dict[str, int]):
    calls: list[tuple[str, dt.datetime]] = []

    def spent(b: Budget, start: dt.datetime) -> int:
        calls.append((b.name, start))
        return table[b.name]

    spent.calls = calls
    return spent


# --------------------------------------------------------------------------- Policy.from_dict


def test_policy_from_dict_reads_every_field():
    policy = Policy.from_dict(
        {
            "budgets": [
                {
                    "name": "nlp-daily",
                    "scope": {"team": "nlp", "environment": "production"},
                    "daily_limit": "25.00",
                    "mode": "enforced",
                },
                {
                    "name": "acme",
                    "scope": {"customer_id": "acme"},
                    "daily_limit": 7.5,
                    "mode": "Advisory",
                },
                {"name": "everything", "daily_limit": 100, "mode": "audit_only"},
                {"name": "default-mode", "daily_limit": "0.000001"},
            ]
        }
    )
    assert policy.budgets == (
        Budget("nlp-daily", Scope(team="nlp", environment="production"), 25_000_000, "enforced"),
        Budget("acme", Scope(customer_id="acme"), 7_500_000, "advisory"),
        Budget("everything", Scope(), 100_000_000, "audit_only"),
        Budget("default-mode", Scope(), 1, "enforced"),
    )
    assert all(b.period == "daily" and b.source == "policy" for b in policy.budgets)


def test_empty_policy_has_no_budgets():
    assert Policy.from_dict({}).budgets == ()
    assert Policy.from_dict({"budgets": None}).budgets == ()
    assert Policy.load(None).budgets == ()


def test_policy_load_reads_a_yaml_file(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "budgets:\n"
        "  - name: nlp-daily\n"
        "    scope: {team: nlp}\n"
        '    daily_limit: "25.00"\n'
        "    mode: enforced\n"
    )
    assert Policy.load(path).budgets == (
        Budget("nlp-daily", Scope(team="nlp"), 25_000_000, "enforced"),
    )


@pytest.mark.parametrize(
    "data, fragments",
    [
        pytest.param(
            {"budgets": [], "limits": []}, ["unknown key", "limits"], id="unknown-top-level-key"
        ),
        pytest.param(
            {"budgets": [{"name": "b", "daily_limit": 1, "perod": "weekly"}]},
            ["budgets[0]", "unknown key", "perod"],
            id="unknown-budget-key",
        ),
        pytest.param(
            {"budgets": [{"name": "b", "daily_limit": 1, "mode": "strict"}]},
            ["budgets[0] (b)", "mode", "'strict'"],
            id="bad-mode",
        ),
        pytest.param(
            {"budgets": [{"name": "b", "daily_limit": "-1"}]},
            ["budgets[0] (b)", "daily_limit", "non-negative"],
            id="negative-limit",
        ),
        pytest.param(
            {"budgets": [{"name": "b", "daily_limit": "lots"}]},
            ["budgets[0] (b)", "daily_limit", "'lots'", "not a number"],
            id="non-numeric-limit",
        ),
        pytest.param(
            {"budgets": [{"name": "b", "daily_limit": "0.0000001"}]},
            ["budgets[0] (b)", "daily_limit", "more precise than a micro-dollar"],
            id="sub-micro-limit",
        ),
        pytest.param(
            {"budgets": [{"name": "b"}]},
            ["budgets[0] (b)", "daily_limit"],
            id="missing-limit",
        ),
        pytest.param(
            {"budgets": [{"daily_limit": 1}]}, ["budgets[0].name is missing"], id="missing-name"
        ),
        pytest.param(
            {"budgets": [{"name": "b", "daily_limit": 1, "scope": {"region": "eu"}}]},
            ["budgets[0] (b)", "scope"],
            id="unknown-scope-key",
        ),
        pytest.param(
            {
                "budgets": [
                    {"name": "dup", "daily_limit": 1},
                    {"name": "ok", "daily_limit": 1},
                    {"name": "dup", "daily_limit": 2},
                ]
            },
            ["name", "used twice", "dup"],
            id="duplicate-names",
        ),
        pytest.param(["not", "a", "mapping"], ["expected a mapping"], id="not-a-mapping"),
    ],
)
def test_policy_errors_name_the_key(data, fragments):
    with pytest.raises(PolicyError) as info:
        Policy.from_dict(data, "p.yaml")
    message = str(info.value)
    assert message.startswith("p.yaml: ")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_policy_error_is_a_value_error():
    assert issubclass(PolicyError, ValueError)


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    "budget_scope, run_scope, matches",
    [
        ({}, {}, True),
        ({}, {"team": "nlp", "project": "x"}, True),
        ({"team": "nlp"}, {"team": "nlp", "project": "x"}, True),
        ({"team": "nlp"}, {"team": "vision"}, False),
        ({"team": "nlp"}, {}, False),
        ({"team": "nlp", "project": "x"}, {"team": "nlp", "project": "x"}, True),
        ({"team": "nlp", "project": "x"}, {"team": "nlp", "project": "y"}, False),
        ({"customer_id": "acme"}, {"customer_id": "acme", "team": "t"}, True),
        ({"cost_center": "cc-1"}, {"cost_center": "cc-2"}, False),
        ({"environment": "production"}, {"environment": "production"}, True),
        ({"environment": "production"}, {"environment": "Production"}, False),
    ],
)
def test_budget_matches_when_every_set_scope_field_is_equal(budget_scope, run_scope, matches):
    assert budget("b", 1, **budget_scope).matches(Scope(**run_scope)) is matches


def test_budgets_for_keeps_only_matching_budgets():
    policy = Policy(
        budgets=(
            budget("nlp", 1, team="nlp"),
            budget("vision", 1, team="vision"),
            budget("all", 1),
        )
    )
    names = [b.name for b in policy.budgets_for(Scope(team="nlp"), ClientLimits())]
    assert names == ["nlp", "all"]


def test_budgets_for_keeps_policy_order_across_team_and_any_team_budgets():
    policy = Policy(
        budgets=(
            budget("all", 1),
            budget("nlp-churn", 1, team="nlp", project="churn"),
            budget("vision", 1, team="vision"),
            budget("churn-any-team", 1, project="churn"),
            budget("nlp", 1, team="nlp"),
            budget("prod", 1, environment="prod"),
        )
    )
    names = [b.name for b in policy.budgets_for(Scope(team="nlp", project="churn"), ClientLimits())]
    assert names == ["all", "nlp-churn", "churn-any-team", "nlp"]
    assert [b.name for b in policy.budgets_for(Scope(), ClientLimits())] == ["all"]
    assert [
        b.name for b in policy.budgets_for(Scope(team="x", environment="prod"), ClientLimits())
    ] == ["all", "prod"]


# --------------------------------------------------------------------------- decide


def test_decide_allows_within_budget():
    b = budget("nlp", 10_000_000)
    spent = spent_from({"nlp": 4_000_000})
    decision = decide([b], 6_000_000, NOW, spent)
    assert decision.outcome == "allow"
    assert decision.deciding is None
    assert decision.message == "within budget"
    assert decision.requested_micros == 6_000_000
    (state,) = decision.states
    assert state.budget == b
    assert state.spent_micros == 4_000_000
    assert state.period_start == MIDNIGHT
    assert state.exceeded is False
    assert spent.calls == [("nlp", MIDNIGHT)]


def test_decide_with_no_budgets_allows():
    decision = decide([], 5_000_000, NOW, spent_from({}))
    assert (decision.outcome, decision.states, decision.deciding) == ("allow", (), None)


@pytest.mark.parametrize(
    "mode, spent, requested, outcome, exceeded",
    [
        ("enforced", 4_000_000, 6_000_000, "allow", False),  # exactly up to the limit
        ("enforced", 4_000_000, 6_000_001, "deny", True),
        ("enforced", 10_000_000, 0, "deny", True),  # spent == limit, nothing requested
        ("enforced", 12_000_000, 0, "deny", True),
        ("enforced", 9_999_999, 0, "allow", False),
        ("advisory", 4_000_000, 6_000_001, "warn", True),
        ("advisory", 10_000_000, 0, "warn", True),
        ("advisory", 0, 0, "allow", False),
        ("audit_only", 4_000_000, 6_000_001, "allow", True),
        ("audit_only", 10_000_000, 0, "allow", True),
    ],
)
def test_decide_outcome_by_mode(mode, spent, requested, outcome, exceeded):
    b = budget("nlp", 10_000_000, mode)
    decision = decide([b], requested, NOW, spent_from({"nlp": spent}))
    assert decision.outcome == outcome
    assert decision.states[0].exceeded is exceeded
    assert (decision.deciding is not None) is exceeded


def test_deny_message_names_the_budget_and_the_amounts():
    decision = decide(
        [budget("nlp-daily", 25_000_000)], 1_000_000, NOW, spent_from({"nlp-daily": 24_500_000})
    )
    assert decision.outcome == "deny"
    assert decision.message == (
        "budget 'nlp-daily' (enforced) exceeded: limit $25.00, spent $24.50, requested $1.00"
    )


def test_audit_only_breach_is_allowed_but_marked_exceeded():
    decision = decide(
        [budget("audit", 1_000_000, "audit_only")], 0, NOW, spent_from({"audit": 2_000_000})
    )
    assert decision.outcome == "allow"
    assert decision.deciding is not None
    assert decision.deciding.budget.name == "audit"
    assert decision.deciding.exceeded is True
    assert "budget 'audit' (audit_only) exceeded" in decision.message


@pytest.mark.parametrize(
    "breached, outcome, deciding",
    [
        (["audit", "advisory", "enforced"], "deny", "enforced"),
        (["audit", "advisory"], "warn", "advisory"),
        (["audit"], "allow", "audit"),
        (["enforced", "audit"], "deny", "enforced"),
        (["advisory"], "warn", "advisory"),
        ([], "allow", None),
    ],
)
def test_the_strictest_breached_budget_decides(breached, outcome, deciding):
    budgets = [
        budget("audit", 10_000_000, "audit_only"),
        budget("enforced", 10_000_000, "enforced"),
        budget("advisory", 10_000_000, "advisory"),
    ]
    spent = spent_from({b.name: 10_000_000 if b.name in breached else 0 for b in budgets})
    decision = decide(budgets, 0, NOW, spent)
    assert decision.outcome == outcome
    assert (decision.deciding.budget.name if decision.deciding else None) == deciding
    assert [s.exceeded for s in decision.states] == [b.name in breached for b in budgets]


# --------------------------------------------------------------------------- client limits


@pytest.mark.parametrize(
    "central, client, expected",
    [
        ("enforced", None, "enforced"),
        ("advisory", None, "advisory"),
        ("advisory", "enforced", "enforced"),
        ("audit_only", "advisory", "advisory"),
        ("audit_only", "enforced", "enforced"),
        ("enforced", "audit_only", "enforced"),
        ("enforced", "advisory", "enforced"),
        ("advisory", "audit_only", "advisory"),
    ],
)
def test_stricter_only_tightens(central, client, expected):
    assert stricter(central, client) == expected


def test_client_limit_adds_a_client_budget_on_team_and_project():
    policy = Policy(budgets=(budget("nlp", 25_000_000, "enforced", team="nlp"),))
    scope = Scope(team="nlp", project="churn", customer_id="acme", environment="dev")

    budgets = policy.budgets_for(scope, ClientLimits(daily_limit_micros=5_000_000))

    assert budgets == [
        budget("nlp", 25_000_000, "enforced", team="nlp"),
        Budget(
            name="client:nlp/churn",
            scope=Scope(team="nlp", project="churn"),
            limit_micros=5_000_000,
            mode="advisory",
            source="client",
        ),
    ]


def test_client_limit_without_team_or_project_is_named_with_stars():
    budgets = Policy().budgets_for(Scope(), ClientLimits(5_000_000, "enforced"))
    assert [(b.name, b.scope, b.mode) for b in budgets] == [("client:*/*", Scope(), "enforced")]


def test_the_policy_timezone_is_where_client_limits_and_zoneless_budgets_roll_over():
    policy = Policy.from_dict(
        {
            "timezone": "Asia/Tokyo",
            "budgets": [
                {"name": "plain", "daily_limit": 1},
                {"name": "paris", "daily_limit": 1, "timezone": "Europe/Paris"},
                {"name": "null", "daily_limit": 1, "timezone": None},  # YAML `timezone:`
            ],
        }
    )
    zones = {b.name: b.timezone for b in policy.budgets_for(Scope(), ClientLimits(1_000_000))}
    assert zones == {
        "plain": "Asia/Tokyo",
        "paris": "Europe/Paris",
        "null": "Asia/Tokyo",
        "client:*/*": "Asia/Tokyo",
    }
    # 23:30 UTC is 08:30 the next day in Tokyo: the client's day began at 15:00 UTC
    (state,) = decide(
        Policy.from_dict({"timezone": "Asia/Tokyo"}).budgets_for(Scope(), ClientLimits(1)),
        0,
        dt.datetime(2026, 3, 5, 23, 30, tzinfo=UTC),
        lambda _budget, _since: 0,
    ).states
    assert state.period_start == dt.datetime(2026, 3, 5, 15, 0, tzinfo=UTC)
    assert Policy().timezone == Policy.from_dict({}).timezone == "UTC"  # the default


@pytest.mark.parametrize(
    "zone",
    ["", "Mars/Olympus", "Europe", "../../etc/passwd", "/etc/localtime", "a\x00b", "x" * 5000, 12],
)
def test_a_policy_timezone_that_is_no_zone_is_refused_clearly(zone):
    for data, key in (
        ({"timezone": zone}, "p.yaml: timezone "),
        ({"budgets": [{"name": "b", "daily_limit": 1, "timezone": zone}]}, "(b).timezone "),
    ):
        with pytest.raises(PolicyError) as info:
            Policy.from_dict(data, "p.yaml")
        message = str(info.value)
        assert key in message and "is not a known time zone" in message, message
        assert len(message) < 200  # a long name is cut, not echoed whole


def test_client_limit_tightens_the_decision():
    policy = Policy(budgets=(budget("nlp", 25_000_000, "enforced", team="nlp"),))
    budgets = policy.budgets_for(
        Scope(team="nlp", project="churn"), ClientLimits(5_000_000, "enforced")
    )
    spent = spent_from({"nlp": 4_000_000, "client:nlp/churn": 4_000_000})
    decision = decide(budgets, 2_000_000, NOW, spent)
    assert decision.outcome == "deny"
    assert decision.deciding.budget.name == "client:nlp/churn"


def test_client_limit_zero_adds_no_budget():
    policy = Policy(budgets=(budget("nlp", 1, team="nlp"),))
    assert [b.name for b in policy.budgets_for(Scope(team="nlp"), ClientLimits(0, "enforced"))] == [
        "nlp"
    ]


def test_client_mode_enforced_upgrades_an_advisory_central_budget():
    policy = Policy(budgets=(budget("nlp", 25_000_000, "advisory", team="nlp"),))
    (b,) = policy.budgets_for(Scope(team="nlp"), ClientLimits(mode="enforced"))
    assert b.mode == "enforced"
    decision = decide([b], 0, NOW, spent_from({"nlp": 25_000_000}))
    assert decision.outcome == "deny"


@pytest.mark.parametrize("client_mode", ["audit_only", "advisory"])
def test_client_mode_cannot_loosen_an_enforced_central_budget(client_mode):
    policy = Policy(budgets=(budget("nlp", 25_000_000, "enforced", team="nlp"),))
    (b,) = policy.budgets_for(Scope(team="nlp"), ClientLimits(mode=client_mode))
    assert b.mode == "enforced"
    decision = decide([b], 0, NOW, spent_from({"nlp": 25_000_000}))
    assert decision.outcome == "deny"


def test_a_larger_client_limit_does_not_loosen_the_central_limit():
    policy = Policy(budgets=(budget("nlp", 10_000_000, "enforced", team="nlp"),))
    budgets = policy.budgets_for(
        Scope(team="nlp", project="p"), ClientLimits(100_000_000, "audit_only")
    )
    spent = spent_from({"nlp": 9_000_000, "client:nlp/p": 9_000_000})
    decision = decide(budgets, 2_000_000, NOW, spent)
    assert decision.outcome == "deny"
    assert decision.deciding.budget.name == "nlp"


# --------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    "now, start",
    [
        (dt.datetime(2026, 3, 5, 14, 30, tzinfo=UTC), dt.datetime(2026, 3, 5, tzinfo=UTC)),
        (dt.datetime(2026, 3, 5, 0, 0, tzinfo=UTC), dt.datetime(2026, 3, 5, tzinfo=UTC)),
        (
            dt.datetime(2026, 3, 5, 23, 59, 59, 999_999, tzinfo=UTC),
            dt.datetime(2026, 3, 5, tzinfo=UTC),
        ),
        # 23:30 at UTC-5 is 04:30 the next day in UTC
        (
            dt.datetime(2026, 3, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            dt.datetime(2026, 3, 6, tzinfo=UTC),
        ),
        # 01:00 at UTC+9 is 16:00 the previous day in UTC
        (
            dt.datetime(2026, 1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))),
            dt.datetime(2025, 12, 31, tzinfo=UTC),
        ),
    ],
)
def test_period_start_is_utc_midnight(now, start):
    result = period_start(now, "daily")
    assert result == start
    assert result.utcoffset() == dt.timedelta(0)
    assert (result.hour, result.minute, result.second, result.microsecond) == (0, 0, 0, 0)


def test_unsupported_period_is_rejected():
    with pytest.raises(ValueError, match="unsupported period 'hourly'"):
        period_start(NOW, "hourly")


def test_null_scope_value_is_rejected_not_turned_into_the_string_none():
    with pytest.raises(PolicyError, match=r"budgets\[0\] \(b\)\.scope"):
        Policy.from_dict({"budgets": [{"name": "b", "daily_limit": 1, "scope": {"team": None}}]})
