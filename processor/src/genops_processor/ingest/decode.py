"""OTLP ExportTraceServiceRequest -> domain events.

Only spans named in :mod:`genops.attributes` are kept; everything else is
counted and ignored (the processor may sit behind a collector that forwards
other telemetry too). A run's key comes from W&B: the ``genops.run.key``
attribute its spans carry (W&B run id and segment), never the trace id, so
runs opened under one user span stay apart; spans without it (older clients)
fall back to the trace id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from genops import attributes as attr
from genops.governance.redaction import redact_text
from genops_processor.domain import (
    ArtifactEvent,
    Batch,
    ExperimentEvent,
    HardwareUse,
    ManualCostEvent,
    Rejection,
    RunLabels,
    RunUsage,
    Scope,
    SpanRecord,
    UsageEvent,
)
from genops_processor.ingest import validation
from genops_processor.limits import (
    MAX_SPAN_ID_CHARS,
    MAX_SPAN_POLICY_EVENTS,
    MAX_SPAN_TEXT_CHARS,
)

_KINDS = {
    attr.SPAN_RUN: "run",
    attr.SPAN_HEARTBEAT: "heartbeat",
    attr.SPAN_ARTIFACT: "artifact",
    attr.SPAN_EXPERIMENT: "experiment",
    attr.SPAN_COST_LINE: "cost_line",
}


def decode_request(
    request: ExportTraceServiceRequest,
    now_ns: int | None = None,
    permits: Callable[[str, str, str], str | None] | None = None,
) -> Batch:
    """Decode the governance spans of a request. Each is checked first against the
    attribute schema (:mod:`genops_processor.ingest.validation`) with ``now_ns`` (default:
    the system clock) as the processor's present; a span that fails is left out of the
    events and listed in ``Batch.rejected``. ``permits(team, project, customer)``, when
    given, says why the sender may not send a span of that scope (None: it may); such a
    span is rejected as ``team_not_permitted`` (an artifact span without a team is left
    to the caller, which knows its run's team)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    usage: list[UsageEvent] = []
    artifacts: list[ArtifactEvent] = []
    experiments: list[ExperimentEvent] = []
    manual: list[ManualCostEvent] = []
    rejected: list[Rejection] = []
    ignored = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                kind = _KINDS.get(span.name)
                if kind is None:
                    ignored += 1
                    continue
                raw = {kv.key: _value(kv.value) for kv in span.attributes}
                try:
                    checked = _check(span, raw, now_ns)
                except validation.Rejected as refused:
                    rejected.append(_rejection(span, raw, refused.reason, str(refused)))
                    continue
                attributes = checked.attributes
                if attr.RUN_ERROR in attributes:  # the user's text: stored without secrets
                    error = redact_text(str(attributes[attr.RUN_ERROR]))
                    attributes = {**attributes, attr.RUN_ERROR: error}
                # An artifact span names its run by key, not its scope: the receiver
                # checks it against the run's team (api/otlp_receiver.py).
                scoped = kind != "artifact" or attr.TEAM in attributes
                refusal = (
                    scoped
                    and permits
                    and permits(
                        _str(attributes, attr.TEAM),
                        _str(attributes, attr.PROJECT),
                        _str(attributes, attr.CUSTOMER_ID),
                    )
                )
                if refusal:
                    rejected.append(
                        _rejection(span, attributes, validation.TEAM_NOT_PERMITTED, refusal)
                    )
                    continue
                record = SpanRecord(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    kind=kind,
                    name=span.name,
                    run_key=_run_key(attributes, span.trace_id),
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    attributes_json=json.dumps(attributes, sort_keys=True, default=str),
                    flags=checked.flags,
                )
                if kind == "artifact":
                    artifacts.append(_artifact(record, attributes))
                elif kind == "cost_line":
                    manual.append(_manual_cost(record, attributes))
                elif kind == "experiment":
                    experiments.append(_experiment(record, attributes, _violations(span)))
                else:
                    usage.append(_usage(record, attributes))
    return Batch(
        usage=tuple(usage),
        artifacts=tuple(artifacts),
        experiments=tuple(experiments),
        manual_costs=tuple(manual),
        ignored_spans=ignored,
        rejected=tuple(rejected),
    )


def _check(span, attributes: dict[str, object], now_ns: int) -> validation.CheckedSpan:
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        raise validation.Rejected(
            validation.INVALID_ID,
            f"trace_id of {len(span.trace_id)} bytes, span_id of {len(span.span_id)}: "
            "OTLP ids are 16 and 8 bytes",
        )
    return validation.check_span(
        attributes, span.start_time_unix_nano, span.end_time_unix_nano, now_ns
    )


def _usage(record: SpanRecord, a: Mapping[str, object]) -> UsageEvent:
    # ``a`` has passed the schema (validation.check_span) and every key read here has a
    # rule: a text key holds text, an int or time key an int, a float key a finite
    # float, when present. So a plain get with the empty value as default reads what
    # _str/_int (and a float check) would, at a fraction of the calls (~40 keys a heartbeat).
    get = a.get
    final = record.kind == "run"
    status = get(attr.RUN_STATUS) or (attr.STATUS_FINISHED if final else attr.STATUS_RUNNING)
    if final and status == attr.STATUS_RUNNING:
        status = attr.STATUS_FINISHED
    catalog_version = get(attr.CATALOG_VERSION, "")
    return UsageEvent(
        span=record,
        run_id=get(attr.WANDB_RUN_ID, ""),
        run_name=get(attr.WANDB_RUN_NAME, ""),
        wandb_project=get(attr.WANDB_PROJECT, ""),
        scope=_scope(a),
        hardware=HardwareUse(
            gpu_type=get(attr.HW_GPU_TYPE, ""),
            gpu_count=get(attr.HW_GPU_COUNT, 0),
            cpu_count=get(attr.HW_CPU_COUNT, 0),
            instance_type=get(attr.HW_INSTANCE_TYPE, ""),
        ),
        usage=RunUsage(
            compute_start_ns=get(attr.RUN_COMPUTE_START_NS) or record.start_ns,
            as_of_ns=get(attr.USAGE_AS_OF_NS) or record.end_ns,
            log_calls=get(attr.USAGE_LOG_CALLS, 0),
            artifact_bytes=get(attr.USAGE_ARTIFACT_BYTES, 0),
            artifact_files=get(attr.USAGE_ARTIFACT_FILES, 0),
            artifact_count=get(attr.USAGE_ARTIFACT_COUNT, 0),
            sequence=get(attr.RUN_SEQUENCE, 0),
            declared_storage_micros=get(attr.USAGE_DECLARED_STORAGE_MICROS, 0),
        ),
        status=status,
        final=final,
        error=get(attr.RUN_ERROR, ""),
        exit_code=_exit_code(a) if final else None,
        compute_start_declared=attr.RUN_COMPUTE_START_NS in a,
        catalog_version=catalog_version,
        labels=RunLabels(
            experiment_id=get(attr.EXPERIMENT_ID, ""),
            tags_json=get(attr.TAGS, ""),
            workflow_json=get(attr.WORKFLOW, ""),
            metrics_last_json=get(attr.METRICS_LAST, ""),
            region=get(attr.REGION, ""),
            storage_tier=get(attr.STORAGE_TIER, ""),
            retention_days=get(attr.STORAGE_RETENTION_DAYS, 0),
            capacity_type=get(attr.CAPACITY_TYPE, ""),
            wandb_mode=get(attr.WANDB_MODE, ""),
            catalog_version=catalog_version,
            config_hash=get(attr.CONFIG_HASH, ""),
            gpu_util_mean=get(attr.HW_GPU_UTILIZATION_MEAN),
            gpu_mem_peak_gb=get(attr.HW_GPU_MEMORY_PEAK_GB),
            artifacts_used_json=get(attr.ARTIFACTS_USED, ""),
            hold_id=get(attr.BUDGET_HOLD_ID, ""),
            security_level=get(attr.SECURITY_LEVEL, ""),
        ),
    )


def _scope(a: Mapping[str, object]) -> Scope:
    get = a.get  # checked attributes: see _usage
    return Scope(
        team=get(attr.TEAM, ""),
        project=get(attr.PROJECT, ""),
        customer_id=get(attr.CUSTOMER_ID, ""),
        cost_center=get(attr.COST_CENTER, ""),
        environment=get(attr.ENVIRONMENT, ""),
    )


def _violations(span) -> tuple[str, ...]:
    found = []
    for event in span.events:
        if event.name.startswith("genops.policy."):
            values = {kv.key: _value(kv.value) for kv in event.attributes}
            mode = values.get(attr.EVENT_POLICY, "")
            found.append(f"{event.name} [{mode}]: {values.get(attr.EVENT_MESSAGE, '')}")
    return tuple(v[:MAX_SPAN_TEXT_CHARS] for v in found[:MAX_SPAN_POLICY_EVENTS])


def _experiment(
    record: SpanRecord, a: Mapping[str, object], violations: tuple[str, ...]
) -> ExperimentEvent:
    return ExperimentEvent(
        span=record,
        experiment_id=_str(a, attr.EXPERIMENT_ID),
        name=_str(a, attr.EXPERIMENT_NAME),
        experiment_type=_str(a, attr.EXPERIMENT_TYPE),
        status=_str(a, attr.EXPERIMENT_STATUS) or attr.STATUS_FINISHED,
        scope=_scope(a),
        max_cost_micros=_int(a, attr.EXPERIMENT_MAX_COST_MICROS),
        estimated_cost_micros=_int(a, attr.EXPERIMENT_ESTIMATED_COST_MICROS),
        error=_str(a, attr.RUN_ERROR),
        violations=violations + record.flags,
    )


def _manual_cost(record: SpanRecord, a: Mapping[str, object]) -> ManualCostEvent:
    quantity = Decimal(_str(a, attr.COST_QUANTITY) or "0")  # checked: finite, in range
    return ManualCostEvent(
        span=record,
        experiment_id=_str(a, attr.EXPERIMENT_ID),
        run_id=_str(a, attr.WANDB_RUN_ID),
        scope=_scope(a),
        sku=_str(a, attr.COST_SKU),
        category=_str(a, attr.COST_CATEGORY),
        quantity=quantity,
        unit=_str(a, attr.COST_UNIT),
        catalog_version=_str(a, attr.CATALOG_VERSION),
        region=_str(a, attr.REGION),
    )


def _artifact(record: SpanRecord, a: Mapping[str, object]) -> ArtifactEvent:
    return ArtifactEvent(
        span=record,
        name=_str(a, attr.ARTIFACT_NAME),
        type=_str(a, attr.ARTIFACT_TYPE),
        bytes=_int(a, attr.ARTIFACT_BYTES),
        files=_int(a, attr.ARTIFACT_FILES),
        governance_metadata_json=_str(a, attr.ARTIFACT_GOVERNANCE_METADATA),
        cost_estimate_micros=_int(a, attr.ARTIFACT_COST_ESTIMATE_MICROS),
    )


def _value(value: AnyValue) -> object:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


def _rejection(span, attributes: Mapping[str, object], reason: str, message: str) -> Rejection:
    return Rejection(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        run_key=_run_key(attributes, span.trace_id),
        reason=reason,
        message=message,
    )


def _run_key(a: Mapping[str, object], trace_id: bytes) -> str:
    key = a.get(attr.RUN_KEY)
    if isinstance(key, str) and key.strip():
        return key.strip()[:MAX_SPAN_ID_CHARS]
    return trace_id.hex()


def _exit_code(a: Mapping[str, object]) -> int | None:
    value = a.get(attr.RUN_EXIT_CODE)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -(2**31) <= value < 2**31 else None


def _str(a: Mapping[str, object], key: str) -> str:
    value = a.get(key)
    return "" if value is None else str(value)


def _int(a: Mapping[str, object], key: str) -> int:
    value = a.get(key)
    if isinstance(value, bool) or value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
