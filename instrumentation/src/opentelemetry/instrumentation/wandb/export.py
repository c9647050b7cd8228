"""A span exporter that fails open: telemetry trouble never reaches the user.

Wraps the OTLP exporter. An outage is logged once (with the exporter's own
reason) and once more when export recovers; nothing is ever raised. While the
processor is unreachable, batches are dropped without waiting, and export is
retried at most every ``probe_interval_s``; usage on run and heartbeat spans
is cumulative, so the first batch that gets through carries the totals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_log = logging.getLogger(__name__)
_OTLP_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
)


class _CaptureOtlpLogs(logging.Filter):
    """Keeps the OTLP exporter's per-retry messages out of the user's output."""

    def __init__(self) -> None:
        super().__init__()
        self.last_message = ""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.last_message = record.getMessage()
            return False
        return True


class FailOpenSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, target: str, probe_interval_s: float = 5.0) -> None:
        self._inner = inner
        self._target = target
        self._probe_interval_s = probe_interval_s
        self._down_since: float | None = None
        self._last_attempt = 0.0
        self._capture = _CaptureOtlpLogs()
        for name in _OTLP_LOGGERS:
            logging.getLogger(name).addFilter(self._capture)

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        now = time.monotonic()
        if self.down and now - self._last_attempt < self._probe_interval_s:
            return SpanExportResult.FAILURE
        self._last_attempt = now
        try:
            result = self._inner.export(spans)
        except Exception as error:  # an exporter bug must not reach the training loop
            _log.debug("genops: span export raised", exc_info=error)
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            if self.down:
                self._down_since = None
                _log.warning("genops: telemetry export to %s recovered", self._target)
        elif not self.down:
            self._down_since = now
            _log.warning(
                "genops: cannot export W&B telemetry to %s (is genops-processor running?); "
                "training continues without it. %s",
                self._target,
                self._capture.last_message,
            )
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)
