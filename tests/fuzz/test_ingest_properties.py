"""Property-based: OTLP requests generated from the attribute schema never corrupt the ledger.

Each example is one ExportTraceServiceRequest sent over real gRPC on 127.0.0.1 to a
real ``genops-processor`` subprocess (real DuckDB file, test credentials: sent as the
``trainer`` client) and sent again (a retry): a fresh valid run's span mixed, in any
order, with hostile spans (``strategies.py``). The invariants (``ledger.py``):

- the export is answered OK (bad spans are rejected by partial success, never with
  a retryable status that would make the client resend them forever);
- per example, through the API: the valid run is stored once, in its scope, its
  usage not doubled by the retry; no earlier run a hostile span aimed at moved; no
  listed cost is negative or past MAX_RUN_MICROS; a budget check of its scope answers
  and the enforced $100 budget still denies $1,000,000;
- every ``GENOPS_FUZZ_LEDGER_EVERY`` examples and at the end: every report query
  answers, ListRuns pages through the whole ledger, each run once, in agreement with
  its totals, money non-negative and within int64;
- every ``GENOPS_FUZZ_RESTART_EVERY`` examples and at the end: in the DuckDB file,
  every valid span stored exactly once and no run, cost line or hand-added cost out of
  bounds; the ledger reopens with the same runs and each budget's spend as derived
  from the ledger equal to the running spend before.

CI runs a short mode (``GENOPS_FUZZ_EXAMPLES``, default 150, one example a request);
``make fuzz`` runs 100,000 (``FUZZ_EXAMPLES=N``) in one shard per CPU, 16 examples a
request, and writes bench/results/fuzz.json (``scripts/fuzz.py``).
"""

from __future__ import annotations

import itertools
import os
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.ledger import FuzzLedger
from tests.fuzz.strategies import hostile_span, run_key_of, valid_run_span

# The fuzz's options (environment, read by this test only; scripts/fuzz.py sets them).
EXAMPLES = int(os.environ.get("GENOPS_FUZZ_EXAMPLES", "150"))  # examples in this process
LEDGER_EVERY = int(os.environ.get("GENOPS_FUZZ_LEDGER_EVERY", "50"))  # whole-ledger checks
RESTART_EVERY = int(os.environ.get("GENOPS_FUZZ_RESTART_EVERY", "100"))  # file check, reopen
PROGRESS_EVERY = int(os.environ.get("GENOPS_FUZZ_PROGRESS_EVERY", "1000"))  # progress lines
# Examples sent in one request (each its own resource; they share a project, so one
# query finds what they changed). The processor's cost per request dwarfs its cost per
# span, so the long mode sends several; the short mode one.
PER_REQUEST = int(os.environ.get("GENOPS_FUZZ_PER_REQUEST", "1"))
POOL = 20  # earlier valid runs a hostile span may aim at


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    fuzz = FuzzLedger(tmp_path_factory.mktemp("fuzz"), LEDGER_EVERY, RESTART_EVERY)
    fuzz.pool = []  # (run key, project) of the latest valid runs
    fuzz.projects = itertools.count()
    yield fuzz
    try:
        fuzz.close()  # the whole ledger and the file, once more
    finally:
        print(f"\nfuzz figures: {fuzz.figures()}", flush=True)


@settings(
    max_examples=-(-EXAMPLES // PER_REQUEST),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hostile_requests_never_corrupt_the_ledger(ledger: FuzzLedger, data) -> None:
    try:
        _example(ledger, data)
    except Exception:  # (hypothesis's own control flow is a BaseException)
        ledger.stats["failures"] += 1
        raise
    count = ledger.stats["examples"]
    if count // PROGRESS_EVERY != (count - PER_REQUEST) // PROGRESS_EVERY:  # long runs
        print(f"fuzz: {ledger.figures()}", flush=True)


def _example(ledger: FuzzLedger, data) -> None:
    """PER_REQUEST examples in one request: each a fresh valid run's span mixed with
    hostile spans, in any order."""
    project = f"p{next(ledger.projects)}"
    owners = dict(ledger.pool)
    valid, hostile, groups = {}, [], []
    for _ in range(PER_REQUEST):
        key = f"v{uuid.uuid4().hex[:12]}:s1"
        valid[key] = valid_run_span(key, final=data.draw(st.booleans()), project=project)
        bad = data.draw(st.lists(hostile_span(list(owners), project), min_size=1, max_size=6))
        groups.append(data.draw(st.permutations([valid[key], *bad])))
        hostile += bad

    first = ledger.export(groups)
    again = ledger.export(groups)  # a retry of the same request changes nothing
    assert first.partial_success.rejected_spans <= len(hostile), first.partial_success
    assert again.partial_success.rejected_spans <= len(hostile), again.partial_success
    ledger.stats["rejected"] += first.partial_success.rejected_spans

    aimed = {k: owners[k] for k in map(run_key_of, hostile) if k in owners}
    ledger.check_example(project, valid, aimed)
    ledger.pool = [*ledger.pool, *((key, project) for key in valid)][-POOL:]
