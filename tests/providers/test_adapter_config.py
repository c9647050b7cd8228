"""The adapter's options: keyword > GENOPS_* environment > config file > default, the
config file of docs/guide.md, errors that name the key and its source, the API key kept
secret, and what the options become for the instrumentation (settings_for_adapter).

Nothing here instruments wandb or sets a tracer provider: the adapter is constructed
directly, which does neither.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from genops import attributes as attr
from genops.adapter import GenOpsWandbAdapter
from genops.config import (
    ConfigError,
    config_file_path,
    resolve_adapter_options,
    settings_for_adapter,
)
from genops.policy import GovernancePolicy

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide.md"
API_KEY = "wandb-secret-0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path, unused_port):
    """No GENOPS_/OTEL_/WANDB_ variables, HOME = tmp_path (no real ~/.genops/config.yaml),
    the governance endpoint on a port nobody listens on."""
    for name in list(os.environ):
        if name.startswith(("GENOPS_", "OTEL_", "WANDB_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENOPS_ENDPOINT", f"127.0.0.1:{unused_port}")
    return monkeypatch


@pytest.fixture
def restore_loggers():
    """Put the genops and instrumentation loggers back as they were."""
    names = ("genops", "opentelemetry.instrumentation.wandb")
    saved = {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers)) for n in names}
    yield
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers


def home_config(home: Path, body: dict[str, Any]) -> Path:
    """Write ~/.genops/config.yaml (HOME = home) and return its path."""
    path = home / ".genops" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body))
    return path


def nested(dotted: str, value: Any) -> dict[str, Any]:
    section, key = dotted.split(".")
    return {section: {key: value}}


def file_source(path: Path) -> str:
    return f"config file {path}"


def guide_config_yaml() -> str:
    """The sample config file of the guide's Configuration section, as written there."""
    text = GUIDE.read_text()
    section = text[text.index("## Configuration") :]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match, "no yaml block in the guide's Configuration section"
    return match.group(1)


# -- precedence -------------------------------------------------------------------------


@dataclass(frozen=True)
class Layered:
    """One option given at every layer, with the value each layer must resolve to."""

    name: str
    keyword: Any
    keyword_parsed: Any
    env_var: str
    env: str
    env_parsed: Any
    file_key: str
    file: Any
    file_parsed: Any
    default: Any


LAYERED = [
    Layered(
        "team", "kw-team", "kw-team", "GENOPS_TEAM", "env-team", "env-team",
        "wandb.default_team", "file-team", "file-team", None,
    ),
    Layered(
        "daily_budget_limit", 12.5, 12_500_000, "GENOPS_DAILY_BUDGET_LIMIT", "7.25", 7_250_000,
        "governance.daily_budget_limit", 3, 3_000_000, 100_000_000,
    ),
    Layered(
        "governance_policy", "audit_only", GovernancePolicy.AUDIT_ONLY,
        "GENOPS_GOVERNANCE_POLICY", "Advisory", GovernancePolicy.ADVISORY,
        "governance.policy_enforcement", "enforced", GovernancePolicy.ENFORCED,
        GovernancePolicy.ADVISORY,
    ),
    Layered(
        "sampling_rate", 0.25, 0.25, "GENOPS_SAMPLING_RATE", "0.5", 0.5,
        "observability.sampling_rate", 0.75, 0.75, 1.0,
    ),
    Layered(
        "connection_timeout_seconds", 0.5, 0.5, "GENOPS_CONNECTION_TIMEOUT_SECONDS", "3", 3.0,
        "network.connection_timeout_seconds", 4, 4.0, 2.0,
    ),
    Layered(
        "connection_timeout_seconds", 0.5, 0.5, "GENOPS_BUDGET_CHECK_TIMEOUT", "7", 7.0,
        "network.connection_timeout_seconds", 4, 4.0, 2.0,
    ),
    Layered(
        "tags", {"owner": "kw"}, {"owner": "kw"}, "GENOPS_TAGS", "team=x, tier = gold",
        {"team": "x", "tier": "gold"}, "governance.tags", {"from": "file"}, {"from": "file"}, {},
    ),
    Layered(
        "retry_attempts", 0, 0, "GENOPS_RETRY_ATTEMPTS", "5", 5,
        "network.retry_attempts", 3, 3, 2,
    ),
    Layered(
        "enable_governance", False, False, "GENOPS_ENABLE_GOVERNANCE", "off", False,
        "governance.enable_governance", True, True, True,
    ),
]  # fmt: skip


