"""The record's part of the gRPC API: customer usage, lineage, the retention plan and
backups. A mixin of :class:`GovernanceApi`; the work is jobs of
:mod:`genops_processor.record` and :mod:`genops_processor.analytics.customers`.

``server.py`` sets :attr:`RecordApi.backup_dir` / ``backup_every_hours`` from
``--backup-dir`` / ``--backup-every-hours``; without a directory ``CreateBackup`` answers
``FAILED_PRECONDITION`` (a caller never names a path on the processor's host)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.analytics import customers as customer_usage
from genops_processor.api import authorization as authz
from genops_processor.api.convert import i64, i64_map
from genops_processor.record import backups, lineage, retention

_log = logging.getLogger(__name__)


async def take_backup(governance, directory: str | Path, actor: str) -> dict:
    """One backup: a snapshot taken by a short bulk job on the writer (between two jobs:
    a consistent point), copied on a worker thread while the writer goes on."""
    pending = await governance.run_job(
        lambda conn, now: backups.start(conn, Path(directory), now, actor)
    )
    try:
        await asyncio.to_thread(backups.copy, pending)
    except Exception as error:
        failed = error
        await governance.run_job(lambda conn, now: backups.fail(conn, pending, failed, now))
        raise
    manifest = await governance.run_job(lambda conn, now: backups.finish(conn, pending))
    _log.info(
        "backup %s: %d run(s), writer held %d ms, copied in %d ms",
        manifest["path"],
        manifest["runs"],
        manifest["blocked_ms"],
        manifest["copy_ms"],
    )
    return manifest


async def prune_backups(governance, directory: str | Path, keep: int, actor: str) -> list[str]:
    """Old backups removed after a scheduled one: all but the newest ``keep``."""
    plan = await governance.run_job(
        lambda conn, now: backups.prune_plan(conn, Path(directory), keep, now)
    )
    for backup_id, why in plan.skipped:
        _log.warning("backup %s not pruned: %s", backup_id, why)
    if not plan.remove:
        return []
    removed = await governance.run_job(lambda conn, at: backups.prune(conn, plan, actor, at))
    _log.info("pruned %d old backup(s), kept %d", len(removed), len(plan.kept))
    return removed


class RecordApi:
    _governance: object  # set by GovernanceApi
    backup_dir: str | None = None
    backup_every_hours: float = 0.0

    async def GetCustomerUsage(self, request: pb.CustomerUsageRequest, context):  # noqa: N802
        who = authz.principal()
        customers = None if who.reads_everything or not who.customers else who.customers
        if customers is not None and request.customer_id and request.customer_id not in customers:
            await authz.refuse(
                context,
                self._governance,
                "GetCustomerUsage",
                f"{authz.describe(who)} may not read customer {request.customer_id!r}",
            )
        teams = authz.readable_teams()
        try:
            start, end = customer_usage.month(request.billing_period)
        except customer_usage.PeriodError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        rows = await self._governance.run_job(
            lambda conn, now: customer_usage.customer_usage(
                conn, request.billing_period, request.customer_id, teams, customers
            )
        )
        return pb.CustomerUsageResponse(
            billing_period=request.billing_period,
            period_start=start.isoformat(),
            period_end=end.isoformat(),
            customers=[
                pb.CustomerUsage(
                    customer_id=u.customer_id,
                    runs=i64(u.runs),
                    experiments=i64(u.experiments),
                    cost_micros=i64(u.cost_micros),
                    by_project_micros=i64_map(u.by_project),
                    by_category_micros=i64_map(u.by_category),
                    by_team_micros=i64_map(u.by_team),
                    failed_runs=i64(u.failed_runs),
                )
                for u in rows
            ],
        )

    async def GetLineage(self, request: pb.LineageRequest, context):  # noqa: N802
        if not request.name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name: required")
        teams = authz.readable_teams()
        found = await self._governance.run_job(
            lambda conn, now: lineage.lineage(conn, request.name, teams)
        )
        return pb.LineageResponse(lineage_json=json.dumps(found, sort_keys=True, default=str))

    async def GetRetentionPlan(self, request: pb.RetentionPlanRequest, context):  # noqa: N802
        who = authz.principal()
        if request.apply and not who.is_admin:
            await authz.refuse(
                context,
                self._governance,
                "GetRetentionPlan",
                f"{authz.describe(who)} may not apply a retention plan (admin only)",
            )
        items, truncated = await self._governance.run_job(
            lambda conn, now: retention.plan(
                conn, now, request.default_artifact_days, request.default_run_days
            )
        )
        applied = 0
        if request.apply:
            for start in range(0, len(items), retention.RETENTION_APPLY_CHUNK):
                chunk = items[start : start + retention.RETENTION_APPLY_CHUNK]
                applied += await self._governance.run_job(
                    lambda conn, now, chunk=chunk: retention.apply(conn, chunk, now, who.name)
                )
        return pb.RetentionPlanResponse(
            plan_json=json.dumps([i.to_dict() for i in items]),
            items=len(items),
            applied=applied,
            truncated=truncated,
        )

    async def CreateBackup(self, request: pb.CreateBackupRequest, context):  # noqa: N802
        if not self.backup_dir:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "this processor has no --backup-dir: start it with --backup-dir DIR "
                "(or stop it and run genops backup create --db FILE --to DIR)",
            )
        try:
            await take_backup(self._governance, self.backup_dir, authz.principal().name)
        except OSError as error:  # audited as backup.failed by take_backup
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"backup failed: {' '.join(str(error).split())}",
            )
        return await self._backup_status(0.0)

    async def GetBackupStatus(self, request: pb.GetBackupStatusRequest, context):  # noqa: N802
        return await self._backup_status(request.rpo_hours)

    async def _backup_status(self, rpo_hours: float) -> pb.BackupStatus:
        state = await self._governance.run_job(
            lambda conn, now: backups.status(conn, now, rpo_hours)
        )
        answer = pb.BackupStatus(
            scheduled=bool(self.backup_dir), every_hours=self.backup_every_hours
        )
        if state["last_backup_at"] is None:
            return answer
        answer.last_backup_at = state["last_backup_at"]
        answer.backup_id = state["backup_id"]
        answer.audit_event_id = state["audit_event_id"]
        answer.audit_events = i64(state["audit_events"])
        answer.audit_seq = i64(state["audit_seq"])
        answer.runs = i64(state["runs"])
        answer.cost_micros = i64(state["cost_micros"])
        answer.blocked_ms = i64(state["blocked_ms"])
        answer.age_s = i64(state["age_s"])
        answer.within_rpo = state["within_rpo"]
        if authz.principal().reads_everything:
            answer.path = state["path"]
        return answer
