"""ListRuns a page at a time: page sizes, keyset page tokens, pages bounded in bytes.

A page token is the position after the page's last run (its start time and run
key), so a page costs the same however deep it is, and runs that arrive while a
client pages are never served twice. ``genops report --db`` pages the same way
through :func:`page` on its own read-only connection.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from genops.governance.v1 import governance_pb2 as pb
from genops.money import saturate_int64 as i64
from genops_processor.api.convert import run_to_pb, scope_from_pb
from genops_processor.domain import RunState
from genops_processor.limits import (
    LIST_RUNS_DEFAULT_PAGE,
    LIST_RUNS_MAX_PAGE,
    LIST_RUNS_PAGE_BYTES,
    REPORT_TOP_ROWS,
)
from genops_processor.storage import queries


class BadPageToken(ValueError):
    pass


def page_size(request: pb.ListRunsRequest) -> int:
    """page_size, else the older ``limit``, else the default; at most the maximum."""
    wanted = request.page_size or request.limit
    if wanted < 0:
        raise BadPageToken("page_size: must not be negative")
    return min(wanted or LIST_RUNS_DEFAULT_PAGE, LIST_RUNS_MAX_PAGE)


def time_window(request: pb.ListRunsRequest) -> tuple[int, int]:
    """(since_ns, until_ns) of the request, checked: not negative, since before until."""
    since_ns, until_ns = request.since_ns, request.until_ns
    if since_ns < 0 or until_ns < 0:
        raise BadPageToken("since_ns, until_ns: must not be negative")
    if since_ns and until_ns and since_ns >= until_ns:
        raise BadPageToken("since_ns: must be before until_ns")
    return since_ns, until_ns


def encode_token(run: RunState) -> str:
    text = json.dumps([run.usage.compute_start_ns, run.run_key], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, str] | None:
    if not token:
        return None
    try:
        start, key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(start, int) or isinstance(start, bool) or not isinstance(key, str):
            raise ValueError
        if not -(2**63) <= start < 2**63:
            raise ValueError
    except (ValueError, TypeError):
        raise BadPageToken("page_token: not a next_page_token of ListRuns") from None
    return start, key


def fetch(
    conn: Any, request: pb.ListRunsRequest, teams: frozenset[str] | None = None
) -> tuple[list[RunState], bool, Any]:
    """The page's runs, whether more follow, and the totals when asked (a writer job);
    ``teams``: only runs of those teams (the caller's, when it does not read all)."""
    scope = scope_from_pb(request.scope) if request.HasField("scope") else None
    window = time_window(request)
    runs, more = queries.list_runs_page(
        conn, scope, page_size(request), decode_token(request.page_token), teams, window
    )
    totals = (
        queries.run_totals(conn, scope, REPORT_TOP_ROWS, teams, window)
        if request.include_totals
        else None
    )
    return runs, more, totals


def response(runs: list[RunState], more: bool, totals: Any) -> pb.ListRunsResponse:
    """The page as an answer, cut short at ``LIST_RUNS_PAGE_BYTES`` (always one run)."""
    answer = pb.ListRunsResponse()
    if totals is not None:
        answer.totals.CopyFrom(totals_to_pb(totals))
    size = answer.ByteSize()
    for index, run in enumerate(runs):
        summary = run_to_pb(run)
        size += summary.ByteSize() + 8  # field tag and length of the entry
        if index and size > LIST_RUNS_PAGE_BYTES:
            more = True
            break
        answer.runs.append(summary)
    if more and runs:
        answer.next_page_token = encode_token(runs[len(answer.runs) - 1])
    return answer


def page(conn: Any, request: pb.ListRunsRequest) -> pb.ListRunsResponse:
    """One page, read and answered on ``conn`` (the report's own read-only ledger)."""
    return response(*fetch(conn, request))


def totals_to_pb(totals: queries.RunTotals) -> pb.RunTotals:
    def groups(rows) -> list[pb.RunGroupTotal]:
        return [pb.RunGroupTotal(name=n, runs=i64(c), cost_micros=i64(m)) for n, c, m in rows]

    return pb.RunTotals(
        runs=i64(totals.runs),
        cost_micros=i64(totals.cost_micros),
        teams=i64(totals.teams),
        by_team=groups(totals.by_team),
        projects=i64(totals.projects),
        by_project=groups(totals.by_project),
        violations=i64(totals.violations),
        newest_violations=[
            pb.RunViolation(run=run, violation=text) for run, text in totals.newest_violations
        ],
    )
