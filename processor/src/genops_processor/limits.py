"""Every cap the processor enforces, in one place.

The README's "Limits" table lists each constant here with what happens past
it; ``tests/docs/test_limits_documented.py`` checks that they agree. Keep a
cap's name, value and comment true to the code that enforces it.
"""

from __future__ import annotations

from genops import catalog as _catalog
from genops import money as _money

# --- ingest: span validation (ingest/validation.py) ---
# Past any bound below (unless said otherwise) the span is rejected: counted in
# genops_spans_rejected{reason}, stored nowhere, answered as OTLP partial success.
SPAN_MAX_AGE_NS = 366 * 86_400 * 10**9  # a span time or usage time older than a year
SPAN_MAX_FUTURE_NS = 10 * 60 * 10**9  # a time more than 10 minutes ahead of the processor
MAX_SPAN_DEVICES = 65_536  # gpu_count, cpu_count of a run (as the governance API)
MAX_SPAN_BYTES = 2**60  # artifact bytes (an exbibyte)
MAX_SPAN_COUNT = 10**12  # log calls, artifact files and count, heartbeat sequence
MAX_SPAN_MICROS = 10**15  # declared, estimated or maximum cost of a span ($1,000,000,000)
MAX_SPAN_DAYS = 36_600  # storage retention days (a century)
MAX_SPAN_QUANTITY = 10**12  # a hand-added cost line's quantity (decimal text)
MAX_SPAN_GPU_MEMORY_GB = 10_000  # peak memory per GPU
MAX_SPAN_ID_CHARS = 256  # identifiers (team, project, run key, ...); longer: truncated, flagged
MAX_SPAN_TEXT_CHARS = 4_096  # free text (a run's error); longer: truncated, flagged
MAX_SPAN_JSON_CHARS = 65_536  # JSON attributes (tags, workflow, ...); longer: dropped, flagged
MAX_SPAN_POLICY_EVENTS = 100  # policy events kept per experiment span; more: ignored
MAX_REJECTION_REASONS_SHOWN = 3  # distinct reasons named in a partial-success message

# --- money (pricing, budgets, API) ---
# Amounts are integer micro-dollars ($1 = 1_000_000); 10**15 is $1,000,000,000
# (genops.money.MAX_AMOUNT_MICROS, the client's cap too).
MAX_LINE_MICROS = 10**15  # one cost line; priced above it: left unpriced, with a violation
MAX_RUN_MICROS = 10**15  # a run's total; a line taking it past: unpriced, with a violation
MAX_BUDGET_LIMIT_MICROS = 10**15  # a budget's limit (SetBudget, policy); above: refused
MAX_REQUEST_MICROS = 10**15  # any *_micros field of a governance request; above: INVALID_ARGUMENT
MAX_UNIT_PRICE_USD = _catalog.MAX_UNIT_PRICE_USD  # $1,000,000 a unit; above (or NaN, < 0): refused
UNIT_PRICE_DECIMALS = _catalog.UNIT_PRICE_DECIMALS  # 9; a finer unit price is refused
ANSWER_INT64_MAX = _money.INT64_MAX  # 2**63-1: an int64 figure of an answer saturates here
# A stored run with cost < 0 or > MAX_RUN_MICROS, or a negative time or usage, is
# moved to quarantined_runs on open (with its reason) and left out of spend and reports.
# Governance API requests (api/request_checks.py); past any: INVALID_ARGUMENT naming the field.
MAX_API_STRING_CHARS = 1_024  # a string field (names, scope values, reasons)
MAX_API_ID_CHARS = 128  # an id field (hold_id, approval_id, request_id, ...)
MAX_API_JSON_CHARS = 1_048_576  # budget_json, catalog_json, body_json
MAX_API_REPEATED = 10_000  # entries of one repeated field
MAX_API_TIME_NS = 4_102_444_800 * 10**9  # a point in time (*_start_ns, as_of_ns): before 2100
MAX_API_DURATION_NS = 366 * 86_400 * 10**9  # horizon_ns, next_check_ns: a year
MAX_API_DEVICES = 65_536  # gpu_count, cpu_count of an estimate or a run snapshot
MAX_API_BYTES = 2**60  # artifact_bytes of a run snapshot (an exbibyte)
MAX_API_DAYS = 36_600  # any *_days field (a century)
MAX_API_NUMBER = 1e12  # any floating-point field (finite and >= 0 too)

