from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PolicyMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLICY_MODE_UNSPECIFIED: _ClassVar[PolicyMode]
    POLICY_MODE_AUDIT_ONLY: _ClassVar[PolicyMode]
    POLICY_MODE_ADVISORY: _ClassVar[PolicyMode]
    POLICY_MODE_ENFORCED: _ClassVar[PolicyMode]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ALLOW: _ClassVar[Decision]
    DECISION_WARN: _ClassVar[Decision]
    DECISION_DENY: _ClassVar[Decision]
    DECISION_PENDING: _ClassVar[Decision]

class RunAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_ACTION_UNSPECIFIED: _ClassVar[RunAction]
    RUN_ACTION_CONTINUE: _ClassVar[RunAction]
    RUN_ACTION_WARN: _ClassVar[RunAction]
    RUN_ACTION_STOP: _ClassVar[RunAction]
POLICY_MODE_UNSPECIFIED: PolicyMode
POLICY_MODE_AUDIT_ONLY: PolicyMode
POLICY_MODE_ADVISORY: PolicyMode
POLICY_MODE_ENFORCED: PolicyMode
DECISION_UNSPECIFIED: Decision
DECISION_ALLOW: Decision
DECISION_WARN: Decision
DECISION_DENY: Decision
DECISION_PENDING: Decision
RUN_ACTION_UNSPECIFIED: RunAction
RUN_ACTION_CONTINUE: RunAction
RUN_ACTION_WARN: RunAction
RUN_ACTION_STOP: RunAction

class Scope(_message.Message):
    __slots__ = ("team", "project", "customer_id", "cost_center", "environment")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    COST_CENTER_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    team: str
    project: str
    customer_id: str
    cost_center: str
    environment: str
    def __init__(self, team: _Optional[str] = ..., project: _Optional[str] = ..., customer_id: _Optional[str] = ..., cost_center: _Optional[str] = ..., environment: _Optional[str] = ...) -> None: ...

class ClientLimits(_message.Message):
    __slots__ = ("daily_limit_micros", "policy_mode", "daily_limit_mode", "max_running_runs")
    DAILY_LIMIT_MICROS_FIELD_NUMBER: _ClassVar[int]
    POLICY_MODE_FIELD_NUMBER: _ClassVar[int]
    DAILY_LIMIT_MODE_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNNING_RUNS_FIELD_NUMBER: _ClassVar[int]
    daily_limit_micros: int
    policy_mode: PolicyMode
    daily_limit_mode: PolicyMode
    max_running_runs: int
    def __init__(self, daily_limit_micros: _Optional[int] = ..., policy_mode: _Optional[_Union[PolicyMode, str]] = ..., daily_limit_mode: _Optional[_Union[PolicyMode, str]] = ..., max_running_runs: _Optional[int] = ...) -> None: ...

class CheckBudgetRequest(_message.Message):
    __slots__ = ("scope", "requested_micros", "client_limits", "wandb_project", "wandb_run_name", "require_approval", "estimate", "request_id", "parent_hold_id", "region", "data_classification")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_MICROS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_LIMITS_FIELD_NUMBER: _ClassVar[int]
    WANDB_PROJECT_FIELD_NUMBER: _ClassVar[int]
    WANDB_RUN_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    DATA_CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    requested_micros: int
    client_limits: ClientLimits
    wandb_project: str
    wandb_run_name: str
    require_approval: bool
    estimate: RunEstimate
    request_id: str
    parent_hold_id: str
    region: str
    data_classification: str
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ..., requested_micros: _Optional[int] = ..., client_limits: _Optional[_Union[ClientLimits, _Mapping]] = ..., wandb_project: _Optional[str] = ..., wandb_run_name: _Optional[str] = ..., require_approval: _Optional[bool] = ..., estimate: _Optional[_Union[RunEstimate, _Mapping]] = ..., request_id: _Optional[str] = ..., parent_hold_id: _Optional[str] = ..., region: _Optional[str] = ..., data_classification: _Optional[str] = ...) -> None: ...

class RunEstimate(_message.Message):
    __slots__ = ("gpu_type", "gpu_count", "cpu_count", "region", "catalog_version", "horizon_ns")
    GPU_TYPE_FIELD_NUMBER: _ClassVar[int]
    GPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    HORIZON_NS_FIELD_NUMBER: _ClassVar[int]
    gpu_type: str
    gpu_count: int
    cpu_count: int
    region: str
    catalog_version: str
    horizon_ns: int
    def __init__(self, gpu_type: _Optional[str] = ..., gpu_count: _Optional[int] = ..., cpu_count: _Optional[int] = ..., region: _Optional[str] = ..., catalog_version: _Optional[str] = ..., horizon_ns: _Optional[int] = ...) -> None: ...

class BudgetState(_message.Message):
    __slots__ = ("name", "mode", "limit_micros", "spent_micros", "period", "period_start", "source", "scope", "exceeded", "fail_mode")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_MICROS_FIELD_NUMBER: _ClassVar[int]
    SPENT_MICROS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    EXCEEDED_FIELD_NUMBER: _ClassVar[int]
    FAIL_MODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    mode: PolicyMode
    limit_micros: int
    spent_micros: int
    period: str
    period_start: str
    source: str
    scope: Scope
    exceeded: bool
    fail_mode: str
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[_Union[PolicyMode, str]] = ..., limit_micros: _Optional[int] = ..., spent_micros: _Optional[int] = ..., period: _Optional[str] = ..., period_start: _Optional[str] = ..., source: _Optional[str] = ..., scope: _Optional[_Union[Scope, _Mapping]] = ..., exceeded: _Optional[bool] = ..., fail_mode: _Optional[str] = ...) -> None: ...

