"""Every governance API request checked before it reaches the service.

One generic pass over a request's fields, from its proto descriptor, so that no
RPC and no field is forgotten: integers within a range, floating-point numbers
finite and within a range, strings of bounded length, repeated fields of
bounded size, enums among their values, nested messages alike. The bounds are
the caps of ``limits`` (section "money"), chosen by the field's name
(``*_micros``, ``*_ns``, ``*_count``, ``*_bytes``, ``*_days``, ids, ``*_json``)
unless :data:`BOUNDS` names the field itself. A request past any is refused
with ``INVALID_ARGUMENT`` and a one-line message naming the field, e.g.
``estimate.gpu_count: -1 is below 0``.

:func:`every_request_checked` wraps each RPC method of the API class; a handler
with rules of its own calls :func:`check_int` (or raises :class:`RequestError`)
and :func:`abort_invalid`.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import limits

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_INT32_TYPES = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32,
}
_FLOAT_TYPES = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}
_ID_FIELDS = {
    "request_id",
    "parent_hold_id",
    "hold_id",
    "approval_id",
    "decision_id",
    "alert_id",
    "rule_id",
    "notification_id",
}
_TIME_FIELDS = {"compute_start_ns", "as_of_ns", "since_ns", "until_ns"}

# Bounds of one field ("Message.field"), over the name-based defaults: (low, high)
# for a number, the maximum length for a string or a repeated field.
BOUNDS: dict[str, tuple[float, float] | int] = {
    "ReportOfflineDecisionsRequest.decisions": limits.MAX_OFFLINE_DECISIONS,
    "ClientLimits.max_running_runs": (0, limits.MAX_DECLARED_RUNNING_RUNS),
    "CheckBudgetRequest.region": limits.MAX_API_ID_CHARS,
    "CheckBudgetRequest.data_classification": limits.MAX_API_ID_CHARS,
}


class RequestError(ValueError):
    """A request field out of bounds; the message starts with the field's path."""


def check(message: Message) -> None:
    """Raise :class:`RequestError` for the first field of ``message`` out of bounds."""
    problem = _problem(message)
    if problem is not None:
        raise RequestError(problem)


# What to check of each field of a message type, built once per type: (name, kind,
# "Message.field" for BOUNDS, the name-based default bound, repeated?).
_MESSAGE, _STRING, _BYTES, _ENUM, _FLOAT, _INT, _BOOL = range(7)
_plans: dict[str, dict[int, tuple]] = {}


def _plan(descriptor) -> dict[int, tuple]:
    plan = _plans.get(descriptor.full_name)
    if plan is None:
        plan = {f.number: _field_plan(descriptor.name, f) for f in descriptor.fields}
        _plans[descriptor.full_name] = plan
    return plan


# Per message type of strings only (nested too, none repeated, none in BOUNDS): the
# shortest bound of its strings. Such a message whose encoding is no longer than that
# cannot hold a string past it: one C call instead of a walk (e.g. 10,000 offline
# decisions of a report). None for any other type. (BOUNDS is read for it once.)
_quick: dict[str, int | None] = {}


def _quick_bound(descriptor) -> int | None:
    if descriptor.full_name not in _quick:
        bounds = []
        for field in descriptor.fields:
            if field.is_repeated or f"{descriptor.name}.{field.name}" in BOUNDS:
                bounds = None
                break
            if field.type == FieldDescriptor.TYPE_STRING:
                bounds.append(_string_max(field.name))
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                inner = _quick_bound(field.message_type)
                if inner is None:
                    bounds = None
                    break
                bounds.append(inner)
            else:
                bounds = None
                break
        _quick[descriptor.full_name] = min(bounds, default=None) if bounds else None
    return _quick[descriptor.full_name]


def _field_plan(type_name: str, field: FieldDescriptor) -> tuple:
    kind, default = {
        FieldDescriptor.TYPE_MESSAGE: (_MESSAGE, None),
        FieldDescriptor.TYPE_STRING: (_STRING, _string_max(field.name)),
        FieldDescriptor.TYPE_BYTES: (_BYTES, limits.MAX_API_STRING_CHARS),
        FieldDescriptor.TYPE_ENUM: (_ENUM, field.enum_type),
        FieldDescriptor.TYPE_BOOL: (_BOOL, None),
    }.get(field.type, (_INT, None))
    if field.type in _FLOAT_TYPES:
        kind, default = _FLOAT, (0.0, limits.MAX_API_NUMBER)
    elif kind == _INT:
        default = _int_range(field)
    return field.name, kind, f"{type_name}.{field.name}", default, field.is_repeated


