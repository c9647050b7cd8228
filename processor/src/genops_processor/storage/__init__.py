"""Storage, the bottom floor: the DuckDB writer thread, the schema and its migrations, and
the SQL that reads and writes run rows. The only package that imports duckdb; it knows
nothing of ingest, pricing or budgets. Other packages hand it functions of a connection
(``Storage.submit(fn)``)."""

from genops_processor.storage.compaction import (
    DEFAULT_STEP,
    compact_step,
    copy_ledger,
    id_bytes,
    remaining,
    span_counts,
)
from genops_processor.storage.data_errors import is_data_error
from genops_processor.storage.figures import ledger_figures
from genops_processor.storage.queries import ExperimentRecord, scope_filter, to_ns
from genops_processor.storage.run_rows import (
    RUN_COLUMNS,
    RunCache,
    forget_runs,
    row_to_state,
    run_cache,
    runs_by_key,
    state_to_row,
    store_runs,
    write_lines,
    write_runs,
)
from genops_processor.storage.volume import encrypted_device
from genops_processor.storage.writer import (
    Connection,
    Priority,
    Storage,
    StorageError,
    as_storage_error,
    on_rollback,
    rolled_back,
    storage_cause,
    transaction,
)

__all__ = [
    "encrypted_device",
    "is_data_error",
    "RUN_COLUMNS",
    "Connection",
    "Priority",
    "ExperimentRecord",
    "RunCache",
    "Storage",
    "DEFAULT_STEP",
    "StorageError",
    "as_storage_error",
    "compact_step",
    "copy_ledger",
    "forget_runs",
    "id_bytes",
    "ledger_figures",
    "on_rollback",
    "rolled_back",
    "remaining",
    "span_counts",
    "row_to_state",
    "run_cache",
    "runs_by_key",
    "scope_filter",
    "state_to_row",
    "store_runs",
    "storage_cause",
    "to_ns",
    "transaction",
    "write_lines",
    "write_runs",
]