class CheckBudgetResponse(_message.Message):
    __slots__ = ("decision", "decision_id", "requested_micros", "deciding_budget", "budgets", "message", "approval_id", "approval_timeout_ms", "hold_id")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_MICROS_FIELD_NUMBER: _ClassVar[int]
    DECIDING_BUDGET_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    decision_id: str
    requested_micros: int
    deciding_budget: BudgetState
    budgets: _containers.RepeatedCompositeFieldContainer[BudgetState]
    message: str
    approval_id: str
    approval_timeout_ms: int
    hold_id: str
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., decision_id: _Optional[str] = ..., requested_micros: _Optional[int] = ..., deciding_budget: _Optional[_Union[BudgetState, _Mapping]] = ..., budgets: _Optional[_Iterable[_Union[BudgetState, _Mapping]]] = ..., message: _Optional[str] = ..., approval_id: _Optional[str] = ..., approval_timeout_ms: _Optional[int] = ..., hold_id: _Optional[str] = ...) -> None: ...

class GetBudgetStatusRequest(_message.Message):
    __slots__ = ("scope",)
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ...) -> None: ...

class GetBudgetStatusResponse(_message.Message):
    __slots__ = ("budgets",)
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    budgets: _containers.RepeatedCompositeFieldContainer[BudgetState]
    def __init__(self, budgets: _Optional[_Iterable[_Union[BudgetState, _Mapping]]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("scope", "limit", "page_size", "page_token", "include_totals", "since_ns", "until_ns")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TOTALS_FIELD_NUMBER: _ClassVar[int]
    SINCE_NS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_NS_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    limit: int
    page_size: int
    page_token: str
    include_totals: bool
    since_ns: int
    until_ns: int
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ..., limit: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_totals: _Optional[bool] = ..., since_ns: _Optional[int] = ..., until_ns: _Optional[int] = ...) -> None: ...

class RunGroupTotal(_message.Message):
    __slots__ = ("name", "runs", "cost_micros")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    name: str
    runs: int
    cost_micros: int
    def __init__(self, name: _Optional[str] = ..., runs: _Optional[int] = ..., cost_micros: _Optional[int] = ...) -> None: ...

class RunViolation(_message.Message):
    __slots__ = ("run", "violation")
    RUN_FIELD_NUMBER: _ClassVar[int]
    VIOLATION_FIELD_NUMBER: _ClassVar[int]
    run: str
    violation: str
    def __init__(self, run: _Optional[str] = ..., violation: _Optional[str] = ...) -> None: ...

class RunTotals(_message.Message):
    __slots__ = ("runs", "cost_micros", "teams", "by_team", "projects", "by_project", "violations", "newest_violations")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    BY_TEAM_FIELD_NUMBER: _ClassVar[int]
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    BY_PROJECT_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    NEWEST_VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    runs: int
    cost_micros: int
    teams: int
    by_team: _containers.RepeatedCompositeFieldContainer[RunGroupTotal]
    projects: int
    by_project: _containers.RepeatedCompositeFieldContainer[RunGroupTotal]
    violations: int
    newest_violations: _containers.RepeatedCompositeFieldContainer[RunViolation]
    def __init__(self, runs: _Optional[int] = ..., cost_micros: _Optional[int] = ..., teams: _Optional[int] = ..., by_team: _Optional[_Iterable[_Union[RunGroupTotal, _Mapping]]] = ..., projects: _Optional[int] = ..., by_project: _Optional[_Iterable[_Union[RunGroupTotal, _Mapping]]] = ..., violations: _Optional[int] = ..., newest_violations: _Optional[_Iterable[_Union[RunViolation, _Mapping]]] = ...) -> None: ...

class RunSummary(_message.Message):
    __slots__ = ("run_key", "run_id", "run_name", "wandb_project", "scope", "status", "started_at", "ended_at", "duration_ns", "log_calls", "artifact_bytes", "artifact_files", "cost_micros", "unpriced_skus", "gpu_type", "gpu_count", "cpu_count", "catalog_version", "experiment_id", "tags_json", "declared_cost_micros", "violations", "region", "exit_code", "security_level", "residency")
    RUN_KEY_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_NAME_FIELD_NUMBER: _ClassVar[int]
    WANDB_PROJECT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_NS_FIELD_NUMBER: _ClassVar[int]
    LOG_CALLS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_BYTES_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FILES_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_SKUS_FIELD_NUMBER: _ClassVar[int]
    GPU_TYPE_FIELD_NUMBER: _ClassVar[int]
    GPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_JSON_FIELD_NUMBER: _ClassVar[int]
    DECLARED_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_LEVEL_FIELD_NUMBER: _ClassVar[int]
    RESIDENCY_FIELD_NUMBER: _ClassVar[int]
    run_key: str
    run_id: str
    run_name: str
    wandb_project: str
    scope: Scope
    status: str
    started_at: str
    ended_at: str
    duration_ns: int
    log_calls: int
    artifact_bytes: int
    artifact_files: int
    cost_micros: int
    unpriced_skus: _containers.RepeatedScalarFieldContainer[str]
    gpu_type: str
    gpu_count: int
    cpu_count: int
    catalog_version: str
    experiment_id: str
    tags_json: str
    declared_cost_micros: int
    violations: _containers.RepeatedScalarFieldContainer[str]
    region: str
    exit_code: int
    security_level: str
    residency: str
    def __init__(self, run_key: _Optional[str] = ..., run_id: _Optional[str] = ..., run_name: _Optional[str] = ..., wandb_project: _Optional[str] = ..., scope: _Optional[_Union[Scope, _Mapping]] = ..., status: _Optional[str] = ..., started_at: _Optional[str] = ..., ended_at: _Optional[str] = ..., duration_ns: _Optional[int] = ..., log_calls: _Optional[int] = ..., artifact_bytes: _Optional[int] = ..., artifact_files: _Optional[int] = ..., cost_micros: _Optional[int] = ..., unpriced_skus: _Optional[_Iterable[str]] = ..., gpu_type: _Optional[str] = ..., gpu_count: _Optional[int] = ..., cpu_count: _Optional[int] = ..., catalog_version: _Optional[str] = ..., experiment_id: _Optional[str] = ..., tags_json: _Optional[str] = ..., declared_cost_micros: _Optional[int] = ..., violations: _Optional[_Iterable[str]] = ..., region: _Optional[str] = ..., exit_code: _Optional[int] = ..., security_level: _Optional[str] = ..., residency: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token", "totals")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[RunSummary]
    next_page_token: str
    totals: RunTotals
    def __init__(self, runs: _Optional[_Iterable[_Union[RunSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., totals: _Optional[_Union[RunTotals, _Mapping]] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("scope", "client_limits")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_LIMITS_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    client_limits: ClientLimits
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ..., client_limits: _Optional[_Union[ClientLimits, _Mapping]] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("spent_today_micros", "runs_today", "failed_runs_today", "log_calls_today", "budgets", "period_start")
    SPENT_TODAY_MICROS_FIELD_NUMBER: _ClassVar[int]
    RUNS_TODAY_FIELD_NUMBER: _ClassVar[int]
    FAILED_RUNS_TODAY_FIELD_NUMBER: _ClassVar[int]
    LOG_CALLS_TODAY_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    spent_today_micros: int
    runs_today: int
    failed_runs_today: int
    log_calls_today: int
    budgets: _containers.RepeatedCompositeFieldContainer[BudgetState]
    period_start: str
    def __init__(self, spent_today_micros: _Optional[int] = ..., runs_today: _Optional[int] = ..., failed_runs_today: _Optional[int] = ..., log_calls_today: _Optional[int] = ..., budgets: _Optional[_Iterable[_Union[BudgetState, _Mapping]]] = ..., period_start: _Optional[str] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ("experiment_id",)
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ...) -> None: ...

class ExperimentSummary(_message.Message):
    __slots__ = ("experiment_id", "name", "experiment_type", "status", "scope", "max_cost_micros", "estimated_cost_micros", "total_cost_micros", "compute_cost_micros", "storage_cost_micros", "data_transfer_cost_micros", "cost_by_run_micros", "duration_ns", "finished_compute_micros", "runs", "violations")
    class CostByRunMicrosEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    DATA_TRANSFER_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    COST_BY_RUN_MICROS_FIELD_NUMBER: _ClassVar[int]
    DURATION_NS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_COMPUTE_MICROS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    name: str
    experiment_type: str
    status: str
    scope: Scope
    max_cost_micros: int
    estimated_cost_micros: int
    total_cost_micros: int
    compute_cost_micros: int
    storage_cost_micros: int
    data_transfer_cost_micros: int
    cost_by_run_micros: _containers.ScalarMap[str, int]
    duration_ns: int
    finished_compute_micros: int
    runs: _containers.RepeatedCompositeFieldContainer[RunSummary]
    violations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, experiment_id: _Optional[str] = ..., name: _Optional[str] = ..., experiment_type: _Optional[str] = ..., status: _Optional[str] = ..., scope: _Optional[_Union[Scope, _Mapping]] = ..., max_cost_micros: _Optional[int] = ..., estimated_cost_micros: _Optional[int] = ..., total_cost_micros: _Optional[int] = ..., compute_cost_micros: _Optional[int] = ..., storage_cost_micros: _Optional[int] = ..., data_transfer_cost_micros: _Optional[int] = ..., cost_by_run_micros: _Optional[_Mapping[str, int]] = ..., duration_ns: _Optional[int] = ..., finished_compute_micros: _Optional[int] = ..., runs: _Optional[_Iterable[_Union[RunSummary, _Mapping]]] = ..., violations: _Optional[_Iterable[str]] = ...) -> None: ...

class GetExperimentResponse(_message.Message):
    __slots__ = ("found", "experiment")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    found: bool
    experiment: ExperimentSummary
    def __init__(self, found: _Optional[bool] = ..., experiment: _Optional[_Union[ExperimentSummary, _Mapping]] = ...) -> None: ...

class RegisterCatalogRequest(_message.Message):
    __slots__ = ("catalog_json", "origin")
    CATALOG_JSON_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    catalog_json: str
    origin: str
    def __init__(self, catalog_json: _Optional[str] = ..., origin: _Optional[str] = ...) -> None: ...

class RegisterCatalogResponse(_message.Message):
    __slots__ = ("version", "created")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    version: str
    created: bool
    def __init__(self, version: _Optional[str] = ..., created: _Optional[bool] = ...) -> None: ...

class ListCatalogVersionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CatalogVersionTotal(_message.Message):
    __slots__ = ("version", "runs", "priced_micros", "unpriced_lines", "current")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    PRICED_MICROS_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_LINES_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    version: str
    runs: int
    priced_micros: int
    unpriced_lines: int
    current: bool
    def __init__(self, version: _Optional[str] = ..., runs: _Optional[int] = ..., priced_micros: _Optional[int] = ..., unpriced_lines: _Optional[int] = ..., current: _Optional[bool] = ...) -> None: ...

class ListCatalogVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[CatalogVersionTotal]
    def __init__(self, versions: _Optional[_Iterable[_Union[CatalogVersionTotal, _Mapping]]] = ...) -> None: ...

class RepriceRequest(_message.Message):
    __slots__ = ("catalog_json", "since", "actor")
    CATALOG_JSON_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    catalog_json: str
    since: str
    actor: str
    def __init__(self, catalog_json: _Optional[str] = ..., since: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class RepriceProgress(_message.Message):
    __slots__ = ("done", "total", "finished", "catalog_version", "before_micros", "after_micros", "audit_event_id")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    BEFORE_MICROS_FIELD_NUMBER: _ClassVar[int]
    AFTER_MICROS_FIELD_NUMBER: _ClassVar[int]
    AUDIT_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    done: int
    total: int
    finished: bool
    catalog_version: str
    before_micros: int
    after_micros: int
    audit_event_id: str
    def __init__(self, done: _Optional[int] = ..., total: _Optional[int] = ..., finished: _Optional[bool] = ..., catalog_version: _Optional[str] = ..., before_micros: _Optional[int] = ..., after_micros: _Optional[int] = ..., audit_event_id: _Optional[str] = ...) -> None: ...

class CostSummaryRequest(_message.Message):
    __slots__ = ("scope", "period_days", "include_forecast", "forecast_confidence")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_DAYS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FORECAST_FIELD_NUMBER: _ClassVar[int]
    FORECAST_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    period_days: int
    include_forecast: bool
    forecast_confidence: float
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ..., period_days: _Optional[int] = ..., include_forecast: _Optional[bool] = ..., forecast_confidence: _Optional[float] = ...) -> None: ...

class ForecastSummary(_message.Message):
    __slots__ = ("horizon_days", "confidence", "point_micros", "lower_micros", "upper_micros", "method", "history_days")
    HORIZON_DAYS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    POINT_MICROS_FIELD_NUMBER: _ClassVar[int]
    LOWER_MICROS_FIELD_NUMBER: _ClassVar[int]
    UPPER_MICROS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HISTORY_DAYS_FIELD_NUMBER: _ClassVar[int]
    horizon_days: int
    confidence: float
    point_micros: int
    lower_micros: int
    upper_micros: int
    method: str
    history_days: int
    def __init__(self, horizon_days: _Optional[int] = ..., confidence: _Optional[float] = ..., point_micros: _Optional[int] = ..., lower_micros: _Optional[int] = ..., upper_micros: _Optional[int] = ..., method: _Optional[str] = ..., history_days: _Optional[int] = ...) -> None: ...

class CostSummaryResponse(_message.Message):
    __slots__ = ("total_micros", "by_category_micros", "by_experiment_type_micros", "by_run_micros", "unpriced_lines", "forecast", "since", "runs")
    class ByCategoryMicrosEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ByExperimentTypeMicrosEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ByRunMicrosEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TOTAL_MICROS_FIELD_NUMBER: _ClassVar[int]
    BY_CATEGORY_MICROS_FIELD_NUMBER: _ClassVar[int]
    BY_EXPERIMENT_TYPE_MICROS_FIELD_NUMBER: _ClassVar[int]
    BY_RUN_MICROS_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_LINES_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    total_micros: int
    by_category_micros: _containers.ScalarMap[str, int]
    by_experiment_type_micros: _containers.ScalarMap[str, int]
    by_run_micros: _containers.ScalarMap[str, int]
    unpriced_lines: int
    forecast: ForecastSummary
    since: str
    runs: int
    def __init__(self, total_micros: _Optional[int] = ..., by_category_micros: _Optional[_Mapping[str, int]] = ..., by_experiment_type_micros: _Optional[_Mapping[str, int]] = ..., by_run_micros: _Optional[_Mapping[str, int]] = ..., unpriced_lines: _Optional[int] = ..., forecast: _Optional[_Union[ForecastSummary, _Mapping]] = ..., since: _Optional[str] = ..., runs: _Optional[int] = ...) -> None: ...

class TeamAttributionRequest(_message.Message):
    __slots__ = ("period_days",)
    PERIOD_DAYS_FIELD_NUMBER: _ClassVar[int]
    period_days: int
    def __init__(self, period_days: _Optional[int] = ...) -> None: ...

class AttributionRow(_message.Message):
    __slots__ = ("team", "project", "customer_id", "cost_center", "cost_micros")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    COST_CENTER_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    team: str
    project: str
    customer_id: str
    cost_center: str
    cost_micros: int
    def __init__(self, team: _Optional[str] = ..., project: _Optional[str] = ..., customer_id: _Optional[str] = ..., cost_center: _Optional[str] = ..., cost_micros: _Optional[int] = ...) -> None: ...

class TeamAttributionResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[AttributionRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[AttributionRow, _Mapping]]] = ...) -> None: ...

class ForecastRequest(_message.Message):
    __slots__ = ("scope", "horizon_days", "confidence", "history_days")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    HORIZON_DAYS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_DAYS_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    horizon_days: int
    confidence: float
    history_days: int
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ..., horizon_days: _Optional[int] = ..., confidence: _Optional[float] = ..., history_days: _Optional[int] = ...) -> None: ...

class ForecastResponse(_message.Message):
    __slots__ = ("forecast",)
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    forecast: ForecastSummary
    def __init__(self, forecast: _Optional[_Union[ForecastSummary, _Mapping]] = ...) -> None: ...

class RecommendationsRequest(_message.Message):
    __slots__ = ("scope", "lookback_days", "target_savings_percentage")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    LOOKBACK_DAYS_FIELD_NUMBER: _ClassVar[int]
    TARGET_SAVINGS_PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    lookback_days: int
    target_savings_percentage: float
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ..., lookback_days: _Optional[int] = ..., target_savings_percentage: _Optional[float] = ...) -> None: ...

class RecommendationItem(_message.Message):
    __slots__ = ("category", "recommendation", "estimated_savings_micros", "confidence", "evidence")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_SAVINGS_MICROS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    category: str
    recommendation: str
    estimated_savings_micros: int
    confidence: float
    evidence: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, category: _Optional[str] = ..., recommendation: _Optional[str] = ..., estimated_savings_micros: _Optional[int] = ..., confidence: _Optional[float] = ..., evidence: _Optional[_Iterable[str]] = ...) -> None: ...

