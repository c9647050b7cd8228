"""Readers of client JSON the ledger keeps: text an older processor stored without the
shape check (not JSON, another shape, nested past the parser's depth) reads as the
empty value, never an exception, in every reader that uses it (lineage, retention)."""

from __future__ import annotations

import pytest

from genops_processor.record.lineage import _lineage_record
from genops_processor.record.retention import _artifact_days
from genops_processor.storage.client_json import json_names, json_object

HOSTILE = [None, "", "x", '{"a": ', "NaN", "1", '"text"', "null", "[" * 100_000, "{" * 100_000]
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("text", [*HOSTILE, DEEP])
def test_hostile_text_reads_as_the_empty_value(text):
    assert json_object(text) == {}
    assert json_names(text) == []
    assert _lineage_record(text) is None
    assert _artifact_days(text, None, 30) == (30, "default")
    assert _artifact_days(text, 90, 30) == (90, "run")


def test_well_formed_text_reads_as_sent():
    assert json_names('["a", 2, "b", null]') == ["a", "b"]  # only the names
    assert json_object('{"retention_period_days": 365}') == {"retention_period_days": 365}
    assert _artifact_days('{"retention_period_days": 365}', 90, 30) == (
        365,
        "governance_metadata",
    )
    assert _lineage_record('{"data_lineage": {"data_sources": ["a.csv"]}}') == {
        "data_sources": ["a.csv"]
    }


def test_a_deep_lineage_record_no_longer_raises():
    # before the readers were shared, lineage and retention parsed with json.loads and
    # caught only ValueError: a RecursionError escaped and failed the whole query
    import json

    with pytest.raises(RecursionError):
        json.loads(DEEP)
    assert _lineage_record(DEEP) is None
