"""Policy secrets: references (``${env:NAME}``, ``*_file``), redaction, the refusals
that name the key, and the scrub of a ledger written before secrets were kept out of it
(real DuckDB in tmp_path)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from genops_processor import limits
from genops_processor.alerts import outbox
from genops_processor.budgets import Policy, PolicyError, policy_store
from genops_processor.budgets.alert_settings import redacted_policy, scrub, shown_address
from genops_processor.storage import Storage

SECRET = "s3cr3t-CANARY-77"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def test_references_resolve_and_are_shown_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("GENOPS_TEST_URL", f"slack+https://hooks.test/services/{SECRET}")
    token = tmp_path / "token"
    token.write_text(SECRET + "\n")
    policy = Policy.from_dict(
        {
            "smtp": {"host": "mail", "username": "u", "password": "${env:GENOPS_TEST_URL}"},
            "channels": {
                "slack": "${env:GENOPS_TEST_URL}",
                "hook": {"address": "webhook+https://h.test", "token_file": str(token)},
            },
        }
    )
    assert policy.channel("slack").address.endswith(SECRET)
    assert policy.channel("hook").token == SECRET  # trailing newline removed
    shown = json.dumps(policy.shown)
    assert SECRET not in shown and "${env:GENOPS_TEST_URL}" in shown and str(token) in shown
    assert SECRET not in repr(policy) and SECRET not in repr(policy.channel("hook"))


def test_literal_secrets_are_redacted_and_redaction_is_stable():
    body = {
        "smtp": {"host": "mail", "username": "u", "password": SECRET},
        "channels": {
            "a": f"webhook+https://user:{SECRET}@h.test/x",
            "b": {"address": f"slack+https://h.test/{SECRET}?q=1"},
            "c": {"address": "webhook+https://h.test/x", "token": SECRET},
            "mail": "email://ops@test",
        },
        "budgets": [
            {"name": "n", "scope": {}, "limit": 1, "alerts": [f"webhook+http://h/{SECRET}"]}
        ],
    }
    once = redacted_policy(body)
    assert SECRET not in json.dumps(once)
    assert redacted_policy(once) == once
    assert once["channels"]["a"] == "webhook+https://***@h.test/***"
    assert once["channels"]["mail"] == "email://ops@test"
    assert once["smtp"]["password"] == "***"
    # the stored form loads again: the literal secrets are gone, their channels say so
    stored = Policy.from_stored(once)
    assert stored.channel("a").unavailable and stored.smtp.unavailable
    assert "the ledger keeps no secret" in stored.channel("c").unavailable
    assert stored.channel("mail").unavailable == ""


def test_scrub_replaces_every_secret_part():
    policy = Policy.from_dict(
        {"channels": {"a": f"webhook+https://u:pw-{SECRET}@h.test/p/{SECRET}"}}
    )
    text = f"failed: GET /p/{SECRET} as u:pw-{SECRET}@h.test"
    assert SECRET not in scrub(text, policy.secrets())
    assert shown_address("not an address but a t0ken/" + SECRET) == "***"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"smtp": {"password": "${env:GENOPS_TEST_UNSET}", "username": "u"}},
            r"smtp\.password: environment variable GENOPS_TEST_UNSET is not set",
        ),
        (
            {"channels": {"a": "webhook+https://h/${env:X}"}},
            r"channels\.a\.address: a reference must be the whole value",
        ),
        (
            {"smtp": {"username": "u", "password": "p", "starttls": False}},
            r"smtp\.starttls is false: the password would cross the network in clear",
        ),
        ({"smtp": {"password": "p"}}, r"smtp: a password needs a username"),
        (
            {"channels": {"a": {"address": "webhook+https://h", "token": "t", "token_file": "f"}}},
            r"channels\.a: give token or token_file, not both",
        ),
        (
            {"channels": {"a": {"address": "email://x@y", "token": "t"}}},
            r"channels\.a\.token: only webhook\+ channels send a token",
        ),
        ({"channels": {"a": {"url": "webhook+https://h"}}}, r"channels\.a: unknown key\(s\) url"),
        (
            {"channels": {"a": {"address": "webhook+https://h", "token": f"{SECRET}\r\nX: y"}}},
            r"channels\.a: the address or token holds a control character",
        ),
        ({"channels": {"a": f"hooks.test/services/{SECRET}"}}, r"channels\.a.*'\*\*\*' is not a"),
        (
            {"budgets": [{"name": "n", "limit": 1, "alerts": ["nowhere"]}]},
            r"budgets\[0\] \(n\)\.alerts\[0\].*'nowhere' is not a channel",
        ),
    ],
)
def test_bad_secrets_are_refused_naming_the_key(monkeypatch, body, message):
    monkeypatch.delenv("GENOPS_TEST_UNSET", raising=False)
    with pytest.raises(PolicyError, match=message) as refused:
        Policy.from_dict(body)
    assert SECRET not in str(refused.value)


def test_a_secret_file_past_the_cap_is_refused(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"x" * (limits.MAX_SECRET_FILE_BYTES + 1))
    with pytest.raises(PolicyError, match=r"channels\.a\.token_file: .* is over 65536 bytes"):
        Policy.from_dict(
            {"channels": {"a": {"address": "webhook+https://h", "token_file": str(big)}}}
        )
    with pytest.raises(PolicyError, match=r"smtp\.password_file: cannot read .*: No such file"):
        Policy.from_dict({"smtp": {"username": "u", "password_file": str(tmp_path / "none")}})


def test_a_ledger_from_before_is_scrubbed(tmp_path):
    """The attack: a ledger written by an older processor holds webhook URLs with their
    tokens (policy versions, outbox, deliveries, rules); after the scrub none is left."""
    address = f"webhook+https://hooks.test/services/{SECRET}"
    old_policy = {"channels": {"ops": address}, "budgets": []}
    rule = {"channels": [address, "log://"], "escalation_chain": [address]}
    with Storage(tmp_path / "ledger.duckdb") as storage:

        def old_rows(conn):
            conn.execute(
                "INSERT INTO policy_versions VALUES (1, ?, ?, 'x', 'y')",
                [json.dumps(old_policy), NOW],
            )
            conn.execute(
                "INSERT INTO alert_outbox VALUES ('a1', ?, '{}', 2, ?, ?, 'HTTP 500', 'retrying')",
                [address, NOW, NOW],
            )
            conn.execute(
                "INSERT INTO alert_deliveries VALUES ('a1', ?, 1, 'failed', 'HTTP 500', ?)",
                [address, NOW],
            )
            conn.execute(
                "INSERT INTO alert_rules VALUES ('r1', 'cost', ?, ?, 'x')", [json.dumps(rule), NOW]
            )

        storage.call(old_rows)
        changed = storage.call(
            lambda conn: policy_store.redact_versions(conn) + outbox.scrub_addresses(conn, NOW)
        )
        assert changed == 4  # the version, the outbox row, the delivery row, the rule
        dump = storage.call(
            lambda conn: [
                conn.execute(f"SELECT * FROM {table}").fetchall()
                for table in ("policy_versions", "alert_outbox", "alert_deliveries", "alert_rules")
            ]
        )
        assert SECRET not in repr(dump)
        assert storage.call(lambda conn: policy_store.redact_versions(conn)) == 0  # once