class RecommendationsResponse(_message.Message):
    __slots__ = ("items", "spend_micros")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    SPEND_MICROS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[RecommendationItem]
    spend_micros: int
    def __init__(self, items: _Optional[_Iterable[_Union[RecommendationItem, _Mapping]]] = ..., spend_micros: _Optional[int] = ...) -> None: ...

class AnomaliesRequest(_message.Message):
    __slots__ = ("scope", "sensitivity", "lookback_days")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    LOOKBACK_DAYS_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    sensitivity: float
    lookback_days: int
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ..., sensitivity: _Optional[float] = ..., lookback_days: _Optional[int] = ...) -> None: ...

class AnomalyItem(_message.Message):
    __slots__ = ("experiment", "run_key", "team", "experiment_type", "cost_micros", "expected_cost_micros", "score")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    RUN_KEY_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    run_key: str
    team: str
    experiment_type: str
    cost_micros: int
    expected_cost_micros: int
    score: float
    def __init__(self, experiment: _Optional[str] = ..., run_key: _Optional[str] = ..., team: _Optional[str] = ..., experiment_type: _Optional[str] = ..., cost_micros: _Optional[int] = ..., expected_cost_micros: _Optional[int] = ..., score: _Optional[float] = ...) -> None: ...

class AnomaliesResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[AnomalyItem]
    def __init__(self, items: _Optional[_Iterable[_Union[AnomalyItem, _Mapping]]] = ...) -> None: ...

