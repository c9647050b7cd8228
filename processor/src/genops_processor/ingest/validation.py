"""The ingest boundary: one rule per attribute of :mod:`genops.attributes`, applied to
every span before anything is decoded into events or priced.

The schema is data (:data:`SCHEMA`, attribute -> :class:`Rule`), so tests and property
generators read the edges from it. A span breaking a rule is *rejected* with one reason
of :data:`REASONS`: counted in ``genops_spans_rejected{reason}``, stored nowhere, and
answered as OTLP partial success (permanently invalid: a retry cannot help). An
over-long string is not a reason to lose a span: it is truncated (a JSON text, which
truncation would break, is dropped) and the span carries a flag naming the attribute.

Times are checked against a window around the processor's clock (``now_ns``, injected):
no older than :data:`~genops_processor.limits.SPAN_MAX_AGE_NS` (a client's span spool
replays late, so a year is allowed) and no more than
:data:`~genops_processor.limits.SPAN_MAX_FUTURE_NS` ahead (clock skew).
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from genops import attributes as attr
from genops_processor import limits

# Why a span is rejected: the label values of genops_spans_rejected (a fixed set).
WRONG_TYPE = "wrong_type"  # an integer key given as a float, text or bool; text as a number
OUT_OF_RANGE = "out_of_range"  # negative, past a physical bound, not finite, unknown status
TIME_WINDOW = "time_out_of_window"  # a span or usage time outside the window around now
CONTROL_CHARACTERS = "control_characters"  # in an identifier (team, project, run key, ...)
INVALID_ID = "invalid_id"  # a trace id that is not 16 bytes or a span id that is not 8
# Against the ledger (ingest/write.py): a run belongs to the client that started it.
SCOPE_CHANGED = "scope_changed"  # another team, project, customer, cost center, environment
HARDWARE_CHANGED = "hardware_changed"  # another GPU type or count, CPU count, instance type
COMPUTE_START_CHANGED = "compute_start_changed"
USAGE_DECREASED = "usage_decreased"  # a newer report with a lower cumulative counter
DUPLICATE_SPAN_ID = "duplicate_span_id"  # a stored span id sent again with other content
UNSTORABLE = "unstorable"  # the ledger refused it with a data error (defence in depth)
# Authorisation (api/otlp_receiver.py): the sender's principal may not act for its team.
TEAM_NOT_PERMITTED = "team_not_permitted"
REASONS = (
    WRONG_TYPE,
    OUT_OF_RANGE,
    TIME_WINDOW,
    CONTROL_CHARACTERS,
    INVALID_ID,
    SCOPE_CHANGED,
    HARDWARE_CHANGED,
    COMPUTE_START_CHANGED,
    USAGE_DECREASED,
    DUPLICATE_SPAN_ID,
    UNSTORABLE,
    TEAM_NOT_PERMITTED,
)

# Rule types: int (an OTLP int_value), float (int or double, finite), decimal (decimal
# text), time (int nanoseconds since the epoch, inside the window), identifier (text,
# no control characters), text (free text), json (JSON text).
INT, FLOAT, DECIMAL, TIME, IDENTIFIER, TEXT, JSON = (
    "int",
    "float",
    "decimal",
    "time",
    "identifier",
    "text",
    "json",
)


@dataclass(frozen=True)
class Rule:
    """What one attribute may hold. ``min``/``max`` bound numbers (inclusive); ``max_len``
    bounds text (longer: truncated, or dropped for JSON, and flagged); ``choices`` lists
    the only values allowed, when set."""

    type: str
    unit: str = ""
    min: int | float | None = None
    max: int | float | None = None
    max_len: int | None = None
    choices: tuple[str, ...] = ()


def _identifier(unit: str = "name") -> Rule:
    return Rule(IDENTIFIER, unit, max_len=limits.MAX_SPAN_ID_CHARS)


def _count(unit: str, maximum: int = limits.MAX_SPAN_COUNT) -> Rule:
    return Rule(INT, unit, 0, maximum)


_TEXT = Rule(TEXT, "text", max_len=limits.MAX_SPAN_TEXT_CHARS)
_JSON_OBJECT = Rule(JSON, "a JSON object", max_len=limits.MAX_SPAN_JSON_CHARS)
_JSON_ARRAY = Rule(JSON, "a JSON array", max_len=limits.MAX_SPAN_JSON_CHARS)
_TIME = Rule(TIME, "ns since the epoch")
_MICROS = Rule(INT, "micro-USD", 0, limits.MAX_SPAN_MICROS)

SCHEMA: Mapping[str, Rule] = {
    # attribution
    attr.TEAM: _identifier(),
    attr.PROJECT: _identifier(),
    attr.CUSTOMER_ID: _identifier(),
    attr.COST_CENTER: _identifier(),
    attr.ENVIRONMENT: _identifier(),
    attr.TAGS: _JSON_OBJECT,
    attr.WORKFLOW: _JSON_OBJECT,
    # experiments
    attr.EXPERIMENT_ID: _identifier("id"),
    attr.EXPERIMENT_NAME: _identifier(),
    attr.EXPERIMENT_TYPE: _identifier(),
    attr.EXPERIMENT_STATUS: _identifier("status"),
    attr.EXPERIMENT_MAX_COST_MICROS: _MICROS,
    attr.EXPERIMENT_ESTIMATED_COST_MICROS: _MICROS,
    attr.EVENT_POLICY: _identifier("mode"),
    attr.EVENT_MESSAGE: _TEXT,
    # the W&B run
    attr.WANDB_RUN_ID: _identifier("id"),
    attr.WANDB_RUN_NAME: _identifier(),
    attr.WANDB_PROJECT: _identifier(),
    attr.WANDB_MODE: _identifier("mode"),
    # run lifecycle
    attr.RUN_KEY: _identifier("id"),
    attr.RUN_STATUS: Rule(
        IDENTIFIER,
        "status",
        max_len=limits.MAX_SPAN_ID_CHARS,
        choices=(attr.STATUS_RUNNING, attr.STATUS_FINISHED, attr.STATUS_FAILED),
    ),
    attr.RUN_EXIT_CODE: Rule(INT, "exit code", -(2**31), 2**31 - 1),
    attr.RUN_COMPUTE_START_NS: _TIME,
    attr.RUN_SEQUENCE: _count("heartbeats"),
    attr.RUN_ERROR: _TEXT,
    # cumulative usage
    attr.USAGE_AS_OF_NS: _TIME,
    attr.USAGE_LOG_CALLS: _count("calls"),
    attr.USAGE_ARTIFACT_BYTES: _count("bytes", limits.MAX_SPAN_BYTES),
    attr.USAGE_ARTIFACT_FILES: _count("files"),
    attr.USAGE_ARTIFACT_COUNT: _count("artifacts"),
    attr.USAGE_DECLARED_STORAGE_MICROS: _MICROS,
    attr.METRICS_LAST: _JSON_OBJECT,
    # hardware
    attr.HW_GPU_TYPE: _identifier(),
    attr.HW_GPU_COUNT: _count("devices", limits.MAX_SPAN_DEVICES),
    attr.HW_CPU_COUNT: _count("devices", limits.MAX_SPAN_DEVICES),
    attr.HW_INSTANCE_TYPE: _identifier(),
    attr.HW_GPU_SOURCE: _identifier("source"),
    attr.HW_GPU_UTILIZATION_MEAN: Rule(FLOAT, "fraction", 0.0, 1.0),
    attr.HW_GPU_MEMORY_PEAK_GB: Rule(FLOAT, "GB", 0.0, limits.MAX_SPAN_GPU_MEMORY_GB),
    attr.ARTIFACTS_USED: _JSON_ARRAY,
    # one artifact
    attr.ARTIFACT_NAME: _identifier(),
    attr.ARTIFACT_TYPE: _identifier(),
    attr.ARTIFACT_BYTES: _count("bytes", limits.MAX_SPAN_BYTES),
    attr.ARTIFACT_FILES: _count("files"),
    attr.ARTIFACT_GOVERNANCE_METADATA: _JSON_OBJECT,
    attr.ARTIFACT_COST_ESTIMATE_MICROS: _MICROS,
    # budgets and pricing
    attr.BUDGET_HOLD_ID: _identifier("id"),
    attr.CATALOG_VERSION: _identifier("version"),
    attr.REGION: _identifier(),
    attr.STORAGE_TIER: _identifier(),
    attr.STORAGE_RETENTION_DAYS: _count("days", limits.MAX_SPAN_DAYS),
    attr.CAPACITY_TYPE: _identifier(),
    attr.CONFIG_HASH: _identifier("hash"),
    # classification (the adapter's security_level)
    attr.SECURITY_LEVEL: Rule(
        IDENTIFIER, "level", max_len=limits.MAX_SPAN_ID_CHARS, choices=attr.SECURITY_LEVELS
    ),
    # a hand-added cost line
    attr.COST_SKU: _identifier("sku"),
    attr.COST_CATEGORY: _identifier(),
    attr.COST_QUANTITY: Rule(DECIMAL, "COST_UNIT", 0, limits.MAX_SPAN_QUANTITY),
    attr.COST_UNIT: _identifier("unit"),
}

# How a flag (text cut at the boundary) begins; kept among its run's violations.
FLAG_PREFIX = "ingest: "

# The span's own times (OTLP fields, not attributes), checked like the time attributes.
SPAN_START = "span.start_time_unix_nano"
SPAN_END = "span.end_time_unix_nano"


class Rejected(ValueError):
    """A span breaks a rule: ``reason`` is one of :data:`REASONS`, the message names the
    attribute and its value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class CheckedSpan:
    """A span's attributes after the checks: over-long text cut, and what was cut."""

    attributes: dict[str, object]
    flags: tuple[str, ...] = ()


