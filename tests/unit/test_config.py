"""Unit tests for configuration parsing, money formatting, errors, hardware names and
processor settings (all pure: explicit environ dicts, no os.environ)."""

from __future__ import annotations

import pytest
from opentelemetry.instrumentation.wandb import hardware
from opentelemetry.instrumentation.wandb.hardware import Hardware, detect, normalise_gpu_name

from genops import attributes as attr
from genops.config import (
    BudgetSettings,
    ConfigError,
    HardwareOverrides,
    InstrumentationSettings,
    parse_grpc_target,
)
from genops.errors import BudgetExceededError, BudgetInfo
from genops.money import format_usd, parse_usd_micros
from genops_processor.settings import ProcessorSettings, SettingsError, report_endpoint

# --------------------------------------------------------------------------- attribution


def test_empty_environment_gives_the_defaults():
    settings = InstrumentationSettings.from_env({})
    assert settings.attribution == {}
    assert settings.hardware == HardwareOverrides()
    assert settings.governance_target == "localhost:4317"
    assert settings.governance_secure is False
    assert settings.heartbeat_interval_s == 15.0
    assert settings.budget == BudgetSettings(
        check_enabled=True,
        fail_mode="open",
        timeout_s=2.0,
        client_daily_limit_micros=0,
        requested_micros=0,
        policy_mode=None,
    )


def test_attribution_from_genops_variables():
    settings = InstrumentationSettings.from_env(
        {
            "GENOPS_TEAM": "nlp",
            "GENOPS_PROJECT": " churn ",
            "GENOPS_CUSTOMER_ID": "acme",
            "GENOPS_COST_CENTER": "cc-42",
            "GENOPS_ENVIRONMENT": "staging",
        }
    )
    assert settings.attribution == {
        attr.TEAM: "nlp",
        attr.PROJECT: "churn",
        attr.CUSTOMER_ID: "acme",
        attr.COST_CENTER: "cc-42",
        attr.ENVIRONMENT: "staging",
    }


def test_genops_variables_beat_otel_resource_attributes():
    settings = InstrumentationSettings.from_env(
        {
            "GENOPS_TEAM": "nlp",
            "GENOPS_ENVIRONMENT": "production",
            "OTEL_RESOURCE_ATTRIBUTES": (
                "genops.team=vision, genops.project=churn,genops.customer_id=acme,"
                "genops.environment=dev,service.name=train"
            ),
        }
    )
    assert settings.attribution == {
        attr.TEAM: "nlp",
        attr.PROJECT: "churn",
        attr.CUSTOMER_ID: "acme",
        attr.ENVIRONMENT: "production",
    }


def test_blank_genops_variable_falls_back_to_the_resource_attribute():
    settings = InstrumentationSettings.from_env(
        {"GENOPS_TEAM": "  ", "OTEL_RESOURCE_ATTRIBUTES": "genops.team=vision"}
    )
    assert settings.attribution == {attr.TEAM: "vision"}


@pytest.mark.parametrize(
    "resource, environment",
    [
        ("deployment.environment=prod", "prod"),
        ("deployment.environment.name=prod2", "prod2"),
        ("deployment.environment=old,deployment.environment.name=new", "new"),
        ("genops.environment=dev,deployment.environment=prod", "dev"),
        ("service.name=train", None),
    ],
)
def test_deployment_environment_is_a_fallback_for_the_environment(resource, environment):
    settings = InstrumentationSettings.from_env({"OTEL_RESOURCE_ATTRIBUTES": resource})
    assert settings.attribution.get(attr.ENVIRONMENT) == environment


def test_genops_environment_beats_deployment_environment():
    settings = InstrumentationSettings.from_env(
        {
            "GENOPS_ENVIRONMENT": "staging",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod",
        }
    )
    assert settings.attribution == {attr.ENVIRONMENT: "staging"}


# --------------------------------------------------------------------------- endpoints