def comparable(value: Any) -> Any:
    return dict(value) if hasattr(value, "items") else value


@pytest.mark.parametrize("layered", LAYERED, ids=[f"{o.name}-{o.env_var}" for o in LAYERED])
def test_keyword_beats_environment_beats_file_beats_default(layered, tmp_path):
    o = layered
    path = home_config(tmp_path, nested(o.file_key, o.file))
    home = {"HOME": str(tmp_path)}
    everything = {**home, o.env_var: o.env}

    options = resolve_adapter_options({o.name: o.keyword}, everything)
    assert comparable(getattr(options, o.name)) == o.keyword_parsed
    assert options.sources[o.name] == "keyword"

    options = resolve_adapter_options({}, everything)
    assert comparable(getattr(options, o.name)) == o.env_parsed
    assert options.sources[o.name] == "environment"

    options = resolve_adapter_options({}, home)
    assert comparable(getattr(options, o.name)) == o.file_parsed
    assert options.sources[o.name] == file_source(path)

    path.unlink()
    options = resolve_adapter_options({}, home)
    assert comparable(getattr(options, o.name)) == o.default
    assert options.sources[o.name] == "default"


def test_heartbeat_comes_from_the_environment_then_export_interval_seconds(tmp_path):
    path = home_config(tmp_path, {"observability": {"export_interval_seconds": 20}})
    home = {"HOME": str(tmp_path)}

    options = resolve_adapter_options({}, {**home, "GENOPS_HEARTBEAT_INTERVAL": "5"})
    assert (options.heartbeat_interval_seconds, options.sources["heartbeat_interval_seconds"]) == (
        5.0,
        "environment",
    )
    options = resolve_adapter_options({}, home)
    assert (options.heartbeat_interval_seconds, options.sources["heartbeat_interval_seconds"]) == (
        20.0,
        file_source(path),
    )
    assert settings_for_adapter(options, home).heartbeat_interval_s == 20.0
    path.unlink()
    options = resolve_adapter_options({}, home)
    assert (options.heartbeat_interval_seconds, options.sources["heartbeat_interval_seconds"]) == (
        15.0,
        "default",
    )


def test_heartbeat_is_not_a_keyword(tmp_path):
    with pytest.raises(
        TypeError, match=r"^unexpected keyword argument 'heartbeat_interval_seconds'$"
    ):
        resolve_adapter_options({"heartbeat_interval_seconds": 5}, {"HOME": str(tmp_path)})


def test_connection_timeout_variable_beats_its_alias(tmp_path):
    env = {
        "HOME": str(tmp_path),
        "GENOPS_CONNECTION_TIMEOUT_SECONDS": "3",
        "GENOPS_BUDGET_CHECK_TIMEOUT": "7",
    }
    options = resolve_adapter_options({}, env)
    assert options.connection_timeout_seconds == 3.0
    assert options.sources["connection_timeout_seconds"] == "environment"
    options = resolve_adapter_options({"connection_timeout_seconds": 0.25}, env)
    assert options.connection_timeout_seconds == 0.25
    assert options.sources["connection_timeout_seconds"] == "keyword"


def test_alias_gives_the_adapter_client_its_deadline(clean_env):
    clean_env.setenv("GENOPS_BUDGET_CHECK_TIMEOUT", "1.5")
    adapter = GenOpsWandbAdapter(team="t", project="p")
    assert adapter.client.timeout_s == 1.5
    assert adapter.options.sources["connection_timeout_seconds"] == "environment"