def time_window(now_ns: int) -> tuple[int, int]:
    """The oldest and the latest time a span may carry when the processor's clock says
    ``now_ns``."""
    return now_ns - limits.SPAN_MAX_AGE_NS, now_ns + limits.SPAN_MAX_FUTURE_NS


def check_span(
    attributes: Mapping[str, object], start_ns: int, end_ns: int, now_ns: int
) -> CheckedSpan:
    """Check a span's times and every attribute with a rule; raises :class:`Rejected`.
    Attributes without a rule (another instrumentation's) pass through unchanged."""
    check_time(SPAN_START, start_ns, now_ns)
    check_time(SPAN_END, end_ns, now_ns)
    oldest, latest = time_window(now_ns)
    checked: dict[str, object] = {}
    flags: list[str] = []
    for key, value in attributes.items():
        rule = SCHEMA.get(key)
        if rule is None or _plainly_valid(rule, value, oldest, latest):
            checked[key] = value  # kept as it came, as check_value would keep it
            continue
        clean, flag = check_value(key, rule, value, now_ns)
        if clean is not None:
            checked[key] = clean
        if flag:
            flags.append(flag)
    return CheckedSpan(checked, tuple(flags))


def _plainly_valid(rule: Rule, value: object, oldest: int, latest: int) -> bool:
    """Whether ``value`` passes its rule unchanged by the checks' usual path: a
    shortcut for the values a well-behaved client sends (text within its length, with
    no control character or one of its choices; a number within its bounds; a time
    inside the window). False sends the value through :func:`check_value`, which
    decides (and may still keep it), so the shortcut never changes a verdict."""
    kind = rule.type
    cls = type(value)  # exact types: a bool is not an int here, and never plainly valid
    if cls is str:
        if kind is IDENTIFIER:
            return (
                len(value) <= rule.max_len
                and value.isprintable()
                and (not rule.choices or value in rule.choices)
            )
        return kind is TEXT and len(value) <= rule.max_len
    if cls is int:
        if kind is INT:
            return rule.min <= value <= rule.max
        return kind is TIME and oldest <= value <= latest
    if cls is float:
        return kind is FLOAT and rule.min <= value <= rule.max  # NaN: False
    return False


