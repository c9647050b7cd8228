"""The real collector for the e2e tests: ``otelcol-genops`` as built by
collector-config/build.sh, run as a subprocess on 127.0.0.1 with the committed configs.

``make test`` builds it first (once per machine, cached outside the repository under
``~/.cache/genops/otelcol/<manifest hash>``). Without a binary a test needing it fails
in CI (``CI=true``), quoting the build's log, and is skipped elsewhere, so a targeted
pytest run on a machine without Go still works. ``GENOPS_OTELCOL`` names another binary.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.helpers import ROOT, stop_process

CONFIGS = ROOT / "collector-config"
BUILD = CONFIGS / "build.sh"
WAIT_S = 120  # an upper bound for the collector's batch + export, never asserted on


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def otelcol() -> Path:
    """The collector binary; fails the calling test in CI, skips it elsewhere, naming
    why there is none."""
    if os.environ.get("GENOPS_OTELCOL"):
        binary = Path(os.environ["GENOPS_OTELCOL"])
    else:
        printed = subprocess.run(
            [str(BUILD), "--print-path"], capture_output=True, text=True, check=True
        )
        binary = Path(printed.stdout.strip())
    built = "GENOPS_OTELCOL" in os.environ or (binary.parent / ".build-stamp").is_file()
    if built and binary.is_file() and os.access(binary, os.X_OK):
        return binary
    log = binary.parent / "build.log"
    if log.is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        reason = f"no collector at {binary}: collector-config/build.sh failed:\n{tail}"
    else:
        reason = f"no collector at {binary}: run `make test` or collector-config/build.sh"
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A loopback port nobody listens on now (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request_of(spans: Sequence[trace_pb2.Span]) -> trace_service_pb2.ExportTraceServiceRequest:
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    )


class Collector:
    """``otelcol-genops --config=<config> [--config=<extra>...]`` on loopback ports chosen
    once (a restart keeps them, as a real deployment would), configured only through the
    environment variables the config documents. ``env`` adds to them (the token, the
    processor's or the shards' endpoints)."""

    def __init__(
        self, tmp: Path, config: str, env: dict[str, str], *extra: Path, start: bool = True
    ) -> None:
        self.binary = otelcol()
        self.endpoint = f"127.0.0.1:{free_port()}"
        self.health = f"127.0.0.1:{free_port()}"
        self.metrics_port = free_port()
        self.queue = tmp / "queue"
        self.env = {
            "PATH": os.environ["PATH"],
            "GENOPS_COLLECTOR_OTLP_ENDPOINT": self.endpoint,
            "GENOPS_COLLECTOR_HEALTH_ENDPOINT": self.health,
            "GENOPS_COLLECTOR_METRICS_HOST": "127.0.0.1",
            "GENOPS_COLLECTOR_METRICS_PORT": str(self.metrics_port),
            "GENOPS_COLLECTOR_QUEUE_DIR": str(self.queue),
            **env,
        }
        self.args = [f"--config={CONFIGS / config}", *(f"--config={path}" for path in extra)]
        self.log_path = tmp / f"collector-{Path(config).name}.log"
        self.proc: subprocess.Popen | None = None
        if start:
            self.start()

    def start(self) -> None:
        with self.log_path.open("a") as log:  # a restart appends to the same log
            self.proc = subprocess.Popen(
                [str(self.binary), *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        channel = grpc.insecure_channel(self.endpoint)
        try:
            grpc.channel_ready_future(channel).result(timeout=WAIT_S)
        except grpc.FutureTimeoutError:
            self.stop()
            pytest.fail(f"collector did not listen on {self.endpoint}: {self.log()}")
        finally:
            channel.close()

    def log(self) -> str:
        return self.log_path.read_text()

    def export(self, spans: Sequence[trace_pb2.Span], token: str | None = None) -> None:
        """One OTLP request to the collector; returns once the collector acknowledged it
        (a refusal raises ``grpc.RpcError``)."""
        metadata = [("authorization", f"Bearer {token}")] if token else None
        with grpc.insecure_channel(self.endpoint) as channel:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(
                request_of(spans), timeout=30, metadata=metadata
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        assert self.proc is not None
        return stop_process(self.proc)


def wait_for(what: str, condition: Callable[[], bool], collector: Collector) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not seen within {WAIT_S} s; collector log:\n{collector.log()}")
        time.sleep(0.2)