def test_adapter_applies_the_same_precedence(clean_env, tmp_path):
    path = home_config(
        tmp_path,
        {
            "wandb": {"default_team": "file-team", "default_project": "file-project"},
            "governance": {"daily_budget_limit": 3, "customer_id": "file-customer"},
        },
    )
    clean_env.setenv("GENOPS_PROJECT", "env-project")
    clean_env.setenv("GENOPS_DAILY_BUDGET_LIMIT", "9")
    adapter = GenOpsWandbAdapter(team="kw-team", daily_budget_limit=None)
    o = adapter.options
    assert (o.team, o.project, o.customer_id, o.daily_budget_limit) == (
        "kw-team",
        "env-project",
        "file-customer",
        9_000_000,
    )
    assert (
        o.sources["team"],
        o.sources["project"],
        o.sources["customer_id"],
        o.sources["daily_budget_limit"],
        o.sources["cost_center"],
    ) == ("keyword", "environment", file_source(path), "environment", "default")
    assert (adapter.team, adapter.project, adapter.customer_id) == (
        "kw-team",
        "env-project",
        "file-customer",
    )


# -- the config file --------------------------------------------------------------------


def test_the_guides_sample_config_file_loads(tmp_path):
    path = tmp_path / ".genops" / "config.yaml"
    path.parent.mkdir()
    path.write_text(guide_config_yaml())
    options = resolve_adapter_options({}, {"HOME": str(tmp_path)})
    src = file_source(path)
    expected = {
        "team": "ml-team",
        "project": "experiments",
        "daily_budget_limit": 100_000_000,
        "max_experiment_cost": 50_000_000,
        "governance_policy": GovernancePolicy.ADVISORY,
        "enable_cost_alerts": True,
        "heartbeat_interval_seconds": 15.0,
        "enable_detailed_monitoring": True,
        "connection_timeout_seconds": 2.0,
    }
    assert {name: getattr(options, name) for name in expected} == expected
    assert {name: options.sources[name] for name in expected} == dict.fromkeys(expected, src)
    assert options.sources["sampling_rate"] == "default"


def test_every_section_of_the_guides_file_maps_to_its_option(tmp_path):
    path = home_config(
        tmp_path,
        {
            "wandb": {
                "api_key": API_KEY,
                "default_team": "ml-team",
                "default_project": "experiments",
            },
            "governance": {
                "daily_budget_limit": 250.5,
                "max_experiment_cost": 40,
                "policy_enforcement": "enforced",
                "enable_cost_alerts": False,
            },
            "observability": {
                "export_to_otel": False,
                "export_interval_seconds": 10,
                "enable_detailed_metrics": True,
            },
        },
    )
    options = resolve_adapter_options({}, {"HOME": str(tmp_path)})
    expected = {
        "team": "ml-team",
        "project": "experiments",
        "daily_budget_limit": 250_500_000,
        "max_experiment_cost": 40_000_000,
        "governance_policy": GovernancePolicy.ENFORCED,
        "enable_cost_alerts": False,
        "export_to_otel": False,
        "heartbeat_interval_seconds": 10.0,
        "enable_detailed_monitoring": True,
    }
    assert {name: getattr(options, name) for name in expected} == expected
    assert options.wandb_api_key.value == API_KEY
    src = file_source(path)
    assert {n: options.sources[n] for n in [*expected, "wandb_api_key"]} == dict.fromkeys(
        [*expected, "wandb_api_key"], src
    )
    assert API_KEY not in repr(options)


def test_genops_config_overrides_the_home_file(tmp_path):
    home_config(tmp_path, {"wandb": {"default_team": "home-team"}})
    explicit = tmp_path / "elsewhere" / "genops.yaml"
    explicit.parent.mkdir()
    explicit.write_text(yaml.safe_dump({"wandb": {"default_team": "explicit-team"}}))
    env = {"HOME": str(tmp_path), "GENOPS_CONFIG": str(explicit)}
    assert config_file_path(env) == (explicit, True)
    options = resolve_adapter_options({}, env)
    assert options.team == "explicit-team"
    assert options.sources["team"] == file_source(explicit)


