"""Assembles and runs the processor: storage, governance, one grpc.aio server.

The server hosts the OTLP TraceService and the governance API on one port.
SIGTERM or SIGINT stops accepting work, lets in-flight requests finish
(grace period), drains the writer queue, checkpoints and closes DuckDB.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from prometheus_client import start_http_server

from genops.governance.v1 import governance_pb2_grpc
from genops_processor import limits
from genops_processor.api import GovernanceApi, TraceReceiver
from genops_processor.api.admission import AdmissionInterceptor, pools
from genops_processor.budgets import Policy
from genops_processor.metrics import ProcessorMetrics
from genops_processor.pricing import Catalog, CatalogSource, catalog_store
from genops_processor.service import Clock, Governance, utc_now
from genops_processor.settings import ProcessorSettings
from genops_processor.storage import Storage

_log = logging.getLogger(__name__)
_GRACE_S = 5.0
COMPACTION_INTERVAL_S = 600.0  # how often spans past the raw-content window are compacted


@dataclass
class RunningProcessor:
    server: grpc.aio.Server
    port: int
    governance: Governance
    storage: Storage
    metrics_server: object | None = None

    async def stop(self, grace_s: float = _GRACE_S) -> None:
        """Stop serving, then flush and close storage. Idempotent."""
        await self.server.stop(grace_s)
        self.governance.close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server = None
        await asyncio.get_running_loop().run_in_executor(None, self.storage.close)


async def start(settings: ProcessorSettings, clock: Clock = utc_now) -> RunningProcessor:
    catalogs = CatalogSource(Catalog.load(settings.catalog_path))
    policy = Policy.load(settings.policy_path)
    storage = Storage(settings.db_path).open()
    policy = _policy_in_force(storage, policy, settings.policy_path)
    metrics = ProcessorMetrics()
    catalogs.known.update(storage.call(catalog_store.load_registered))
    governance = Governance(
        storage, catalogs, policy, metrics, clock, hold_timeout_s=settings.hold_timeout_s
    )
    # Request bytes in flight are bounded per pool; decisions keep their own headroom.
    admission = AdmissionInterceptor(pools(settings.ingest_inflight_bytes), metrics)
    server = grpc.aio.server(
        interceptors=[admission],
        options=[
            ("grpc.max_receive_message_length", limits.MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceReceiver(governance), server)
    governance_pb2_grpc.add_GovernanceServiceServicer_to_server(GovernanceApi(governance), server)
    try:
        port = server.add_insecure_port(settings.listen)
    except RuntimeError as error:
        storage.close()
        raise OSError(f"cannot listen on {settings.listen}: {error}") from None
    await server.start()
    metrics_server = None
    if settings.metrics_listen:
        host, _, metrics_port = settings.metrics_listen.rpartition(":")
        metrics_server, _thread = start_http_server(
            int(metrics_port), addr=host or "0.0.0.0", registry=metrics.registry
        )
        bound_host, bound_port = metrics_server.server_address[:2]
        print(f"genops-processor metrics on http://{bound_host}:{bound_port}/metrics", flush=True)
    _log.info("genops-processor listening on %s (db %s)", settings.listen, settings.db_path)
    return RunningProcessor(server, port, governance, storage, metrics_server)


async def serve(settings: ProcessorSettings) -> None:
    """Run until SIGTERM/SIGINT, then shut down cleanly."""
    processor = await start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    governance = processor.governance
    timeout_s = settings.hold_timeout_s
    # close the reservations of runs that fell silent, every few seconds
    sweeper = asyncio.create_task(
        _every(
            min(5.0, max(0.5, timeout_s / 4)),
            lambda: governance.expire_holds(timeout_s),
            "expiring reservations",
        )
    )
    # monitoring rules also fire without new telemetry (windows, escalations)
    monitor = asyncio.create_task(
        _every(settings.alert_interval_s, governance.monitoring.evaluate, "evaluating alert rules")
    )
    # raw span content past its window is compacted to span ids, in bounded steps
    compactor = asyncio.create_task(
        _every(
            COMPACTION_INTERVAL_S,
            lambda: governance.compact_spans(settings.raw_span_days),
            "compacting spans",
        )
    )
    # a re-pricing job a killed process left unfinished is finished, step by step
    resumer = asyncio.create_task(_resume_repricing(governance))
    bound = settings.listen.rpartition(":")[0] + f":{processor.port}"
    print(f"genops-processor listening on {bound}, db {settings.db_path}", flush=True)
    try:
        await stop.wait()
    finally:
        _log.info("genops-processor stopping")
        sweeper.cancel()
        monitor.cancel()
        compactor.cancel()
        resumer.cancel()
        await processor.stop()
    print("genops-processor stopped", flush=True)


async def _every(interval_s: float, work, what: str) -> None:
    """Await ``work()`` every interval until cancelled; a failure is logged, not fatal."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await work()
        except Exception:
            _log.exception("%s failed", what)


async def _resume_repricing(governance: Governance) -> None:
    try:
        await governance.resume_repricing()
    except Exception:
        _log.exception("resuming the unfinished re-pricing job failed")


def _policy_in_force(storage: Storage, from_file: Policy, path: str | None) -> Policy:
    """The latest stored version; a policy file that differs becomes a new version."""
    import datetime as dt

    from genops_processor.budgets import policy_store

    stored = storage.call(policy_store.latest)
    if path is not None and (stored is None or stored[1] != from_file.body):
        storage.call(
            lambda conn: policy_store.save(
                conn, from_file.body, "policy file", str(path), dt.datetime.now(dt.timezone.utc)
            )
        )
        return from_file
    return from_file if stored is None else Policy.from_stored(stored[1])
