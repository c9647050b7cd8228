"""The ingest boundary's schema: every attribute of genops.attributes has a rule, and each
rule lets friendly values through and rejects hostile ones with the attribute's name."""

from __future__ import annotations

import math

import pytest

from genops import attributes as attr
from genops_processor import limits
from genops_processor.ingest import validation as v

NOW = 1_796_000_000 * 10**9  # the processor's clock in these tests (Nov 2026)
DAY = 86_400 * 10**9


def declared_attributes() -> set[str]:
    return {
        value
        for name, value in vars(attr).items()
        if name.isupper()
        and isinstance(value, str)
        and "." in value
        # span and event names, statuses: not attribute keys
        and not name.startswith(("SPAN_", "STATUS_", "EVENT_MAX", "EVENT_BUDGET", "EVENT_UNP"))
        and name != "EVENT_COMPLIANCE"
    }


def check(key: str, value: object):
    return v.check_span({key: value}, NOW - 1, NOW, NOW)


def test_every_declared_attribute_has_a_rule():
    assert declared_attributes() <= set(v.SCHEMA)


def test_the_schema_is_data_a_generator_can_read():
    for key, rule in v.SCHEMA.items():
        assert rule.type in (v.INT, v.FLOAT, v.DECIMAL, v.TIME, v.IDENTIFIER, v.TEXT, v.JSON)
        if rule.type in (v.INT, v.FLOAT, v.DECIMAL):
            assert rule.min is not None and rule.max is not None, key
        if rule.type in (v.IDENTIFIER, v.TEXT, v.JSON):
            assert rule.max_len, key


# -- numbers -------------------------------------------------------------------------------

NUMERIC = sorted(k for k, r in v.SCHEMA.items() if r.type in (v.INT, v.FLOAT, v.DECIMAL))


def as_sent(rule: v.Rule, number):
    return str(number) if rule.type == v.DECIMAL else number


@pytest.mark.parametrize("key", NUMERIC)
def test_the_edges_of_a_numeric_rule_are_accepted(key):
    rule = v.SCHEMA[key]
    for edge in (rule.min, rule.max):
        checked = check(key, as_sent(rule, edge))
        assert checked.attributes[key] == as_sent(rule, edge) and checked.flags == ()


@pytest.mark.parametrize("key", NUMERIC)
def test_just_past_the_edges_is_out_of_range(key):
    rule = v.SCHEMA[key]
    step = 1 if rule.type == v.INT else 0.5
    for hostile in (rule.min - step, rule.max + step):
        with pytest.raises(v.Rejected) as refused:
            check(key, as_sent(rule, hostile))
        assert refused.value.reason == v.OUT_OF_RANGE
        assert key in str(refused.value)


INTEGER = sorted(k for k, r in v.SCHEMA.items() if r.type in (v.INT, v.TIME))


@pytest.mark.parametrize("key", INTEGER)
@pytest.mark.parametrize("hostile", [2.0, math.inf, math.nan, "3", True, [1, 2], None])
def test_an_integer_key_takes_only_integers(key, hostile):
    with pytest.raises(v.Rejected) as refused:
        check(key, hostile)
    assert refused.value.reason == v.WRONG_TYPE
    assert key in str(refused.value)


@pytest.mark.parametrize(
    ("key", "hostile"),
    [
        (attr.USAGE_DECLARED_STORAGE_MICROS, -(10**12)),
        (attr.USAGE_DECLARED_STORAGE_MICROS, 5 * 10**18),
        (attr.USAGE_ARTIFACT_BYTES, -1),
        (attr.USAGE_ARTIFACT_FILES, -1),
        (attr.USAGE_ARTIFACT_COUNT, -1),
        (attr.USAGE_LOG_CALLS, -1),
        (attr.STORAGE_RETENTION_DAYS, -30),
        (attr.RUN_SEQUENCE, -1),
        (attr.HW_GPU_COUNT, 2**40),
        (attr.HW_CPU_COUNT, 2**63 - 1),
        (attr.ARTIFACT_BYTES, -4096),
        (attr.ARTIFACT_COST_ESTIMATE_MICROS, -5),
        (attr.EXPERIMENT_MAX_COST_MICROS, -1),
        (attr.EXPERIMENT_ESTIMATED_COST_MICROS, 10**18),
        (attr.RUN_EXIT_CODE, 2**40),
    ],
)
def test_the_issues_hostile_numbers_are_out_of_range(key, hostile):
    with pytest.raises(v.Rejected) as refused:
        check(key, hostile)
    assert (refused.value.reason, key in str(refused.value)) == (v.OUT_OF_RANGE, True)


