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
``--ledger-memory-mb`` ``GENOPS_LEDGER_MEMORY_MB`` 128: the most memory (MiB) the
                                               ledger's DuckDB keeps (its cache of the
                                               file's blocks included), from 128; raised
                                               to 16 bytes per row its key indexes hold
                                               (storage/memory_limit.py)
``--credentials FILE`` ``GENOPS_CREDENTIALS``  none (principals and token hashes)
``--jwks FILE``        ``GENOPS_JWKS``         none (keys JWTs are verified against)
``--jwt-issuer``       ``GENOPS_JWT_ISSUER``   required with --jwks
``--jwt-audience``     ``GENOPS_JWT_AUDIENCE`` required with --jwks
``--tls-cert FILE``    ``GENOPS_TLS_CERT``     none: plaintext gRPC (PEM chain)
``--tls-key FILE``     ``GENOPS_TLS_KEY``      required with --tls-cert (PEM key)
``--tls-client-ca``    ``GENOPS_TLS_CLIENT_CA`` none; given: mutual TLS, client
                                               certificates signed by this CA required
``--insecure``         ``GENOPS_INSECURE``     off: without credentials, serve only
                                               on loopback
``--metrics-token``    ``GENOPS_METRICS_TOKEN`` none; given: /metrics needs
                                               ``Authorization: Bearer <token>``
(none)                 ``GENOPS_ALERT_BACKOFF`` 1 (seconds before an alert delivery's first
                                               retry, doubled per attempt; DELIVERY_BACKOFF_S)
``--backup-dir DIR``   ``GENOPS_BACKUP_DIR``   none: no scheduled backups
``--backup-every-hours`` ``GENOPS_BACKUP_EVERY_HOURS`` 24 (with --backup-dir)
``--audit-retention-years`` ``GENOPS_AUDIT_RETENTION_YEARS`` none: the policy's
                                               audit_log_retention_years (default 7);
                                               given: the longer of the two applies
                                               (``genops audit prune`` reads it too)
``--ledger-on-encrypted-volume`` ``GENOPS_LEDGER_ON_ENCRYPTED_VOLUME`` off: the ledger
                                               is encrypted at rest only when its file
                                               is on a detected dm-crypt device; on: the
                                               operator attests it (reported as attested)
=====================  ======================  ===================================

An explicit option beats the environment, which beats the default. Without any
credentials (--credentials, --jwks, --tls-client-ca) every call is served as the local
operator, so the processor refuses to listen on a non-loopback address unless given
``--insecure``; /metrics likewise needs ``--metrics-token`` (or ``--insecure``) off
loopback, and a bare port (``--metrics-listen :9464``) binds loopback.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from genops_processor.limits import (
    DELIVERY_BACKOFF_S,
    LEDGER_MEMORY_MIN_MB,
    MAX_AUDIT_RETENTION_YEARS,
    MAX_SETTING_SECONDS,
    MIN_SETTING_SECONDS,
)

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
    alert_backoff_s: float = DELIVERY_BACKOFF_S
    raw_span_days: float = 3.0
    ingest_inflight_bytes: int = 128 * 2**20
    ledger_memory_bytes: int | None = None  # None: LEDGER_MEMORY_DEFAULT_MB (server.py)
    credentials_path: str | None = None
    jwks_path: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    insecure: bool = False
    metrics_token: str | None = None
    backup_dir: str | None = None
    backup_every_hours: float = 24.0
    # Audit events younger than this are never pruned; the policy's key may lengthen it.
    audit_retention_years: float | None = None
    # the operator attests that the ledger's volume is encrypted (dm-crypt not detected)
    ledger_on_encrypted_volume: bool = False

    @property
    def authenticates(self) -> bool:
        """Are callers authenticated (else every call is the local operator)?"""
        return bool(self.credentials_path or self.jwks_path or self.tls_client_ca)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

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
            alert_backoff_s=_seconds(
                env.get("GENOPS_ALERT_BACKOFF") or str(DELIVERY_BACKOFF_S), "GENOPS_ALERT_BACKOFF"
            ),
            raw_span_days=_days(
                pick("raw_span_days", "GENOPS_RAW_SPAN_DAYS", "3"),
                sources.get("raw_span_days", "--raw-span-days"),
            ),
            ingest_inflight_bytes=_mebibytes(
                pick("ingest_inflight_mb", "GENOPS_INGEST_INFLIGHT_MB", "128"),
                sources.get("ingest_inflight_mb", "--ingest-inflight-mb"),
            ),
            ledger_memory_bytes=_ledger_memory(
                pick("ledger_memory_mb", "GENOPS_LEDGER_MEMORY_MB", None),
                sources.get("ledger_memory_mb", "--ledger-memory-mb"),
            ),
            credentials_path=pick("credentials", "GENOPS_CREDENTIALS", None),
            jwks_path=pick("jwks", "GENOPS_JWKS", None),
            jwt_issuer=pick("jwt_issuer", "GENOPS_JWT_ISSUER", None),
            jwt_audience=pick("jwt_audience", "GENOPS_JWT_AUDIENCE", None),
            tls_cert=pick("tls_cert", "GENOPS_TLS_CERT", None),
            tls_key=pick("tls_key", "GENOPS_TLS_KEY", None),
            tls_client_ca=pick("tls_client_ca", "GENOPS_TLS_CLIENT_CA", None),
            insecure=_flag(pick("insecure", "GENOPS_INSECURE", None), "GENOPS_INSECURE"),
            metrics_token=pick("metrics_token", "GENOPS_METRICS_TOKEN", None),
            backup_dir=pick("backup_dir", "GENOPS_BACKUP_DIR", None),
            backup_every_hours=_seconds(
                str(
                    _number(
                        pick("backup_every_hours", "GENOPS_BACKUP_EVERY_HOURS", "24"),
                        sources.get("backup_every_hours", "--backup-every-hours"),
                        "hours",
                    )
                    * 3600
                ),
                sources.get("backup_every_hours", "--backup-every-hours") + " (as seconds)",
            )
            / 3600,
            audit_retention_years=_years(
                pick("audit_retention_years", "GENOPS_AUDIT_RETENTION_YEARS", None),
                sources.get("audit_retention_years", "--audit-retention-years"),
            ),
            ledger_on_encrypted_volume=_flag(
                pick("ledger_on_encrypted_volume", "GENOPS_LEDGER_ON_ENCRYPTED_VOLUME", None),
                "GENOPS_LEDGER_ON_ENCRYPTED_VOLUME",
            ),
        )
        for key, value in (
            ("--listen", settings.listen),
            ("--metrics-listen", settings.metrics_listen),
        ):
            if value is not None:
                _check_host_port(key, value)
        check_security(settings)
        return settings


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (a bare or unspecified host is not loopback)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metrics_host(listen: str) -> str:
    """The host /metrics binds: the given one, else loopback."""
    return listen.rpartition(":")[0] or "127.0.0.1"