@pytest.mark.parametrize(
    "environ, target, secure",
    [
        ({}, "localhost:4317", False),
        ({"GENOPS_ENDPOINT": "http://h:1"}, "h:1", False),
        ({"GENOPS_ENDPOINT": "https://gov.example.com:8443"}, "gov.example.com:8443", True),
        ({"GENOPS_ENDPOINT": "https://gov.example.com"}, "gov.example.com:4317", True),
        ({"GENOPS_ENDPOINT": "http://gov.example.com/"}, "gov.example.com:4317", False),
        ({"GENOPS_ENDPOINT": "collector:4317"}, "collector:4317", False),
        ({"GENOPS_ENDPOINT": "collector:4317/"}, "collector:4317", False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317"}, "otel:4317", False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel:443"}, "otel:443", True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4317"}, "traces:4317", False),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4317",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317",
            },
            "traces:4317",
            False,
        ),
        (
            {"GENOPS_ENDPOINT": "gov:9000", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317"},
            "gov:9000",
            False,
        ),
        (
            {"GENOPS_ENDPOINT": "  ", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317"},
            "otel:4317",
            False,
        ),
    ],
)
def test_governance_endpoint(environ, target, secure):
    settings = InstrumentationSettings.from_env(environ)
    assert (settings.governance_target, settings.governance_secure) == (target, secure)


def test_endpoint_url_without_a_host_is_a_config_error():
    with pytest.raises(ConfigError, match="GENOPS_ENDPOINT") as info:
        InstrumentationSettings.from_env({"GENOPS_ENDPOINT": "http://"})
    assert info.value.key == "GENOPS_ENDPOINT"
    assert info.value.source == "environment"


@pytest.mark.parametrize("endpoint", ["http://collector:abc", "http://collector:99999"])
def test_endpoint_url_with_a_bad_port_is_a_config_error(endpoint):
    with pytest.raises(ConfigError, match="GENOPS_ENDPOINT"):
        InstrumentationSettings.from_env({"GENOPS_ENDPOINT": endpoint})


def test_endpoint_error_names_the_variable_it_came_from():
    with pytest.raises(ConfigError) as info:
        InstrumentationSettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://"})
    assert info.value.key == "OTEL_EXPORTER_OTLP_ENDPOINT"


def test_ipv6_endpoint_keeps_its_brackets():
    assert parse_grpc_target("http://[::1]:4317") == ("[::1]:4317", False)


# --------------------------------------------------------------------------- heartbeat


@pytest.mark.parametrize(
    "raw, seconds",
    [(None, 15.0), ("30", 30.0), ("0.5", 0.5), ("1", 1.0), (" 5 ", 5.0), ("", 15.0)],
)
def test_heartbeat_interval(raw, seconds):
    env = {} if raw is None else {"GENOPS_HEARTBEAT_INTERVAL": raw}
    assert InstrumentationSettings.from_env(env).heartbeat_interval_s == seconds


@pytest.mark.parametrize("raw", ["0", "31", "30.001", "-1", "abc", "nan", "inf"])
def test_heartbeat_interval_out_of_bounds_names_the_variable(raw):
    with pytest.raises(ConfigError, match="GENOPS_HEARTBEAT_INTERVAL") as info:
        InstrumentationSettings.from_env({"GENOPS_HEARTBEAT_INTERVAL": raw})
    assert info.value.key == "GENOPS_HEARTBEAT_INTERVAL"
    assert "environment" in str(info.value)


# --------------------------------------------------------------------------- reservation


@pytest.mark.parametrize(
    "raw, hours", [(None, None), ("", None), ("2", 2.0), (" 0.25 ", 0.25), ("0", 0.0)]
)
def test_reservation_hours(raw, hours):
    env = {} if raw is None else {"GENOPS_RESERVATION_HOURS": raw}
    assert InstrumentationSettings.from_env(env).budget.reservation_hours == hours