def _problem(message: Message) -> str | None:
    """The first field out of bounds, as "path: reason"; None when there is none."""
    quick = _quick_bound(message.DESCRIPTOR)
    if quick is not None and message.ByteSize() <= quick:
        return None
    plan = _plan(message.DESCRIPTOR)
    for field, value in message.ListFields():
        name, kind, key, default, repeated = plan[field.number]
        own = BOUNDS.get(key)
        if not repeated:
            why = _value_problem(kind, value, own, default)
            if why is not None:
                return f"{name}{why}"
            continue
        most = own if isinstance(own, int) else limits.MAX_API_REPEATED
        if len(value) > most:
            return f"{name}: {len(value)} entries, more than {most}"
        for index, item in enumerate(value):
            why = _value_problem(kind, item, own, default)
            if why is not None:
                return f"{name}[{index}]{why}"
    return None


def _value_problem(kind: int, value, own, default) -> str | None:
    """ ": reason" (or ".inner.path: reason") for one value out of bounds, else None."""
    if kind == _STRING or kind == _BYTES:
        most = own if isinstance(own, int) else default
        if len(value) > most:
            unit = "characters" if kind == _STRING else "bytes"
            return f": {len(value)} {unit}, more than {most}"
        return None
    if kind == _MESSAGE:
        inner = _problem(value) if isinstance(value, Message) else None
        return None if inner is None else f".{inner}"
    if kind == _INT or kind == _FLOAT:
        if kind == _FLOAT and not math.isfinite(value):
            return f": {value} is not a finite number"
        low, high = own if isinstance(own, tuple) else default
        return _range_problem(value, low, high)
    if kind == _ENUM and default.values_by_number.get(value) is None:
        return f": {value} is not a known {default.name}"
    return None


def _range_problem(value, low, high) -> str | None:
    if value < low:
        return f": {value} is below {low}"
    if value > high:
        return f": {value} is above the maximum of {high}"
    return None


def _string_max(name: str) -> int:
    if name.endswith("_json"):
        return limits.MAX_API_JSON_CHARS
    if name in _ID_FIELDS:
        return limits.MAX_API_ID_CHARS
    return limits.MAX_API_STRING_CHARS


def _int_range(field: FieldDescriptor) -> tuple[int, int]:
    name = field.name
    if name.endswith("_micros"):
        high = limits.MAX_REQUEST_MICROS
    elif name in _TIME_FIELDS:
        high = limits.MAX_API_TIME_NS
    elif name.endswith("_ns"):
        high = limits.MAX_API_DURATION_NS
    elif name.endswith("_count"):
        high = limits.MAX_API_DEVICES
    elif name.endswith("_bytes"):
        high = limits.MAX_API_BYTES
    elif name.endswith("_days"):
        high = limits.MAX_API_DAYS
    elif field.type in _INT32_TYPES:
        high = _INT32_MAX
    else:
        high = _INT64_MAX
    return 0, high


def check_int(where: str, value: int, low: int, high: int) -> int:
    """One number a handler bounds itself; raises :class:`RequestError` naming ``where``."""
    problem = _range_problem(value, low, high)
    if problem is not None:
        raise RequestError(f"{where}{problem}")
    return value


async def abort_invalid(context, error: Exception) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))


def _checked(method: Callable) -> Callable:
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def streaming(self, request, context):
            try:
                check(request)
            except RequestError as error:
                await abort_invalid(context, error)
            async for item in method(self, request, context):
                yield item

        return streaming

    @functools.wraps(method)
    async def unary(self, request, context):
        try:
            check(request)
        except RequestError as error:
            await abort_invalid(context, error)
        return await method(self, request, context)

    return unary


def every_request_checked(cls: type) -> type:
    """Wrap every GovernanceService RPC the class serves (its mixins' too) with :func:`check`."""
    for method in pb.DESCRIPTOR.services_by_name["GovernanceService"].methods:
        handler = getattr(cls, method.name, None)
        is_async = inspect.iscoroutinefunction(handler) or inspect.isasyncgenfunction(handler)
        if is_async and not getattr(handler, "_request_checked", False):
            wrapped = _checked(handler)
            wrapped._request_checked = True
            setattr(cls, method.name, wrapped)
    return cls