@pytest.mark.parametrize(
    ("key", "friendly"),
    [
        (attr.HW_GPU_COUNT, 8),
        (attr.HW_CPU_COUNT, 96),
        (attr.USAGE_DECLARED_STORAGE_MICROS, 1_500_000),
        (attr.USAGE_ARTIFACT_BYTES, 50 * 2**40),
        (attr.STORAGE_RETENTION_DAYS, 365),
        (attr.RUN_EXIT_CODE, -2),
        (attr.HW_GPU_UTILIZATION_MEAN, 0.73),
        (attr.HW_GPU_UTILIZATION_MEAN, 1),
        (attr.HW_GPU_MEMORY_PEAK_GB, 79.5),
    ],
)
def test_friendly_numbers_pass_unchanged(key, friendly):
    assert check(key, friendly).attributes == {key: friendly}


@pytest.mark.parametrize("hostile", [math.nan, math.inf, -math.inf])
def test_a_float_key_takes_only_finite_numbers(hostile):
    with pytest.raises(v.Rejected) as refused:
        check(attr.HW_GPU_MEMORY_PEAK_GB, hostile)
    assert refused.value.reason == v.OUT_OF_RANGE


@pytest.mark.parametrize("friendly", ["1.5", "0", "0.000001", "1e-05", "36"])
def test_a_manual_cost_quantity_is_decimal_text(friendly):
    assert check(attr.COST_QUANTITY, friendly).attributes == {attr.COST_QUANTITY: friendly}


@pytest.mark.parametrize(
    ("hostile", "reason"),
    [
        ("-1", v.OUT_OF_RANGE),
        ("NaN", v.OUT_OF_RANGE),
        ("Infinity", v.OUT_OF_RANGE),
        ("1e30", v.OUT_OF_RANGE),
        ("two", v.WRONG_TYPE),
        (2, v.WRONG_TYPE),
    ],
)
def test_a_hostile_manual_cost_quantity_is_rejected(hostile, reason):
    with pytest.raises(v.Rejected) as refused:
        check(attr.COST_QUANTITY, hostile)
    assert refused.value.reason == reason


# -- times ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [attr.RUN_COMPUTE_START_NS, attr.USAGE_AS_OF_NS])
@pytest.mark.parametrize(
    "hostile",
    [0, -(2**63 - 1), 2**63 - 1, NOW - limits.SPAN_MAX_AGE_NS - 1],
)
def test_a_usage_time_outside_the_window_is_rejected(key, hostile):
    with pytest.raises(v.Rejected) as refused:
        check(key, hostile)
    assert refused.value.reason == v.TIME_WINDOW
    assert key in str(refused.value)


@pytest.mark.parametrize("key", [attr.RUN_COMPUTE_START_NS, attr.USAGE_AS_OF_NS])
@pytest.mark.parametrize(
    "friendly",
    [NOW, NOW - 30 * DAY, NOW - limits.SPAN_MAX_AGE_NS, NOW + limits.SPAN_MAX_FUTURE_NS],
)
def test_late_delivery_and_a_little_clock_skew_pass(key, friendly):
    assert check(key, friendly).attributes == {key: friendly}


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, NOW), (NOW, 16_725_225_600 * 10**9), (NOW, NOW + limits.SPAN_MAX_FUTURE_NS + 1)],
)
def test_span_times_outside_the_window_are_rejected(start, end):
    with pytest.raises(v.Rejected) as refused:
        v.check_span({}, start, end, NOW)
    assert refused.value.reason == v.TIME_WINDOW
    assert "span." in str(refused.value)


def test_the_window_moves_with_the_injected_clock():
    later = NOW + 400 * DAY
    v.check_span({}, later - DAY, later, later)
    with pytest.raises(v.Rejected):
        v.check_span({}, NOW - DAY, NOW, later)


# -- text ----------------------------------------------------------------------------------

IDENTIFIERS = sorted(k for k, r in v.SCHEMA.items() if r.type == v.IDENTIFIER and not r.choices)


@pytest.mark.parametrize("key", IDENTIFIERS)
@pytest.mark.parametrize("hostile", ["ev\x1b[31mil", "a\nb", "nul\x00", "x\u202eevil", "\x7f"])
def test_control_characters_in_an_identifier_are_rejected(key, hostile):
    with pytest.raises(v.Rejected) as refused:
        check(key, hostile)
    assert refused.value.reason == v.CONTROL_CHARACTERS
    assert key in str(refused.value)


@pytest.mark.parametrize("key", IDENTIFIERS)
@pytest.mark.parametrize("friendly", ["ml-team", "Équipe données", "团队", "[/]", "🚀 launch"])
def test_printable_identifiers_pass_unchanged(key, friendly):
    assert check(key, friendly) == v.CheckedSpan({key: friendly})


