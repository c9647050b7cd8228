"""Ingest's duplicate check reads the ledger only for spans that may be stored
(storage/stored_span_ids.py), and never misses one that is: a span sent again is a
duplicate, and a reused id with other content is rejected, whether the ids' hashes were
read before or after it was stored, after compaction, a rolled-back batch, a restart,
and past SPAN_IDS_KEPT_MAX (every batch asks the ledger then). A batch of new spans is
stored without the join over every stored span. Real DuckDB files in a temporary
directory; events built directly, as in test_run_cache."""

from __future__ import annotations

import array
import datetime as dt
import logging
import random
from dataclasses import replace

import pytest

from genops_processor import storage as store
from genops_processor.budgets import reservations
from genops_processor.ingest import ingest_batch
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.storage import stored_span_ids as stored_span_ids_module
from genops_processor.storage.hash_buckets import HashBuckets
from genops_processor.storage.stored_span_ids import stored_span_ids
from tests.helpers import ROUND_CATALOG
from tests.processor.test_run_cache import batch, beat

CATALOGS = CatalogSource(Catalog.load(ROUND_CATALOG))


@pytest.fixture
def ledger(tmp_path):
    storage = store.Storage(tmp_path / "ledger.duckdb").open()
    yield storage
    storage.close()


def ingest(storage, *events):
    return storage.call(lambda conn: ingest_batch(conn, batch(*events), CATALOGS))


def skipped(storage) -> int:
    return storage.call(lambda conn: stored_span_ids(conn).skipped)


def stored_ids(storage) -> list[tuple]:
    return storage.call(
        lambda conn: conn.execute("SELECT trace_id, span_id FROM spans ORDER BY ALL").fetchall()
    )


def test_hash_buckets_hold_what_a_set_holds():
    rng = random.Random(5)
    edges = [0, 1, 2**64 - 1, 2**52 - 1, 2**52, 2**63, 2**63 - 1]
    start = sorted([rng.getrandbits(64) for _ in range(3_000)] + edges + [edges[2], 7, 7])
    buckets = HashBuckets.from_sorted(array.array("Q", start))
    model = set(start)
    for value in [rng.getrandbits(64) for _ in range(3_000)] + [2**52 + 1, 5, 7]:
        buckets.add(value)
        model.add(value)
    assert len(buckets) >= len(model)  # repeats of the sorted start may count twice
    probes = list(model) + [rng.getrandbits(64) for _ in range(5_000)] + [3, 2**64 - 2]
    assert [p in buckets for p in probes] == [p in model for p in probes]


def test_new_spans_are_stored_without_asking_the_ledger_and_a_resend_is_a_duplicate(ledger):
    first = ingest(ledger, *(beat(r, 60) for r in range(40)))
    assert (first.new_spans, skipped(ledger)) == (40, 40)  # none looked up
    again = ingest(ledger, *(beat(r, 60) for r in range(40)), beat(41, 60))
    assert (again.new_spans, again.duplicate_spans) == (1, 40)
    assert skipped(ledger) == 41  # only run 41's span was known to be new
    assert len(stored_ids(ledger)) == 41


def test_a_reused_id_with_other_content_is_rejected_after_a_restart(tmp_path):
    # hostile: a later request reuses stored ids with another body; the hashes are read
    # from the file at start, not kept from the first process
    path = tmp_path / "ledger.duckdb"
    originals = [beat(r, 60) for r in range(10)]
    with store.Storage(path) as storage:
        assert ingest(storage, *originals).new_spans == 10
    forged = [replace(e, span=replace(e.span, end_ns=e.span.end_ns + 1)) for e in originals]
    with store.Storage(path) as storage:
        result = ingest(storage, *forged, beat(11, 60))
        assert result.new_spans == 1
        assert sorted({r.reason for r in result.rejected}) == ["duplicate_span_id"]
        assert len(result.rejected) == 10
        assert storage.call(lambda conn: stored_span_ids(conn).reads) == 1
        assert len(stored_ids(storage)) == 11


def test_compacted_ids_are_known_as_raw_ones_are(ledger):
    events = [beat(r, 60) for r in range(6)]
    ingest(ledger, *events)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    assert ledger.call(lambda conn: store.compact_step(conn, future)) == 6
    assert ingest(ledger, *events).new_spans == 0  # known (hash kept since it was stored)
    ledger.call(lambda conn: stored_span_ids(conn).read(conn))  # as at a restart
    again = ingest(ledger, *events)
    assert (again.new_spans, again.duplicate_spans) == (0, 6)
    assert ledger.call(store.span_counts) == (0, 6)


