"""The on-disk spool of unacknowledged governance spans, and the settings around it."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.instrumentation.wandb.spool import Spool

from genops.config import ConfigError, ExportSettings, InstrumentationSettings


def test_latest_heartbeat_of_a_run_is_kept_and_dropped_once_its_final_span_is_pending(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.add([("hb:run-1", b"beat-1"), ("span:t:a", b"artifact")])
    spool.add([("hb:run-1", b"beat-2")])
    assert spool.pending() == [("span:t:a", b"artifact"), ("hb:run-1", b"beat-2")]
    spool.add([("span:t:r", b"final")], drop=["hb:run-1"])
    assert [key for key, _ in spool.pending()] == ["span:t:a", "span:t:r"]
    spool.acknowledged(["span:t:a", "span:t:r"])
    assert len(spool) == 0 and not spool.path.exists()  # nothing pending: no file


def test_a_live_process_keeps_its_file_a_gone_one_is_adopted(tmp_path):
    owner = Spool(tmp_path, max_bytes=1 << 20)
    owner.add([("span:t:1", b"one"), ("hb:run", b"beat")])
    other = Spool(tmp_path, max_bytes=1 << 20)
    assert other.adopt_orphans() == 0  # the owner holds its lock
    owner.close()  # the owner exits with spans still pending: its file stays
    assert owner.path.exists()
    assert other.adopt_orphans() == 2
    assert other.pending() == [("span:t:1", b"one"), ("hb:run", b"beat")]
    assert not owner.path.exists() and other.path.exists()
    assert Spool(tmp_path, max_bytes=1 << 20).adopt_orphans() == 0  # adopted once only


def test_spans_bound_for_another_endpoint_are_left_to_a_process_sending_there(tmp_path):
    gone = Spool(tmp_path, max_bytes=1 << 20, target="processor-a:4317")
    gone.add([("span:t:1", b"one")])
    gone.close()
    assert Spool(tmp_path, max_bytes=1 << 20, target="processor-b:4317").adopt_orphans() == 0
    same = Spool(tmp_path, max_bytes=1 << 20, target="processor-a:4317")
    assert same.adopt_orphans() == 1 and same.pending() == [("span:t:1", b"one")]


def test_the_directory_is_bounded_heartbeats_go_first_then_the_oldest(tmp_path, caplog):
    spool = Spool(tmp_path, max_bytes=200)
    spool.add([("span:t:1", b"x" * 60), ("hb:r", b"y" * 60)])
    spool.add([("span:t:2", b"z" * 60)])
    assert [key for key, _ in spool.pending()] == ["span:t:1", "span:t:2"]
    spool.add([("span:t:3", b"w" * 60)])
    assert [key for key, _ in spool.pending()] == ["span:t:2", "span:t:3"]
    assert spool.path.stat().st_size <= 200
    assert caplog.text.count("is full") == 1  # one warning


def test_a_torn_file_gives_the_entries_written_whole(tmp_path):
    owner = Spool(tmp_path, max_bytes=1 << 20)
    owner.add([("span:t:1", b"one"), ("span:t:2", b"two")])
    owner.close()
    data = owner.path.read_bytes()
    owner.path.write_bytes(data[:-2])  # a crash in the middle of the last entry
    adopter = Spool(tmp_path, max_bytes=1 << 20)
    assert adopter.adopt_orphans() == 1
    assert adopter.pending() == [("span:t:1", b"one")]


def test_spool_settings_and_their_defaults(tmp_path):
    home = {"HOME": str(tmp_path)}
    default = ExportSettings.from_env(home)
    assert default.spool_dir == Path(tmp_path) / ".genops" / "spool"
    assert (default.spool_max_bytes, default.exit_wait_s) == (16 << 20, 10.0)
    chosen = ExportSettings.from_env(
        {
            **home,
            "GENOPS_SPOOL_DIR": str(tmp_path / "s"),
            "GENOPS_SPOOL_MAX_MB": "2",
            "GENOPS_SPOOL_EXIT_WAIT": "0",
        }
    )
    assert (chosen.spool_dir, chosen.spool_max_bytes, chosen.exit_wait_s) == (
        tmp_path / "s",
        2 << 20,
        0.0,
    )


def test_governance_spans_go_to_genops_endpoints_before_the_otlp_ones():
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}
    assert ExportSettings.from_env(otlp).target == "collector:4317"
    both = {**otlp, "GENOPS_ENDPOINT": "processor:4317"}
    assert (ExportSettings.from_env(both).target, ExportSettings.from_env(both).source) == (
        "processor:4317",
        "GENOPS_ENDPOINT",
    )
    spans = {**both, "GENOPS_OTLP_ENDPOINT": "https://gateway:443"}
    settings = ExportSettings.from_env(spans)
    assert (settings.target, settings.secure) == ("gateway:443", True)
    assert InstrumentationSettings.from_env(spans).governance_target == "processor:4317"
    assert (ExportSettings.from_env({}).target, ExportSettings.from_env({}).source) == (
        "localhost:4317",
        "default",
    )


def test_resource_attributes_are_read_by_the_sdk_detector_percent_decoded():
    env = {
        "OTEL_RESOURCE_ATTRIBUTES": "genops.team=ml%20ops,service.name=a%2Fb,"
        "deployment.environment=pre%2Dprod"
    }
    settings = InstrumentationSettings.from_env(env)
    assert settings.attribution["genops.team"] == "ml ops"
    assert settings.attribution["genops.environment"] == "pre-prod"
    assert ExportSettings.from_env(env).service_name == "a/b"
    named = {**env, "OTEL_SERVICE_NAME": "trainer"}
    assert ExportSettings.from_env(named).service_name == "trainer"  # as the SDK ranks them
    assert ExportSettings.from_env({}).service_name == "wandb-training"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GENOPS_SPOOL_MAX_MB", "0"),
        ("GENOPS_SPOOL_MAX_MB", "lots"),
        ("GENOPS_SPOOL_EXIT_WAIT", "-1"),
    ],
)
def test_a_bad_spool_setting_is_a_config_error_naming_it(name, value):
    with pytest.raises(ConfigError, match=name):
        ExportSettings.from_env({name: value})
