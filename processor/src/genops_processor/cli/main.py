"""Command lines: ``genops-processor`` (the service) and ``genops`` (``report``; the
``costs``, ``budgets``/approvals and ``alerts`` groups live in their own modules)."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from genops_processor.auth import CredentialsError
from genops_processor.budgets import PolicyError
from genops_processor.cli.alerts import alerts_group
from genops_processor.cli.audit import audit_group
from genops_processor.cli.backup import backup_group
from genops_processor.cli.budgets import (
    approvals_command,
    approve_command,
    budgets_group,
    deny_command,
)
from genops_processor.cli.costs import costs_group
from genops_processor.cli.errors import OneLineCommand, OneLineGroup
from genops_processor.cli.holds import holds_group
from genops_processor.cli.ledger import ledger_group
from genops_processor.cli.lineage import lineage_command
from genops_processor.cli.literal import one_line
from genops_processor.cli.report_command import report_command
from genops_processor.cli.retention import retention_group
from genops_processor.cli.tokens import tokens_group
from genops_processor.pricing import CatalogError
from genops_processor.settings import ProcessorSettings, SettingsError
from genops_processor.storage import StorageError

VERSION_MESSAGE = "%(prog)s %(version)s (genops-processor)"


@click.command(cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="PATH", help="DuckDB file [env GENOPS_DB; genops.duckdb]")
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="OTLP + governance gRPC [env GENOPS_LISTEN; 127.0.0.1:4317]",
)
@click.option("--policy", metavar="FILE", help="budget policy YAML [env GENOPS_POLICY]")
@click.option("--catalog", metavar="FILE", help="price catalog YAML [env GENOPS_CATALOG]")
@click.option(
    "--metrics-listen",
    metavar="HOST:PORT",
    help="Prometheus /metrics [env GENOPS_METRICS_LISTEN; off]",
)
@click.option(
    "--hold-timeout",
    metavar="SECONDS",
    help="a silent run's reservation expires after this [env GENOPS_HOLD_TIMEOUT; 120]",
)
@click.option(
    "--alert-interval",
    metavar="SECONDS",
    help="how often monitoring rules are evaluated besides after each ingest "
    "[env GENOPS_ALERT_INTERVAL; 30]",
)
@click.option(
    "--raw-span-days",
    metavar="DAYS",
    help="days raw span content is kept before compaction to span ids "
    "[env GENOPS_RAW_SPAN_DAYS; 3]",
)
@click.option(
    "--ingest-inflight-mb",
    metavar="MIB",
    help="OTLP request bytes in flight before new ones are refused (RESOURCE_EXHAUSTED) "
    "[env GENOPS_INGEST_INFLIGHT_MB; 128]",
)
@click.option(
    "--ledger-memory-mb",
    metavar="MIB",
    help="the most memory the ledger's DuckDB keeps, its cache of the file included, "
    "at least 128; raised to 16 bytes per row its key indexes hold "
    "[env GENOPS_LEDGER_MEMORY_MB; 128]",
)
@click.option(
    "--credentials",
    metavar="FILE",
    help="principals and token hashes (genops tokens create) [env GENOPS_CREDENTIALS; "
    "none: every caller is the local admin, loopback only]",
)
@click.option("--jwks", metavar="FILE", help="JWKS verifying JWTs [env GENOPS_JWKS]")
@click.option("--jwt-issuer", metavar="ISS", help="required JWT iss [env GENOPS_JWT_ISSUER]")
@click.option("--jwt-audience", metavar="AUD", help="required JWT aud [env GENOPS_JWT_AUDIENCE]")
@click.option("--tls-cert", metavar="FILE", help="PEM certificate chain [env GENOPS_TLS_CERT]")
@click.option("--tls-key", metavar="FILE", help="PEM private key [env GENOPS_TLS_KEY]")
@click.option(
    "--tls-client-ca",
    metavar="FILE",
    help="require client certificates signed by this CA (mutual TLS) [env GENOPS_TLS_CLIENT_CA]",
)
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="allow a non-loopback --listen without credentials [env GENOPS_INSECURE]",
)
@click.option(
    "--metrics-token",
    metavar="TOKEN",
    help="/metrics requires 'Authorization: Bearer TOKEN' [env GENOPS_METRICS_TOKEN]",
)
@click.option(
    "--backup-dir",
    metavar="DIR",
    help="take consistent backups of the ledger here [env GENOPS_BACKUP_DIR; off]",
)
@click.option(
    "--backup-every-hours",
    metavar="HOURS",
    help="hours between backups (with --backup-dir) [env GENOPS_BACKUP_EVERY_HOURS; 24]",
)
@click.option(
    "--audit-retention-years",
    metavar="YEARS",
    help="keep audit events at least this long; the policy's audit_log_retention_years "
    "may lengthen it [env GENOPS_AUDIT_RETENTION_YEARS; policy, else 7]",
)
@click.option(
    "--ledger-on-encrypted-volume",
    is_flag=True,
    default=None,
    help="attest that the --db file's volume is encrypted when dm-crypt is not detected "
    "(reported as attested) [env GENOPS_LEDGER_ON_ENCRYPTED_VOLUME]",
)
@click.option("--log-level", default="INFO", show_default=True)
@click.version_option(package_name="genops-processor", message=VERSION_MESSAGE)
def processor_main(
    db,
    listen,
    policy,
    catalog,
    metrics_listen,
    hold_timeout,
    alert_interval,
    raw_span_days,
    ingest_inflight_mb,
    ledger_memory_mb,
    credentials,
    jwks,
    jwt_issuer,
    jwt_audience,
    tls_cert,
    tls_key,
    tls_client_ca,
    insecure,
    metrics_token,
    backup_dir,
    backup_every_hours,
    audit_retention_years,
    ledger_on_encrypted_volume,
    log_level,
) -> None:
    """Receive OTLP from the W&B instrumentation, price it, enforce budgets, write DuckDB."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = ProcessorSettings.resolve(
            db=db,
            listen=listen,
            policy=policy,
            catalog=catalog,
            metrics_listen=metrics_listen,
            hold_timeout=hold_timeout,
            alert_interval=alert_interval,
            raw_span_days=raw_span_days,
            ingest_inflight_mb=ingest_inflight_mb,
            ledger_memory_mb=ledger_memory_mb,
            credentials=credentials,
            jwks=jwks,
            jwt_issuer=jwt_issuer,
            jwt_audience=jwt_audience,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_client_ca=tls_client_ca,
            insecure=True if insecure else None,
            metrics_token=metrics_token,
            backup_dir=backup_dir,
            backup_every_hours=backup_every_hours,
            audit_retention_years=audit_retention_years,
            ledger_on_encrypted_volume=True if ledger_on_encrypted_volume else None,
        )
        from genops_processor.server import serve

        asyncio.run(serve(settings))
    except (
        SettingsError,
        CredentialsError,
        PolicyError,
        CatalogError,
        OSError,
        StorageError,
    ) as error:
        click.echo(f"genops-processor: {one_line(error)}", err=True)
        sys.exit(2)


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="genops-processor", message=VERSION_MESSAGE)
def genops_main() -> None:
    """GenOps governance for Weights & Biases."""


for _command in (
    report_command,
    backup_group,
    lineage_command,
    retention_group,
    costs_group,
    approve_command,
    deny_command,
    approvals_command,
    budgets_group,
    alerts_group,
    holds_group,
    ledger_group,
    tokens_group,
    audit_group,
):
    genops_main.add_command(_command)
