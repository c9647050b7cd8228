"""Assembles and runs the processor: storage, governance, one grpc.aio server.

The server hosts the OTLP TraceService and the governance API on one port, in plain
text or TLS (``--tls-cert``/``--tls-key``; mutual TLS with ``--tls-client-ca``). Every
call is authenticated and its role checked first (:mod:`genops_processor.api.authentication`),
then admitted (:mod:`genops_processor.api.admission`). /metrics is our own small HTTP
server (loopback unless told otherwise; a bearer token with ``--metrics-token``).
SIGTERM or SIGINT stops accepting work, lets in-flight requests finish
(grace period), drains the writer queue, checkpoints and closes DuckDB.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from genops.governance.v1 import governance_pb2_grpc
from genops_processor import limits
from genops_processor.api import GovernanceApi, TraceReceiver
from genops_processor.api.admission import AdmissionInterceptor, pools
from genops_processor.api.authentication import AuthenticationInterceptor, Authenticator
from genops_processor.api.authorization import authorizer
from genops_processor.api.record_api import prune_backups, take_backup
from genops_processor.auth import CredentialsSource, JwtSettings
from genops_processor.auth.jwt_tokens import JwtError, JwtVerifier
from genops_processor.auth.posture import LEDGER_ATTESTED, LEDGER_DETECTED, SecurityFacts
from genops_processor.budgets import Policy
from genops_processor.collector_pauses import keep_pauses_short
from genops_processor.metrics import ProcessorMetrics, serve_metrics
from genops_processor.pricing import Catalog, CatalogSource, catalog_store
from genops_processor.record import credentials_audit
from genops_processor.service import Clock, Governance, utc_now
from genops_processor.settings import (
    ProcessorSettings,
    SettingsError,
    check_security,
    metrics_host,
)
from genops_processor.storage import Storage, encrypted_device

_log = logging.getLogger(__name__)
_GRACE_S = 5.0
COMPACTION_INTERVAL_S = 600.0  # how often spans past the raw-content window are compacted


@dataclass
class RunningProcessor:
    server: grpc.aio.Server
    port: int
    governance: Governance
    storage: Storage
    metrics_server: object | None = None

    async def stop(self, grace_s: float = _GRACE_S) -> None:
        """Stop serving, then flush and close storage. Idempotent."""
        await self.server.stop(grace_s)
        self.governance.close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
            self.metrics_server = None
        await asyncio.get_running_loop().run_in_executor(None, self.storage.close)


async def start(settings: ProcessorSettings, clock: Clock = utc_now) -> RunningProcessor:
    check_security(settings)  # also for settings built without resolve()
    authenticator = _authenticator(settings)  # a bad credentials/JWKS file fails first
    tls = _tls_credentials(settings)
    catalogs = CatalogSource(Catalog.load(settings.catalog_path))
    policy = Policy.load(settings.policy_path)
    memory = settings.ledger_memory_bytes or limits.LEDGER_MEMORY_DEFAULT_MB * 2**20
    storage = Storage(settings.db_path, memory_limit_bytes=memory).open()
    policy = _policy_in_force(storage, policy, settings.policy_path)
    _redact_stored_errors(storage, policy)
    metrics = ProcessorMetrics()
    catalogs.known.update(storage.call(catalog_store.load_registered))
    governance = Governance(
        storage,
        catalogs,
        policy,
        metrics,
        clock,
        hold_timeout_s=settings.hold_timeout_s,
        alert_backoff_s=settings.alert_backoff_s,
    )
    # Request bytes in flight are bounded per pool; decisions keep their own headroom.
    admission = AdmissionInterceptor(pools(settings.ingest_inflight_bytes), metrics)
    mfa = _mfa_rule(authenticator.credentials)
    if authenticator.credentials is not None:  # every change of principals is audited
        authenticator.credentials.on_change = credentials_audit(storage, clock)
    # outermost first: a refused caller's request body is never read
    authentication = AuthenticationInterceptor(
        authenticator, governance.record_refusal, authorizer(mfa)
    )
    security = _facts(settings, authenticator, mfa)
    server = grpc.aio.server(
        interceptors=[authentication, admission],
        options=[
            ("grpc.max_receive_message_length", limits.MAX_MESSAGE_BYTES),
            ("grpc.max_metadata_size", limits.MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", limits.MAX_METADATA_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceReceiver(governance), server)
    api = GovernanceApi(governance, security)
    api.backup_dir, api.backup_every_hours = settings.backup_dir, settings.backup_every_hours
    governance_pb2_grpc.add_GovernanceServiceServicer_to_server(api, server)
    try:
        if tls is None:
            port = server.add_insecure_port(settings.listen)
        else:
            port = server.add_secure_port(settings.listen, tls)
    except RuntimeError as error:
        storage.close()
        raise OSError(f"cannot listen on {settings.listen}: {error}") from None
    await server.start()
    metrics_server = None
    if settings.metrics_listen:
        metrics_port = int(settings.metrics_listen.rpartition(":")[2])
        try:
            metrics_server = serve_metrics(
                metrics.registry,
                metrics_host(settings.metrics_listen),
                metrics_port,
                settings.metrics_token,
            )
        except OSError as error:
            await server.stop(None)
            storage.close()
            raise OSError(f"cannot serve /metrics on {settings.metrics_listen}: {error}") from None
        bound_host, bound_port = metrics_server.server_address[:2]
        print(f"genops-processor metrics on http://{bound_host}:{bound_port}/metrics", flush=True)
    _log.info("genops-processor listening on %s (db %s)", settings.listen, settings.db_path)
    return RunningProcessor(server, port, governance, storage, metrics_server)


async def serve(settings: ProcessorSettings) -> None:
    """Run until SIGTERM/SIGINT, then shut down cleanly (also when the signal comes
    while it starts: the handlers are in place first, so it never dies half-started)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    processor = await start(settings)
    keep_pauses_short()  # what start built lives as long as the process
    governance = processor.governance
    timeout_s = settings.hold_timeout_s
    # close the reservations of runs that fell silent, every few seconds
    sweeper = asyncio.create_task(
        _every(
            min(5.0, max(0.5, timeout_s / 4)),
            lambda: governance.expire_holds(timeout_s),
            "expiring reservations",
        )
    )
    # monitoring rules also fire without new telemetry (windows, escalations)
    monitor = asyncio.create_task(
        _every(settings.alert_interval_s, governance.monitoring.evaluate, "evaluating alert rules")
    )
    # raw span content past its window is compacted to span ids, in bounded steps
    compactor = asyncio.create_task(
        _every(
            COMPACTION_INTERVAL_S,
            lambda: governance.compact_spans(settings.raw_span_days),
            "compacting spans",
        )
    )
    # a consistent copy of the ledger every --backup-every-hours into --backup-dir
    backups = None
    if settings.backup_dir:
        backups = asyncio.create_task(
            _every(
                settings.backup_every_hours * 3600,
                lambda: _backup_and_prune(governance, settings.backup_dir),
                "taking a backup",
            )
        )
    # a re-pricing job a killed process left unfinished is finished, step by step
    resumer = asyncio.create_task(_resume_repricing(governance))
    bound = settings.listen.rpartition(":")[0] + f":{processor.port}"
    print(f"genops-processor listening on {bound}, db {settings.db_path}", flush=True)
    try:
        await stop.wait()
    finally:
        _log.info("genops-processor stopping")
        sweeper.cancel()
        monitor.cancel()
        compactor.cancel()
        resumer.cancel()
        if backups is not None:
            backups.cancel()
        await processor.stop()
    print("genops-processor stopped", flush=True)


