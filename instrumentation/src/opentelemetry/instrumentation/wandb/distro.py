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

from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.instrumentation.wandb.export import FailOpenSpanExporter
from opentelemetry.sdk._configuration import _BaseConfigurator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from genops.config import ExportSettings, set_distro_defaults

_DEFAULT_SERVICE_NAME = "wandb-training"


class GenOpsDistro(BaseDistro):
    """Defaults for the SDK's own configurator, should a user pick that one."""

    def _configure(self, **kwargs: Any) -> None:
        set_distro_defaults()


class GenOpsConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        if isinstance(trace.get_tracer_provider(), TracerProvider):
            return  # the application configured its own SDK: respect it
        trace.set_tracer_provider(build_tracer_provider(ExportSettings.from_env()))


def build_tracer_provider(
    export: ExportSettings,
    *,
    batch_size: int = 512,
    async_export: bool = True,
    compression: bool | None = None,
    max_queue_size: int = 2048,
) -> TracerProvider:
    """A provider exporting OTLP/gRPC to the processor, failing open.

    ``async_export`` False exports each span as it ends (SimpleSpanProcessor);
    ``compression`` overrides gzip on/off (None: gzip unless the environment
    chose); ``batch_size`` and ``max_queue_size`` tune the batch processor.
    """
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        Compression,
        OTLPSpanExporter,
    )

    resource = Resource.create({SERVICE_NAME: _DEFAULT_SERVICE_NAME}).merge(
        Resource.create()  # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win
    )
    gzip = export.gzip if compression is None else compression
    chosen = None if gzip is None else (Compression.Gzip if gzip else Compression.NoCompression)
    exporter = OTLPSpanExporter(
        endpoint=export.endpoint,
        insecure=None if "://" in export.endpoint else True,
        compression=chosen,
        # A short deadline: at exit, an unreachable processor must not hold the script.
        timeout=export.timeout_s,
    )
    failing_open = FailOpenSpanExporter(exporter, export.endpoint)
    if async_export:
        processor = BatchSpanProcessor(
            failing_open,
            max_export_batch_size=min(batch_size, max_queue_size),
            max_queue_size=max_queue_size,
        )
    else:
        processor = SimpleSpanProcessor(failing_open)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    return provider