@pytest.mark.parametrize("raw", ["-1", "-0.5", "abc", "1h", "nan", "inf"])
def test_bad_reservation_hours_names_the_variable(raw):
    with pytest.raises(ConfigError, match=r"invalid GENOPS_RESERVATION_HOURS=") as info:
        InstrumentationSettings.from_env({"GENOPS_RESERVATION_HOURS": raw})
    assert info.value.key == "GENOPS_RESERVATION_HOURS"
    assert "(from environment)" in str(info.value)
    assert "hours" in str(info.value)


def test_the_adapter_keeps_the_reservation_hours():
    from genops.config import resolve_adapter_options, settings_for_adapter

    env = {"GENOPS_RESERVATION_HOURS": "3", "HOME": "/nonexistent"}
    options = resolve_adapter_options({"team": "t"}, env)
    assert settings_for_adapter(options, env).budget.reservation_hours == 3.0


def _estimate(env: dict[str, str]):
    from opentelemetry.instrumentation.wandb.budget_gate import run_estimate

    settings = InstrumentationSettings.from_env(env)
    return run_estimate(settings, Hardware("T4", 2, 4, "", "env"))


def test_a_run_with_no_maximum_reserves_its_hardware_for_the_reservation_hours():
    estimate = _estimate(
        {
            "GENOPS_RESERVATION_HOURS": "0.5",
            "GENOPS_REGION": "eu-west-1",
            "GENOPS_CATALOG_VERSION": "v7",
        }
    )
    assert (estimate.gpu_type, estimate.gpu_count, estimate.cpu_count) == ("T4", 2, 4)
    assert (estimate.region, estimate.catalog_version) == ("eu-west-1", "v7")
    assert estimate.horizon_ns == 1800 * 10**9


def test_without_reservation_hours_the_horizon_is_the_first_check():
    assert _estimate({"GENOPS_HEARTBEAT_INTERVAL": "5"}).horizon_ns == 5 * 10**9
    assert _estimate({}).horizon_ns == 15 * 10**9


def test_no_estimate_with_a_declared_maximum_or_zero_hours():
    assert _estimate({"GENOPS_MAX_EXPERIMENT_COST": "1"}) is None
    assert _estimate({"GENOPS_RESERVATION_HOURS": "0"}) is None


# --------------------------------------------------------------------------- budget settings


@pytest.mark.parametrize(
    "raw, mode",
    [(None, "open"), ("open", "open"), ("closed", "closed"), ("CLOSED", "closed")],
)
def test_budget_fail_mode(raw, mode):
    env = {} if raw is None else {"GENOPS_BUDGET_FAIL_MODE": raw}
    assert InstrumentationSettings.from_env(env).budget.fail_mode == mode


@pytest.mark.parametrize("raw", ["ajar", "true", "fail-open"])
def test_bad_budget_fail_mode_names_the_variable(raw):
    with pytest.raises(ConfigError, match=r"GENOPS_BUDGET_FAIL_MODE.*expected one of open, closed"):
        InstrumentationSettings.from_env({"GENOPS_BUDGET_FAIL_MODE": raw})


@pytest.mark.parametrize(
    "raw, mode",
    [
        (None, None),
        ("enforced", "enforced"),
        ("advisory", "advisory"),
        ("audit_only", "audit_only"),
        ("audit-only", "audit_only"),
        ("Enforced", "enforced"),
    ],
)
def test_governance_policy_mode(raw, mode):
    env = {} if raw is None else {"GENOPS_GOVERNANCE_POLICY": raw}
    assert InstrumentationSettings.from_env(env).budget.policy_mode == mode


@pytest.mark.parametrize("raw", ["strict", "off", "audit"])
def test_bad_governance_policy_names_the_variable(raw):
    with pytest.raises(ConfigError, match="GENOPS_GOVERNANCE_POLICY") as info:
        InstrumentationSettings.from_env({"GENOPS_GOVERNANCE_POLICY": raw})
    assert "audit_only, advisory, enforced" in str(info.value)


