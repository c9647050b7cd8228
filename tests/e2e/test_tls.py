"""TLS on the gRPC port and mutual TLS, with certificates generated here: a client that
trusts the CA is served; plaintext and a client trusting another CA are not; with
--tls-client-ca a certificate's subject is the principal, a certificate of another CA
(or none) fails the handshake, and an unknown subject is UNAUTHENTICATED (audited)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor.auth import credentials
from tests.e2e.test_authentication import launch


def _name(cn: str, org: str = "genops-test") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )


class Ca:
    def __init__(self, cn: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name(cn))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str, server: bool = False) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def pki(tmp_path):
    ca, clients, stranger = Ca("server-ca"), Ca("client-ca"), Ca("stranger-ca")
    cert, key = ca.issue("localhost", server=True)
    files = {
        "ca": ca.pem(),
        "cert": cert,
        "key": key,
        "client_ca": clients.pem(),
        "stranger_ca": stranger.pem(),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(data)
    return paths, clients, stranger


def _stub(endpoint: str, root: bytes, token: str | None = None, cert_key=None):
    creds = grpc.ssl_channel_credentials(
        root_certificates=root,
        private_key=cert_key[1] if cert_key else None,
        certificate_chain=cert_key[0] if cert_key else None,
    )
    if token is not None:
        creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(token))
    return pb_grpc.GovernanceServiceStub(grpc.secure_channel(endpoint, creds))


def _status(stub):
    return stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=10)


def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code(), raised.value.details()


def _tls_args(paths: dict[str, Path]) -> list[str]:
    return ["--tls-cert", str(paths["cert"]), "--tls-key", str(paths["key"])]


def test_tls_serves_a_client_that_trusts_the_ca_and_nobody_else(tmp_path, pki):
    paths, _, _ = pki
    token = credentials.create(tmp_path / "c.yaml", "trainer", "client", teams=["a"])
    processor, log = launch(tmp_path, "--credentials", str(tmp_path / "c.yaml"), *_tls_args(paths))
    assert processor is not None, log
    try:
        endpoint = processor.endpoint.replace("127.0.0.1", "localhost")
        assert isinstance(
            _status(_stub(endpoint, paths["ca"].read_bytes(), token)), pb.GetBudgetStatusResponse
        )
        # a plaintext client, or one trusting another CA, never gets an answer
        plain = pb_grpc.GovernanceServiceStub(grpc.insecure_channel(processor.endpoint))
        assert _code(lambda: _status(plain))[0] is grpc.StatusCode.UNAVAILABLE
        other = _stub(endpoint, paths["stranger_ca"].read_bytes(), token)
        assert _code(lambda: _status(other))[0] is grpc.StatusCode.UNAVAILABLE
        # TLS is no authentication: still no token, no answer
        anonymous = _stub(endpoint, paths["ca"].read_bytes())
        assert _code(lambda: _status(anonymous))[0] is grpc.StatusCode.UNAUTHENTICATED
    finally:
        assert processor.stop() == 0


def test_mutual_tls_takes_the_certificate_subject_as_the_principal(tmp_path, pki):
    paths, clients, stranger = pki
    creds_path = tmp_path / "c.yaml"
    admin = credentials.create(creds_path, "admin", "admin")
    # the order OpenSSL prints (gRPC gives O=...,CN=...): either matches
    credentials.create(
        creds_path, "trainer-a", "client", ["team-a"], mtls_subject="CN=trainer-a, O=genops-test"
    )
    processor, log = launch(
        tmp_path,
        "--credentials", str(creds_path),
        *_tls_args(paths),
        "--tls-client-ca", str(paths["client_ca"]),
    )  # fmt: skip
    assert processor is not None, log
    endpoint = processor.endpoint.replace("127.0.0.1", "localhost")
    root = paths["ca"].read_bytes()
    try:
        trainer = _stub(endpoint, root, cert_key=clients.issue("trainer-a"))
        assert isinstance(_status(trainer), pb.GetBudgetStatusResponse)
        code, message = _code(lambda: trainer.SetBudget(pb.SetBudgetRequest(), timeout=10))
        assert code is grpc.StatusCode.PERMISSION_DENIED and "trainer-a" in message
        # a valid certificate whose subject is no principal
        unknown = _stub(endpoint, root, cert_key=clients.issue("mallory"))
        assert _code(lambda: _status(unknown)) == (
            grpc.StatusCode.UNAUTHENTICATED,
            # gRPC gives the subject in RFC 2253 order (last attribute first)
            "client certificate subject 'O=genops-test,CN=mallory' is not a principal",
        )
        # the same name, signed by another CA: the handshake fails
        forged = _stub(endpoint, root, cert_key=stranger.issue("trainer-a"))
        assert _code(lambda: _status(forged))[0] is grpc.StatusCode.UNAVAILABLE
        # no certificate at all: the handshake fails, even with a valid token
        no_cert = _stub(endpoint, root, token=admin)
        assert _code(lambda: _status(no_cert))[0] is grpc.StatusCode.UNAVAILABLE
        # a certificate and a token: the token names the principal
        both = _stub(endpoint, root, token=admin, cert_key=clients.issue("trainer-a"))
        code, _ = _code(lambda: both.SetBudget(pb.SetBudgetRequest(), timeout=10))
        assert code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
    finally:
        refusals = processor.refusals()
    assert [(e["actor"], e["detail"]["code"]) for e in refusals] == [
        ("trainer-a", "PERMISSION_DENIED"),
        ("anonymous", "UNAUTHENTICATED"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (lambda p: ["--tls-cert", str(p["cert"])], "--tls-cert and --tls-key go together"),
        (
            lambda p: ["--tls-cert", str(p["cert"]), "--tls-key", str(p["ca"])],
            "not an unencrypted PEM private key",
        ),
        (
            lambda p: ["--tls-cert", str(p["ca"]), "--tls-key", str(p["key"])],
            "is not the key of --tls-cert",
        ),
        (
            lambda p: [*_tls_args(p), "--tls-client-ca", str(p["client_ca"])],
            "--tls-client-ca needs --credentials",
        ),
        (lambda p: ["--tls-client-ca", str(p["client_ca"])], "needs --tls-cert and --tls-key"),
        (
            lambda p: ["--tls-cert", str(p["cert"]), "--tls-key", str(p["cert"]) + ".missing"],
            "No such file or directory",
        ),
    ],
    ids=[
        "no-key",
        "key-not-a-key",
        "key-of-another-cert",
        "mtls-without-creds",
        "ca-alone",
        "gone",
    ],
)
def test_a_bad_tls_setup_refuses_to_start_with_one_line(tmp_path, pki, args, message):
    paths, _, _ = pki
    processor, log = launch(tmp_path, *args(paths))
    assert processor is None, log
    lines = log.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genops-processor: "), log
    assert message in lines[0]