def test_home_file_path_when_genops_config_is_unset(tmp_path):
    assert config_file_path({"HOME": str(tmp_path)}) == (
        tmp_path / ".genops" / "config.yaml",
        False,
    )
    # No file there: every option is a default.
    options = resolve_adapter_options({}, {"HOME": str(tmp_path)})
    assert set(options.sources.values()) == {"default"}


def test_genops_config_to_a_missing_file_is_an_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        resolve_adapter_options({}, {"HOME": str(tmp_path), "GENOPS_CONFIG": str(missing)})
    assert (caught.value.key, caught.value.source) == ("GENOPS_CONFIG", "environment")
    assert str(caught.value) == (
        f"invalid GENOPS_CONFIG={str(missing)!r} (from environment): no such file"
    )


def test_genops_config_to_a_missing_file_fails_the_adapter(clean_env, tmp_path):
    clean_env.setenv("GENOPS_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="GENOPS_CONFIG"):
        GenOpsWandbAdapter(team="t", project="p")


def test_unknown_section_names_it_and_the_file(tmp_path):
    path = home_config(tmp_path, {"security": {"level": "high"}})
    with pytest.raises(ConfigError) as caught:
        resolve_adapter_options({}, {"HOME": str(tmp_path)})
    assert (caught.value.key, caught.value.source) == ("security", file_source(path))
    assert str(caught.value) == (
        f"invalid security='security' (from config file {path}): unknown section; "
        "expected one of wandb, governance, observability, network, pricing"
    )


def test_a_key_typo_names_the_key_its_section_and_the_file(tmp_path):
    path = home_config(tmp_path, {"governance": {"daily_budget_limt": 5}})
    with pytest.raises(ConfigError) as caught:
        resolve_adapter_options({}, {"HOME": str(tmp_path)})
    assert (caught.value.key, caught.value.source) == (
        "governance.daily_budget_limt",
        file_source(path),
    )
    assert str(caught.value) == (
        f"invalid governance.daily_budget_limt=5 (from config file {path}): unknown key"
    )


def test_a_key_in_the_wrong_section_is_unknown(tmp_path):
    home_config(tmp_path, {"wandb": {"daily_budget_limit": 5}})
    with pytest.raises(ConfigError, match=r"^invalid wandb\.daily_budget_limit=5 .*unknown key$"):
        resolve_adapter_options({}, {"HOME": str(tmp_path)})


# -- invalid values name the key and the source -----------------------------------------

INVALID = [
    # (id, keywords, environment, file body, key, source ("file" = the config file), message)
    (
        "negative budget keyword",
        {"daily_budget_limit": -5},
        {},
        None,
        "daily_budget_limit",
        "keyword",
        "invalid daily_budget_limit=-5 (from keyword): must be a non-negative amount of dollars",
    ),
    (
        "non-numeric budget variable",
        {},
        {"GENOPS_DAILY_BUDGET_LIMIT": "lots"},
        None,
        "GENOPS_DAILY_BUDGET_LIMIT",
        "environment",
        "invalid GENOPS_DAILY_BUDGET_LIMIT='lots' (from environment): not a number of dollars",
    ),
    (
        "unknown policy in the file",
        {},
        {},
        {"governance": {"policy_enforcement": "strict"}},
        "governance.policy_enforcement",
        "file",
        "invalid governance.policy_enforcement='strict' (from {file}): unknown governance "
        "policy; expected one of audit_only, advisory, enforced",
    ),
    (
        "sampling rate above 1",
        {"sampling_rate": 1.5},
        {},
        None,
        "sampling_rate",
        "keyword",
        "invalid sampling_rate=1.5 (from keyword): must be between 0 and 1",
    ),
    (
        "negative retries keyword",
        {"retry_attempts": -1},
        {},
        None,
        "retry_attempts",
        "keyword",
        "invalid retry_attempts=-1 (from keyword): expected a whole number of at least 0",
    ),
    (
        "negative retries variable",
        {},
        {"GENOPS_RETRY_ATTEMPTS": "-1"},
        None,
        "GENOPS_RETRY_ATTEMPTS",
        "environment",
        "invalid GENOPS_RETRY_ATTEMPTS='-1' (from environment): expected a whole number of "
        "at least 0",
    ),
    (
        "zero batch size in the file",
        {},
        {},
        {"observability": {"batch_size": 0}},
        "observability.batch_size",
        "file",
        "invalid observability.batch_size=0 (from {file}): expected a whole number of at least 1",
    ),
    (
        "heartbeat 31 variable",
        {},
        {"GENOPS_HEARTBEAT_INTERVAL": "31"},
        None,
        "GENOPS_HEARTBEAT_INTERVAL",
        "environment",
        "invalid GENOPS_HEARTBEAT_INTERVAL='31' (from environment): must be at most 30 seconds",
    ),
    (
        "heartbeat 31 in the file",
        {},
        {},
        {"observability": {"export_interval_seconds": 31}},
        "observability.export_interval_seconds",
        "file",
        "invalid observability.export_interval_seconds=31 (from {file}): must be at most 30 "
        "seconds",
    ),
]


@pytest.mark.parametrize(
    "keywords, environ, body, key, source, message",
    [c[1:] for c in INVALID],
    ids=[c[0] for c in INVALID],
)
def test_invalid_values_name_the_key_and_the_source(
    tmp_path, keywords, environ, body, key, source, message
):
    path = home_config(tmp_path, body) if body is not None else None
    expected_source = file_source(path) if source == "file" else source
    with pytest.raises(ConfigError) as caught:
        resolve_adapter_options(keywords, {"HOME": str(tmp_path), **environ})
    assert (caught.value.key, caught.value.source) == (key, expected_source)
    assert str(caught.value) == message.replace("{file}", expected_source)


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"governance_policy": "strict"}, "governance_policy"),
        ({"daily_budget_limit": -5}, "daily_budget_limit"),
        ({"max_experiment_cost": "lots"}, "max_experiment_cost"),
    ],
)
def test_the_guides_invalid_keywords_fail_the_adapter(bad, key):
    with pytest.raises(ConfigError) as caught:
        GenOpsWandbAdapter(team="t", project="p", **bad)
    assert (caught.value.key, caught.value.source) == (key, "keyword")
    assert str(caught.value).startswith(f"invalid {key}={bad[key]!r} (from keyword): ")