@pytest.mark.parametrize(
    "raw, micros",
    [
        (None, 0),
        ("12.5", 12_500_000),
        ("0", 0),
        ("0.000001", 1),
        ("25", 25_000_000),
        (" 7.25 ", 7_250_000),
        ("1e3", 1_000_000_000),
    ],
)
def test_daily_budget_limit_in_micros(raw, micros):
    env = {} if raw is None else {"GENOPS_DAILY_BUDGET_LIMIT": raw}
    assert InstrumentationSettings.from_env(env).budget.client_daily_limit_micros == micros


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("-1", "must be a non-negative amount of dollars"),
        ("abc", "not a number of dollars"),
        ("0.0000001", "more precise than a micro-dollar"),
        ("NaN", "must be a non-negative amount of dollars"),
    ],
)
def test_bad_daily_budget_limit_names_the_key_and_the_environment(raw, reason):
    with pytest.raises(ConfigError) as info:
        InstrumentationSettings.from_env({"GENOPS_DAILY_BUDGET_LIMIT": raw})
    assert str(info.value) == (
        f"invalid GENOPS_DAILY_BUDGET_LIMIT={raw!r} (from environment): {reason}"
    )
    assert info.value.key == "GENOPS_DAILY_BUDGET_LIMIT"
    assert info.value.source == "environment"
    assert isinstance(info.value, ValueError)


def test_other_budget_settings():
    budget = InstrumentationSettings.from_env(
        {
            "GENOPS_BUDGET_CHECK": "off",
            "GENOPS_BUDGET_CHECK_TIMEOUT": "0.25",
            "GENOPS_MAX_EXPERIMENT_COST": "3.141592",
        }
    ).budget
    assert budget.check_enabled is False
    assert budget.timeout_s == 0.25
    assert budget.requested_micros == 3_141_592


@pytest.mark.parametrize(
    "environ, key",
    [
        ({"GENOPS_BUDGET_CHECK": "maybe"}, "GENOPS_BUDGET_CHECK"),
        ({"GENOPS_BUDGET_CHECK_TIMEOUT": "61"}, "GENOPS_BUDGET_CHECK_TIMEOUT"),
        ({"GENOPS_MAX_EXPERIMENT_COST": "-0.5"}, "GENOPS_MAX_EXPERIMENT_COST"),
        ({"GENOPS_GPU_COUNT": "two"}, "GENOPS_GPU_COUNT"),
        ({"GENOPS_GPU_COUNT": "-1"}, "GENOPS_GPU_COUNT"),
        ({"GENOPS_CPU_COUNT": "1.5"}, "GENOPS_CPU_COUNT"),
    ],
)
def test_other_invalid_values_name_their_variable(environ, key):
    with pytest.raises(ConfigError) as info:
        InstrumentationSettings.from_env(environ)
    assert info.value.key == key
    assert str(info.value).startswith(f"invalid {key}=")


def test_hardware_overrides_from_the_environment():
    settings = InstrumentationSettings.from_env(
        {
            "GENOPS_GPU_TYPE": "A100-80GB",
            "GENOPS_GPU_COUNT": "8",
            "GENOPS_CPU_COUNT": "96",
            "GENOPS_INSTANCE_TYPE": "p4de.24xlarge",
        }
    )
    assert settings.hardware == HardwareOverrides("A100-80GB", 8, 96, "p4de.24xlarge")


# --------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    "micros, text",
    [
        (0, "$0.00"),
        (1_500_000, "$1.50"),
        (693, "$0.000693"),
        (1_000_000, "$1.00"),
        (10_000, "$0.01"),
        (10, "$0.00001"),
        (1, "$0.000001"),
        (1_234_567_890, "$1234.56789"),
        (25_000_000, "$25.00"),
        (-1_500_000, "-$1.50"),
        (-693, "-$0.000693"),
    ],
)
def test_format_usd(micros, text):
    assert format_usd(micros) == text


@pytest.mark.parametrize(
    "value, micros",
    [("12.5", 12_500_000), (12, 12_000_000), (0.1, 100_000), ("0.000001", 1), ("0", 0)],
)
def test_parse_usd_micros(value, micros):
    assert parse_usd_micros(value) == micros


