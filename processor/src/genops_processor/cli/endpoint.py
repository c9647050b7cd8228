"""What a ``genops`` command says when its call to ``--endpoint`` fails: one line that
tells nothing listening ("cannot reach") from something that answers but is not the
governance API (an OpenTelemetry collector at the OTLP address), and otherwise the
processor's own reason."""

from __future__ import annotations

import grpc

_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def endpoint_error(target: str, error: grpc.RpcError) -> str:
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else None
    if code in _UNREACHABLE:
        return f"cannot reach the processor at {target}: {code.name}"
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return (
            f"{target} answers but does not implement the governance API (UNIMPLEMENTED): "
            "an OpenTelemetry collector? Point --endpoint or GENOPS_ENDPOINT at "
            "genops-processor's host:port"
        )
    text = details or (code.name if code is not None else str(error))
    return " ".join(text.split())
