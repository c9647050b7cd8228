"""/metrics shows the ledger: money and counts are gauges read from it at scrape time, so
a restart, a late series or a re-pricing cannot make them drift; client label values
are capped on every scope label; the exposition follows Prometheus' conventions."""

from __future__ import annotations

import re
import urllib.request

from genops_processor.limits import METRICS_MAX_CUSTOMERS, METRICS_MAX_ENVIRONMENTS
from tests.e2e.test_prometheus_dashboards import export, run
from tests.helpers import ROUND_CATALOG, start_processor


def labels(key: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', key))


def gauge(samples: dict[str, float], name: str) -> dict[str, float]:
    return {k: v for k, v in samples.items() if k.startswith(name + "{") or k == name}


def test_money_and_runs_equal_the_ledger_right_after_a_restart(tmp_path):
    processor = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG))
    try:
        spans = [run(f"team-{i % 3}", "p", "c", "cc", "dev", "finished", i + 1) for i in range(6)]
        assert export(processor, spans) == 0
        before = processor.metrics()
    finally:
        processor.stop()
    # A new process on the same ledger, before any span: counters would start at zero.
    processor = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG))
    try:
        after = processor.metrics()
        ledger = processor.runs()
    finally:
        processor.stop()
    total = sum(r.cost_micros for r in ledger)
    for samples in (before, after):
        assert round(sum(gauge(samples, "genops_cost_usd").values()) * 1e6) == total
        assert sum(gauge(samples, "genops_runs").values()) == len(ledger) == 6
    assert gauge(after, "genops_cost_usd") == gauge(before, "genops_cost_usd")


def test_made_up_customers_and_environments_are_capped_and_every_dollar_counted(tmp_path):
    processor = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG))
    try:
        n = METRICS_MAX_CUSTOMERS + 50
        spans = [
            run("team-1", "p", f"customer-{i:04d}", "cc", f"env-{i:04d}", "finished", 1)
            for i in range(n)
        ]
        assert export(processor, spans) == 0
        samples = processor.metrics()
        ledger = processor.runs()
    finally:
        processor.stop()
    cost = gauge(samples, "genops_cost_usd")
    customers = {labels(k)["customer"] for k in cost}
    environments = {labels(k)["environment"] for k in cost}
    assert len(customers) == METRICS_MAX_CUSTOMERS + 1 and "other" in customers
    assert len(environments) == METRICS_MAX_ENVIRONMENTS + 1 and "other" in environments
    assert round(sum(cost.values()) * 1e6) == sum(r.cost_micros for r in ledger)
    assert sum(gauge(samples, "genops_runs").values()) == n


def test_the_exposition_has_process_metrics_no_created_series_and_total_only_on_counters(
    processor,
):
    assert export(processor, [run("team-2", "p", "", "", "", "finished")]) == 0
    text = urllib.request.urlopen(processor.metrics_url, timeout=10).read().decode()
    samples = processor.metrics()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert not [name for name in samples if "_created" in name]
    for sample in samples:
        name = sample.split("{", 1)[0]
        family = re.sub(r"_(bucket|count|sum)$", "", name)
        kind = types.get(name) or types[family]
        assert name.endswith("_total") == (kind == "counter"), (name, kind)
    assert "process_resident_memory_bytes" in samples
    assert "process_cpu_seconds_total" in samples
    for name in (
        "genops_ingest_duration_seconds_count",
        "genops_commit_duration_seconds_count",
        "genops_writer_queue_depth",
        "genops_metrics_ledger_age_seconds",
    ):
        assert name in samples, name
    assert samples["genops_ingest_duration_seconds_count"] >= 1
    assert samples["genops_commit_duration_seconds_count"] >= 1