@pytest.mark.parametrize("value", [None, True, "", "x", "-0.01", "0.0000001", "inf"])
def test_parse_usd_micros_rejects(value):
    with pytest.raises(ValueError):
        parse_usd_micros(value)


# --------------------------------------------------------------------------- errors


def test_budget_exceeded_error_from_budget_states_the_numbers():
    info = BudgetInfo(
        name="nlp-daily",
        limit_micros=25_000_000,
        spent_micros=24_500_000,
        requested_micros=1_000_000,
    )
    error = BudgetExceededError.from_budget(info)
    assert isinstance(error, ValueError)
    assert error.budget is info
    assert str(error) == (
        "budget 'nlp-daily' exceeded: daily limit $25.00, spent $24.50, requested $1.00"
    )
    for fragment in ("nlp-daily", "$25.00", "$24.50", "$1.00"):
        assert fragment in str(error)


def test_budget_exceeded_error_appends_the_reason():
    info = BudgetInfo("b", 1_000_000, 1_000_000, 0)
    error = BudgetExceededError.from_budget(info, reason="enforced by policy")
    assert str(error) == (
        "budget 'b' exceeded: daily limit $1.00, spent $1.00, requested $0.00 (enforced by policy)"
    )


def test_budget_exceeded_error_can_be_raised_and_caught_as_value_error():
    with pytest.raises(ValueError, match="budget 'b' exceeded"):
        raise BudgetExceededError.from_budget(BudgetInfo("b", 1, 2, 3))
    assert BudgetExceededError("unreachable").budget is None


# --------------------------------------------------------------------------- hardware


