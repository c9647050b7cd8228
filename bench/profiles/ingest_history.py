"""Does ingest slow down as the ledger keeps more spans? Ingest rate of new heartbeat
requests on a ledger holding ``--stored`` spans (half raw, half compacted to their ids)
against an empty one, with the kept span-id hashes (storage/stored_span_ids.py) and
without them (``SPAN_IDS_KEPT_MAX`` 0: every batch's duplicate check joins its ids with
every stored span, as before they were kept), alternating, in one run. Span ids are
random, as an OpenTelemetry SDK makes them: ids from a narrow range let DuckDB skip row
groups by their min/max and hide the cost.

Not a benchmark with a bare baseline: a profile of one cost that grows with history.
In process (no gRPC): requests decoded up front, then stored through the processor's
``Governance.ingest`` (its group-commit queue) by ``--senders`` concurrent senders.
Prints spans/s (median of ``--reps``) per ledger and way, and the ratio of the full
ledger to the empty one. The filled ledger is made once per run (~10 s per million spans).

    .venv/bin/python bench/profiles/ingest_history.py [--stored 1000000] [--requests 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/

from _support import FLEET_POLICY, Heartbeats  # noqa: E402


def fill(path: Path, stored: int) -> None:
    """``stored`` synthetic spans: half raw (heartbeat-sized attributes), half compacted."""
    from genops_processor.storage import Storage

    raw, compacted = stored - stored // 2, stored // 2
    with Storage(path) as storage:

        def job(conn):
            step = 500_000
            for lo in range(0, raw, step):
                conn.execute(
                    "INSERT INTO spans (trace_id, span_id, kind, name, run_key, start_ns, "
                    "end_ns, attributes) SELECT md5(i::VARCHAR), left(md5((-i)::VARCHAR), 16), "
                    "'heartbeat', 'genops.heartbeat', 'old-' || (i % 10000), i, i, "
                    "repeat('x', 800) FROM range(?, ?) t(i)",
                    [lo, min(raw, lo + step)],
                )
            conn.execute(
                "INSERT INTO span_ids SELECT from_hex(md5(i::VARCHAR)), "
                "from_hex(left(md5((-i)::VARCHAR), 16)) FROM range(?, ?) t(i)",
                [raw, raw + compacted],
            )
            conn.execute("CHECKPOINT")

        storage.call(job)


def measure(path: Path, requests: list, senders: int) -> float:
    """Spans/s of ``requests`` stored by a processor opened on ``path``."""
    from genops_processor.budgets.policy import Policy
    from genops_processor.pricing import Catalog, CatalogSource
    from genops_processor.service import Governance
    from genops_processor.storage import Storage

    policy = path.parent / "policy.yaml"
    policy.write_text(FLEET_POLICY)
    with Storage(path) as storage:
        governance = Governance(storage, CatalogSource(Catalog.load(None)), Policy.load(policy))

        async def run() -> float:
            await governance.ingest(requests[0])  # warm-up
            pending = iter(requests[1:])

            async def sender():
                for batch in pending:
                    await governance.ingest(batch)

            started = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(senders)))
            return (len(requests) - 1) * len(requests[0].spans) / (time.perf_counter() - started)

        try:
            return asyncio.run(run())
        finally:
            governance.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stored", type=int, default=1_000_000, help="spans already kept")
    parser.add_argument("--requests", type=int, default=60, help="per measurement")
    parser.add_argument("--batch", type=int, default=512, help="spans per request")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from genops_processor.ingest.decode import decode_request
    from genops_processor.storage import stored_span_ids

    work = Path(tempfile.mkdtemp(prefix="genops-ingest-history-"))
    started = time.perf_counter()
    fill(work / "full.duckdb", args.stored)
    print(f"filled a ledger with {args.stored:,} spans in {time.perf_counter() - started:.0f} s")
    beats = Heartbeats(10_240, args.batch, time.time_ns() - 12 * 3600 * 10**9)
    kept_max = stored_span_ids.SPAN_IDS_KEPT_MAX
    rates: dict[tuple[str, str], list[float]] = {}
    for rep in range(args.reps):
        for ledger in ("empty", "full"):
            for way in ("kept hashes", "join every batch"):
                requests = []
                for _ in range(args.requests + 1):  # new spans each time: never duplicates
                    message = ExportTraceServiceRequest()
                    message.ParseFromString(beats.next()[0])
                    for span in message.resource_spans[0].scope_spans[0].spans:
                        span.span_id = os.urandom(8)  # as an SDK's: random, not a range
                    requests.append(decode_request(message))
                path = work / f"{ledger}-{rep}-{way[0]}.duckdb"
                if ledger == "full":
                    path.write_bytes((work / "full.duckdb").read_bytes())
                stored_span_ids.SPAN_IDS_KEPT_MAX = kept_max if way == "kept hashes" else 0
                rates.setdefault((ledger, way), []).append(measure(path, requests, args.senders))
                path.unlink()
    stored_span_ids.SPAN_IDS_KEPT_MAX = kept_max
    print(f"{'ledger':>8} {'duplicate check':>18} {'spans/s (median)':>17}")
    for (ledger, way), values in rates.items():
        print(f"{ledger:>8} {way:>18} {statistics.median(values):17,.0f}")
    for way in ("kept hashes", "join every batch"):
        full = statistics.median(rates[("full", way)])
        empty = statistics.median(rates[("empty", way)])
        print(f"{way}: {args.stored:,} spans kept / empty ledger = {full / empty:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
