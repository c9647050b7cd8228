"""A ledger seeded with the history of a fleet: runs, cost lines, holds and decisions.

Written straight into DuckDB through ``Storage`` (the processor's own schema and
migrations), in bulk ``INSERT ... SELECT`` statements generated in SQL: never through
OTLP, so a year of a 10,000-run/day fleet (3.65 M runs, 14.6 M cost lines, 3.65 M
committed holds and decisions) takes about 2.5 minutes here (2.8 GiB file, 5.4 GiB peak
RSS) instead of hours. The history ends
now (the current day, week and month have spend, as decisions read them), so the file
is cached under ``.cache/bench/`` by size, date and a hash of the schema source:
a rerun on the same day reuses it, and a changed schema seeds again.

Every random choice is a hash of the run number, so a seed is the same on every build.
Teams are ``team-00`` .. ``team-19`` (skewed: team-00 has about a fifth of the runs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import time
from pathlib import Path

from genops_processor.storage import Storage

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "bench"
SCHEMA_SOURCES = [
    REPO / "processor" / "src" / "genops_processor" / "storage" / "schema.py",
    Path(__file__),
]
TEAMS = 20
NS_PER_SECOND = 10**9
NS_PER_HOUR = 3_600 * NS_PER_SECOND
NS_PER_DAY = 24 * NS_PER_HOUR

_GEN = """
CREATE OR REPLACE TEMP TABLE gen AS
WITH base AS (
    SELECT i,
        ((hash(i, 1) % 1000000)::BIGINT) / 1e6 AS u_team,
        1 + (hash(i, 2) % 4)::BIGINT AS gpu_n,
        [1, 1, 2, 4, 8][1 + (hash(i, 3) % 5)::BIGINT] AS gpu_count,
        ((hash(i, 4) % 1000000)::BIGINT) / 1e6 AS u_hours,
        (hash(i, 5) % 100)::BIGINT AS status_n
    FROM range({runs}) t(i)
), shaped AS (
    SELECT *,
        floor({teams} * u_team * u_team)::INTEGER AS team_n,
        ['T4', 'A10G', 'A100-80GB', 'H100'][gpu_n] AS gpu_type,
        [0.526, 1.006, 3.43, 6.88][gpu_n]::DECIMAL(18, 9) AS gpu_price,
        (0.05 + 6 * u_hours * u_hours)::DECIMAL(38, 12) AS hours,
        -- runs end evenly over the history, the last one a minute ago
        {end} - 60 * {second}::BIGINT
            - ((({runs} - 1 - i)::HUGEINT * {span}) // {runs})::BIGINT AS as_of_ns
    FROM base
)
SELECT *,
    md5('seed' || i::VARCHAR) AS run_key,
    md5('hold' || i::VARCHAR) AS hold_id,
    md5('decision' || i::VARCHAR) AS decision_id,
    'team-' || lpad(team_n::VARCHAR, 2, '0') AS team,
    'proj-' || lpad((team_n * 10 + i % 10)::VARCHAR, 3, '0') AS project,
    as_of_ns - (hours * {hour})::BIGINT AS start_ns,
    round(gpu_count * hours * gpu_price * 1000000)::BIGINT AS gpu_micros,
    round(gpu_count * 8 * hours * 0.041 * 1000000)::BIGINT AS cpu_micros,
    round(hours * 0.023 * 1000000)::BIGINT AS storage_micros,
    round(hours * 0.09 * 1000000)::BIGINT AS transfer_micros
FROM shaped
"""

_RUNS = """
INSERT INTO runs (run_key, run_id, run_name, wandb_project, team, project, customer_id,
    cost_center, environment, status, final, error, gpu_type, gpu_count, cpu_count,
    compute_start_ns, as_of_ns, log_calls, artifact_bytes, artifact_files, artifact_count,
    sequence, catalog_version, cost_micros, unpriced_skus, declared_storage_micros,
    experiment_id, tags, workflow, metrics_last, wandb_mode, violations, hold_id,
    compute_micros, storage_micros, data_transfer_micros, tracking_micros, unpriced_lines)
SELECT run_key, substr(run_key, 1, 8), 'run-' || i::VARCHAR, 'wb-' || project, team, project,
    '', 'cc-' || (team_n // 2)::VARCHAR, 'production',
    CASE WHEN status_n < 92 THEN 'finished' ELSE 'failed' END, TRUE, '',
    gpu_type, gpu_count, gpu_count * 8, start_ns, as_of_ns, (hours * 600)::BIGINT, 0, 0, 0,
    1 + (hours * 240)::BIGINT, '2026-11-default',
    gpu_micros + cpu_micros + storage_micros + transfer_micros, []::VARCHAR[], 0, '', '{{}}',
    '', '', 'online', []::VARCHAR[], hold_id, gpu_micros + cpu_micros, storage_micros,
    transfer_micros, 0, 0
FROM gen
"""

_LINES = """
INSERT INTO cost_lines (run_key, sku, category, unit, quantity, unit_price, amount_micros,
    priced, catalog_version, catalog_source, catalog_date, as_of_ns)
SELECT run_key,
    [gpu_type, 'vcpu', 'storage-standard', 'transfer-external'][j + 1],
    ['compute', 'compute', 'storage', 'data_transfer'][j + 1],
    ['gpu-hour', 'vcpu-hour', 'gib-month', 'gib'][j + 1],
    [gpu_count * hours, gpu_count * 8 * hours, hours, hours][j + 1]::DECIMAL(38, 12),
    [gpu_price, 0.041, 0.023, 0.09][j + 1]::DECIMAL(18, 9),
    [gpu_micros, cpu_micros, storage_micros, transfer_micros][j + 1],
    TRUE, '2026-11-default', 'public price lists', '2026-11', as_of_ns
FROM gen, range(4) k(j)
"""

_HOLDS = """
INSERT INTO holds (hold_id, decision_id, run_key, team, project, customer_id, cost_center,
    environment, amount_micros, status, created_ns, last_seen_ns, closed_ns,
    committed_micros, parent_hold_id, principal)
SELECT hold_id, decision_id, run_key, team, project, '', 'cc-' || (team_n // 2)::VARCHAR,
    'production', gpu_micros + cpu_micros + storage_micros + transfer_micros + 1000000,
    'committed', start_ns, as_of_ns, as_of_ns,
    gpu_micros + cpu_micros + storage_micros + transfer_micros, NULL, 'local'
FROM gen
"""

_DECISIONS = """
INSERT INTO budget_decisions (decision_id, decided_at, team, project, customer_id,
    cost_center, environment, wandb_project, wandb_run_name, requested_micros, decision,
    budget_name, budget_mode, limit_micros, spent_micros, budgets, message)
SELECT decision_id, make_timestamp((start_ns // 1000)::BIGINT), team, project, '',
    'cc-' || (team_n // 2)::VARCHAR, 'production', 'wb-' || project, 'run-' || i::VARCHAR,
    1000000, 'allow', NULL, NULL, NULL, NULL, '[]', 'within budget'
FROM gen
"""


def schema_tag() -> str:
    digest = hashlib.sha256()
    for source in SCHEMA_SOURCES:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:10]


def seed(conn, runs: int, days: float, end_ns: int) -> dict[str, int]:
    """Fill an empty ledger with ``runs`` finished runs over ``days`` days up to ``end_ns``."""
    fmt = {
        "runs": runs,
        "teams": TEAMS,
        "end": end_ns,
        "span": int(days * NS_PER_DAY),
        "hour": NS_PER_HOUR,
        "second": NS_PER_SECOND,
    }
    conn.execute("SET enable_progress_bar = false")
    conn.execute(_GEN.format(**fmt))
    conn.execute("BEGIN")
    for sql in (_RUNS, _LINES, _HOLDS, _DECISIONS):
        conn.execute(sql.format(**fmt))
    conn.execute("COMMIT")
    conn.execute("DROP TABLE gen")
    conn.execute("CHECKPOINT")
    tables = ("runs", "cost_lines", "holds", "budget_decisions")
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def seeded_ledger(runs_per_day: int, days: int, dest: Path) -> dict:
    """Copy a ledger of ``days`` x ``runs_per_day`` runs to ``dest`` (seeding it into the
    cache first unless today's is there); returns what it holds and how it was made."""
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    name = f"ledger-{runs_per_day}x{days}d-{today}-{schema_tag()}.duckdb"
    cached = CACHE / name
    info = {"runs_per_day": runs_per_day, "days": days, "cache_file": str(cached.relative_to(REPO))}
    if cached.exists():
        info["seed_seconds"] = None
        info["cached"] = True
    else:
        CACHE.mkdir(parents=True, exist_ok=True)
        for old in CACHE.glob(f"ledger-{runs_per_day}x{days}d-*"):
            old.unlink()  # yesterday's, another schema's, or an interrupted seeding
        partial = cached.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        started = time.perf_counter()
        storage = Storage(partial).open()
        try:
            counts = storage.call(
                lambda conn: seed(conn, runs_per_day * days, days, time.time_ns())
            )
        finally:
            storage.close()
        partial.rename(cached)
        info["seed_seconds"] = round(time.perf_counter() - started, 1)
        info["cached"] = False
        info["counts"] = counts
    started = time.perf_counter()
    shutil.copyfile(cached, dest)
    info["copy_seconds"] = round(time.perf_counter() - started, 1)
    info["bytes"] = dest.stat().st_size
    return info
