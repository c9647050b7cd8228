"""JWTs verified against a local JWKS (keys generated here): a valid token is served as
the principal its claims name; expired, wrong audience or issuer, another key, ``none``
or HMAC, and missing claims are refused (UNAUTHENTICATED, audited); with
``require_mfa_for_admin`` an admin action needs a JWT whose ``amr`` shows a second
factor; the JWKS is re-read when it changes (key rotation without a restart)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import grpc
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.auth import credentials
from tests.e2e.test_authentication import launch

ISSUER = "https://idp.example.test"
AUDIENCE = "genops"


def _jwk(private, kid: str) -> dict:
    public = private.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
    else:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
    return {**jwk, "kid": kid, "use": "sig"}


def _write_jwks(path: Path, *keys: tuple) -> None:
    path.write_text(json.dumps({"keys": [_jwk(k, kid) for k, kid in keys]}))


class Idp:
    def __init__(self, tmp: Path) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.jwks = tmp / "jwks.json"
        _write_jwks(self.jwks, (self.rsa, "rsa-1"), (self.ec, "ec-1"))

    def token(self, key=None, kid="rsa-1", alg="RS256", **claims) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "alice",
            "genops_role": "client",
            "genops_teams": ["team-a"],
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.rsa, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def idp(tmp_path):
    return Idp(tmp_path)


@pytest.fixture
def processor(tmp_path, idp):
    path = tmp_path / "credentials.yaml"
    admin = credentials.create(path, "admin", "admin")
    data = yaml.safe_load(path.read_text())
    data["require_mfa_for_admin"] = True
    path.write_text(yaml.safe_dump(data))
    started, log = launch(
        tmp_path,
        "--credentials", str(path),
        "--jwks", str(idp.jwks),
        "--jwt-issuer", ISSUER,
        "--jwt-audience", AUDIENCE,
    )  # fmt: skip
    assert started is not None, log
    started.admin_token = admin
    yield started
    started.stop()


def _status(processor, token):
    return processor.stub(token).GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=10)


def _refused(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code(), raised.value.details()


def test_a_valid_jwt_is_served_with_rsa_and_ec_keys(processor, idp):
    assert isinstance(_status(processor, idp.token()), pb.GetBudgetStatusResponse)
    ec_token = idp.token(key=idp.ec, kid="ec-1", alg="ES256", genops_teams="team-a team-b")
    assert isinstance(_status(processor, ec_token), pb.GetBudgetStatusResponse)
    assert processor.refusals() == []


def _hmac_with_public_key(idp: Idp) -> str:
    """The classic confusion: the RSA public key (PEM) used as an HMAC secret."""
    pem = idp.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    segments = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
        for part in ({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, {"sub": "x"})
    ]
    import hashlib
    import hmac

    signing_input = b".".join(segments)
    signature = base64.urlsafe_b64encode(
        hmac.new(pem, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


def _unsigned(idp: Idp) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(
        json.dumps({"sub": "x", "genops_role": "admin", "iss": ISSUER, "aud": AUDIENCE}).encode()
    ).rstrip(b"=")
    return f"{header}.{body.decode()}."


BAD = {
    "expired": (lambda i: i.token(exp=int(time.time()) - 3600), "JWT expired"),
    "audience": (lambda i: i.token(aud="someone-else"), "JWT audience is not 'genops'"),
    "issuer": (lambda i: i.token(iss="https://evil.example"), f"JWT issuer is not {ISSUER!r}"),
    "no-exp": (lambda i: i.token(exp=None), "JWT has no 'exp' claim"),
    "not-yet": (lambda i: i.token(nbf=int(time.time()) + 3600), "JWT not yet valid"),
    "other-key": (
        lambda i: i.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "JWT signature does not verify against the JWKS",
    ),
    "unknown-kid": (
        lambda i: i.token(kid="rotated-away"),
        "JWT key id 'rotated-away' is not in the JWKS",
    ),
    "no-role": (lambda i: i.token(genops_role=None), "JWT has no 'genops_role' claim"),
    "bad-role": (
        lambda i: i.token(genops_role="root"),
        "JWT claim 'genops_role': unknown role 'root'",
    ),
    "no-subject": (lambda i: i.token(sub=None), "JWT has no 'sub' claim naming the principal"),
    "hmac-confusion": (_hmac_with_public_key, "JWT algorithm 'HS256' is not accepted"),
    "alg-none": (_unsigned, "JWT algorithm 'none' is not accepted"),
    "garbage": (lambda i: "abc.def.ghi", "malformed JWT"),
}


def test_a_bad_jwt_is_refused_and_audited_once(processor, idp):
    for case, (make, message) in BAD.items():
        code, details = _refused(lambda make=make: _status(processor, make(idp)))
        assert code is grpc.StatusCode.UNAUTHENTICATED, case
        assert details.startswith(message), (case, details)
    refusals = processor.refusals()
    assert [(e["actor"], e["detail"]["code"]) for e in refusals] == [
        ("anonymous", "UNAUTHENTICATED")
    ] * len(BAD)
    reasons = sorted(e["detail"]["reason"] for e in refusals)
    expected = sorted(m for _, m in BAD.values())
    assert all(r.startswith(m) for r, m in zip(reasons, expected, strict=True)), reasons


def test_an_admin_action_needs_a_second_factor(processor, idp):
    def set_budget(token):
        return processor.stub(token).SetBudget(pb.SetBudgetRequest(), timeout=10)

    mfa_message = "admin action requires a second factor (JWT amr)"
    password_only = idp.token(sub="root", genops_role="admin", amr=["pwd"])
    assert _refused(lambda: set_budget(password_only)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        mfa_message,
    )
    # an opaque token can never show a second factor
    assert _refused(lambda: set_budget(processor.admin_token)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        mfa_message,
    )
    # with one, the call reaches the handler (which then judges the empty request)
    with_otp = idp.token(sub="root", genops_role="admin", amr=["pwd", "otp"])
    code, _ = _refused(lambda: set_budget(with_otp))
    assert code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
    # reads are not admin actions
    _status(processor, password_only)
    refusals = processor.refusals()
    assert [(e["actor"], e["detail"]["reason"]) for e in refusals] == [
        ("root", mfa_message),
        ("admin", mfa_message),
    ]


def test_a_rotated_jwks_is_picked_up_without_a_restart(processor, idp):
    new_key = ec.generate_private_key(ec.SECP384R1())
    old = idp.token()
    _write_jwks(idp.jwks, (new_key, "ec-2"))
    fresh = idp.token(key=new_key, kid="ec-2", alg="ES384")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _status(processor, fresh)
            break
        except grpc.RpcError:
            time.sleep(0.2)
    else:
        pytest.fail("a key added to the JWKS was not accepted within 30 s")
    code, details = _refused(lambda: _status(processor, old))
    assert (code, details) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "JWT key id 'rsa-1' is not in the JWKS",
    )


def test_jwt_options_go_together_and_the_jwks_must_be_readable(tmp_path, idp):
    started, log = launch(tmp_path, "--jwks", str(idp.jwks))
    assert started is None
    assert "genops-processor: --jwks, --jwt-issuer and --jwt-audience go together" in log
    (tmp_path / "bad.json").write_text("{not json")
    started, log = launch(
        tmp_path,
        "--jwks", str(tmp_path / "bad.json"),
        "--jwt-issuer", ISSUER,
        "--jwt-audience", AUDIENCE,
    )  # fmt: skip
    assert started is None
    assert f"JWKS file {tmp_path / 'bad.json'} cannot be read as JSON" in log
    assert "Traceback" not in log