def test_ids_sharing_a_compact_form_are_still_told_apart(ledger):
    # hostile: "7a7a" (hex of b"zz") and "zz" (not hex: its own bytes) hash alike
    hexed = beat(1, 60)
    hexed = replace(hexed, span=replace(hexed.span, span_id="7a7a"))
    texted = replace(hexed, span=replace(hexed.span, span_id="zz", end_ns=hexed.span.end_ns))
    assert ingest(ledger, hexed).new_spans == 1
    before = skipped(ledger)
    result = ingest(ledger, texted)
    assert (result.new_spans, result.rejected) == (1, ())
    assert skipped(ledger) == before  # asked the ledger, which told them apart
    assert sorted(s for _, s in stored_ids(ledger)) == ["7a7a", "zz"]


def test_ids_of_a_rolled_back_batch_are_stored_when_sent_again(ledger, monkeypatch):
    events = [beat(r, 60) for r in range(5)]

    def failing(conn, states):
        raise OSError("disk gone after the spans")

    track = reservations.track
    monkeypatch.setattr(reservations, "track", failing)
    with pytest.raises(OSError):
        ingest(ledger, *events)
    monkeypatch.setattr(reservations, "track", track)
    assert stored_ids(ledger) == []
    result = ingest(ledger, *events)  # known hashes, not stored: asked, found new
    assert (result.new_spans, result.duplicate_spans) == (5, 0)
    assert len(stored_ids(ledger)) == 5


def test_past_the_cap_every_batch_asks_the_ledger_and_misses_nothing(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(stored_span_ids_module, "SPAN_IDS_KEPT_MAX", 25)
    path = tmp_path / "ledger.duckdb"
    with store.Storage(path) as storage, caplog.at_level(logging.WARNING):
        assert ingest(storage, *(beat(r, 60) for r in range(20))).new_spans == 20
        assert ingest(storage, *(beat(r, 120) for r in range(20))).new_spans == 20
        assert storage.call(lambda conn: stored_span_ids(conn).given_up)
        before = skipped(storage)
        again = ingest(storage, *(beat(r, 60) for r in range(20)))
        assert (again.new_spans, again.duplicate_spans) == (0, 20)
        assert skipped(storage) == before
    assert "SPAN_IDS_KEPT_MAX" in caplog.text
    with store.Storage(path) as storage:  # a restart over the cap does not read them
        assert ingest(storage, *(beat(r, 120) for r in range(20))).duplicate_spans == 20
        assert storage.call(lambda conn: stored_span_ids(conn).reads) == 0


def _disk_gone(conn, states):
    raise OSError("disk gone after the spans")


def test_every_stored_id_is_found_through_random_batches_and_restarts(tmp_path, monkeypatch):
    """Random batches (resends, reused ids, rollbacks, compaction, restarts): the set of
    stored ids is what a model keeps, and each batch's answer agrees with it."""
    rng = random.Random(29)
    path = tmp_path / "ledger.duckdb"
    model: dict[tuple, int] = {}  # ids -> end_ns stored
    compacted: set[tuple] = set()
    seen = {"rejected": 0, "duplicates": 0, "failed": 0, "compactions": 0}
    track = reservations.track
    for _ in range(3):
        with store.Storage(path) as storage:
            for step in range(12):
                events = {}
                for _ in range(rng.randint(1, 15)):
                    run, second = rng.randrange(8), rng.randrange(1, 40) * 60
                    event = beat(run, second)
                    if rng.random() < 0.15:  # a reused id with another end
                        event = replace(event, span=replace(event.span, end_ns=second + 1))
                    events[(event.span.trace_id, event.span.span_id)] = event
                fail = step % 6 == 5
                if fail:
                    monkeypatch.setattr(reservations, "track", _disk_gone)
                try:
                    result = ingest(storage, *events.values())
                except OSError:
                    assert fail
                    seen["failed"] += 1
                    continue
                finally:
                    monkeypatch.setattr(reservations, "track", track)
                expected_new = {k for k in events if k not in model}
                expected_rejected = {  # a compacted span's content is unknown: a duplicate
                    k
                    for k, e in events.items()
                    if k in model and k not in compacted and model[k] != e.span.end_ns
                }
                by_reason: dict[bool, set] = {True: set(), False: set()}
                for r in result.rejected:
                    by_reason[r.reason == "duplicate_span_id"].add((r.trace_id, r.span_id))
                assert by_reason[True] == expected_rejected
                assert by_reason[False] <= expected_new  # e.g. usage going down
                stored_now = expected_new - by_reason[False]
                assert result.new_spans == len(stored_now)
                seen["rejected"] += len(expected_rejected)
                seen["duplicates"] += result.duplicate_spans
                for key in stored_now:
                    model[key] = events[key].span.end_ns
                if rng.random() < 0.2:
                    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
                    storage.call(lambda conn, f=future: store.compact_step(conn, f))
                    compacted.update(model)
                    seen["compactions"] += 1
            raw, compact = storage.call(store.span_counts)
            assert raw + compact == len(model)
    assert min(seen.values()) > 0, seen  # every case came up