# --- bounded work per request (offline reports, forecasts, alert rules, delivery) ---
MAX_OFFLINE_DECISIONS = 10_000  # per ReportOfflineDecisions; more: INVALID_ARGUMENT (decisions)
OFFLINE_CHUNK = 250  # offline decisions per writer job; budget checks go between jobs
MAX_FORECAST_HORIZON_DAYS = 366  # GetForecast horizon_days; more: INVALID_ARGUMENT
MAX_FORECAST_HISTORY_DAYS = 3_660  # GetForecast history_days; more: INVALID_ARGUMENT
MAX_ALERT_RULES_PER_TEAM = 200  # rules whose scope names one team; more: FAILED_PRECONDITION
MAX_ALERT_RULES = 2_000  # rules in all; more: FAILED_PRECONDITION (delete some first)
MAX_RULE_CHANNELS = 20  # channels + escalation contacts of one rule; more: INVALID_ARGUMENT
MAX_NOTIFY_CHANNELS = 20  # channels of one Notify; more: INVALID_ARGUMENT
MAX_SECRET_FILE_BYTES = 64 * 1024  # a policy *_file secret; larger: the policy is refused
ALERT_CHANGED_SCOPES = 1_000  # changed run scopes kept between evaluations; more: all rules
ALERT_RULES_PER_JOB = 50  # rules evaluated per writer job (bulk); ingest goes between jobs
ALERT_EVALUATION_DELAY_S = 0.25  # an evaluation follows ingest this late; later ingest joins it
ALERT_EVALUATION_SHARE = 0.2  # most of the writer's time evaluations after ingest may take
DELIVERY_TIMEOUT_S = 5.0  # one delivery attempt to one channel; longer: failed, retried
DELIVERY_RETRY_S = 24 * 3600.0  # an undelivered alert is retried this long, then expired
DELIVERY_BACKOFF_S = 1.0  # first retry delay, doubled per attempt (or the Retry-After)
DELIVERY_BACKOFF_MAX_S = 900.0  # longest wait between attempts (Retry-After capped too)
DELIVERY_JITTER = 0.5  # a retry's delay is shortened by up to this share of it, at random
DELIVERY_CONCURRENCY = 32  # channels attempted at once (one attempt per channel at a time)

# --- admission control, paging, metrics cardinality ---
MAX_MESSAGE_BYTES = 64 * 2**20  # one gRPC request; larger: RESOURCE_EXHAUSTED from gRPC itself
# Admission (api/admission.py): request bytes and calls in flight, per pool; past a cap
# a new call is refused with RESOURCE_EXHAUSTED + RetryInfo, its body never deserialised.
ADMISSION_INGEST_BYTES = 128 * 2**20  # OTLP Export bytes in flight (GENOPS_INGEST_INFLIGHT_MB)
ADMISSION_INGEST_CALLS = 64  # OTLP Export calls in flight (their queued writer work)
ADMISSION_DECISION_BYTES = 16 * 2**20  # CheckBudget/CheckRun/holds/approvals: own headroom
ADMISSION_DECISION_CALLS = 512  # decision calls in flight; ingest never takes these
ADMISSION_OTHER_BYTES = 64 * 2**20  # the rest of the governance API
ADMISSION_OTHER_CALLS = 64  # the rest of the governance API, calls in flight
ADMISSION_READERS = 2  # request bodies read at once per pool; others wait (within the timeout)
ADMISSION_READ_TIMEOUT_S = 60.0  # to wait for and read one request body; longer: aborted
ADMISSION_RETRY_AFTER_S = 1  # RetryInfo delay a refused client is told to wait
# ListRuns paging (api/run_pages.py): keyset pages, newest run first.
LIST_RUNS_DEFAULT_PAGE = 1_000  # runs per page when page_size (and limit) is 0
LIST_RUNS_MAX_PAGE = 5_000  # a larger page_size is served as this many
LIST_RUNS_PAGE_BYTES = 2 * 2**20  # a page stops early at this size (client limit: 4 MiB)
REPORT_TOP_ROWS = 50  # `genops report` tables: runs, teams, projects, violations; rest summed
REPORT_MAX_RANGE_DAYS = 3_660  # `genops report --since/--until` span; longer: usage error (exit 2)
REPORT_NAME_MAX_CHARS = 256  # `genops report --team/--project`; longer: usage error (exit 2)
REPORT_HTML_MAX_BINS = 120  # cost-over-time bars of the HTML report; longer ranges: wider bins
REPORT_HTML_TEAMS = 8  # teams drawn apart in the HTML report's chart; the rest as "other"
REPORT_HTML_TOP_RUNS = 15  # costliest runs the HTML report lists
REPORT_HTML_MAX_BUDGETS = 12  # budgets with a burn-down chart; the rest are listed, not drawn
# Prometheus labels from clients (metrics.py): first N distinct values keep their series,
# later ones count under "other"; teams/projects named by a budget always keep theirs.
METRICS_MAX_TEAMS = 100  # distinct team label values
METRICS_MAX_PROJECTS = 200  # distinct project label values
METRICS_MAX_CUSTOMERS = 200  # distinct customer label values
METRICS_MAX_COST_CENTERS = 100  # distinct cost_center label values
METRICS_MAX_ENVIRONMENTS = 20  # distinct environment label values
METRICS_MAX_SERIES = 1_000  # (team, project, customer, ...) tuples; past it: all "other"
METRICS_CACHE_S = 2.0  # ledger figures read for /metrics are reused this long by scrapes
METRICS_SCRAPE_WAIT_S = 5.0  # a scrape waits this long for the read, then shows older figures
METRICS_READ_SHARE = 0.1  # of the time spent reading figures at most: a slow read is reused longer

