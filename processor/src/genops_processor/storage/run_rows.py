"""Run rows and cost lines: a run's state <-> its ``runs`` row, and their Arrow-batch writes.
Functions take the writer thread's connection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from genops_processor.domain import (
    CostBreakdown,
    CostLine,
    HardwareUse,
    RunLabels,
    RunState,
    RunUsage,
    Scope,
)

RUN_COLUMNS = (
    "run_key",
    "run_id",
    "run_name",
    "wandb_project",
    "team",
    "project",
    "customer_id",
    "cost_center",
    "environment",
    "status",
    "final",
    "error",
    "gpu_type",
    "gpu_count",
    "cpu_count",
    "instance_type",
    "compute_start_ns",
    "as_of_ns",
    "log_calls",
    "artifact_bytes",
    "artifact_files",
    "artifact_count",
    "sequence",
    "catalog_version",
    "cost_micros",
    "unpriced_skus",
    "declared_storage_micros",
    "experiment_id",
    "tags",
    "workflow",
    "metrics_last",
    "region",
    "storage_tier",
    "retention_days",
    "capacity_type",
    "wandb_mode",
    "declared_catalog",
    "config_hash",
    "violations",
    "gpu_util_mean",
    "gpu_mem_peak_gb",
    "artifacts_used",
    "hold_id",
    "compute_micros",
    "storage_micros",
    "data_transfer_micros",
    "tracking_micros",
    "unpriced_lines",
    "exit_code",
    "security_level",
)


def runs_by_key(conn: Any, keys: Sequence[str]) -> dict[str, RunState]:
    if not keys:
        return {}
    rows = conn.execute(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_key IN (SELECT unnest(?))",
        [list(keys)],
    ).fetchall()
    return {row[0]: row_to_state(row) for row in rows}


def state_to_row(s: RunState) -> tuple:
    return (
        s.run_key,
        s.run_id,
        s.run_name,
        s.wandb_project,
        s.scope.team,
        s.scope.project,
        s.scope.customer_id,
        s.scope.cost_center,
        s.scope.environment,
        s.status,
        s.final,
        s.error,
        s.hardware.gpu_type,
        s.hardware.gpu_count,
        s.hardware.cpu_count,
        s.hardware.instance_type,
        s.usage.compute_start_ns,
        s.usage.as_of_ns,
        s.usage.log_calls,
        s.usage.artifact_bytes,
        s.usage.artifact_files,
        s.usage.artifact_count,
        s.usage.sequence,
        s.catalog_version,
        s.cost_micros,
        list(s.unpriced_skus),
        s.usage.declared_storage_micros,
        s.labels.experiment_id,
        s.labels.tags_json,
        s.labels.workflow_json,
        s.labels.metrics_last_json,
        s.labels.region,
        s.labels.storage_tier,
        s.labels.retention_days,
        s.labels.capacity_type,
        s.labels.wandb_mode,
        s.labels.catalog_version,
        s.labels.config_hash,
        list(s.violations),
        s.labels.gpu_util_mean,
        s.labels.gpu_mem_peak_gb,
        s.labels.artifacts_used_json,
        s.labels.hold_id,
        s.breakdown.compute,
        s.breakdown.storage,
        s.breakdown.data_transfer,
        s.breakdown.tracking,
        s.breakdown.unpriced_lines,
        s.exit_code,
        s.labels.security_level or None,
    )


def row_to_state(r: Sequence) -> RunState:
    return RunState(
        run_key=r[0],
        run_id=r[1] or "",
        run_name=r[2] or "",
        wandb_project=r[3] or "",
        scope=Scope(
            team=r[4] or "",
            project=r[5] or "",
            customer_id=r[6] or "",
            cost_center=r[7] or "",
            environment=r[8] or "",
        ),
        status=r[9],
        final=bool(r[10]),
        error=r[11] or "",
        hardware=HardwareUse(
            gpu_type=r[12] or "",
            gpu_count=r[13] or 0,
            cpu_count=r[14] or 0,
            instance_type=r[15] or "",
        ),
        usage=RunUsage(  # NULL (a row written by hand) reads as 0, never breaks a read
            compute_start_ns=r[16] or 0,
            as_of_ns=r[17] or 0,
            log_calls=r[18] or 0,
            artifact_bytes=r[19] or 0,
            artifact_files=r[20] or 0,
            artifact_count=r[21] or 0,
            sequence=r[22] or 0,
            declared_storage_micros=r[26] or 0,
        ),
        catalog_version=r[23] or "",
        cost_micros=r[24] or 0,
        unpriced_skus=tuple(r[25] or ()),
        labels=RunLabels(
            experiment_id=r[27] or "",
            tags_json=r[28] or "",
            workflow_json=r[29] or "",
            metrics_last_json=r[30] or "",
            region=r[31] or "",
            storage_tier=r[32] or "",
            retention_days=r[33] or 0,
            capacity_type=r[34] or "",
            wandb_mode=r[35] or "",
            catalog_version=r[36] or "",
            config_hash=r[37] or "",
            gpu_util_mean=r[39],
            gpu_mem_peak_gb=r[40],
            artifacts_used_json=r[41] or "",
            hold_id=r[42] or "",
            security_level=r[49] or "",
        ),
        violations=tuple(r[38] or ()),
        breakdown=CostBreakdown(*(int(x or 0) for x in r[43:48])),
        exit_code=r[48],
    )


RUN_TYPES = {
    "final": pa.bool_(),
    "gpu_count": pa.int32(),
    "cpu_count": pa.int32(),
    "compute_start_ns": pa.int64(),
    "as_of_ns": pa.int64(),
    "log_calls": pa.int64(),
    "artifact_bytes": pa.int64(),
    "artifact_files": pa.int64(),
    "artifact_count": pa.int64(),
    "sequence": pa.int64(),
    "cost_micros": pa.int64(),
    "unpriced_skus": pa.list_(pa.string()),
    "declared_storage_micros": pa.int64(),
    "retention_days": pa.int32(),
    "violations": pa.list_(pa.string()),
    "gpu_util_mean": pa.float64(),
    "gpu_mem_peak_gb": pa.float64(),
    "compute_micros": pa.int64(),
    "storage_micros": pa.int64(),
    "data_transfer_micros": pa.int64(),
    "tracking_micros": pa.int64(),
    "unpriced_lines": pa.int32(),
    "exit_code": pa.int32(),
}


def write_runs(conn, states: Iterable[RunState]) -> None:
    rows = [state_to_row(s) for s in states]
    columns = {
        name: pa.array([r[i] for r in rows], RUN_TYPES.get(name, pa.string()))
        for i, name in enumerate(RUN_COLUMNS)
    }
    conn.register("changed_runs", pa.table(columns))
    try:
        conn.execute(
            f"INSERT OR REPLACE INTO runs ({', '.join(RUN_COLUMNS)}) SELECT * FROM changed_runs"
        )
    finally:
        conn.unregister("changed_runs")


def write_lines(conn, states: Iterable[RunState], lines: dict[str, list[CostLine]]) -> None:
    """Replace each run's lines of the catalog version that priced it (others stay)."""
    states = list(states)
    conn.execute(
        "DELETE FROM cost_lines USING (SELECT unnest(?) AS k, unnest(?) AS v) d "
        "WHERE cost_lines.run_key = d.k AND cost_lines.catalog_version = d.v",
        [[s.run_key for s in states], [s.catalog_version for s in states]],
    )
    flat = [line for s in states for line in lines.get(s.run_key, [])]
    if not flat:
        return
    table = pa.table(
        {
            "run_key": [x.run_key for x in flat],
            "sku": [x.sku for x in flat],
            "category": [x.category for x in flat],
            "unit": [x.unit for x in flat],
            "quantity": pa.array([x.quantity for x in flat], pa.decimal128(38, 12)),
            "unit_price": pa.array([x.unit_price for x in flat], pa.decimal128(18, 9)),
            "amount_micros": pa.array([x.amount_micros for x in flat], pa.int64()),
            "priced": [x.priced for x in flat],
            "catalog_version": [x.catalog_version for x in flat],
            "catalog_source": [x.catalog_source for x in flat],
            "catalog_date": [x.catalog_date for x in flat],
            "as_of_ns": pa.array([x.as_of_ns for x in flat], pa.int64()),
        }
    )
    conn.register("new_lines", table)
    conn.execute("INSERT INTO cost_lines SELECT * FROM new_lines")