class PerformanceRequest(_message.Message):
    __slots__ = ("scope", "period_days", "group_by")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_DAYS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    period_days: int
    group_by: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ..., period_days: _Optional[int] = ..., group_by: _Optional[_Iterable[str]] = ...) -> None: ...

class PerformanceGroup(_message.Message):
    __slots__ = ("group", "runs", "avg_cost_micros", "avg_metrics")
    class AvgMetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    GROUP_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    AVG_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    AVG_METRICS_FIELD_NUMBER: _ClassVar[int]
    group: str
    runs: int
    avg_cost_micros: int
    avg_metrics: _containers.ScalarMap[str, float]
    def __init__(self, group: _Optional[str] = ..., runs: _Optional[int] = ..., avg_cost_micros: _Optional[int] = ..., avg_metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class PerformanceResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[PerformanceGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[PerformanceGroup, _Mapping]]] = ...) -> None: ...

class RunSnapshot(_message.Message):
    __slots__ = ("compute_start_ns", "as_of_ns", "gpu_type", "gpu_count", "cpu_count", "artifact_bytes", "declared_micros", "region", "catalog_version", "wandb_mode")
    COMPUTE_START_NS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_NS_FIELD_NUMBER: _ClassVar[int]
    GPU_TYPE_FIELD_NUMBER: _ClassVar[int]
    GPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_BYTES_FIELD_NUMBER: _ClassVar[int]
    DECLARED_MICROS_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    WANDB_MODE_FIELD_NUMBER: _ClassVar[int]
    compute_start_ns: int
    as_of_ns: int
    gpu_type: str
    gpu_count: int
    cpu_count: int
    artifact_bytes: int
    declared_micros: int
    region: str
    catalog_version: str
    wandb_mode: str
    def __init__(self, compute_start_ns: _Optional[int] = ..., as_of_ns: _Optional[int] = ..., gpu_type: _Optional[str] = ..., gpu_count: _Optional[int] = ..., cpu_count: _Optional[int] = ..., artifact_bytes: _Optional[int] = ..., declared_micros: _Optional[int] = ..., region: _Optional[str] = ..., catalog_version: _Optional[str] = ..., wandb_mode: _Optional[str] = ...) -> None: ...