# --- re-pricing and CLI ---
REPRICE_BATCH_RUNS = 250  # runs per re-pricing step (one transaction); decisions go between steps
MIN_SETTING_SECONDS = 0.05  # --hold-timeout, --alert-interval below it: refused at start
MAX_SETTING_SECONDS = 31_622_400.0  # (366 days) above it: refused at start
ALERTS_LIST_MAX = 10_000  # `genops alerts list --limit` above it: a usage error (exit 2)

# --- authorisation and holds (api/authorization.py, budgets/reservations.py) ---
# A budget's max_hold (policy key, USD) bounds one reservation; without it, this share
# of its limit. A larger request is decided as asked but reserves only the cap (the run's
# hold grows later through CheckRun while the budget allows). 1.0: an experiment block
# may still reserve its whole max_cost up front; set max_hold on shared budgets.
DEFAULT_MAX_HOLD_SHARE = 1.0  # of a budget's limit, when the budget sets no max_hold
MAX_OPEN_HOLDS_PER_PRINCIPAL = 1_000  # open holds of one principal; more: CheckBudget denies
MAX_DECLARED_RUNNING_RUNS = 10_000  # max_concurrent_experiments a client declares; more: refused
LIST_HOLDS_MAX = 10_000  # holds per ListHolds answer (and `genops holds list`); more: truncated
RUNNING_SPEND_ACCOUNTS = 10_000  # (scope, period) spend totals kept (budgets/running.py); LRU
DECISION_GROUP_MAX = (
    64  # decision jobs sharing one transaction and commit (storage/writer.py); more: next group
)
# A transaction that only appended rows (a budget decision) commits to the decision
# journal (storage/journal.py); its rows go into the DuckDB file once this many are pending,
JOURNAL_APPLY_ROWS = 4_096
# or once the oldest has waited this long, or before a statement on the writer that may read them
JOURNAL_APPLY_DELAY_S = 1.0
LIVE_RUNS_KEPT = (
    1_000_000  # running runs kept in memory (budgets/live_holds.py); past it: ledger reads
)
# closed holds kept in memory beside the live ones (budgets/live_holds.py): a run check
# of a hold closed earlier counts its runs' cost from memory instead of a scan of runs
CLOSED_HOLDS_KEPT = 20_000
# Silent holds closed per expiry job (service.expire_holds): a burst of thousands expires
# in steps, budget decisions going between them, each step's audit events in one go.
# On a year-seeded ledger a step of 500 took ~200 ms, of 128 ~67 ms (bench/profiles).
EXPIRE_STEP_HOLDS = 128
# --ledger-memory-mb below it: refused at start (a query over a large ledger would fail
# for lack of memory; DuckDB spills what it can to <ledger>.tmp)
LEDGER_MEMORY_MIN_MB = 128
# The processor's --ledger-memory-mb when none is given (MiB), raised to what the ledger's
# key indexes need: LEDGER_MEMORY_PER_INDEXED_ROW bytes an indexed row, read again every
# LEDGER_MEMORY_RECHECK_S (storage/memory_limit.py). A year-seeded ledger (25.6 M indexed
# rows) failed writes at 128 MiB and held at 192; 1 M spans ingested: RSS 277 MiB at 128.
LEDGER_MEMORY_DEFAULT_MB = 128
LEDGER_MEMORY_PER_INDEXED_ROW = 16
LEDGER_MEMORY_RECHECK_S = 60.0
# The ledger's write-ahead log is checkpointed into its file once this large, beside the
# writer (storage/checkpoints.py); DuckDB's own checkpoint stays as a safety net at 4x.
LEDGER_CHECKPOINT_WAL_BYTES = 16 * 2**20
RUN_STATE_CACHE_RUNS = 20_000  # run states the writer keeps (storage/run_rows.py); LRU, re-read
# spans one ingest writer job stores, in one commit (waiting requests grouped, larger ones
# split): a budget decision waits for at most one such job; more: the next job. While
# budget decisions are being made (one submitted in the last DECISIONS_RECENT_S), jobs hold
# at most INGEST_JOB_SPANS_DECIDING spans (a decision waits less); with none, up to
# INGEST_JOB_MAX_SPANS (fewer commits and statements a span: more spans per second)
INGEST_JOB_MAX_SPANS = 512
INGEST_JOB_SPANS_DECIDING = 128
DECISIONS_RECENT_S = 1.0
# span ids whose hashes the writer keeps (8 bytes each, 256 MiB at most) so that ingest's
# duplicate check reads the ledger only for spans that may be stored
# (storage/stored_span_ids.py); more stored: every batch's check reads the ledger
SPAN_IDS_KEPT_MAX = 33_554_432