async def _every(interval_s: float, work, what: str) -> None:
    """Await ``work()`` every interval until cancelled; a failure is logged, not fatal."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await work()
        except Exception:
            _log.exception("%s failed", what)


async def _resume_repricing(governance: Governance) -> None:
    try:
        await governance.resume_repricing()
    except Exception:
        _log.exception("resuming the unfinished re-pricing job failed")


def _authenticator(settings: ProcessorSettings) -> Authenticator:
    credentials = None
    if settings.credentials_path is not None:
        credentials = CredentialsSource(settings.credentials_path)
    jwt = None
    if settings.jwks_path is not None:
        jwt = JwtSettings(settings.jwks_path, settings.jwt_issuer, settings.jwt_audience)
    verifier = JwtVerifier()
    # the keys must be readable at start; later changes to the file are picked up live
    for jwt_settings in (jwt, credentials.current().jwt if credentials else None):
        if jwt_settings is not None:
            try:
                verifier.source(jwt_settings.jwks_path)
            except JwtError as error:
                raise SettingsError(str(error)) from None
    return Authenticator(credentials, jwt, settings.tls_client_ca is not None, verifier)


def _mfa_rule(credentials: CredentialsSource | None):
    if credentials is None:
        return lambda: False
    return lambda: credentials.current().require_mfa_for_admin


def _facts(settings: ProcessorSettings, authenticator: Authenticator, mfa) -> SecurityFacts:
    methods = []
    if authenticator.credentials is not None:
        methods.append("token")
    if authenticator.jwt is not None or (
        authenticator.credentials is not None and authenticator.credentials.current().jwt
    ):
        methods.append("jwt")
    if authenticator.mtls:
        methods.append("mtls")
    return SecurityFacts(
        tls=settings.tls,
        mutual_tls=settings.tls_client_ca is not None,
        methods=tuple(methods),
        insecure=settings.insecure,
        metrics_token=settings.metrics_token is not None,
        _mfa=mfa,
        **_ledger_encryption(settings),
    )


def _ledger_encryption(settings: ProcessorSettings) -> dict[str, str]:
    """Detected (dm-crypt under the --db file) wins over the operator's attestation."""
    device = encrypted_device(settings.db_path)
    if device:
        return {"ledger_encryption": LEDGER_DETECTED, "ledger_encryption_detail": device}
    if settings.ledger_on_encrypted_volume:
        detail = "--ledger-on-encrypted-volume (no dm-crypt device detected under the ledger)"
        return {"ledger_encryption": LEDGER_ATTESTED, "ledger_encryption_detail": detail}
    return {}