class CheckRunRequest(_message.Message):
    __slots__ = ("hold_id", "scope", "usage", "client_limits", "run_id", "next_check_ns")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_LIMITS_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NEXT_CHECK_NS_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    scope: Scope
    usage: RunSnapshot
    client_limits: ClientLimits
    run_id: str
    next_check_ns: int
    def __init__(self, hold_id: _Optional[str] = ..., scope: _Optional[_Union[Scope, _Mapping]] = ..., usage: _Optional[_Union[RunSnapshot, _Mapping]] = ..., client_limits: _Optional[_Union[ClientLimits, _Mapping]] = ..., run_id: _Optional[str] = ..., next_check_ns: _Optional[int] = ...) -> None: ...

class CheckRunResponse(_message.Message):
    __slots__ = ("action", "accrued_micros", "hold_micros", "deciding_budget", "message")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACCRUED_MICROS_FIELD_NUMBER: _ClassVar[int]
    HOLD_MICROS_FIELD_NUMBER: _ClassVar[int]
    DECIDING_BUDGET_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    action: RunAction
    accrued_micros: int
    hold_micros: int
    deciding_budget: BudgetState
    message: str
    def __init__(self, action: _Optional[_Union[RunAction, str]] = ..., accrued_micros: _Optional[int] = ..., hold_micros: _Optional[int] = ..., deciding_budget: _Optional[_Union[BudgetState, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class Approval(_message.Message):
    __slots__ = ("approval_id", "status", "scope", "wandb_project", "wandb_run_name", "requested_at", "decided_at", "actor", "reason", "expires_at")
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    WANDB_PROJECT_FIELD_NUMBER: _ClassVar[int]
    WANDB_RUN_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    status: str
    scope: Scope
    wandb_project: str
    wandb_run_name: str
    requested_at: str
    decided_at: str
    actor: str
    reason: str
    expires_at: str
    def __init__(self, approval_id: _Optional[str] = ..., status: _Optional[str] = ..., scope: _Optional[_Union[Scope, _Mapping]] = ..., wandb_project: _Optional[str] = ..., wandb_run_name: _Optional[str] = ..., requested_at: _Optional[str] = ..., decided_at: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., expires_at: _Optional[str] = ...) -> None: ...

class GetApprovalRequest(_message.Message):
    __slots__ = ("approval_id",)
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    def __init__(self, approval_id: _Optional[str] = ...) -> None: ...

class DecideApprovalRequest(_message.Message):
    __slots__ = ("approval_id", "approve", "actor", "reason")
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    approve: bool
    actor: str
    reason: str
    def __init__(self, approval_id: _Optional[str] = ..., approve: _Optional[bool] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListApprovalsRequest(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: str
    def __init__(self, status: _Optional[str] = ...) -> None: ...

class ListApprovalsResponse(_message.Message):
    __slots__ = ("approvals",)
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    approvals: _containers.RepeatedCompositeFieldContainer[Approval]
    def __init__(self, approvals: _Optional[_Iterable[_Union[Approval, _Mapping]]] = ...) -> None: ...

class OfflineDecision(_message.Message):
    __slots__ = ("decided_at", "scope", "decision", "fail_mode", "reason", "wandb_project", "wandb_run_name", "client_id")
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    FAIL_MODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WANDB_PROJECT_FIELD_NUMBER: _ClassVar[int]
    WANDB_RUN_NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    decided_at: str
    scope: Scope
    decision: str
    fail_mode: str
    reason: str
    wandb_project: str
    wandb_run_name: str
    client_id: str
    def __init__(self, decided_at: _Optional[str] = ..., scope: _Optional[_Union[Scope, _Mapping]] = ..., decision: _Optional[str] = ..., fail_mode: _Optional[str] = ..., reason: _Optional[str] = ..., wandb_project: _Optional[str] = ..., wandb_run_name: _Optional[str] = ..., client_id: _Optional[str] = ...) -> None: ...

class ReportOfflineDecisionsRequest(_message.Message):
    __slots__ = ("decisions",)
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[OfflineDecision]
    def __init__(self, decisions: _Optional[_Iterable[_Union[OfflineDecision, _Mapping]]] = ...) -> None: ...

class ReportOfflineDecisionsResponse(_message.Message):
    __slots__ = ("recorded",)
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: int
    def __init__(self, recorded: _Optional[int] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PolicyResponse(_message.Message):
    __slots__ = ("version", "policy_json", "changed_at", "actor")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_JSON_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    version: int
    policy_json: str
    changed_at: str
    actor: str
    def __init__(self, version: _Optional[int] = ..., policy_json: _Optional[str] = ..., changed_at: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class SetBudgetRequest(_message.Message):
    __slots__ = ("budget_json", "actor", "reason")
    BUDGET_JSON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    budget_json: str
    actor: str
    reason: str
    def __init__(self, budget_json: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseHoldRequest(_message.Message):
    __slots__ = ("hold_id",)
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    def __init__(self, hold_id: _Optional[str] = ...) -> None: ...

class ReleaseHoldResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: bool
    def __init__(self, released: _Optional[bool] = ...) -> None: ...

class ListHoldsRequest(_message.Message):
    __slots__ = ("include_closed", "limit", "team")
    INCLUDE_CLOSED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    include_closed: bool
    limit: int
    team: str
    def __init__(self, include_closed: _Optional[bool] = ..., limit: _Optional[int] = ..., team: _Optional[str] = ...) -> None: ...

class Hold(_message.Message):
    __slots__ = ("hold_id", "principal", "scope", "amount_micros", "status", "created_at", "last_seen_at", "parent_hold_id", "run_key")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    PARENT_HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_KEY_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    principal: str
    scope: Scope
    amount_micros: int
    status: str
    created_at: str
    last_seen_at: str
    parent_hold_id: str
    run_key: str
    def __init__(self, hold_id: _Optional[str] = ..., principal: _Optional[str] = ..., scope: _Optional[_Union[Scope, _Mapping]] = ..., amount_micros: _Optional[int] = ..., status: _Optional[str] = ..., created_at: _Optional[str] = ..., last_seen_at: _Optional[str] = ..., parent_hold_id: _Optional[str] = ..., run_key: _Optional[str] = ...) -> None: ...

class ListHoldsResponse(_message.Message):
    __slots__ = ("holds", "truncated")
    HOLDS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    holds: _containers.RepeatedCompositeFieldContainer[Hold]
    truncated: bool
    def __init__(self, holds: _Optional[_Iterable[_Union[Hold, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class RenewHoldRequest(_message.Message):
    __slots__ = ("hold_id",)
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    def __init__(self, hold_id: _Optional[str] = ...) -> None: ...

class GetSecurityPostureRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SecurityPosture(_message.Message):
    __slots__ = ("tls", "mutual_tls", "authentication", "mfa_required_for_admin", "ledger_encrypted_at_rest", "reasons", "ledger_encryption")
    TLS_FIELD_NUMBER: _ClassVar[int]
    MUTUAL_TLS_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATION_FIELD_NUMBER: _ClassVar[int]
    MFA_REQUIRED_FOR_ADMIN_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENCRYPTED_AT_REST_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENCRYPTION_FIELD_NUMBER: _ClassVar[int]
    tls: bool
    mutual_tls: bool
    authentication: str
    mfa_required_for_admin: bool
    ledger_encrypted_at_rest: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    ledger_encryption: str
    def __init__(self, tls: _Optional[bool] = ..., mutual_tls: _Optional[bool] = ..., authentication: _Optional[str] = ..., mfa_required_for_admin: _Optional[bool] = ..., ledger_encrypted_at_rest: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ..., ledger_encryption: _Optional[str] = ...) -> None: ...

class RenewHoldResponse(_message.Message):
    __slots__ = ("open", "amount_micros", "timeout_s")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    open: bool
    amount_micros: int
    timeout_s: float
    def __init__(self, open: _Optional[bool] = ..., amount_micros: _Optional[int] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class AlertRule(_message.Message):
    __slots__ = ("rule_id", "kind", "scope", "client_limits", "threshold", "metric", "window_minutes", "channels", "violation_types", "severity", "escalation_chain", "escalate_after_minutes", "created_by", "unresolved", "created_at")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_LIMITS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MINUTES_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    VIOLATION_TYPES_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_CHAIN_FIELD_NUMBER: _ClassVar[int]
    ESCALATE_AFTER_MINUTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UNRESOLVED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    kind: str
    scope: Scope
    client_limits: ClientLimits
    threshold: float
    metric: str
    window_minutes: int
    channels: _containers.RepeatedScalarFieldContainer[str]
    violation_types: _containers.RepeatedScalarFieldContainer[str]
    severity: str
    escalation_chain: _containers.RepeatedScalarFieldContainer[str]
    escalate_after_minutes: float
    created_by: str
    unresolved: _containers.RepeatedScalarFieldContainer[str]
    created_at: str
    def __init__(self, rule_id: _Optional[str] = ..., kind: _Optional[str] = ..., scope: _Optional[_Union[Scope, _Mapping]] = ..., client_limits: _Optional[_Union[ClientLimits, _Mapping]] = ..., threshold: _Optional[float] = ..., metric: _Optional[str] = ..., window_minutes: _Optional[int] = ..., channels: _Optional[_Iterable[str]] = ..., violation_types: _Optional[_Iterable[str]] = ..., severity: _Optional[str] = ..., escalation_chain: _Optional[_Iterable[str]] = ..., escalate_after_minutes: _Optional[float] = ..., created_by: _Optional[str] = ..., unresolved: _Optional[_Iterable[str]] = ..., created_at: _Optional[str] = ...) -> None: ...

class ListAlertRulesRequest(_message.Message):
    __slots__ = ("scope",)
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ...) -> None: ...

class ListAlertRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[AlertRule]
    def __init__(self, rules: _Optional[_Iterable[_Union[AlertRule, _Mapping]]] = ...) -> None: ...

class DeleteAlertRuleRequest(_message.Message):
    __slots__ = ("rule_id", "actor")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    actor: str
    def __init__(self, rule_id: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class DeleteAlertRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: AlertRule
    def __init__(self, rule: _Optional[_Union[AlertRule, _Mapping]] = ...) -> None: ...

class NotifyRequest(_message.Message):
    __slots__ = ("channels", "subject", "body_json", "scope", "sender")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[str]
    subject: str
    body_json: str
    scope: Scope
    sender: str
    def __init__(self, channels: _Optional[_Iterable[str]] = ..., subject: _Optional[str] = ..., body_json: _Optional[str] = ..., scope: _Optional[_Union[Scope, _Mapping]] = ..., sender: _Optional[str] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts_json",)
    ALERTS_JSON_FIELD_NUMBER: _ClassVar[int]
    alerts_json: str
    def __init__(self, alerts_json: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("alert_id", "actor")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    actor: str
    def __init__(self, alert_id: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ("acknowledged",)
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    acknowledged: bool
    def __init__(self, acknowledged: _Optional[bool] = ...) -> None: ...

class NotifyResponse(_message.Message):
    __slots__ = ("notification_id", "unresolved")
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    UNRESOLVED_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    unresolved: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, notification_id: _Optional[str] = ..., unresolved: _Optional[_Iterable[str]] = ...) -> None: ...

class ComplianceEvent(_message.Message):
    __slots__ = ("kind", "detail_json")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    detail_json: str
    def __init__(self, kind: _Optional[str] = ..., detail_json: _Optional[str] = ...) -> None: ...

class RecordComplianceEventsRequest(_message.Message):
    __slots__ = ("scope", "events")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    events: _containers.RepeatedCompositeFieldContainer[ComplianceEvent]
    def __init__(self, scope: _Optional[_Union[Scope, _Mapping]] = ..., events: _Optional[_Iterable[_Union[ComplianceEvent, _Mapping]]] = ...) -> None: ...

class RecordComplianceEventsResponse(_message.Message):
    __slots__ = ("event_ids",)
    EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    event_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CustomerUsageRequest(_message.Message):
    __slots__ = ("customer_id", "billing_period")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BILLING_PERIOD_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    billing_period: str
    def __init__(self, customer_id: _Optional[str] = ..., billing_period: _Optional[str] = ...) -> None: ...

class CustomerUsage(_message.Message):
    __slots__ = ("customer_id", "runs", "experiments", "cost_micros", "by_project_micros", "by_category_micros", "by_team_micros", "failed_runs")
    class ByProjectMicrosEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ByCategoryMicrosEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ByTeamMicrosEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    BY_PROJECT_MICROS_FIELD_NUMBER: _ClassVar[int]
    BY_CATEGORY_MICROS_FIELD_NUMBER: _ClassVar[int]
    BY_TEAM_MICROS_FIELD_NUMBER: _ClassVar[int]
    FAILED_RUNS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    runs: int
    experiments: int
    cost_micros: int
    by_project_micros: _containers.ScalarMap[str, int]
    by_category_micros: _containers.ScalarMap[str, int]
    by_team_micros: _containers.ScalarMap[str, int]
    failed_runs: int
    def __init__(self, customer_id: _Optional[str] = ..., runs: _Optional[int] = ..., experiments: _Optional[int] = ..., cost_micros: _Optional[int] = ..., by_project_micros: _Optional[_Mapping[str, int]] = ..., by_category_micros: _Optional[_Mapping[str, int]] = ..., by_team_micros: _Optional[_Mapping[str, int]] = ..., failed_runs: _Optional[int] = ...) -> None: ...

class CustomerUsageResponse(_message.Message):
    __slots__ = ("billing_period", "period_start", "period_end", "customers")
    BILLING_PERIOD_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    billing_period: str
    period_start: str
    period_end: str
    customers: _containers.RepeatedCompositeFieldContainer[CustomerUsage]
    def __init__(self, billing_period: _Optional[str] = ..., period_start: _Optional[str] = ..., period_end: _Optional[str] = ..., customers: _Optional[_Iterable[_Union[CustomerUsage, _Mapping]]] = ...) -> None: ...

class LineageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class LineageResponse(_message.Message):
    __slots__ = ("lineage_json",)
    LINEAGE_JSON_FIELD_NUMBER: _ClassVar[int]
    lineage_json: str
    def __init__(self, lineage_json: _Optional[str] = ...) -> None: ...

class RetentionPlanRequest(_message.Message):
    __slots__ = ("default_artifact_days", "default_run_days", "apply")
    DEFAULT_ARTIFACT_DAYS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RUN_DAYS_FIELD_NUMBER: _ClassVar[int]
    APPLY_FIELD_NUMBER: _ClassVar[int]
    default_artifact_days: int
    default_run_days: int
    apply: bool
    def __init__(self, default_artifact_days: _Optional[int] = ..., default_run_days: _Optional[int] = ..., apply: _Optional[bool] = ...) -> None: ...

class RetentionPlanResponse(_message.Message):
    __slots__ = ("plan_json", "items", "applied", "truncated")
    PLAN_JSON_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    plan_json: str
    items: int
    applied: int
    truncated: bool
    def __init__(self, plan_json: _Optional[str] = ..., items: _Optional[int] = ..., applied: _Optional[int] = ..., truncated: _Optional[bool] = ...) -> None: ...

class CreateBackupRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBackupStatusRequest(_message.Message):
    __slots__ = ("rpo_hours",)
    RPO_HOURS_FIELD_NUMBER: _ClassVar[int]
    rpo_hours: float
    def __init__(self, rpo_hours: _Optional[float] = ...) -> None: ...

class BackupStatus(_message.Message):
    __slots__ = ("last_backup_at", "backup_id", "path", "audit_event_id", "audit_events", "runs", "cost_micros", "blocked_ms", "age_s", "within_rpo", "scheduled", "every_hours", "audit_seq")
    LAST_BACKUP_AT_FIELD_NUMBER: _ClassVar[int]
    BACKUP_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    AUDIT_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    AUDIT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_MS_FIELD_NUMBER: _ClassVar[int]
    AGE_S_FIELD_NUMBER: _ClassVar[int]
    WITHIN_RPO_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_FIELD_NUMBER: _ClassVar[int]
    EVERY_HOURS_FIELD_NUMBER: _ClassVar[int]
    AUDIT_SEQ_FIELD_NUMBER: _ClassVar[int]
    last_backup_at: str
    backup_id: str
    path: str
    audit_event_id: str
    audit_events: int
    runs: int
    cost_micros: int
    blocked_ms: int
    age_s: int
    within_rpo: bool
    scheduled: bool
    every_hours: float
    audit_seq: int
    def __init__(self, last_backup_at: _Optional[str] = ..., backup_id: _Optional[str] = ..., path: _Optional[str] = ..., audit_event_id: _Optional[str] = ..., audit_events: _Optional[int] = ..., runs: _Optional[int] = ..., cost_micros: _Optional[int] = ..., blocked_ms: _Optional[int] = ..., age_s: _Optional[int] = ..., within_rpo: _Optional[bool] = ..., scheduled: _Optional[bool] = ..., every_hours: _Optional[float] = ..., audit_seq: _Optional[int] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("seq", "event_id", "occurred_at", "kind", "actor", "team", "detail", "reported", "region", "environment", "client_address", "policy_version", "approval_id", "business_context", "prev_hash", "hash")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    REPORTED_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    seq: int
    event_id: str
    occurred_at: str
    kind: str
    actor: str
    team: str
    detail: str
    reported: str
    region: str
    environment: str
    client_address: str
    policy_version: str
    approval_id: str
    business_context: str
    prev_hash: str
    hash: str
    def __init__(self, seq: _Optional[int] = ..., event_id: _Optional[str] = ..., occurred_at: _Optional[str] = ..., kind: _Optional[str] = ..., actor: _Optional[str] = ..., team: _Optional[str] = ..., detail: _Optional[str] = ..., reported: _Optional[str] = ..., region: _Optional[str] = ..., environment: _Optional[str] = ..., client_address: _Optional[str] = ..., policy_version: _Optional[str] = ..., approval_id: _Optional[str] = ..., business_context: _Optional[str] = ..., prev_hash: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class ExportAuditTrailRequest(_message.Message):
    __slots__ = ("since", "until", "after_seq", "page_size")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    since: str
    until: str
    after_seq: int
    page_size: int
    def __init__(self, since: _Optional[str] = ..., until: _Optional[str] = ..., after_seq: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class AuditEventPage(_message.Message):
    __slots__ = ("events", "next_after_seq", "more", "first_seq", "last_seq", "filtered")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    FILTERED_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_after_seq: int
    more: bool
    first_seq: int
    last_seq: int
    filtered: bool
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_after_seq: _Optional[int] = ..., more: _Optional[bool] = ..., first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., filtered: _Optional[bool] = ...) -> None: ...

class VerifyAuditTrailRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuditVerification(_message.Message):
    __slots__ = ("intact", "events", "first_bad_seq", "reason", "head_seq", "head_hash")
    INTACT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    intact: bool
    events: int
    first_bad_seq: int
    reason: str
    head_seq: int
    head_hash: str
    def __init__(self, intact: _Optional[bool] = ..., events: _Optional[int] = ..., first_bad_seq: _Optional[int] = ..., reason: _Optional[str] = ..., head_seq: _Optional[int] = ..., head_hash: _Optional[str] = ...) -> None: ...
