"""Span names and attribute keys shared by the instrumentation and the processor.

This module is the wire contract between the two sides: the instrumentation
writes these keys, the processor's decoder reads them, and
``tests/contract/test_attributes_contract.py`` proves both agree. Change a value
here and you change the protocol: add keys freely, never rename one.

Times are integers in nanoseconds since the epoch; sizes in bytes; counts are
integers. Usage on run and heartbeat spans is *cumulative* for the run, so a
lost heartbeat costs nothing and a duplicate changes nothing.
"""

from __future__ import annotations

# Span names -----------------------------------------------------------------
SPAN_RUN = "wandb.run"  # from wandb.init to the run's finish
SPAN_HEARTBEAT = "wandb.run.heartbeat"  # periodic, child of the run span
SPAN_ARTIFACT = "wandb.artifact"  # one per Run.log_artifact, child of the run span
SPAN_EXPERIMENT = "genops.experiment"  # one per track_experiment_lifecycle block
SPAN_COST_LINE = "genops.cost_line"  # a cost the user added (experiment.add_*_cost)

# Attribution (from GENOPS_* and OTEL_RESOURCE_ATTRIBUTES) --------------------
TEAM = "genops.team"
PROJECT = "genops.project"
CUSTOMER_ID = "genops.customer_id"
COST_CENTER = "genops.cost_center"
ENVIRONMENT = "genops.environment"
ATTRIBUTION_KEYS = (TEAM, PROJECT, CUSTOMER_ID, COST_CENTER, ENVIRONMENT)
# Free-form labels from the adapter's ``tags=`` (a JSON object of strings).
TAGS = "genops.tags"
# Orchestrator context from ``workflow_context=`` (a JSON object of strings).
WORKFLOW = "genops.workflow"

# Experiments (adapter.track_experiment_lifecycle) ---------------------------------
EXPERIMENT_ID = "genops.experiment.id"  # also on every run opened inside it
EXPERIMENT_NAME = "genops.experiment.name"
EXPERIMENT_TYPE = "genops.experiment.type"
EXPERIMENT_STATUS = "genops.experiment.status"  # finished | failed
EXPERIMENT_MAX_COST_MICROS = "genops.experiment.max_cost_micros"
EXPERIMENT_ESTIMATED_COST_MICROS = "genops.experiment.estimated_cost_micros"
# Span events on the experiment span for policy violations; each carries the
# policy mode and a message.
EVENT_MAX_COST_EXCEEDED = "genops.policy.max_cost_exceeded"
EVENT_BUDGET_EXCEEDED = "genops.policy.budget_exceeded"
EVENT_UNPRICED = "genops.policy.unpriced"  # a hand-added cost with no price
EVENT_COMPLIANCE = "genops.policy.compliance"  # a framework rule failed (compliance)
EVENT_POLICY = "genops.policy.mode"
EVENT_MESSAGE = "genops.policy.message"

# The W&B run ------------------------------------------------------------------
WANDB_RUN_ID = "wandb.run.id"
WANDB_RUN_NAME = "wandb.run.name"
WANDB_PROJECT = "wandb.project"
WANDB_MODE = "wandb.mode"

# Run lifecycle ------------------------------------------------------------------
# The run's identity in the ledger: "<W&B run id>:<segment id>". The segment id
# is random, one per process that tracks the run: a run resumed in another
# process (or again in the same process after it finished) is a new segment,
# hence a new ledger row with the same W&B run id. Every span of the run (run,
# heartbeat, artifact) carries it; the processor keys runs on it, never on the
# trace id (spans without it, from older clients, fall back to the trace id).
RUN_KEY = "genops.run.key"
# running | finished | failed
RUN_STATUS = "genops.run.status"
# The exit code W&B records for the run (run span, at its end): 0 finished,
# anything else failed (sys.exit(n): n; an uncaught exception: 1; Ctrl-C: 255).
RUN_EXIT_CODE = "genops.run.exit_code"
# When the run's compute began: the process start for the first run of a
# process, else the end of the previous run (the hardware was held meanwhile).
RUN_COMPUTE_START_NS = "genops.run.compute_start_ns"
# Monotonic heartbeat counter within a run (0 on the run span's start).
RUN_SEQUENCE = "genops.run.sequence"
# A short text when the run failed (exception type and message).
RUN_ERROR = "genops.run.error"