@pytest.mark.parametrize("key", [attr.TEAM, attr.RUN_KEY, attr.WANDB_RUN_NAME, attr.RUN_ERROR])
def test_over_long_text_is_truncated_and_flagged(key):
    rule = v.SCHEMA[key]
    checked = check(key, "x" * (rule.max_len + 1))
    assert checked.attributes == {key: "x" * rule.max_len}
    [flag] = checked.flags
    assert flag.startswith(v.FLAG_PREFIX) and key in flag and "truncated" in flag


def test_free_text_may_hold_newlines():
    error = "Traceback (most recent call last):\n  ValueError: boom"
    assert check(attr.RUN_ERROR, error).attributes == {attr.RUN_ERROR: error}


def test_over_long_json_is_dropped_and_flagged():
    checked = check(attr.TAGS, '{"a": "' + "x" * limits.MAX_SPAN_JSON_CHARS + '"}')
    assert checked.attributes == {}
    [flag] = checked.flags
    assert attr.TAGS in flag and "dropped" in flag


JSON_KEYS = [k for k, rule in v.SCHEMA.items() if rule.type == v.JSON]


@pytest.mark.parametrize("key", JSON_KEYS)
@pytest.mark.parametrize(
    "hostile",
    ["x", "", '{"a": ', "NaN", "1", '"text"', "null", "[" * 30_000 + "]" * 30_000],
)
def test_json_that_is_not_json_or_of_another_shape_is_dropped_and_flagged(key, hostile):
    # the fuzz found a report failing for everyone on one run's final metrics of "x"
    checked = check(key, hostile)
    assert checked.attributes == {}
    [flag] = checked.flags
    assert key in flag and "dropped" in flag and v.SCHEMA[key].unit in flag


@pytest.mark.parametrize("key", JSON_KEYS)
def test_json_of_the_right_shape_is_kept_as_sent(key):
    text = '["a", "b"]' if v.SCHEMA[key].unit == "a JSON array" else '{"a": 1, "b": [2]}'
    assert check(key, text).attributes == {key: text}
    assert check(key, text).flags == ()


@pytest.mark.parametrize("hostile", [5, 1.5, True, ["a"]])
def test_text_keys_take_only_text(hostile):
    with pytest.raises(v.Rejected) as refused:
        check(attr.TEAM, hostile)
    assert refused.value.reason == v.WRONG_TYPE


@pytest.mark.parametrize("status", ["running", "finished", "failed"])
def test_the_run_status_is_one_of_three(status):
    assert check(attr.RUN_STATUS, status).attributes == {attr.RUN_STATUS: status}
    with pytest.raises(v.Rejected) as refused:
        check(attr.RUN_STATUS, status.upper() + "!")
    assert refused.value.reason == v.OUT_OF_RANGE


def test_attributes_without_a_rule_pass_through():
    other = {"http.method": "GET", "genops.future.key": 2**62, "x": [1, 2]}
    assert v.check_span(other, NOW - 1, NOW, NOW).attributes == other


def test_every_reason_is_a_short_fixed_label():
    assert len(set(v.REASONS)) == len(v.REASONS) <= 12
    assert all(r.isidentifier() and r.islower() for r in v.REASONS)


def _edge_values(rule: v.Rule) -> list[object]:
    """Values at and around a rule's edges, of every type a client may send."""
    values: list[object] = [True, False, None, 0, -1, 1.5, math.nan, math.inf, -math.inf, "", "x"]
    for bound in (rule.min, rule.max):
        if bound is not None:
            values += [bound, bound - 1, bound + 1, float(bound), str(bound)]
    if rule.max_len is not None:
        values += ["a" * rule.max_len, "a" * (rule.max_len + 1)]
    values += list(rule.choices) + [c.upper() for c in rule.choices]
    values += ["tab\there", "bidi\u202eevil", "nbsp\u00a0x", "{}", "[]", "\u00e9t\u00e9"]
    values += [NOW, NOW - 400 * DAY, NOW + DAY, 2**63, -(2**63)]
    return values


@pytest.mark.parametrize("key", sorted(v.SCHEMA))
def test_the_shortcut_for_plainly_valid_values_never_changes_a_verdict(key):
    """check_span keeps a value its shortcut finds plainly valid without the full
    checks: for each rule and each edge value, that value must be one the full
    checks (check_value) keep unchanged and unflagged."""
    rule = v.SCHEMA[key]
    oldest, latest = v.time_window(NOW)
    shortcut = 0
    for value in _edge_values(rule):
        if not v._plainly_valid(rule, value, oldest, latest):
            continue
        shortcut += 1
        clean, flag = v.check_value(key, rule, value, NOW)
        assert (clean, flag) == (value, ""), (key, value)
        assert type(clean) is type(value)
    if rule.type != v.JSON and rule.type != v.DECIMAL:  # those always take the full path
        assert shortcut, f"no edge value of {key} took the shortcut"
