"""Cost summary and team attribution queries against plain DuckDB GROUP BYs.

Builds a synthetic ledger in a DuckDB file opened through ``Storage`` (so the
processor's real schema, primary keys included, is used): N cost lines, four
per run (GPU compute, vCPU compute, storage, data transfer) over N/4 runs whose
last activity is spread over 60 days, plus experiments and a few manual cost
lines (each run row carries its per-category totals, as the ledger keeps
them). It first checks that ``cost_summary`` over all time equals the plain
GROUP BY over the lines, then times, in the same process and on the same tables, the
processor's ``cost_summary`` (the largest team, and unscoped) and
``team_attribution`` (``genops_processor.analytics.queries``) over the last 30
days against the simplest DuckDB GROUP BY giving the same headline grouping,
and prints the ratio of the medians (aim: at most 1.5). The "rows" column is
what ours returned: runs listed in ``by_run``, or attribution rows.

    .venv/bin/python bench/cost_queries.py [--lines N] [--repeat K] [--db PATH] [--output FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from genops_processor.analytics import queries
from genops_processor.domain import Scope
from genops_processor.storage import Storage

DEFAULT_LINES = 10_000_000
DEFAULT_REPEAT = 7
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "cost_queries.json"
AIM = 1.5

END = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)  # fixed: a kept --db stays valid
SPAN_DAYS = 60  # runs' last activity is spread over this many days before END
SINCE = END - dt.timedelta(days=30)  # the window the queries ask for
RUNS_PER_GROUP = 50  # consecutive runs share an experiment and its attribution
SCOPED_TEAM = "team-00"  # the largest team (about a fifth of the runs)
NS_PER_SECOND = 1_000_000_000
NS_PER_HOUR = 3_600 * NS_PER_SECOND

# One row per run with everything its run row and four cost lines need. Every random
# choice is a hash of the run number (or of its group of RUNS_PER_GROUP consecutive runs,
# for attribution and experiment), so the ledger is the same on every build.
_GEN_RUNS = """
CREATE OR REPLACE TEMP TABLE gen AS
WITH base AS (
    SELECT i, i // {per_group} AS g,
        ((hash(i // {per_group}, 1) % 1000000)::BIGINT) / 1e6 AS u_team,
        (hash(i // {per_group}, 2) % 10)::BIGINT AS project_n,
        (hash(i // {per_group}, 3) % 100)::BIGINT AS customer_n,
        (hash(i // {per_group}, 4) % 10)::BIGINT AS experiment_n,
        (hash(i, 5) % 100)::BIGINT AS env_n,
        (hash(i, 6) % 100)::BIGINT AS status_n,
        (hash(i, 7) % 100)::BIGINT AS version_n,
        (hash(i, 8) % 100)::BIGINT AS region_n,
        1 + (hash(i, 9) % 8)::BIGINT AS gpu_n,
        [1, 1, 1, 2, 4, 8][1 + (hash(i, 10) % 6)::BIGINT] AS gpu_count,
        (((hash(i, 11) % 1000000)::BIGINT) / 1e6) AS u_hours,
        (((hash(i, 12) % 1000000)::BIGINT) / 1e6) AS u_bytes,
        (hash(i, 13) % 100)::BIGINT AS tier_n,
        (hash(i, 14) % 50)::BIGINT AS unpriced_n,
        (hash(i, 15) % (2 * {hour}))::BIGINT AS jitter
    FROM range({runs}) t(i)
), shaped AS (
    SELECT *,
        floor(20 * u_team * u_team)::INTEGER AS team_n,
        ['T4', 'A10G', 'L4', 'V100', 'A100-40GB', 'A100-80GB', 'H100', 'H200'][gpu_n] AS gpu_type,
        [0.526, 1.006, 0.805, 3.06, 2.745, 3.43, 6.88, 5.408][gpu_n]::DECIMAL(18, 9) AS gpu_price,
        (0.05 + 48 * u_hours * u_hours * u_hours)::DECIMAL(38, 12) AS hours,
        (pow(10, 6 + 5 * u_bytes))::BIGINT AS artifact_bytes,
        CASE WHEN tier_n < 80 THEN 'standard' WHEN tier_n < 95 THEN 'infrequent'
            ELSE 'archive' END AS tier,
        {start} + (i * ({span} / {runs}))::BIGINT + jitter - {hour} AS as_of_ns
    FROM base
), attributed AS (
    SELECT *,
        md5(i::VARCHAR) AS run_key,
        'team-' || lpad(team_n::VARCHAR, 2, '0') AS team,
        'proj-' || lpad((team_n * 10 + project_n)::VARCHAR, 3, '0') AS project,
        CASE WHEN customer_n < 20 THEN '' ELSE 'cust-'
            || lpad((((team_n * 10 + project_n) * 7 + customer_n % 5) % 500)::VARCHAR, 3, '0')
            END AS customer_id,
        'cc-' || (team_n // 2)::VARCHAR AS cost_center,
        CASE WHEN experiment_n < 8 THEN 'exp-' || g::VARCHAR ELSE '' END AS experiment_id,
        CASE WHEN version_n < 90 THEN '2026-11-default' WHEN version_n < 97 THEN '2026-01-default'
            ELSE '2026-11-default+acme-1f3a9c0e' END AS catalog_version,
        gpu_count * 8 AS cpu_count,
        (gpu_count * hours)::DECIMAL(38, 12) AS gpu_quantity,
        (gpu_count * 8 * hours)::DECIMAL(38, 12) AS cpu_quantity,
        (artifact_bytes / 1073741824)::DECIMAL(38, 12) AS gib,  -- 30-day retention: GiB-months
        CASE tier WHEN 'standard' THEN 0.023 WHEN 'infrequent' THEN 0.0125 ELSE 0.004
            END::DECIMAL(18, 9) AS storage_price,
        CASE WHEN unpriced_n > 0 THEN gpu_price END AS gpu_unit_price  -- 2% of GPUs unpriced
    FROM shaped
), priced AS (
    SELECT *,
        round(gpu_quantity * gpu_unit_price * 1000000)::BIGINT AS gpu_micros,
        round(cpu_quantity * 0.041 * 1000000)::BIGINT AS cpu_micros,
        round(gib * storage_price * 1000000)::BIGINT AS storage_micros,
        round(gib * 0.09 * 1000000)::BIGINT AS transfer_micros
    FROM attributed
)
SELECT *,
    COALESCE(gpu_micros, 0) + cpu_micros + storage_micros + transfer_micros AS cost_micros
FROM priced
"""

_INSERT_RUNS = """
INSERT INTO runs (run_key, run_id, run_name, wandb_project, team, project, customer_id,
    cost_center, environment, status, final, error, gpu_type, gpu_count, cpu_count,
    instance_type, compute_start_ns, as_of_ns, log_calls, artifact_bytes, artifact_files,
    artifact_count, sequence, catalog_version, cost_micros, unpriced_skus,
    declared_storage_micros, experiment_id, tags, workflow, metrics_last, region, storage_tier,
    retention_days, capacity_type, wandb_mode, declared_catalog, config_hash, violations,
    compute_micros, storage_micros, data_transfer_micros, tracking_micros, unpriced_lines)
SELECT g.run_key, substr(g.run_key, 1, 8), 'run-' || g.i::VARCHAR, 'wb-' || g.project,
    g.team, g.project, g.customer_id, g.cost_center,
    CASE WHEN env_n < 20 THEN 'production' WHEN env_n < 40 THEN 'staging' ELSE 'development' END,
    CASE WHEN status_n < 85 THEN 'finished' WHEN status_n < 90 THEN 'failed' ELSE 'running' END,
    status_n < 90, CASE WHEN status_n BETWEEN 85 AND 89 THEN 'CUDA out of memory' ELSE '' END,
    g.gpu_type, g.gpu_count, g.cpu_count, 'synthetic',
    g.as_of_ns - (g.hours * {hour})::BIGINT, g.as_of_ns, (g.hours * 600)::BIGINT,
    g.artifact_bytes, 1 + g.artifact_bytes // 100000000, 1 + g.i % 3, 1 + (g.hours * 12)::BIGINT,
    g.catalog_version, g.cost_micros,
    CASE WHEN g.gpu_micros IS NULL THEN [g.gpu_type] ELSE []::VARCHAR[] END, 0, g.experiment_id,
    '{{}}', '', '', CASE WHEN region_n < 70 THEN 'us-east-1' WHEN region_n < 90 THEN 'us-west-2'
        ELSE 'eu-west-1' END,
    g.tier, 30, 'on-demand', 'online', g.catalog_version, md5(g.g::VARCHAR),
    CASE WHEN g.gpu_micros IS NULL THEN ['unpriced: ' || g.gpu_type] ELSE []::VARCHAR[] END,
    COALESCE(g.gpu_micros, 0) + g.cpu_micros, g.storage_micros, g.transfer_micros, 0,
    CASE WHEN g.gpu_micros IS NULL THEN 1 ELSE 0 END
FROM gen g
"""

_INSERT_LINES = """
INSERT INTO cost_lines (run_key, sku, category, unit, quantity, unit_price, amount_micros,
    priced, catalog_version, catalog_source, catalog_date, as_of_ns)
SELECT run_key, sku, category, unit, quantity, unit_price, amount_micros,
    amount_micros IS NOT NULL, catalog_version,
    CASE WHEN amount_micros IS NULL THEN '' ELSE 'public price lists' END,
    CASE WHEN amount_micros IS NULL THEN '' ELSE '2026-11' END, as_of_ns
FROM (
    SELECT run_key, catalog_version, as_of_ns,
        [gpu_type, 'vcpu', 'storage-' || tier, 'transfer-external'][j + 1] AS sku,
        ['compute', 'compute', 'storage', 'data_transfer'][j + 1] AS category,
        ['device-hour', 'device-hour', 'gib-month', 'gib'][j + 1] AS unit,
        [gpu_quantity, cpu_quantity, gib, gib][j + 1] AS quantity,
        [gpu_unit_price, 0.041, storage_price, 0.09][j + 1]::DECIMAL(18, 9) AS unit_price,
        [gpu_micros, cpu_micros, storage_micros, transfer_micros][j + 1] AS amount_micros
    FROM gen, range(4) k(j)
    WHERE i * 4 + j < {lines}
)
"""

_INSERT_EXPERIMENTS = """
INSERT INTO experiments (experiment_id, name, experiment_type, status, team, project,
    customer_id, cost_center, environment, max_cost_micros, estimated_cost_micros, start_ns,
    end_ns, error, violations)
SELECT experiment_id, 'experiment ' || g::VARCHAR,
    ['training', 'fine_tuning', 'evaluation', 'hyperparameter_sweep', 'inference', 'general']
        [1 + (hash(g, 20) % 6)::BIGINT],
    CASE WHEN max(as_of_ns) < {since} THEN 'completed' ELSE 'running' END,
    any_value(team), any_value(project), any_value(customer_id), any_value(cost_center),
    'production', 1000000000 * (1 + (hash(g, 21) % 50)::BIGINT), NULL,
    min(as_of_ns), max(as_of_ns), '', ''
FROM gen WHERE experiment_id <> '' AND (hash(g, 22) % 10)::BIGINT > 0
GROUP BY experiment_id, g
"""

_INSERT_MANUAL = """
INSERT INTO manual_costs (trace_id, span_id, experiment_id, run_id, team, project,
    customer_id, cost_center, environment, sku, category, unit, quantity, unit_price,
    amount_micros, priced, catalog_version, at_ns)
SELECT md5('manual' || m::VARCHAR), substr(md5('span' || m::VARCHAR), 1, 16),
    'exp-' || (m * 37 % {groups})::VARCHAR, '', 'team-' || lpad((m % 20)::VARCHAR, 2, '0'),
    'proj-' || lpad((m % 200)::VARCHAR, 3, '0'), '', 'cc-' || ((m % 20) // 2)::VARCHAR,
    'production', 'A100-80GB', 'compute', 'device-hour', 10, 3.43, 34300000, m % 20 > 0,
    '2026-11-default', {start} + m * ({span} // {count})
FROM range({count}) t(m)
"""


def build_ledger(conn: Any, lines: int) -> dict[str, int]:
    """Fill an empty ledger with `lines` cost lines; returns the row counts."""
    runs = -(-lines // 4)
    groups = -(-runs // RUNS_PER_GROUP)
    span = SPAN_DAYS * 24 * NS_PER_HOUR
    start = int(END.timestamp()) * NS_PER_SECOND - span
    fmt = {
        "runs": runs,
        "lines": lines,
        "groups": groups,
        "per_group": RUNS_PER_GROUP,
        "hour": NS_PER_HOUR,
        "span": span,
        "start": start,
        "since": int(SINCE.timestamp()) * NS_PER_SECOND,
        "count": max(1, min(1000, runs // 100)),
    }
    conn.execute(_GEN_RUNS.format(**fmt))
    conn.execute("BEGIN")
    for sql in (_INSERT_RUNS, _INSERT_LINES, _INSERT_EXPERIMENTS, _INSERT_MANUAL):
        conn.execute(sql.format(**fmt))
    conn.execute("COMMIT")
    conn.execute("DROP TABLE gen")
    conn.execute("CHECKPOINT")
    return ledger_counts(conn)


def ledger_counts(conn: Any) -> dict[str, int]:
    tables = ("runs", "cost_lines", "experiments", "manual_costs")
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def check_agreement(conn: Any) -> None:
    """Ours over all time must equal the plain GROUP BY over the lines (plus manual lines)."""
    ours = queries.cost_summary(conn, Scope(), dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
    plain: dict[str, int] = {}
    for sql in (
        "SELECT category, SUM(amount_micros) FROM cost_lines WHERE priced GROUP BY 1",
        "SELECT category, SUM(amount_micros) FROM manual_costs WHERE priced GROUP BY 1",
    ):
        for category, micros in conn.execute(sql).fetchall():
            plain[category] = plain.get(category, 0) + int(micros)
    if ours.by_category != plain:
        raise SystemExit(f"cost_summary disagrees with the lines: {ours.by_category} != {plain}")
    print(f"agreement: cost_summary by category == GROUP BY over the lines ({plain})")


def _ours_summary_team(conn: Any) -> int:
    return len(queries.cost_summary(conn, Scope(team=SCOPED_TEAM), SINCE).by_run)


def _ours_summary_all(conn: Any) -> int:
    return len(queries.cost_summary(conn, Scope(), SINCE).by_run)


def _ours_attribution(conn: Any) -> int:
    return len(queries.team_attribution(conn, SINCE))


# The plain baselines: the simplest GROUP BY giving each query's headline grouping.
PLAIN_SUMMARY_TEAM = (
    "SELECT l.category, SUM(l.amount_micros) FROM cost_lines l JOIN runs r USING (run_key) "
    "WHERE r.team = ? GROUP BY 1"
)
PLAIN_SUMMARY_ALL = "SELECT category, SUM(amount_micros) FROM cost_lines GROUP BY 1"
# The same with the join any window or current-version restriction needs.
PLAIN_SUMMARY_ALL_JOINED = (
    "SELECT l.category, SUM(l.amount_micros) FROM cost_lines l JOIN runs r USING (run_key) "
    "GROUP BY 1"
)
PLAIN_ATTRIBUTION = (
    "SELECT r.team, r.project, r.customer_id, r.cost_center, SUM(l.amount_micros) "
    "FROM cost_lines l JOIN runs r USING (run_key) GROUP BY ALL"
)


def _plain(sql: str, params: list[Any]) -> Callable[[Any], int]:
    def run(conn: Any) -> int:
        return len(conn.execute(sql, params).fetchall())

    return run


# (name, ours, plain SQL, its parameters): ours returns how many runs or groups it listed
CASES: tuple[tuple[str, Callable[[Any], int], str, list[Any]], ...] = (
    (f"cost_summary(team={SCOPED_TEAM})", _ours_summary_team, PLAIN_SUMMARY_TEAM, [SCOPED_TEAM]),
    ("cost_summary(all)", _ours_summary_all, PLAIN_SUMMARY_ALL, []),
    ("cost_summary(all) vs join", _ours_summary_all, PLAIN_SUMMARY_ALL_JOINED, []),
    ("team_attribution", _ours_attribution, PLAIN_ATTRIBUTION, []),
)


def _timed(fn: Callable[[Any], int]) -> Callable[[Any], tuple[float, int]]:
    def run(conn: Any) -> tuple[float, int]:
        started = time.perf_counter()
        rows = fn(conn)
        return (time.perf_counter() - started) * 1000, rows

    return run


def measure(storage: Storage, repeat: int) -> list[dict[str, object]]:
    """Median of `repeat` runs after one warm-up; ours and plain alternate."""
    rows = []
    for name, ours, plain_sql, plain_params in CASES:
        plain = _plain(plain_sql, plain_params)
        storage.call(_timed(ours))
        storage.call(_timed(plain))
        ours_ms, plain_ms = [], []
        for _ in range(repeat):
            ms, ours_rows = storage.call(_timed(ours))
            ours_ms.append(ms)
            ms, _ = storage.call(_timed(plain))
            plain_ms.append(ms)
        ours_median, plain_median = statistics.median(ours_ms), statistics.median(plain_ms)
        rows.append(
            {
                "query": name,
                "ours_ms": round(ours_median, 1),
                "plain_ms": round(plain_median, 1),
                "ratio": round(ours_median / plain_median, 2),
                "ours_runs_ms": [round(x, 1) for x in ours_ms],
                "plain_runs_ms": [round(x, 1) for x in plain_ms],
                "ours_rows": ours_rows,
                "plain_sql": plain_sql,
            }
        )
    return rows


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(lines: int, repeat: int, db: Path | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="genops-bench-") as tmp:
        path = db or Path(tmp) / "ledger.duckdb"
        with Storage(path) as storage:
            counts = storage.call(ledger_counts)
            started = time.perf_counter()
            if counts["cost_lines"] == 0:
                counts = storage.call(lambda conn: build_ledger(conn, lines))
                build_s = round(time.perf_counter() - started, 1)
                print(
                    f"built {counts['cost_lines']:,} cost lines, {counts['runs']:,} runs, "
                    f"{counts['experiments']:,} experiments, {counts['manual_costs']:,} manual "
                    f"costs in {build_s} s ({path.stat().st_size / 2**20:,.0f} MiB on disk)",
                    flush=True,
                )
            elif counts["cost_lines"] == lines:
                build_s = None
                print(f"reusing {path}: {counts['cost_lines']:,} cost lines", flush=True)
            else:
                raise SystemExit(
                    f"{path} holds {counts['cost_lines']:,} cost lines, not {lines:,}: "
                    "pass another --db or a matching --lines"
                )
            storage.call(check_agreement)
            results = measure(storage, repeat)
    return {
        "benchmark": "cost_queries",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "duckdb_version": duckdb.__version__,
        "lines": counts["cost_lines"],
        "runs": counts["runs"],
        "experiments": counts["experiments"],
        "manual_costs": counts["manual_costs"],
        "since_days": (END - SINCE).days,
        "span_days": SPAN_DAYS,
        "repeat": repeat,
        "build_seconds": build_s,
        "queries": results,
        "worst_ratio": max(r["ratio"] for r in results),
        "aim": AIM,
        "peak_rss_mib": round(_peak_rss_mib()),
    }


def print_table(results: dict[str, object]) -> None:
    print(
        f"cost queries: {results['lines']:,} lines, {results['runs']:,} runs, last "
        f"{results['since_days']} of {results['span_days']} days, median of {results['repeat']} "
        f"(duckdb {results['duckdb_version']})"
    )
    print(f"{'query':<28} {'ours ms':>9} {'plain ms':>9} {'ratio':>6} {'rows':>10}")
    for r in results["queries"]:
        print(
            f"{r['query']:<28} {r['ours_ms']:>9.1f} {r['plain_ms']:>9.1f} "
            f"{r['ratio']:>6.2f} {r['ours_rows']:>10,}"
        )
    print(f"worst ratio: {results['worst_ratio']:.2f} (aim: at most {AIM})")
    print(f"peak RSS: {results['peak_rss_mib']:,} MiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES, help="cost lines (10M)")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="timed runs (7)")
    parser.add_argument(
        "--db", type=Path, help="ledger file to build (kept) or reuse; default: a temporary one"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    args = parser.parse_args(argv)
    if args.lines < 4 or args.lines % 4:
        parser.error("--lines must be a positive multiple of 4 (four lines per run)")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    results = run(args.lines, args.repeat, args.db)
    print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
