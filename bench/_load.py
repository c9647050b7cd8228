"""Heartbeat ingest load: ``--senders`` threads each sending OTLP requests of ``--batch``
heartbeat spans (bench/_support.py ``Heartbeats``) to ``--endpoint``, one at a time,
until ``--seconds`` pass, ``--max-spans`` are sent, or SIGINT. A request counts when it
is answered OK (the processor answers after the commit: acknowledged = durable).
Prints one JSON line: spans acknowledged, rejected (OTLP partial success), failed
requests, spans per second, the acknowledgement latency's p50/p99 and the rounds used
(pass them as ``--first-round`` to continue the same runs).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import EXPORT, Heartbeats, latencies  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--senders", type=int, default=1)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--runs", type=int, default=10_240)
    parser.add_argument("--base-ns", type=int, default=0, help="default: 12 h ago")
    parser.add_argument("--first-round", type=int, default=0)
    parser.add_argument("--prefix", default="hb")
    parser.add_argument("--seconds", type=float, default=0, help="0: no time limit")
    parser.add_argument("--max-spans", type=int, default=0, help="0: no span limit")
    args = parser.parse_args()
    base_ns = args.base_ns or time.time_ns() - 12 * 3600 * 10**9
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stream = Heartbeats(args.runs, args.batch, base_ns, args.first_round, args.prefix)
    lock = threading.Lock()
    totals = {"acked": 0, "rejected": 0, "failed": 0, "sent": 0}
    acks: list[float] = []
    errors: list[str] = []
    channel = grpc.insecure_channel(
        args.endpoint, options=[("grpc.max_send_message_length", 64 * 2**20)]
    )
    export = channel.unary_unary(EXPORT)  # bytes in, bytes out

    def sender() -> None:
        while not stop.is_set():
            with lock:
                if args.max_spans and totals["sent"] >= args.max_spans:
                    return
                totals["sent"] += args.batch
            body, spans = stream.next()
            started = time.perf_counter()
            try:
                answer = trace_service_pb2.ExportTraceServiceResponse.FromString(
                    export(body, timeout=120)
                )
            except grpc.RpcError as error:
                with lock:
                    totals["failed"] += 1
                    if len(errors) < 3:
                        errors.append(f"{error.code().name}: {error.details()}")
                time.sleep(0.05)
                continue
            took = time.perf_counter() - started
            rejected = answer.partial_success.rejected_spans
            with lock:
                acks.append(took)
                totals["acked"] += spans - rejected
                totals["rejected"] += rejected

    started = time.perf_counter()
    threads = [threading.Thread(target=sender, daemon=True) for _ in range(args.senders)]
    for thread in threads:
        thread.start()
    deadline = started + args.seconds if args.seconds else None
    while any(t.is_alive() for t in threads):
        if deadline is not None and time.perf_counter() >= deadline:
            stop.set()
        if stop.is_set():
            break
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join(timeout=150)
    seconds = time.perf_counter() - started
    result = {
        "senders": args.senders,
        "batch": args.batch,
        "seconds": round(seconds, 3),
        "spans_acked": totals["acked"],
        "spans_rejected": totals["rejected"],
        "requests_failed": totals["failed"],
        "spans_per_s": round(totals["acked"] / seconds, 1),
        "ack": latencies(acks),
        "rounds_used": stream.rounds_used,
        "base_ns": base_ns,
        "errors": errors,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
