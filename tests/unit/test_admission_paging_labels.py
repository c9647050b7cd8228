"""Pure pieces of admission control, ListRuns paging and metrics label caps."""

from __future__ import annotations

import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.api import run_pages
from genops_processor.api.admission import Pool, pool_of
from genops_processor.limits import LIST_RUNS_DEFAULT_PAGE, LIST_RUNS_MAX_PAGE
from genops_processor.metrics import OTHER, LabelValues, ScopeLabels
from genops_processor.settings import ProcessorSettings, SettingsError


def test_budget_decisions_have_a_pool_of_their_own():
    governance = "/genops.governance.v1.GovernanceService/"
    assert pool_of(governance + "CheckBudget") == "decision"
    assert pool_of(governance + "CheckRun") == "decision"
    assert pool_of(governance + "RenewHold") == "decision"
    assert pool_of("/opentelemetry.proto.collector.trace.v1.TraceService/Export") == "ingest"
    assert pool_of(governance + "ListRuns") == "other"


def test_a_pool_admits_one_call_of_any_size_alone_and_refuses_past_its_budget():
    pool = Pool("ingest", max_bytes=100, max_calls=3)
    assert pool.full() is None and pool.too_big(10_000) is None  # alone: admitted
    pool.bytes, pool.calls = 60, 1
    assert pool.too_big(40) is None
    assert "at most 100" in pool.too_big(41)
    pool.bytes = 100
    assert "request bytes in flight" in pool.full()
    pool.bytes, pool.calls = 0, 3
    assert "calls in flight" in pool.full()


def test_page_sizes_default_and_cap():
    assert run_pages.page_size(pb.ListRunsRequest()) == LIST_RUNS_DEFAULT_PAGE
    assert run_pages.page_size(pb.ListRunsRequest(limit=7)) == 7
    assert run_pages.page_size(pb.ListRunsRequest(page_size=9, limit=7)) == 9
    assert run_pages.page_size(pb.ListRunsRequest(page_size=10**9)) == LIST_RUNS_MAX_PAGE
    with pytest.raises(run_pages.BadPageToken, match="page_size"):
        run_pages.page_size(pb.ListRunsRequest(page_size=-1))


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "bnVsbA",
        "WzEsMl0",
        "WyJhIiwiYiJd",
        "W3RydWUsImsiXQ",
        "Wzk5OTk5OTk5OTk5OTk5OTk5OTk5LCJrIl0",
    ],
)
def test_a_token_not_made_by_list_runs_is_refused(token):
    with pytest.raises(run_pages.BadPageToken, match="page_token"):
        run_pages.decode_token(token)


def test_label_values_first_n_then_other_and_kept_values_always():
    values = LabelValues(2)
    assert [values(v) for v in ("a", "b", "c", "a")] == ["a", "b", OTHER, "a"]
    values.kept = frozenset({"budget-team"})
    assert values("budget-team") == "budget-team"


def test_scope_labels_bound_the_tuples():
    labels = ScopeLabels((10, 10, 10, 10, 2), max_series=3)
    labels.keep(["kept"], [])
    tuples = {labels((f"t{i}", f"p{i}", "c", "cc", "dev")) for i in range(50)}
    tuples.add(labels(("kept", "x", "c", "cc", "dev")))
    assert len(tuples) <= 3 + 2
    assert ("kept", OTHER, OTHER, OTHER, OTHER) in tuples
    assert (OTHER,) * 5 in tuples


def test_each_scope_label_has_its_own_cap():
    labels = ScopeLabels((10, 10, 10, 10, 2), max_series=100)
    environments = {labels(("t", "p", "c", "cc", f"env-{i}"))[4] for i in range(5)}
    assert environments == {"env-0", "env-1", OTHER}


def test_inflight_setting_is_read_and_checked():
    settings = ProcessorSettings.resolve({"GENOPS_INGEST_INFLIGHT_MB": "8"})
    assert settings.ingest_inflight_bytes == 8 * 2**20
    with pytest.raises(SettingsError, match="GENOPS_INGEST_INFLIGHT_MB"):
        ProcessorSettings.resolve({"GENOPS_INGEST_INFLIGHT_MB": "0"})
    with pytest.raises(SettingsError, match="--ingest-inflight-mb"):
        ProcessorSettings.resolve({}, ingest_inflight_mb="lots")