def _tls_credentials(settings: ProcessorSettings) -> grpc.ServerCredentials | None:
    """Server TLS from PEM files; with a client CA, client certificates are required."""
    if settings.tls_cert is None:
        return None

    def read(option: str, path: str) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as error:
            raise SettingsError(f"{option} {path}: {error.strerror}") from None

    cert = read("--tls-cert", settings.tls_cert)
    key = read("--tls-key", settings.tls_key)
    _check_pem(cert, key, settings)
    ca = read("--tls-client-ca", settings.tls_client_ca) if settings.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


def _check_pem(cert: bytes, key: bytes, settings: ProcessorSettings) -> None:
    """A clear start-up error for files gRPC would only reject on the first handshake."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certificate = x509.load_pem_x509_certificate(cert)
    except ValueError:
        raise SettingsError(f"--tls-cert {settings.tls_cert}: not a PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError):
        raise SettingsError(
            f"--tls-key {settings.tls_key}: not an unencrypted PEM private key"
        ) from None
    if private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise SettingsError(
            f"--tls-key {settings.tls_key} is not the key of --tls-cert {settings.tls_cert}"
        )


async def _backup_and_prune(governance: Governance, directory: str) -> None:
    """A scheduled backup, then all but the newest BACKUPS_KEPT removed (audited)."""
    await take_backup(governance, directory, "processor")
    await prune_backups(governance, directory, limits.BACKUPS_KEPT, "processor")


def _redact_stored_errors(storage: Storage, policy: Policy) -> None:
    """Error text a ledger from an older processor kept unredacted: rewritten once."""
    import datetime as dt

    from genops_processor.record import stored_errors

    now = dt.datetime.now(dt.timezone.utc)
    changed = storage.call(
        lambda conn: stored_errors.redact_stored_errors(conn, now, policy.secrets())
    )
    if changed:
        _log.warning("ledger: %d stored error text(s) held secrets; rewritten redacted", changed)


def _policy_in_force(storage: Storage, from_file: Policy, path: str | None) -> Policy:
    """The latest stored version; a policy file that differs becomes a new version.

    Versions are stored with their secrets redacted: given a policy file, it is in force
    (its literal secrets with it) and compared redacted; without one, the stored version
    is, its ``${env:NAME}`` and ``*_file`` secrets resolved again, a literal one lost
    (that channel fails its deliveries, saying why; logged here)."""
    import datetime as dt

    from genops_processor.alerts import outbox
    from genops_processor.budgets import policy_store

    now = dt.datetime.now(dt.timezone.utc)
    scrubbed = storage.call(
        lambda conn: policy_store.redact_versions(conn) + outbox.scrub_addresses(conn, now)
    )
    if scrubbed:  # a ledger from before secrets were kept out of it
        _log.warning("ledger: %d row(s) held a policy secret; rewritten redacted", scrubbed)
    stored = storage.call(policy_store.latest)
    if path is not None:
        if stored is None or stored[1] != from_file.shown:
            storage.call(
                lambda conn: policy_store.save(
                    conn, from_file.body, "policy file", str(path), dt.datetime.now(dt.timezone.utc)
                )
            )
        return from_file
    if stored is None:
        return from_file
    policy = Policy.from_stored(stored[1])
    for channel in (*policy.channels, *policy.inline):
        if channel.unavailable:
            _log.warning("policy channel %s cannot deliver: %s", channel.name, channel.unavailable)
    if policy.smtp.unavailable:
        _log.warning("policy smtp cannot send mail: %s", policy.smtp.unavailable)
    return policy