# --- authentication (api/authentication.py, auth/jwt_tokens.py) ---
MAX_BEARER_TOKEN_CHARS = 8_192  # an authorization header's token; longer: UNAUTHENTICATED
# gRPC's own metadata limits, soft and hard set equal: between its default soft (8 KiB)
# and hard (16 KiB) limits gRPC refuses at random, so an over-long token would sometimes
# reach the MAX_BEARER_TOKEN_CHARS check and sometimes not. Past this: RESOURCE_EXHAUSTED.
MAX_METADATA_BYTES = 32_768  # all request headers of one call, counted by gRPC
JWT_LEEWAY_S = 30  # clock skew allowed on a JWT's exp/nbf/iat; past it: UNAUTHENTICATED
REFUSALS_IN_FLIGHT = 256  # refusal audit writes queued at once; more refused calls wait

# --- the record: lineage, retention, backups (record/lineage.py, retention.py, backups.py) ---
LINEAGE_MAX_ITEMS = 1_000  # artifacts, runs or links per lineage list; more: cut, "truncated"
RETENTION_PLAN_MAX_ITEMS = 10_000  # items per retention plan; more: left out, "truncated"
RETENTION_APPLY_CHUNK = 250  # items applied per writer job; decisions and ingest go between
# Backups kept when old ones are pruned (after each scheduled backup; `genops backup prune`
# --keep); older ones are deleted with their manifest, the newest good one never.
BACKUPS_KEPT = 7

# --- the audit trail (record/audit_log.py, record/audit_trail.py, api/audit_api.py) ---
AUDIT_EXPORT_PAGE = 1_000  # events per ExportAuditTrail page (one writer job); larger asks: capped
AUDIT_VERIFY_CHUNK = 20_000  # events checked per writer job while verifying; then the next job
DEFAULT_AUDIT_RETENTION_YEARS = 7.0  # events younger than this are never pruned (no policy key)
MAX_AUDIT_RETENTION_YEARS = 100.0  # audit_log_retention_years above this: refused (policy, option)