# -- the W&B API key ----------------------------------------------------------------------


def test_the_api_key_never_prints_nor_reaches_the_environment(restore_loggers, caplog):
    before = dict(os.environ)
    with caplog.at_level(logging.DEBUG):
        adapter = GenOpsWandbAdapter(wandb_api_key=API_KEY, team="t", project="p", debug_mode=True)
    options = adapter.options
    assert options.wandb_api_key.value == API_KEY  # kept, for wandb.Settings
    assert options.sources["wandb_api_key"] == "keyword"
    for text in (
        repr(options),
        str(options),
        repr(adapter),
        str(adapter),
        repr(options.wandb_api_key),
        str(options.wandb_api_key),
        repr(adapter.instrumentation_settings()),
        caplog.text,
    ):
        assert API_KEY not in text
    assert str(options.wandb_api_key) == "Secret('****')"
    assert dict(os.environ) == before
    assert not [name for name, value in os.environ.items() if API_KEY in value]
    assert "WANDB_API_KEY" not in os.environ


def test_the_api_key_from_the_file_is_secret_too(tmp_path):
    home_config(tmp_path, {"wandb": {"api_key": API_KEY}})
    adapter = GenOpsWandbAdapter(team="t", project="p")
    assert adapter.options.wandb_api_key.value == API_KEY
    assert API_KEY not in repr(adapter.options)
    assert API_KEY not in repr(adapter)
    assert not [name for name, value in os.environ.items() if API_KEY in value]


