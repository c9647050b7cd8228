"""A ledger written by an older processor kept error text as it came, secrets included:
the processor that opens it rewrites it redacted, once, and audits that it did. Real
processor subprocesses and a real DuckDB file; the "older" ledger is made by writing the
unredacted text into it directly, as the older processor stored it."""

from __future__ import annotations

import json

import duckdb

from genops import attributes as attr
from genops_processor import storage
from genops_processor.record.audit_log import audit_events
from genops_processor.record.audit_trail import verify
from tests.helpers import start_processor, token_of
from tests.synthetic_spans import export, run_span

API_KEY = "0123456789abcdef0123456789abcdef01234567"  # shaped like a W&B key
PASSWORD = "hunter2-canary-pw"
MESSAGE = f"RuntimeError: wandb login {API_KEY} failed; db password={PASSWORD}"


def _older_ledger(tmp_path):
    """A ledger with a failed run, its unredacted error stored where older versions kept
    it (the run, its raw span, a delivery's error), and no record of the migration."""
    processor = start_processor(tmp_path)
    span = run_span("ml-team", run_id="run-old", status="failed")
    export(processor.endpoint, token_of("trainer"), [span])
    assert processor.stop() == 0
    with duckdb.connect(str(processor.db)) as conn:
        conn.execute("UPDATE runs SET error = ? WHERE run_id = 'run-old'", [MESSAGE])
        (raw,) = conn.execute("SELECT attributes FROM spans").fetchone()
        attributes = {**json.loads(raw), attr.RUN_ERROR: MESSAGE}
        conn.execute("UPDATE spans SET attributes = ?", [json.dumps(attributes, sort_keys=True)])
        conn.execute(
            "INSERT INTO alert_deliveries VALUES ('a1', 'ops', 1, 'failed', ?, now())",
            [f"401 from https://bot:{PASSWORD}@hooks.example.com/x"],
        )
        conn.execute("DROP TABLE ledger_migrations")  # an older processor had none
    return processor.db, span


def _text(db) -> str:
    with duckdb.connect(str(db), read_only=True) as conn:
        out = []
        for (table,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall():
            out.append(repr(conn.execute(f'SELECT * FROM "{table}"').fetchall()))
    return "\n".join(out)


def test_an_older_ledgers_stored_secrets_are_redacted_on_open(tmp_path):
    db, _span = _older_ledger(tmp_path)
    assert API_KEY in _text(db) and PASSWORD in _text(db)  # the attack is in place
    processor = start_processor(tmp_path)
    [run] = processor.runs()
    assert processor.stop() == 0
    text = _text(db)
    assert API_KEY not in text and PASSWORD not in text
    with duckdb.connect(str(db), read_only=True) as conn:
        (error,) = conn.execute("SELECT error FROM runs").fetchone()
    assert error == "RuntimeError: wandb login *** failed; db password=***"
    assert run.status == "failed"
    with storage.Storage(db, read_only=True) as ledger:
        [event] = ledger.call(lambda conn: audit_events(conn, "ledger.errors_redacted"))
        assert ledger.call(verify).intact
    assert event["actor"] == "processor"
    assert event["detail"]["rows_changed"] == {
        "runs.error": 1,
        "spans.attributes": 1,
        "alert_deliveries.error": 1,
    }


def test_the_migration_runs_once_and_a_span_sent_again_still_matches(tmp_path):
    db, span = _older_ledger(tmp_path)
    span.attributes.add(key=attr.RUN_ERROR).value.string_value = MESSAGE  # as first sent
    processor = start_processor(tmp_path)
    assert processor.stop() == 0
    processor = start_processor(tmp_path)  # a second open: nothing to do, nothing audited
    # The older client sends its span again: redacted on arrival, it equals the stored one.
    export(processor.endpoint, token_of("trainer"), [span])
    assert len(processor.runs()) == 1
    assert processor.stop() == 0
    with storage.Storage(db, read_only=True) as ledger:
        events = ledger.call(lambda conn: audit_events(conn, "ledger.errors_redacted"))
        rejected = ledger.call(
            lambda conn: conn.execute("SELECT count(*) FROM span_rejections").fetchone()[0]
        )
    assert len(events) == 1 and rejected == 0
