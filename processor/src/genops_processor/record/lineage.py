"""Lineage: what an artifact came from and what used it, or a run's inputs and outputs.

Two sources, both already in the ledger: the lineage record a client attached with
``log_governed_artifact(..., governance_metadata={"data_lineage": create_data_lineage(...)})``
(kept in ``artifacts.governance_metadata``), and W&B's own links: the artifacts a run
logged (``artifacts``, one row per ``Run.log_artifact``) and those it consumed
(``runs.artifacts_used``, from ``Run.use_artifact``). Artifact names are compared
without their ``:version`` (as ``use_artifact`` records them). Every list is cut at
``LINEAGE_MAX_ITEMS`` (``truncated`` says so); reads are narrowed to ``teams``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from genops_processor.limits import LINEAGE_MAX_ITEMS
from genops_processor.storage.client_json import json_names, json_object

_USED = (
    "list_contains(CAST(from_json(NULLIF(r.artifacts_used, ''), '[\"VARCHAR\"]') AS VARCHAR[]), ?)"
)
_BASE = "split_part(a.name, ':', 1)"
LINEAGE_KEYS = ("data_lineage", "lineage")  # where governance metadata holds the record


def lineage(conn: Any, name: str, teams: frozenset[str] | None = None) -> dict[str, Any]:
    """``{"query", "artifacts": [...], "runs": [...], "truncated"}`` for an artifact name,
    a run id or a run key (both lists are filled when the name is all of them)."""
    base = name.split(":")[0]
    state = {"truncated": False}
    artifacts = [
        _artifact(conn, row, teams, state)
        for row in _rows(
            conn,
            f"SELECT a.name, a.type, a.run_key, r.run_id, r.team, r.project, a.logged_ns, "
            f"a.governance_metadata FROM artifacts a JOIN runs r USING (run_key) "
            f"WHERE {_BASE} = ? {_team_clause(teams)} ORDER BY a.logged_ns",
            [base, *_team_params(teams)],
            state,
        )
    ]
    if not artifacts:  # used somewhere, logged by no run we know: still show its users
        users = _users(conn, base, teams, state)
        if users:
            artifacts.append({"name": base, "logged_by": None, "lineage": None, "used_by": users})
    runs = [
        _run(conn, row, teams, state)
        for row in _rows(
            conn,
            "SELECT r.run_key, r.run_id, r.team, r.project, r.status, r.artifacts_used "
            f"FROM runs r WHERE (r.run_id = ? OR r.run_key = ?) {_team_clause(teams)} "
            "ORDER BY r.compute_start_ns",
            [name, name, *_team_params(teams)],
            state,
        )
    ]
    return {"query": name, "artifacts": artifacts, "runs": runs, **state}


def _artifact(conn, row, teams, state) -> dict[str, Any]:
    name, kind, run_key, run_id, team, project, logged_ns, metadata = row
    return {
        "name": name,
        "type": kind or "",
        "logged_by": {"run_key": run_key, "run_id": run_id or "", "team": team, "project": project},
        "logged_at": _iso(logged_ns),
        "lineage": _lineage_record(metadata),
        "used_by": _users(conn, name.split(":")[0], teams, state),
    }


def _run(conn, row, teams, state) -> dict[str, Any]:
    run_key, run_id, team, project, status, used_json = row
    used_names = json_names(used_json)
    if len(used_names) > LINEAGE_MAX_ITEMS:
        used_names, state["truncated"] = used_names[:LINEAGE_MAX_ITEMS], True
    used = []
    for used_name in used_names:
        producers = _rows(
            conn,
            f"SELECT r.run_key, r.run_id, r.team, r.project FROM artifacts a "
            f"JOIN runs r USING (run_key) WHERE {_BASE} = ? {_team_clause(teams)}",
            [used_name, *_team_params(teams)],
            state,
        )
        used.append({"name": used_name, "logged_by": [_run_ref(p) for p in producers]})
    logged = [
        {
            "name": a_name,
            "type": kind or "",
            "logged_at": _iso(logged_ns),
            "lineage": _lineage_record(metadata),
            "used_by": _users(conn, a_name.split(":")[0], teams, state),
        }
        for a_name, kind, logged_ns, metadata in _rows(
            conn,
            "SELECT name, type, logged_ns, governance_metadata FROM artifacts "
            "WHERE run_key = ? ORDER BY logged_ns",
            [run_key],
            state,
        )
    ]
    return {
        "run_key": run_key,
        "run_id": run_id or "",
        "team": team,
        "project": project,
        "status": status,
        "used": used,
        "logged": logged,
    }


def _users(conn, base: str, teams, state) -> list[dict[str, str]]:
    rows = _rows(
        conn,
        f"SELECT r.run_key, r.run_id, r.team, r.project FROM runs r WHERE {_USED} "
        f"{_team_clause(teams)} ORDER BY r.compute_start_ns",
        [base, *_team_params(teams)],
        state,
    )
    return [_run_ref(row) for row in rows]


def _rows(conn, sql: str, params: list[Any], state: dict) -> list[tuple]:
    rows = conn.execute(f"{sql} LIMIT {LINEAGE_MAX_ITEMS + 1}", params).fetchall()
    if len(rows) > LINEAGE_MAX_ITEMS:
        state["truncated"] = True
        rows = rows[:LINEAGE_MAX_ITEMS]
    return rows


def _run_ref(row: tuple) -> dict[str, str]:
    run_key, run_id, team, project = row
    return {
        "run_key": run_key,
        "run_id": run_id or "",
        "team": team or "",
        "project": project or "",
    }


def _team_clause(teams: frozenset[str] | None) -> str:
    return "" if teams is None else "AND r.team IN (SELECT unnest(?::VARCHAR[]))"


def _team_params(teams: frozenset[str] | None) -> list[Any]:
    return [] if teams is None else [sorted(teams)]


def _lineage_record(metadata: str | None) -> Any:
    parsed = json_object(metadata)
    return next((parsed[k] for k in LINEAGE_KEYS if k in parsed), None)


def _iso(ns: int | None) -> str:
    if not ns:
        return ""
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).isoformat()
