"""Processor settings: the one place that reads its environment and options.

=====================  ======================  ===================================
option                 environment             default
=====================  ======================  ===================================
``--db PATH``          ``GENOPS_DB``           ``genops.duckdb``
``--listen HOST:PORT`` ``GENOPS_LISTEN``       ``127.0.0.1:4317``
``--policy FILE``      ``GENOPS_POLICY``       no budgets
``--catalog FILE``     ``GENOPS_CATALOG``      the bundled default catalog
``--metrics-listen``   ``GENOPS_METRICS_LISTEN`` off (e.g. ``127.0.0.1:9464``)
``--hold-timeout S``   ``GENOPS_HOLD_TIMEOUT``   120 (seconds a silent run keeps its hold)
``--raw-span-days D``  ``GENOPS_RAW_SPAN_DAYS``  3 (days raw span content is kept; then
                                               only the span ids, for idempotency)
``--ingest-inflight-mb`` ``GENOPS_INGEST_INFLIGHT_MB`` 128 (MiB of OTLP requests in
                                               flight; past it: RESOURCE_EXHAUSTED)
=====================  ======================  ===================================

An explicit option beats the environment, which beats the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from genops_processor.limits import MAX_SETTING_SECONDS, MIN_SETTING_SECONDS

DEFAULT_DB = "genops.duckdb"
DEFAULT_LISTEN = "127.0.0.1:4317"
DEFAULT_ENDPOINT = "localhost:4317"


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ProcessorSettings:
    db_path: str = DEFAULT_DB
    listen: str = DEFAULT_LISTEN
    policy_path: str | None = None
    catalog_path: str | None = None
    metrics_listen: str | None = None
    hold_timeout_s: float = 120.0
    alert_interval_s: float = 30.0
    raw_span_days: float = 3.0
    ingest_inflight_bytes: int = 128 * 2**20

    @classmethod
    def resolve(
        cls, environ: Mapping[str, str] | None = None, **options: str | None
    ) -> ProcessorSettings:
        env = os.environ if environ is None else environ

        sources: dict[str, str] = {}

        def pick(name: str, var: str, default: str | None) -> str | None:
            value = options.get(name)
            if value not in (None, ""):
                sources[name] = "--" + name.replace("_", "-")
                return value
            sources[name] = var
            return env.get(var) or default

        settings = cls(
            db_path=pick("db", "GENOPS_DB", DEFAULT_DB),
            listen=pick("listen", "GENOPS_LISTEN", DEFAULT_LISTEN),
            policy_path=pick("policy", "GENOPS_POLICY", None),
            catalog_path=pick("catalog", "GENOPS_CATALOG", None),
            metrics_listen=pick("metrics_listen", "GENOPS_METRICS_LISTEN", None),
            hold_timeout_s=_seconds(
                pick("hold_timeout", "GENOPS_HOLD_TIMEOUT", "120"),
                sources.get("hold_timeout", "--hold-timeout"),
            ),
            alert_interval_s=_seconds(
                pick("alert_interval", "GENOPS_ALERT_INTERVAL", "30"),
                sources.get("alert_interval", "--alert-interval"),
            ),
            raw_span_days=_days(
                pick("raw_span_days", "GENOPS_RAW_SPAN_DAYS", "3"),
                sources.get("raw_span_days", "--raw-span-days"),
            ),
            ingest_inflight_bytes=_mebibytes(
                pick("ingest_inflight_mb", "GENOPS_INGEST_INFLIGHT_MB", "128"),
                sources.get("ingest_inflight_mb", "--ingest-inflight-mb"),
            ),
        )
        for key, value in (
            ("--listen", settings.listen),
            ("--metrics-listen", settings.metrics_listen),
        ):
            if value is not None:
                _check_host_port(key, value)
        return settings


def report_endpoint(option: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Where ``genops report`` asks: --endpoint, GENOPS_ENDPOINT, else localhost:4317."""
    env = os.environ if environ is None else environ
    value = option or env.get("GENOPS_ENDPOINT") or DEFAULT_ENDPOINT
    return value.split("://", 1)[-1].rstrip("/")


def _check_host_port(key: str, value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"{key} {value!r}: expected HOST:PORT")


def _number(value: str | None, key: str, unit: str) -> float:
    try:
        return float(value or 0)
    except ValueError:
        raise SettingsError(f"{key} {value!r}: expected a number of {unit}") from None


def _seconds(value: str | None, key: str) -> float:
    seconds = _number(value, key, "seconds")
    if not MIN_SETTING_SECONDS <= seconds <= MAX_SETTING_SECONDS:
        raise SettingsError(
            f"{key} {value!r}: must be from {MIN_SETTING_SECONDS:g} "
            f"to {MAX_SETTING_SECONDS:.0f} seconds"
        )
    return seconds


def _days(value: str | None, key: str) -> float:
    days = _number(value, key, "days")
    if not 0 <= days <= 36_500:
        raise SettingsError(f"{key} {value!r}: must be from 0 to 36500")
    return days


def _mebibytes(value: str | None, key: str) -> int:
    mebibytes = _number(value, key, "MiB")
    if not 1 <= mebibytes <= 1_048_576:
        raise SettingsError(f"{key} {value!r}: must be from 1 to 1048576 (MiB)")
    return int(mebibytes * 2**20)
