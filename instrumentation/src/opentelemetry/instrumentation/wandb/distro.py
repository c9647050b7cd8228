"""Distro and configurator for ``opentelemetry-instrument``.

With this package installed, ``opentelemetry-instrument python train.py``
sends W&B telemetry to the GenOps processor with no other set-up: the
configurator installs a tracer provider whose batch span processor exports
over OTLP/gRPC (gzip) to ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``localhost:4317``).

If ``opentelemetry-distro`` is installed too, both register a distro and a
configurator and the loader picks the first it finds. Choose ours with::

    export OTEL_PYTHON_DISTRO=genops OTEL_PYTHON_CONFIGURATOR=genops
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.instrumentation.wandb.export import FailOpenSpanExporter
from opentelemetry.sdk._configuration import _BaseConfigurator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_DEFAULT_SERVICE_NAME = "wandb-training"
_EXPORT_TIMEOUT_S = 2.0


class GenOpsDistro(BaseDistro):
    """Defaults for the SDK's own configurator, should a user pick that one."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_TRACES_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_METRICS_EXPORTER", "none")
        os.environ.setdefault("OTEL_LOGS_EXPORTER", "none")
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")


class GenOpsConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        if isinstance(trace.get_tracer_provider(), TracerProvider):
            return  # the application configured its own SDK: respect it
        trace.set_tracer_provider(build_tracer_provider())


def build_tracer_provider() -> TracerProvider:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        Compression,
        OTLPSpanExporter,
    )

    resource = Resource.create({SERVICE_NAME: _DEFAULT_SERVICE_NAME}).merge(
        Resource.create()  # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win
    )
    endpoint = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or "http://localhost:4317"
    )
    insecure = None if "://" in endpoint else True
    compression = None if _compression_set() else Compression.Gzip
    # A short deadline: at exit, an unreachable processor must not hold the script.
    timeout = None if os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT") else _EXPORT_TIMEOUT_S
    exporter = OTLPSpanExporter(
        endpoint=endpoint, insecure=insecure, compression=compression, timeout=timeout
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(FailOpenSpanExporter(exporter, endpoint)))
    return provider


def _compression_set() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION")
        or os.environ.get("OTEL_EXPORTER_OTLP_COMPRESSION")
    )
