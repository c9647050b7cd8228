"""Where an ingest request's time goes: decoding by stage, then the writer's cost split
into a fixed part per job and a part per span, with the SQL a job runs.

Not a benchmark with a baseline: the profile behind the ingest bench's figures and the
decisions bench's "under ingest" ones (a decision waits for at most one ingest job, so
a job's fixed cost bounds how short jobs can be while ingest keeps its rate). In one
process, no gRPC:

* decode: one 512-span heartbeat request (``_support.Heartbeats``) parsed and decoded
  by ``ingest.decode``, timed by stage (best of ``--reps``), in microseconds per span;
* writer: for each job size of ``--sizes`` (32,128,512) spans, a fresh ledger whose
  ``--runs`` runs are first stored once (a fleet's steady state: every heartbeat updates
  a known run), then ``--spans`` spans of heartbeats stored one request at a time
  through ``Governance.ingest`` (each request is one writer job). Prints the median time
  per request and spans/s per size, the fit ``time = fixed + per_span x spans`` over the
  sizes, and for the largest and smallest size the SQL statements and commits a job ran
  (count and time per job, timed by wrapping the writer's connection).

    .venv/bin/python bench/profiles/ingest_costs.py [--sizes 32,128,512] [--spans 20480]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import timeit
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/

from _support import FLEET_POLICY, HEARTBEAT_S, SECOND, Heartbeats, time_calls  # noqa: E402


def decode_stages(reps: int) -> list[tuple[str, float]]:
    """Microseconds per span of each decoding stage, on one 512-span request."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from genops_processor.ingest import decode, validation

    beats = Heartbeats(10_240, 512, time.time_ns() - 12 * 3600 * SECOND)
    raw = beats.next()[0]
    message = ExportTraceServiceRequest()
    message.ParseFromString(raw)
    spans = list(message.resource_spans[0].scope_spans[0].spans)
    now = time.time_ns()
    values = [{kv.key: decode._value(kv.value) for kv in s.attributes} for s in spans]
    checked = [
        validation.check_span(v, s.start_time_unix_nano, s.end_time_unix_nano, now)
        for v, s in zip(values, spans, strict=True)
    ]
    events = decode.decode_request(message, now).usage

    def best(work) -> float:
        return min(timeit.repeat(work, number=5, repeat=reps)) / 5 / len(spans) * 1e6

    return [
        ("parse the request (upb)", best(lambda: ExportTraceServiceRequest().ParseFromString(raw))),
        (
            "read attribute values",
            best(lambda: [{kv.key: decode._value(kv.value) for kv in s.attributes} for s in spans]),
        ),
        (
            "validate (schema)",
            best(
                lambda: [
                    validation.check_span(v, s.start_time_unix_nano, s.end_time_unix_nano, now)
                    for v, s in zip(values, spans, strict=True)
                ]
            ),
        ),
        (
            "attributes as JSON",
            best(lambda: [json.dumps(c.attributes, sort_keys=True, default=str) for c in checked]),
        ),
        (
            "usage events (domain objects)",
            best(
                lambda: [
                    decode._usage(e.span, c.attributes)
                    for e, c in zip(events, checked, strict=True)
                ]
            ),
        ),
        ("whole decode_request", best(lambda: decode.decode_request(message, now))),
    ]


class StatementTimes:
    """Every statement and commit of the writer's connection, timed while ``on``."""

    def __init__(self) -> None:
        from genops_processor.storage import writer

        self.times: dict[str, list[float]] = defaultdict(list)
        self.on = False

        def record(label: str, seconds: float) -> None:
            if self.on:
                self.times[label].append(seconds)

        def statement(_, args) -> str:
            return " ".join(str(args[0] if args else "?").split())[:70]

        time_calls(writer.Connection, "execute", statement, record)
        time_calls(writer.Connection, "commit", "COMMIT", record)


def writer_costs(size: int, runs: int, spans: int, work: Path, statements: StatementTimes):
    """Median seconds per request of ``size`` spans on a ledger of ``runs`` known runs."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from genops_processor.budgets.policy import Policy
    from genops_processor.ingest.decode import decode_request
    from genops_processor.pricing import Catalog, CatalogSource
    from genops_processor.service import Governance
    from genops_processor.storage import Storage

    beats = Heartbeats(runs, size, time.time_ns() - 12 * 3600 * SECOND)
    warm, timed = beats.groups, max(8, spans // size)

    def decoded():
        message = ExportTraceServiceRequest()
        message.ParseFromString(beats.next()[0])
        return decode_request(message)

    first = [decoded() for _ in range(warm)]  # every run stored once
    requests = [decoded() for _ in range(timed)]
    (work / "policy.yaml").write_text(FLEET_POLICY)
    with Storage(work / f"ledger-{size}.duckdb") as storage:
        governance = Governance(
            storage, CatalogSource(Catalog.load(None)), Policy.load(work / "policy.yaml")
        )

        async def run() -> list[float]:
            for batch in first:
                await governance.ingest(batch)
            took = []
            statements.times.clear()
            statements.on = True
            for batch in requests:
                began = time.perf_counter()
                await governance.ingest(batch)
                took.append(time.perf_counter() - began)
            statements.on = False
            return took

        try:
            took = asyncio.run(run())
        finally:
            governance.close()
    per_job = {sql: (len(t) / timed, sum(t) / timed) for sql, t in statements.times.items()}
    return statistics.median(took), per_job


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="32,128,512", help="spans per request (one job)")
    parser.add_argument("--runs", type=int, default=10_240, help="runs of the fleet")
    parser.add_argument("--spans", type=int, default=20_480, help="spans timed per size")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    print("decoding, microseconds per span (best of", args.reps, "x 5 requests):")
    for stage, micros in decode_stages(args.reps):
        print(f"  {stage:<32} {micros:7.2f}")

    statements = StatementTimes()
    work = Path(tempfile.mkdtemp(prefix="genops-ingest-costs-"))
    medians, jobs = {}, {}
    print(
        f"\nwriter, one request = one job, {args.runs:,} known runs "
        f"(heartbeat {HEARTBEAT_S} s apart):"
    )
    for size in sizes:
        medians[size], jobs[size] = writer_costs(size, args.runs, args.spans, work, statements)
        print(
            f"  {size:>4} spans: {medians[size] * 1e3:7.1f} ms per request (median), "
            f"{size / medians[size]:8,.0f} spans/s"
        )
    if len(sizes) > 1:
        per_span = statistics.linear_regression(sizes, [medians[s] for s in sizes])
        print(
            f"  fit: {per_span.intercept * 1e3:.1f} ms fixed per job "
            f"+ {per_span.slope * 1e6:.1f} us per span"
        )
    for size in (sizes[0], sizes[-1]) if len(sizes) > 1 else sizes:
        shown = sorted(jobs[size].items(), key=lambda kv: -kv[1][1])[:8]
        total = sum(t for _, t in jobs[size].values())
        print(
            f"\n  SQL of a {size}-span job: {total * 1e3:.1f} ms "
            f"of {medians[size] * 1e3:.1f} ms (the rest is Python)"
        )
        for sql, (count, seconds) in shown:
            print(f"    {seconds * 1e3:6.2f} ms  {count:4.1f} x  {sql}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