def check_security(s: ProcessorSettings) -> None:
    """Options that only make sense together, and the secure default (see above)."""
    if (s.jwks_path is None) != (s.jwt_issuer is None) or (s.jwks_path is None) != (
        s.jwt_audience is None
    ):
        raise SettingsError("--jwks, --jwt-issuer and --jwt-audience go together")
    if (s.tls_cert is None) != (s.tls_key is None):
        raise SettingsError("--tls-cert and --tls-key go together")
    if s.tls_client_ca is not None and s.tls_cert is None:
        raise SettingsError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    if s.tls_client_ca is not None and s.credentials_path is None:
        raise SettingsError(
            "--tls-client-ca needs --credentials: certificate subjects are mapped to "
            "principals there (mtls_subject)"
        )
    if s.metrics_token is not None and len(s.metrics_token.strip()) < 16:
        raise SettingsError("--metrics-token: use at least 16 characters")
    host = s.listen.rpartition(":")[0]
    if not s.authenticates and not s.insecure and not is_loopback(host):
        raise SettingsError(
            f"--listen {s.listen}: without credentials every caller is an admin, so the "
            "processor serves only on loopback; give --credentials (or --jwks, "
            "--tls-client-ca) or --insecure"
        )
    if s.metrics_listen is not None and not s.insecure and s.metrics_token is None:
        if not is_loopback(metrics_host(s.metrics_listen)):
            raise SettingsError(
                f"--metrics-listen {s.metrics_listen}: /metrics shows every team's cost; "
                "off loopback give --metrics-token (or --insecure)"
            )


def _flag(value: str | None, key: str) -> bool:
    if value in (None, ""):
        return False
    if value is True or str(value).strip().lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).strip().lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{key} {value!r}: expected true or false")


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


def audit_retention_years(
    option: str | float | None, environ: Mapping[str, str] | None = None
) -> float | None:
    """--audit-retention-years, else GENOPS_AUDIT_RETENTION_YEARS (None: neither), for a
    command that does not serve (``genops audit prune``)."""
    env = os.environ if environ is None else environ
    if option not in (None, ""):
        return _years(str(option), "--audit-retention-years")
    return _years(env.get("GENOPS_AUDIT_RETENTION_YEARS"), "GENOPS_AUDIT_RETENTION_YEARS")


def _years(value: str | None, key: str) -> float | None:
    if value in (None, ""):
        return None
    years = _number(value, key, "years")
    if not 0 < years <= MAX_AUDIT_RETENTION_YEARS:  # NaN fails too
        raise SettingsError(
            f"{key} {value!r}: must be above 0 and at most {MAX_AUDIT_RETENTION_YEARS:g} years"
        )
    return years


def _mebibytes(value: str | None, key: str, least: int = 1) -> int:
    mebibytes = _number(value, key, "MiB")
    if not least <= mebibytes <= 1_048_576:
        raise SettingsError(f"{key} {value!r}: must be from {least} to 1048576 (MiB)")
    return int(mebibytes * 2**20)


def _ledger_memory(value: str | None, key: str) -> int | None:
    """None: not given (the processor's default). Less than LEDGER_MEMORY_MIN_MB leaves
    too little for a query over a large ledger (DuckDB fails it: out of memory)."""
    if value is None:
        return None
    return _mebibytes(value, key, LEDGER_MEMORY_MIN_MB)