def check_value(key: str, rule: Rule, value: object, now_ns: int) -> tuple[object, str]:
    """The value to keep (None: dropped) and a flag when it was cut; raises Rejected."""
    if rule.type in (INT, TIME):
        number = _integer(key, value)
        if rule.type == TIME:
            check_time(key, number, now_ns)
        else:
            _in_range(key, rule, number)
        return number, ""
    if rule.type == FLOAT:
        return _float(key, rule, value), ""
    if rule.type == DECIMAL:
        return _decimal(key, rule, value), ""
    return _text(key, rule, value)


def check_time(key: str, value: int, now_ns: int) -> None:
    oldest, latest = time_window(now_ns)
    if not oldest <= value <= latest:
        raise Rejected(
            TIME_WINDOW,
            f"{key}={value} is outside the accepted window "
            f"[now - {limits.SPAN_MAX_AGE_NS // 86_400 // 10**9} days, "
            f"now + {limits.SPAN_MAX_FUTURE_NS // 60 // 10**9} min]",
        )


def _integer(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejected(WRONG_TYPE, f"{key}={_show(value)} is not an integer")
    return value


def _in_range(key: str, rule: Rule, number: int | float) -> None:
    if rule.min is not None and number < rule.min:
        raise Rejected(OUT_OF_RANGE, f"{key}={number} is below {rule.min} ({rule.unit})")
    if rule.max is not None and number > rule.max:
        raise Rejected(OUT_OF_RANGE, f"{key}={number} is above {rule.max} ({rule.unit})")


def _float(key: str, rule: Rule, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(WRONG_TYPE, f"{key}={_show(value)} is not a number")
    if not math.isfinite(value):
        raise Rejected(OUT_OF_RANGE, f"{key}={value} is not finite")
    _in_range(key, rule, value)
    return float(value)


def _decimal(key: str, rule: Rule, value: object) -> str:
    if not isinstance(value, str):
        raise Rejected(WRONG_TYPE, f"{key}={_show(value)} is not decimal text")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Rejected(WRONG_TYPE, f"{key}={_show(value)} is not a decimal number") from None
    if not number.is_finite():
        raise Rejected(OUT_OF_RANGE, f"{key}={_show(value)} is not finite")
    _in_range(key, rule, number)
    return value


def _text(key: str, rule: Rule, value: object) -> tuple[str | None, str]:
    if not isinstance(value, str):
        raise Rejected(WRONG_TYPE, f"{key}={_show(value)} is not text")
    if rule.type == IDENTIFIER and has_control_characters(value):
        raise Rejected(CONTROL_CHARACTERS, f"{key}={_show(value)} holds control characters")
    if rule.choices and value not in rule.choices:
        raise Rejected(
            OUT_OF_RANGE, f"{key}={_show(value)} is not one of {', '.join(rule.choices)}"
        )
    if rule.max_len is not None and len(value) > rule.max_len:
        if rule.type == JSON:
            return None, f"{FLAG_PREFIX}{key} dropped: {len(value)} characters > {rule.max_len}"
        return value[: rule.max_len], f"{FLAG_PREFIX}{key} truncated to {rule.max_len} characters"
    if rule.type == JSON and not _json_of_shape(value, rule.unit):
        return None, f"{FLAG_PREFIX}{key} dropped: not {rule.unit}"
    return value, ""


def _json_of_shape(text: str, shape: str) -> bool:
    """Whether ``text`` parses as JSON of the rule's shape (an object or an array): what
    readers of the ledger expect, so one client's bad text cannot break their reports."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return False
    return isinstance(value, dict if shape == _JSON_OBJECT.unit else list)


def _show(value: object) -> str:
    """A value as a message shows it: repr (escapes stay escaped), at most 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# Bidirectional overrides and isolates: they reorder what a table shows.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def has_control_characters(text: str) -> bool:
    """Any C0/C1 control character (escapes, newlines, NUL) or a bidi override."""
    if text.isprintable():  # no Cc nor Cf character (bidi controls are Cf): the usual case
        return False
    return any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in text)