@pytest.mark.parametrize(
    "name, sku",
    [
        ("Tesla T4", "T4"),
        ("NVIDIA A100-SXM4-40GB", "A100-40GB"),
        ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA A100 80GB PCIe", "A100-80GB"),
        ("NVIDIA A100-PCIE-40GB", "A100-40GB"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA H100 PCIe", "H100"),
        ("NVIDIA A10G", "A10G"),
        ("NVIDIA L4", "L4"),
        ("Tesla V100-SXM2-16GB", "V100"),
        ("Tesla V100-PCIE-32GB", "V100"),
        ("NVIDIA H200", "H200"),
        ("nvidia tesla t4", "T4"),
        ("NVIDIA L40S", "NVIDIA L40S"),
        ("NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4090"),
        ("  Mystery Accelerator 9000 ", "Mystery Accelerator 9000"),
    ],
)
def test_normalise_gpu_name(name, sku):
    assert normalise_gpu_name(name) == sku


def test_detect_with_full_overrides():
    detected = detect(HardwareOverrides("A100-80GB", 8, 96, "p4de.24xlarge"))
    assert detected == Hardware(
        gpu_type="A100-80GB",
        gpu_count=8,
        cpu_count=96,
        instance_type="p4de.24xlarge",
        gpu_source="env",
    )
    assert detected.attributes() == {
        attr.HW_GPU_TYPE: "A100-80GB",
        attr.HW_GPU_COUNT: 8,
        attr.HW_CPU_COUNT: 96,
        attr.HW_INSTANCE_TYPE: "p4de.24xlarge",
        attr.HW_GPU_SOURCE: "env",
    }


def test_detect_with_zero_gpus_override_drops_the_gpu_type():
    detected = detect(HardwareOverrides(gpu_type="T4", gpu_count=0, cpu_count=2))
    assert detected == Hardware(
        gpu_type="", gpu_count=0, cpu_count=2, instance_type="", gpu_source="env"
    )
    assert detected.attributes() == {
        attr.HW_GPU_COUNT: 0,
        attr.HW_CPU_COUNT: 2,
        attr.HW_GPU_SOURCE: "env",
    }


def test_detect_without_cpu_override_counts_usable_cpus():
    detected = detect(HardwareOverrides(gpu_type="T4", gpu_count=1))
    assert detected.cpu_count == hardware._usable_cpus()
    assert detected.cpu_count >= 1
    assert (detected.gpu_type, detected.gpu_count, detected.gpu_source) == ("T4", 1, "env")


# --------------------------------------------------------------------------- processor settings


def test_processor_settings_defaults():
    assert ProcessorSettings.resolve({}) == ProcessorSettings(
        db_path="genops.duckdb",
        listen="127.0.0.1:4317",
        policy_path=None,
        catalog_path=None,
        metrics_listen=None,
    )


ENV = {
    "GENOPS_DB": "/env/db.duckdb",
    "GENOPS_LISTEN": "0.0.0.0:5000",
    "GENOPS_POLICY": "/env/policy.yaml",
    "GENOPS_CATALOG": "/env/catalog.yaml",
    "GENOPS_METRICS_LISTEN": "127.0.0.1:9464",
    # off loopback only with credentials (or --insecure)
    "GENOPS_CREDENTIALS": "/env/credentials.yaml",
}


def test_processor_settings_environment_beats_default():
    assert ProcessorSettings.resolve(ENV) == ProcessorSettings(
        db_path="/env/db.duckdb",
        listen="0.0.0.0:5000",
        policy_path="/env/policy.yaml",
        catalog_path="/env/catalog.yaml",
        metrics_listen="127.0.0.1:9464",
        credentials_path="/env/credentials.yaml",
    )


def test_processor_settings_option_beats_environment():
    settings = ProcessorSettings.resolve(
        ENV,
        db="/opt/db.duckdb",
        listen="127.0.0.1:0",
        policy="/opt/policy.yaml",
        catalog="/opt/catalog.yaml",
        metrics_listen="[::1]:9000",
        credentials="/opt/credentials.yaml",
    )
    assert settings == ProcessorSettings(
        db_path="/opt/db.duckdb",
        listen="127.0.0.1:0",
        policy_path="/opt/policy.yaml",
        catalog_path="/opt/catalog.yaml",
        metrics_listen="[::1]:9000",
        credentials_path="/opt/credentials.yaml",
    )


@pytest.mark.parametrize("empty", [None, ""])
def test_processor_settings_empty_option_falls_back_to_environment(empty):
    settings = ProcessorSettings.resolve(ENV, db=empty, listen=empty)
    assert (settings.db_path, settings.listen) == ("/env/db.duckdb", "0.0.0.0:5000")


@pytest.mark.parametrize("listen", ["localhost", "h:", "h:abc", "h:65536", "h:-1", "4317"])
def test_processor_settings_bad_listen_raises(listen):
    with pytest.raises(SettingsError, match="--listen") as info:
        ProcessorSettings.resolve({}, listen=listen)
    assert repr(listen) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_processor_settings_bad_listen_from_environment_raises():
    with pytest.raises(SettingsError, match="expected HOST:PORT"):
        ProcessorSettings.resolve({"GENOPS_LISTEN": "nowhere"})


def test_processor_settings_bad_metrics_listen_raises():
    with pytest.raises(SettingsError, match="--metrics-listen 'x:y'"):
        ProcessorSettings.resolve({}, metrics_listen="x:y")


@pytest.mark.parametrize(
    "option, environ, endpoint",
    [
        (None, {}, "localhost:4317"),
        (None, {"GENOPS_ENDPOINT": "http://gov:4317/"}, "gov:4317"),
        ("https://opt:443", {"GENOPS_ENDPOINT": "gov:4317"}, "opt:443"),
    ],
)
def test_report_endpoint(option, environ, endpoint):
    assert report_endpoint(option, environ) == endpoint


@pytest.mark.parametrize("name", ["A100", "NVIDIA A100-SXM4", "NVIDIA B200"])
def test_gpu_we_cannot_place_exactly_keeps_its_name(name):
    # Never priced as another model: the processor reports it unpriced.
    assert normalise_gpu_name(name) == name


def test_gpu_type_override_is_normalised_like_a_detected_name():
    assert detect(HardwareOverrides("Tesla T4", 1, 4, None)).gpu_type == "T4"