def test_no_api_key_is_none():
    assert GenOpsWandbAdapter(team="t", project="p").options.wandb_api_key is None


# -- keywords that are not built yet, and unknown ones ---------------------------------------


@pytest.mark.parametrize(
    "keyword, value",
    [("production_config", True), ("region", True), ("data_residency_policy", True)],
)
def test_compliance_keywords_refuse_a_wrong_type_naming_them(keyword, value):
    with pytest.raises(ConfigError, match=f"^invalid {keyword}=True \\(from keyword\\): "):
        resolve_adapter_options({keyword: value})


def test_an_unknown_keyword_raises_type_error_naming_it():
    with pytest.raises(TypeError, match=r"^unexpected keyword argument 'colour'$"):
        GenOpsWandbAdapter(team="t", project="p", colour="red")


def test_an_unknown_compliance_framework_is_refused_before_the_block():
    adapter = GenOpsWandbAdapter(team="t", project="p")
    with pytest.raises(ValueError, match=r"compliance_requirements: unknown compliance framework"):
        with adapter.track_experiment_lifecycle("x", compliance_requirements=["hipaa"]):
            pass
    assert adapter.client.calls == 0


# -- settings_for_adapter ---------------------------------------------------------------------


def settings(tmp_path, keywords, **environ):
    env = {"HOME": str(tmp_path), **environ}
    return settings_for_adapter(resolve_adapter_options(keywords, env), env)


def test_keyword_attribution_wins_over_the_environment(tmp_path):
    result = settings(
        tmp_path,
        {"team": "kw-team", "cost_center": "kw-cc"},
        GENOPS_TEAM="env-team",
        GENOPS_PROJECT="env-project",
        GENOPS_CUSTOMER_ID="env-customer",
        OTEL_RESOURCE_ATTRIBUTES="genops.cost_center=resource-cc,genops.team=resource-team",
    )
    assert dict(result.attribution) == {
        attr.TEAM: "kw-team",
        attr.PROJECT: "env-project",
        attr.CUSTOMER_ID: "env-customer",
        attr.COST_CENTER: "kw-cc",
        attr.ENVIRONMENT: "development",
    }


def test_endpoint_comes_from_genops_endpoint(tmp_path):
    result = settings(tmp_path, {}, GENOPS_ENDPOINT="https://gov.example:7443")
    assert (result.governance_target, result.governance_secure) == ("gov.example:7443", True)


def test_tags_and_workflow_become_json_labels(tmp_path):
    workflow = {
        "dag_id": "etl",
        "try_number": 3,
        "ratio": 0.5,
        "is_retry": False,
        "ti": object(),
        "conf": {"nested": 1},
        "params": ["a"],
        "nothing": None,
    }
    result = settings(
        tmp_path, {"tags": {"tier": "gold", "owner": "ana"}, "workflow_context": workflow}
    )
    assert dict(result.labels) == {
        attr.TAGS: '{"owner": "ana", "tier": "gold"}',
        attr.WORKFLOW: '{"dag_id": "etl", "is_retry": "False", "ratio": "0.5", "try_number": "3"}',
    }
    assert json.loads(result.labels[attr.WORKFLOW]) == {
        "dag_id": "etl",
        "is_retry": "False",
        "ratio": "0.5",
        "try_number": "3",
    }


def test_tags_from_the_environment_become_the_label(tmp_path):
    result = settings(tmp_path, {}, GENOPS_TAGS="tier=gold,owner=ana")
    assert dict(result.labels) == {attr.TAGS: '{"owner": "ana", "tier": "gold"}'}


def test_no_tags_no_workflow_no_labels(tmp_path):
    assert dict(settings(tmp_path, {}).labels) == {}