# Cumulative usage (run span at its end, every heartbeat) ------------------------
USAGE_AS_OF_NS = "genops.usage.as_of_ns"
USAGE_LOG_CALLS = "genops.usage.log_calls"
USAGE_ARTIFACT_BYTES = "genops.usage.artifact_bytes"
USAGE_ARTIFACT_FILES = "genops.usage.artifact_files"
USAGE_ARTIFACT_COUNT = "genops.usage.artifact_count"
# Costs the user declared (log_governed_artifact's cost_estimate), cumulative.
USAGE_DECLARED_STORAGE_MICROS = "genops.usage.declared_storage_micros"
# Telemetry detail, sampled (never used for accounting): the last numeric
# values passed to Run.log, as a JSON object.
METRICS_LAST = "genops.metrics.last"

# Hardware the run held ---------------------------------------------------------
HW_GPU_TYPE = "genops.hw.gpu.type"
HW_GPU_COUNT = "genops.hw.gpu.count"
HW_CPU_COUNT = "genops.hw.cpu.count"
HW_INSTANCE_TYPE = "genops.hw.instance_type"
# Where the hardware came from: nvml | nvidia-smi | env | none
HW_GPU_SOURCE = "genops.hw.gpu.source"
# Sampled through NVML at each heartbeat (absent without NVML): mean utilisation
# 0..1 and peak memory per GPU in GB, so far in the run.
HW_GPU_UTILIZATION_MEAN = "genops.hw.gpu.utilization_mean"
HW_GPU_MEMORY_PEAK_GB = "genops.hw.gpu.memory_peak_gb"
# Names of the artifacts the run consumed (Run.use_artifact), a JSON list.
ARTIFACTS_USED = "wandb.artifacts.used"

# One logged artifact (artifact span) ---------------------------------------------
ARTIFACT_NAME = "wandb.artifact.name"
ARTIFACT_TYPE = "wandb.artifact.type"
ARTIFACT_BYTES = "genops.artifact.bytes"
ARTIFACT_FILES = "genops.artifact.files"
ARTIFACT_GOVERNANCE_METADATA = "genops.artifact.governance_metadata"  # JSON object
ARTIFACT_COST_ESTIMATE_MICROS = "genops.artifact.cost_estimate_micros"

# Budgets ------------------------------------------------------------------------
# The reservation the run's budget check made (committed at its end).
BUDGET_HOLD_ID = "genops.budget.hold_id"

# Pricing -----------------------------------------------------------------------
# The catalog version the client expects its usage to be priced with (optional).
CATALOG_VERSION = "genops.catalog.version"
REGION = "genops.region"  # where the run ran (catalog rows are per region)
STORAGE_TIER = "genops.storage.tier"  # standard | infrequent | archive | ssd
STORAGE_RETENTION_DAYS = "genops.storage.retention_days"  # how long artifacts are kept
CAPACITY_TYPE = "genops.hw.capacity_type"  # on-demand | spot
# Hash of the run's W&B config at its end: identical configs run again are waste.
CONFIG_HASH = "wandb.config.hash"

# Classification -----------------------------------------------------------------
# The adapter's security_level: public | internal | confidential | restricted |
# enterprise; on run, experiment and artifact spans (stored on the run).
SECURITY_LEVEL = "genops.security_level"
SECURITY_LEVELS = ("public", "internal", "confidential", "restricted", "enterprise")

# Run status values -------------------------------------------------------------
STATUS_RUNNING = "running"
STATUS_FINISHED = "finished"
STATUS_FAILED = "failed"

# A cost line the user added (experiment.add_compute_cost and friends) --------------
COST_SKU = "genops.cost.sku"
COST_CATEGORY = "genops.cost.category"  # compute | storage | data_transfer
COST_QUANTITY = "genops.cost.quantity"  # decimal text, in COST_UNIT
COST_UNIT = "genops.cost.unit"

# The processor's MAX_DECLARED_RUNNING_RUNS: a larger max_concurrent_experiments is refused
# (ProductionConfiguration, the adapter's option).
MAX_CONCURRENT_EXPERIMENTS = 10_000
