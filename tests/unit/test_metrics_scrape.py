"""A scrape never waits long for the writer and never queues a second read behind the
first: figures are read once per METRICS_CACHE_S, and a read that takes longer than
METRICS_SCRAPE_WAIT_S is answered with the figures read before (counted as stale).
The writer is stood in for by futures this test resolves itself (the point is what the
scrape does while the writer is busy, which a real writer cannot be held at)."""

from __future__ import annotations

import concurrent.futures

import pytest
from prometheus_client import generate_latest

from genops_processor import metrics as metrics_module
from genops_processor.metrics import ProcessorMetrics

FIGURES = {
    "runs": [(("a", "p", "", "", ""), "finished", 2, 0)],
    "costs": [(("a", "p", "", "", ""), "compute", 1_500_000)],
    "decisions": [(("a", "p", "", "", ""), "deny", 3)],
    "holds": [],
    "approvals": [],
    "audit_events": [],
    "alerts_fired": [],
    "budgets": [],
    "alerts_pending": 0,
    "quarantined_rows": 0,
    "ledger_rejections": {},
    "monitoring_alerts": {},
    "delivery_failures": {},
}


def samples(registry) -> dict[str, float]:
    out = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def cost(found: dict[str, float]) -> float | None:
    return next((v for k, v in found.items() if k.startswith("genops_cost_usd{")), None)


@pytest.fixture
def ledger_reads():
    """Metrics bound to a writer that answers every read at once with FIGURES, and the
    list of reads it was asked for."""
    reads: list[int] = []

    def submit():
        reads.append(1)
        future = concurrent.futures.Future()
        future.set_result(FIGURES)
        return future

    metrics = ProcessorMetrics()
    metrics.bind_ledger(submit, lambda: 0)
    return reads, metrics


def test_scrapes_within_the_cache_period_read_the_ledger_once(monkeypatch, ledger_reads):
    monkeypatch.setattr(metrics_module, "METRICS_CACHE_S", 3600.0)
    reads, metrics = ledger_reads
    for _ in range(5):
        assert cost(samples(metrics.registry)) == 1.5
    assert len(reads) == 1


def test_a_busy_writer_gets_one_read_and_scrapes_show_the_figures_before_it(monkeypatch):
    monkeypatch.setattr(metrics_module, "METRICS_CACHE_S", 0.0)  # every scrape wants a read
    monkeypatch.setattr(metrics_module, "METRICS_SCRAPE_WAIT_S", 0.01)
    monkeypatch.setattr(metrics_module, "METRICS_READ_SHARE", 1e9)  # never reused longer
    futures: list[concurrent.futures.Future] = []

    def submit():
        futures.append(concurrent.futures.Future())  # the writer has not run it yet
        return futures[-1]

    metrics = ProcessorMetrics()
    metrics.bind_ledger(submit, lambda: 7)
    first = samples(metrics.registry)
    assert cost(first) is None  # nothing read yet: no ledger gauges, not zeros
    assert first["genops_metrics_stale_scrapes_total"] == 1
    assert first["genops_writer_queue_depth"] == 7
    second = samples(metrics.registry)
    assert len(futures) == 1, "a second read was queued behind the first"
    assert second["genops_metrics_stale_scrapes_total"] == 2
    futures[0].set_result(FIGURES)
    assert cost(samples(metrics.registry)) == 1.5
    # The next read is stuck: the last figures are shown, not nothing.
    assert cost(samples(metrics.registry)) == 1.5
    assert len(futures) == 2


def test_a_slow_read_is_reused_longer_so_reading_takes_a_bounded_share(monkeypatch, ledger_reads):
    monkeypatch.setattr(metrics_module, "METRICS_CACHE_S", 0.0)
    monkeypatch.setattr(metrics_module, "METRICS_READ_SHARE", 1e-9)  # any read is "slow"
    reads, metrics = ledger_reads
    for _ in range(3):
        assert cost(samples(metrics.registry)) == 1.5
    assert len(reads) == 1
