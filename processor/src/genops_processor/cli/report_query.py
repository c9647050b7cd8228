"""What ``genops report`` is asked for: a time range and a team or project, checked.

``--since`` and ``--until`` take a date (``YYYY-MM-DD``, UTC; ``--until`` a date means
the end of that day) or an RFC 3339 time. A run is in the range when it started in
``[since, until)``. Every bad value is a :class:`click.BadParameter` naming the option
(exit status 2): an unreadable date, ``--since`` not before ``--until``, a range longer
than ``REPORT_MAX_RANGE_DAYS``, a name that is empty, too long or holds control
characters. A team or project with no run in the ledger at all is found by asking
(:func:`check_known`) and is a usage error too; one with runs, none in the range, is
an empty report that says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import click

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.cli.literal import literal
from genops_processor.limits import REPORT_MAX_RANGE_DAYS, REPORT_NAME_MAX_CHARS
from genops_processor.record.audit_trail import parse_bound

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_LATEST = dt.datetime(2262, 1, 1, tzinfo=dt.timezone.utc)  # int64 nanoseconds end in 2262
_NS = 10**9


@dataclass(frozen=True)
class ReportQuery:
    """The runs a report covers: started in [since, until) (None: open), of a team/project."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    team: str = ""
    project: str = ""

    @property
    def window(self) -> tuple[int, int]:
        """(since_ns, until_ns) as ListRuns takes them (0: unbounded)."""
        return _ns(self.since), _ns(self.until)

    @property
    def filtered(self) -> bool:
        return bool(self.since or self.until or self.team or self.project)

    def request(self, **fields: object) -> pb.ListRunsRequest:
        since_ns, until_ns = self.window
        return pb.ListRunsRequest(
            scope=pb.Scope(team=self.team, project=self.project),
            since_ns=since_ns,
            until_ns=until_ns,
            **fields,
        )

    def describe(self) -> str:
        """The filters in words, for titles and "no runs" lines."""
        parts = []
        if self.team:
            parts.append(f"team {self.team}")
        if self.project:
            parts.append(f"project {self.project}")
        if self.since:
            parts.append(f"since {self.since:%Y-%m-%d %H:%M} UTC")
        if self.until:
            parts.append(f"until {self.until:%Y-%m-%d %H:%M} UTC")
        return literal(", ".join(parts))


EVERYTHING = ReportQuery()  # no filter: every run of the ledger


def parse(since: str | None, until: str | None, team: str | None, project: str | None):
    """The checked query of the command line's options."""
    start = _bound(since, "--since", end=False)
    stop = _bound(until, "--until", end=True)
    if start and stop:
        if start >= stop:
            raise click.BadParameter(
                f"'{literal(since)}' is not before --until '{literal(until)}'",
                param_hint="'--since'",
            )
        if stop - start > dt.timedelta(days=REPORT_MAX_RANGE_DAYS):
            raise click.BadParameter(
                f"'{literal(since)}' to '{literal(until)}' spans {(stop - start).days:,} days; "
                f"at most {REPORT_MAX_RANGE_DAYS:,} (REPORT_MAX_RANGE_DAYS)",
                param_hint="'--since'",
            )
    return ReportQuery(start, stop, _name(team, "--team"), _name(project, "--project"))


def check_known(query: ReportQuery, pages: Callable[[pb.ListRunsRequest], object]) -> None:
    """A --team or --project that has no run in the ledger at all: a usage error."""
    for option, scope in (
        ("--team", pb.Scope(team=query.team)),
        ("--project", pb.Scope(project=query.project)),
    ):
        name = scope.team or scope.project
        if name and not pages(pb.ListRunsRequest(scope=scope, page_size=1)).runs:
            raise click.BadParameter(
                f"no run of '{literal(name)}' in the ledger", param_hint=f"'{option}'"
            )


def _bound(text: str | None, option: str, end: bool) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = parse_bound(text.strip(), option, end=end)
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        moment = None
    if moment is None:
        raise click.BadParameter(
            f"'{literal(text)}' is not a date (YYYY-MM-DD) or an RFC 3339 time",
            param_hint=f"'{option}'",
        )
    if not _EPOCH < moment < _LATEST:
        raise click.BadParameter(
            f"'{literal(text)}' is outside 1970..2261", param_hint=f"'{option}'"
        )
    return moment


def _name(value: str | None, option: str) -> str:
    if value is None:
        return ""
    if not value.strip():
        raise click.BadParameter("must not be empty", param_hint=f"'{option}'")
    if len(value) > REPORT_NAME_MAX_CHARS:
        raise click.BadParameter(
            f"{len(value):,} characters; at most {REPORT_NAME_MAX_CHARS} (REPORT_NAME_MAX_CHARS)",
            param_hint=f"'{option}'",
        )
    if not value.isprintable():
        raise click.BadParameter(
            f"'{literal(value)}' holds control characters", param_hint=f"'{option}'"
        )
    return value


def _ns(moment: dt.datetime | None) -> int:
    if moment is None:
        return 0
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000
