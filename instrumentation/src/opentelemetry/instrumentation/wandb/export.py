"""The governance span exporter: OTLP/gRPC to the processor, failing open, spooling.

Our own small exporter rather than the SDK's OTLP exporter, which reads the
user's ``OTEL_EXPORTER_OTLP_*`` settings (headers, certificates, timeouts,
compression) meant for their own back end. It sends one
``ExportTraceServiceRequest`` per batch, gzip-compressed, with a short deadline.

Telemetry trouble never reaches the user: an outage is logged once (with the
reason) and once more when export recovers; nothing is raised. A batch the
processor did not acknowledge goes to the :class:`~.spool.Spool` and is sent
again with the next batch that gets through, at exit (see
:meth:`GovernanceSpanExporter.drain`) or by the next governed process. While
the processor is down, export is tried at most every ``probe_interval_s``.

Every request carries the client's credentials (``GENOPS_TOKEN``, TLS settings:
:mod:`genops.transport`). A processor that refuses them (``UNAUTHENTICATED`` /
``PERMISSION_DENIED``) is told once, as its own warning naming what to set, and
treated like an outage: the spans are spooled, so a corrected token delivers
them later; training is never interrupted. Spans the processor rejects one by
one (a team the token may not act for) are warned about once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import grpc
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.wandb.spool import HEARTBEAT_PREFIX, Entry, Spool
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from genops import attributes as attr
from genops.transport import ChannelSecurity, open_channel, refusal_hint, refused

_log = logging.getLogger(__name__)
_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_CHUNK_BYTES = 1024 * 1024  # re-sent spool entries per request (collectors accept 4 MiB)
# The request itself is wrong: sending it again cannot help.
_HOPELESS = (grpc.StatusCode.INVALID_ARGUMENT,)


class GovernanceSpanExporter(SpanExporter):
    def __init__(
        self,
        target: str,
        *,
        secure: bool = False,
        security: ChannelSecurity | None = None,
        timeout_s: float = 5.0,
        gzip: bool = True,
        spool: Spool | None = None,
        probe_interval_s: float = 5.0,
    ) -> None:
        self._target = target
        self.gzip = gzip
        self._timeout_s = timeout_s
        self._spool = spool
        self._probe_interval_s = probe_interval_s
        self._security = security or ChannelSecurity()
        compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
        self._channel = open_channel(target, secure, self._security, compression=compression)
        # Bytes in, so that spooled requests are sent as they were stored.
        self._export = self._channel.unary_unary(
            _EXPORT_METHOD, response_deserializer=ExportTraceServiceResponse.FromString
        )
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._last_attempt = 0.0
        self._ever_delivered = False
        self._shut = False
        self._warned_rejections = False

    @property
    def down(self) -> bool:
        return self._down_since is not None

    @property
    def spool(self) -> Spool | None:
        return self._spool

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            with self._lock:
                return self._export_locked(spans)
        except Exception:  # an exporter bug must not reach the training loop
            _log.debug("genops: span export raised", exc_info=True)
            return SpanExportResult.FAILURE

    def _export_locked(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        now = time.monotonic()
        if self._shut or (self.down and now - self._last_attempt < self._probe_interval_s):
            self._keep(spans)
            return SpanExportResult.FAILURE
        self._last_attempt = now
        error = self._send(encode_spans(spans).SerializeToString())
        if error is not None:
            self._failed(error)
            if not (isinstance(error, grpc.RpcError) and error.code() in _HOPELESS):
                self._keep(spans)
            return SpanExportResult.FAILURE
        self._delivered()
        self._send_spooled()
        return SpanExportResult.SUCCESS

    def drain(self, deadline_s: float) -> int:
        """Send what the spool holds; while it fails, try again until ``deadline_s``
        (monotonic) if the processor answered this process before (it is most likely
        restarting), else once. Returns the spans still pending."""
        while True:
            with self._lock:
                self._send_spooled()
                left = len(self._spool) if self._spool is not None else 0
                patient = self._ever_delivered
            if not left or not patient or time.monotonic() >= deadline_s:
                return left
            time.sleep(min(0.5, max(0.0, deadline_s - time.monotonic())))

    def shutdown(self) -> None:
        with self._lock:
            self._shut = True
            self._channel.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    # -- internals ------------------------------------------------------------------
    def _send(self, payload: bytes) -> BaseException | None:
        try:
            response = self._export(payload, timeout=self._timeout_s)
        except grpc.RpcError as error:
            return error
        except Exception as error:  # a closed channel, a bug: fail open
            return error
        rejected = response.partial_success.rejected_spans
        if rejected and not self._warned_rejections:
            self._warned_rejections = True  # once: a misattributed loop would flood the log
            _log.warning(
                "genops: the processor at %s rejected %d governance spans: %s; "
                "training continues (further rejections are logged at debug level)",
                self._target,
                rejected,
                " ".join(response.partial_success.error_message.split()) or "no reason given",
            )
        elif rejected:
            _log.debug(
                "genops: the processor rejected %d spans: %s",
                rejected,
                response.partial_success.error_message,
            )
        return None

    def _send_spooled(self) -> None:
        """Re-send the spool in chunks (lock held); stops at the first failure."""
        if self._spool is None or self._shut:
            return
        pending = self._spool.pending()
        while pending:
            chunk: list[Entry] = []
            size = 0
            while pending and (not chunk or size + len(pending[0][1]) <= _CHUNK_BYTES):
                entry = pending.pop(0)
                chunk.append(entry)
                size += len(entry[1])
            self._last_attempt = time.monotonic()
            error = self._send(b"".join(data for _, data in chunk))
            if error is not None:
                self._failed(error)
                return
            self._delivered()
            self._spool.acknowledged(key for key, _ in chunk)

    def _keep(self, spans: Sequence[ReadableSpan]) -> None:
        if self._spool is None:
            return
        entries, drop = spool_entries(spans)
        self._spool.add(entries, drop)

    def _delivered(self) -> None:
        self._ever_delivered = True
        if self.down:
            self._down_since = None
            _log.warning("genops: telemetry export to %s recovered", self._target)

    def _failed(self, error: BaseException) -> None:
        if self.down:
            return
        self._down_since = time.monotonic()
        kept = (
            f"; its spans wait in {self._spool.path.parent} to be sent again"
            if self._spool is not None
            else ""
        )
        if refused(error):
            _log.warning(
                "genops: the processor at %s refused the W&B governance telemetry (%s): %s; "
                "training continues%s",
                self._target,
                _describe(error),
                refusal_hint(self._security, error.code()),
                kept,
            )
            return
        _log.warning(
            "genops: cannot export W&B telemetry to %s (is genops-processor running?): %s; "
            "training continues%s",
            self._target,
            _describe(error),
            kept,
        )


def spool_entries(spans: Sequence[ReadableSpan]) -> tuple[list[Entry], list[str]]:
    """One spool entry per span, and the keys the batch makes obsolete.

    A heartbeat's key is its run's (the latest replaces the earlier ones); a run
    span makes its run's heartbeat obsolete; other spans are keyed by their ids.
    """
    entries: list[Entry] = []
    drop: list[str] = []
    for span in spans:
        context = span.get_span_context()
        attributes = span.attributes or {}
        run_key = str(attributes.get(attr.RUN_KEY) or f"{context.trace_id:032x}")
        if span.name == attr.SPAN_HEARTBEAT:
            key = f"{HEARTBEAT_PREFIX}{run_key}"
        else:
            key = f"span:{context.trace_id:032x}:{context.span_id:016x}"
            if span.name == attr.SPAN_RUN:
                drop.append(f"{HEARTBEAT_PREFIX}{run_key}")
        entries.append((key, encode_spans([span]).SerializeToString()))
    # A heartbeat that arrives after its run's final span says nothing new.
    dropped = set(drop)
    entries = [(k, d) for k, d in entries if k not in dropped]
    return entries, drop


def _describe(error: BaseException) -> str:
    if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
        details = error.details() if hasattr(error, "details") else ""
        text = f"{error.code().name}: {details or 'no details'}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())