@pytest.mark.parametrize("policy", ["audit_only", "advisory", "enforced"])
def test_governance_policy_is_the_budget_policy_mode(tmp_path, policy):
    assert settings(tmp_path, {"governance_policy": policy}).budget.policy_mode == policy


def test_enable_governance_false_disables_the_budget_check(tmp_path):
    assert settings(tmp_path, {}).budget.check_enabled is True
    assert settings(tmp_path, {"enable_governance": False}).budget.check_enabled is False
    assert settings(tmp_path, {}, GENOPS_ENABLE_GOVERNANCE="false").budget.check_enabled is False


def test_default_daily_limit_is_advisory_an_explicit_one_follows_the_policy(tmp_path):
    default = settings(tmp_path, {"governance_policy": "enforced"}).budget
    assert (default.client_daily_limit_micros, default.policy_mode, default.limit_mode) == (
        100_000_000,
        "enforced",
        "advisory",
    )
    keyword = settings(tmp_path, {"governance_policy": "enforced", "daily_budget_limit": 25}).budget
    assert (keyword.client_daily_limit_micros, keyword.limit_mode) == (25_000_000, "enforced")
    # Explicit through the environment counts as set, too; and even at the default's value.
    env = settings(
        tmp_path, {"governance_policy": "audit_only"}, GENOPS_DAILY_BUDGET_LIMIT="100"
    ).budget
    assert (env.client_daily_limit_micros, env.limit_mode) == (100_000_000, "audit_only")


def test_network_keywords_reach_the_budget_settings(tmp_path):
    budget = settings(
        tmp_path,
        {"connection_timeout_seconds": 0.3, "retry_attempts": 4, "retry_backoff_factor": 0.5},
        GENOPS_BUDGET_FAIL_MODE="closed",
    ).budget
    assert (budget.timeout_s, budget.retry_attempts, budget.retry_backoff_s) == (0.3, 4, 0.5)
    assert budget.fail_mode == "closed"


def test_sampling_and_detail_reach_the_detail_settings(tmp_path):
    detail = settings(tmp_path, {"sampling_rate": 0.1, "enable_detailed_monitoring": True}).detail
    assert (detail.sampling_rate, detail.metrics) == (0.1, True)


def test_timeouts_above_a_minute_are_refused_the_same_way_on_both_paths(tmp_path):
    environ = {"HOME": str(tmp_path), "GENOPS_BUDGET_CHECK_TIMEOUT": "120"}
    with pytest.raises(ConfigError, match="GENOPS_BUDGET_CHECK_TIMEOUT") as caught:
        resolve_adapter_options({}, environ)
    assert "at most 60 seconds" in str(caught.value)


def test_default_environment_does_not_hide_the_resource_attribute(tmp_path):
    environ = {"HOME": str(tmp_path), "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod"}
    options = resolve_adapter_options({"team": "t"}, environ)
    assert settings_for_adapter(options, environ).attribution[attr.ENVIRONMENT] == "prod"
    chosen = resolve_adapter_options({"team": "t", "environment": "staging"}, environ)
    assert settings_for_adapter(chosen, environ).attribution[attr.ENVIRONMENT] == "staging"


def test_pricing_model_from_the_config_file(tmp_path):
    home_config(
        tmp_path, {"pricing": {"compute_rates": {"gpu_x": 2.5}, "storage_rates": {"cold": "0.001"}}}
    )
    options = resolve_adapter_options({}, {"HOME": str(tmp_path)})
    catalog = options.pricing_model.catalog
    assert catalog.get("gpu_x").unit_price == Decimal("2.5")
    assert catalog.get("storage-cold").unit_price == Decimal("0.001")
    assert options.sources["pricing_model"].startswith("config file ")


def test_a_bad_rate_in_the_config_file_names_it(tmp_path):
    home_config(tmp_path, {"pricing": {"compute_rates": {"gpu_x": "cheap"}}})
    with pytest.raises(ConfigError, match=r"compute_rates\['gpu_x'\]"):
        resolve_adapter_options({}, {"HOME": str(tmp_path)})
