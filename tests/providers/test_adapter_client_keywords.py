"""The adapter's network, cache, logging, concurrency and governance keywords, against real
gRPC: an in-process GovernanceService on 127.0.0.1 for retries and deadlines, and the real
genops-processor for caching, concurrency and enable_governance.

Nothing here instruments wandb or sets a tracer provider. Backoff is observed by
recording what ``time.sleep`` was asked for, never by measuring time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import types
import warnings
from concurrent import futures

import grpc
import pytest

from genops import governance_client, usage_view
from genops.adapter import ConcurrencyLimitExceeded, GenOpsWandbAdapter
from genops.errors import BudgetExceededError
from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.governance_client import GovernanceClient, GovernanceUnavailable
from genops.policy import BudgetWarning
from tests.helpers import token_of

LOGGERS = ("genops", "opentelemetry.instrumentation.wandb")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path, unused_port):
    """No GENOPS_/OTEL_/WANDB_ variables, HOME = tmp_path (no ~/.genops/config.yaml),
    the governance endpoint on a port nobody listens on unless a test points it elsewhere."""
    for name in list(os.environ):
        if name.startswith(("GENOPS_", "OTEL_", "WANDB_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENOPS_ENDPOINT", f"127.0.0.1:{unused_port}")
    return monkeypatch


@pytest.fixture
def slept(monkeypatch):
    """The backoff durations the governance client asks for (it does not really sleep)."""
    durations: list[float] = []
    monkeypatch.setattr(governance_client, "time", types.SimpleNamespace(sleep=durations.append))
    return durations


class Governance(pb_grpc.GovernanceServiceServicer):
    """A GovernanceService that fails the first ``fail_first`` calls with ``code``, and
    waits ``delay_s`` before each answer."""

    def __init__(self, fail_first=0, code=grpc.StatusCode.UNAVAILABLE, delay_s=0.0):
        self.fail_first = fail_first
        self.code = code
        self.delay_s = delay_s
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self.released = threading.Event()

    def _enter(self, method, context):
        with self._lock:
            self.calls.append(method)
            number = len(self.calls)
        if number <= self.fail_first:
            context.abort(self.code, f"call {number} fails on purpose")
        if self.delay_s:
            self.released.wait(self.delay_s)

    def CheckBudget(self, request, context):
        self._enter("CheckBudget", context)
        return pb.CheckBudgetResponse(
            decision=pb.DECISION_ALLOW,
            decision_id="d-1",
            requested_micros=request.requested_micros,
        )

    def GetUsage(self, request, context):
        self._enter("GetUsage", context)
        return pb.GetUsageResponse(spent_today_micros=1_234_567, runs_today=2, log_calls_today=9)


@pytest.fixture
def serve():
    """Start a Governance servicer on 127.0.0.1:0; returns its target."""
    servers = []

    def start(servicer: Governance) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_GovernanceServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append((server, servicer))
        return f"127.0.0.1:{port}"

    yield start
    for server, servicer in servers:
        servicer.released.set()
        server.stop(None).wait()


@pytest.fixture
def clients():
    made: list[GovernanceClient] = []

    def make(*args, **kwargs) -> GovernanceClient:
        client = GovernanceClient(*args, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def adapters():
    made: list[GenOpsWandbAdapter] = []

    def make(**kwargs) -> GenOpsWandbAdapter:
        adapter = GenOpsWandbAdapter(**kwargs)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.cleanup()


def request() -> pb.CheckBudgetRequest:
    return pb.CheckBudgetRequest(scope=pb.Scope(team="t", project="p"), requested_micros=5)


# -- retry_attempts / retry_backoff_factor -------------------------------------------------


def test_retries_unavailable_with_exponential_backoff(serve, clients, slept):
    servicer = Governance(fail_first=2)
    client = clients(serve(servicer), retry_attempts=2, retry_backoff_s=0.1)
    response = client.check_budget(request())
    assert (response.decision, response.decision_id, response.requested_micros) == (
        pb.DECISION_ALLOW,
        "d-1",
        5,
    )
    assert client.calls == 3
    assert servicer.calls == ["CheckBudget"] * 3
    assert slept == [0.1, 0.2]


def test_gives_up_after_the_retries(serve, clients, slept):
    servicer = Governance(fail_first=10)
    target = serve(servicer)
    client = clients(target, retry_attempts=1, retry_backoff_s=0.1)
    with pytest.raises(GovernanceUnavailable) as caught:
        client.check_budget(request())
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
    assert str(caught.value) == (
        f"governance API at {target} unreachable (UNAVAILABLE, 2 attempt(s))"
    )
    assert client.calls == 2
    assert servicer.calls == ["CheckBudget"] * 2
    assert slept == [0.1]


def test_a_non_retryable_error_is_raised_at_once(serve, clients, slept):
    servicer = Governance(fail_first=10, code=grpc.StatusCode.INVALID_ARGUMENT)
    client = clients(serve(servicer), retry_attempts=3, retry_backoff_s=0.1)
    with pytest.raises(grpc.RpcError) as caught:
        client.check_budget(request())
    assert not isinstance(caught.value, GovernanceUnavailable)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "call 1 fails on purpose"
    assert client.calls == 1
    assert servicer.calls == ["CheckBudget"]
    assert slept == []


def test_adapter_keywords_drive_the_retries_of_get_metrics(serve, clean_env, adapters, slept):
    servicer = Governance(fail_first=2)
    clean_env.setenv("GENOPS_ENDPOINT", serve(servicer))
    adapter = adapters(team="t", project="p", retry_attempts=2, retry_backoff_factor=0.25)
    metrics = adapter.get_metrics()
    assert (metrics["source"], metrics["daily_usage"], metrics["operation_count"]) == (
        "processor",
        1.234567,
        9,
    )
    assert adapter.client.calls == 3
    assert servicer.calls == ["GetUsage"] * 3
    assert slept == [0.25, 0.5]


def test_adapter_without_retries_reports_a_local_estimate(serve, clean_env, adapters, slept):
    servicer = Governance(fail_first=1)
    clean_env.setenv("GENOPS_ENDPOINT", serve(servicer))
    adapter = adapters(team="t", project="p", retry_attempts=0)
    metrics = adapter.get_metrics()
    assert (metrics["source"], metrics["local_estimate"], metrics["daily_usage"]) == (
        "local_estimate",
        True,
        0.0,
    )
    assert adapter.client.calls == 1
    assert slept == []


# -- connection_timeout_seconds ------------------------------------------------------------


def test_a_slow_answer_past_the_deadline_is_unavailable(serve, clients, slept):
    servicer = Governance(delay_s=1.0)
    target = serve(servicer)
    client = clients(target, timeout_s=0.2, retry_attempts=0)
    with pytest.raises(GovernanceUnavailable) as caught:
        client.check_budget(request())
    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert str(caught.value) == (
        f"governance API at {target} unreachable (DEADLINE_EXCEEDED, 1 attempt(s))"
    )
    assert client.calls == 1
    assert slept == []


def test_a_slow_answer_within_the_deadline_succeeds(serve, clients):
    servicer = Governance(delay_s=1.0)
    client = clients(serve(servicer), timeout_s=5, retry_attempts=0)
    assert client.check_budget(request()).decision == pb.DECISION_ALLOW
    assert client.calls == 1


def test_the_deadline_is_retried_like_unavailable(serve, clients, slept):
    servicer = Governance(delay_s=1.0)
    client = clients(serve(servicer), timeout_s=0.2, retry_attempts=1, retry_backoff_s=0.05)
    with pytest.raises(GovernanceUnavailable) as caught:
        client.check_budget(request())
    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert client.calls == 2
    assert slept == [0.05]


def test_adapter_network_keywords_configure_its_client(clean_env, adapters, unused_port):
    adapter = adapters(
        team="t",
        project="p",
        connection_timeout_seconds=0.3,
        retry_attempts=4,
        retry_backoff_factor=0.5,
    )
    client = adapter.client
    assert (client.target, client.timeout_s, client.retry_attempts, client.retry_backoff_s) == (
        f"127.0.0.1:{unused_port}",
        0.3,
        4,
        0.5,
    )


def test_adapter_client_defaults(adapters):
    client = adapters(team="t", project="p").client
    assert (client.timeout_s, client.retry_attempts, client.retry_backoff_s) == (2.0, 2, 0.2)


# -- enable_caching / cache_ttl_minutes -----------------------------------------------------


def test_cached_usage_survives_the_processor_stopping(processor, clean_env, adapters):
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = adapters(team="t", project="p", enable_caching=True, retry_attempts=0)
    first = adapter.get_metrics()
    assert (first["source"], first["local_estimate"]) == ("processor", False)
    calls = adapter.client.calls
    assert calls == 1
    assert processor.stop() == 0
    second = adapter.get_metrics()
    assert (second["source"], second["local_estimate"]) == ("processor", False)
    assert second["budgets"] == first["budgets"]
    assert adapter.client.calls == calls


def test_without_caching_a_stopped_processor_gives_a_local_estimate(processor, clean_env, adapters):
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = adapters(team="t", project="p", retry_attempts=0)
    assert adapter.get_metrics()["source"] == "processor"
    assert processor.stop() == 0
    second = adapter.get_metrics()
    assert (second["source"], second["local_estimate"]) == ("local_estimate", True)
    assert adapter.client.calls == 2


def test_the_cache_lasts_cache_ttl_minutes(processor, clean_env, adapters, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(
        usage_view,
        "time",
        types.SimpleNamespace(monotonic=lambda: clock[0], time_ns=time.time_ns),
    )
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = adapters(team="t", project="p", enable_caching=True, cache_ttl_minutes=5)
    assert adapter.get_metrics()["source"] == "processor"
    assert adapter.client.calls == 1
    clock[0] += 299
    assert adapter.get_metrics()["source"] == "processor"
    assert adapter.client.calls == 1
    clock[0] += 2  # 301 s after the answer: past 5 minutes
    assert adapter.get_metrics()["source"] == "processor"
    assert adapter.client.calls == 2


# -- debug_mode / verbose_logging ---------------------------------------------------------


@pytest.fixture
def loggers():
    saved = {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers)) for n in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield {n: logging.getLogger(n) for n in LOGGERS}
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers


@pytest.mark.parametrize(
    "keywords, level",
    [
        ({"debug_mode": True}, logging.DEBUG),
        ({"verbose_logging": True}, logging.INFO),
        ({"debug_mode": True, "verbose_logging": True}, logging.DEBUG),
        ({}, logging.NOTSET),
        ({"debug_mode": False, "verbose_logging": False}, logging.NOTSET),
    ],
)
def test_logging_keywords_set_the_logger_levels(loggers, adapters, keywords, level):
    adapters(team="t", project="p", **keywords)
    assert {n: logger.level for n, logger in loggers.items()} == dict.fromkeys(LOGGERS, level)


def test_debug_mode_from_the_environment(loggers, adapters, clean_env):
    clean_env.setenv("GENOPS_DEBUG_MODE", "true")
    adapters(team="t", project="p")
    assert {n: logger.level for n, logger in loggers.items()} == dict.fromkeys(
        LOGGERS, logging.DEBUG
    )


# -- max_concurrent_experiments -----------------------------------------------------------


def test_enforced_concurrency_limit_refuses_a_second_experiment(processor, clean_env, adapters):
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = adapters(
        team="t", project="p", governance_policy="enforced", max_concurrent_experiments=1
    )
    with adapter.track_experiment_lifecycle("first") as first:
        with pytest.raises(ConcurrencyLimitExceeded) as caught:
            with adapter.track_experiment_lifecycle("second"):
                pytest.fail("the second experiment must not start")
        assert isinstance(caught.value, BudgetExceededError)
        assert str(caught.value) == "1 experiments already running (max 1)"
        assert [x.name for x in adapter.active_experiments] == ["first"]
        assert first.status == "running"
    assert first.status == "finished"
    assert adapter.active_experiments == []
    with adapter.track_experiment_lifecycle("third") as third:
        assert [x.name for x in adapter.active_experiments] == ["third"]
    assert (third.status, third.violations) == ("finished", [])


def test_advisory_concurrency_limit_warns_records_and_proceeds(processor, clean_env, adapters):
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = adapters(
        team="t", project="p", governance_policy="advisory", max_concurrent_experiments=1
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with adapter.track_experiment_lifecycle("first") as first:
            with adapter.track_experiment_lifecycle("second") as second:
                assert [x.name for x in adapter.active_experiments] == ["first", "second"]
    budget_warnings = [w for w in caught if issubclass(w.category, BudgetWarning)]
    assert [str(w.message) for w in budget_warnings] == [
        "genops: 1 experiments already running (max 1)"
    ]
    assert second.violations == [
        ("concurrency", "advisory", "1 experiments already running (max 1)")
    ]
    assert first.violations == []
    assert (first.status, second.status) == ("finished", "finished")


def test_concurrency_is_unlimited_by_default(processor, clean_env, adapters):
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    # Budget room for three experiments' reservations of $50 each: only concurrency is
    # under test here.
    adapter = adapters(
        team="t", project="p", governance_policy="enforced", daily_budget_limit=1000.0
    )
    with adapter.track_experiment_lifecycle("a"), adapter.track_experiment_lifecycle("b"):
        with adapter.track_experiment_lifecycle("c") as c:
            assert len(adapter.active_experiments) == 3
    assert c.violations == []


def test_experiments_hold_their_max_cost_and_give_it_back_at_exit(processor, clean_env, adapters):
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = adapters(
        team="t",
        project="p",
        governance_policy="enforced",
        daily_budget_limit=100.0,
        max_experiment_cost=100.0,
    )
    with adapter.track_experiment_lifecycle("first", max_cost=50):
        # The first block holds $50: a second asking for $60 cannot fit in $100.
        with pytest.raises(BudgetExceededError, match=r"has left today \(\$50.00 of"):
            with adapter.track_experiment_lifecycle("second", max_cost=60):
                pytest.fail("must not enter")
    with adapter.track_experiment_lifecycle("third", max_cost=60) as third:
        assert third.hold_id  # the first block's $50 came back at its exit


# -- enable_governance ---------------------------------------------------------------------


def test_with_governance_the_processor_denies_what_the_daily_limit_cannot_pay(
    processor, clean_env, adapters
):
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = adapters(team="t", project="p", governance_policy="enforced", daily_budget_limit=1.0)
    with pytest.raises(BudgetExceededError) as caught:
        with adapter.track_experiment_lifecycle("x", max_cost=5):
            pytest.fail("must not enter")
    assert str(caught.value) == (
        "experiment 'x' max_cost $5.00 is above what budget 'client:t/p' has left today "
        "($1.00 of $1.00)"
    )
    assert adapter.client.calls == 1


def test_without_governance_no_budget_is_asked_for(processor, clean_env, adapters):
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = adapters(
        team="t",
        project="p",
        governance_policy="enforced",
        daily_budget_limit=1.0,
        enable_governance=False,
    )
    with adapter.track_experiment_lifecycle("x", max_cost=5) as experiment:
        pass
    assert (experiment.status, experiment.violations) == ("finished", [])
    assert adapter.client.calls == 0
    assert adapter.instrumentation_settings().budget.check_enabled is False
    # Still attributed: the processor answers for the scope.
    assert adapter.get_metrics()["team"] == "t"


def test_without_governance_max_experiment_cost_is_not_checked(processor, clean_env, adapters):
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = adapters(
        team="t",
        project="p",
        governance_policy="enforced",
        max_experiment_cost=50,
        enable_governance=False,
    )
    with adapter.track_experiment_lifecycle("big", max_cost=60) as experiment:
        pass
    assert (experiment.status, experiment.violations) == ("finished", [])


def test_without_governance_spend_past_max_cost_is_not_checked(processor, clean_env, adapters):
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = adapters(team="t", project="p", governance_policy="enforced", enable_governance=False)
    with adapter.track_experiment_lifecycle("x", max_cost=5) as experiment:
        experiment.estimated_cost += 6.0
    assert (experiment.status, experiment.violations) == ("finished", [])
