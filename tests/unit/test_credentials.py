"""The credentials file, the authenticator and the security settings, without a server:
tokens match only by hash, revoked principals never match, a file that turns invalid
keeps the last good credentials, certificate subjects compare in any order, JWT claims
map to principals, and the settings refuse an open processor off loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml

from genops_processor.api.authentication import MISSING, Authenticator, Unauthenticated
from genops_processor.auth import LOCAL_OPERATOR, CredentialsSource, JwtSettings, Role, watched_file
from genops_processor.auth import credentials as creds
from genops_processor.auth.jwt_tokens import JwksSource, JwtError, principal_from_claims
from genops_processor.auth.posture import SecurityFacts
from genops_processor.settings import ProcessorSettings, SettingsError, is_loopback


def test_a_token_matches_its_principal_only_until_revoked(tmp_path):
    path = tmp_path / "c.yaml"
    token = creds.create(path, "trainer", "client", teams=["a", "a", "b"], projects=["p"])
    loaded = creds.load(path)
    principal = loaded.by_token(token)
    assert (principal.name, principal.role, principal.teams, principal.projects) == (
        "trainer",
        Role.CLIENT,
        frozenset({"a", "b"}),
        frozenset({"p"}),
    )
    assert principal.method == "token"
    assert loaded.by_token(token + "x") is None
    assert loaded.by_token(creds.hash_token(token)) is None  # the stored hash is no token
    creds.revoke(path, "trainer")
    assert creds.load(path).by_token(token) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a mapping at the top"),
        ({"principals": [{"name": "a", "role": "root"}]}, "principals[0].role: unknown role"),
        ({"principals": [{"name": "a b", "role": "admin"}]}, "principals[0].name: expected"),
        ({"principals": [{"name": "a", "role": "admin", "token": "x"}]}, "unknown key(s) token"),
        ({"principals": [{"name": "a", "role": "admin", "token_sha256": "XY"}]}, "64 lowercase"),
        (
            {"principals": [{"name": "a", "role": "admin"}, {"name": "a", "role": "client"}]},
            "principal name(s) used twice: a",
        ),
        ({"jwt": {"jwks": "j.json", "issuer": "i"}}, "jwt.audience: required"),
        ({"require_mfa_for_admin": "yes"}, "require_mfa_for_admin must be true or false"),
    ],
)
def test_a_bad_file_names_the_field(data, message):
    with pytest.raises(creds.CredentialsError) as error:
        creds.parse(data, "c.yaml")
    assert message in str(error.value)


def test_subjects_compare_in_any_order_and_spacing():
    loaded = creds.parse(
        {
            "principals": [
                {
                    "name": "m",
                    "role": "client",
                    "teams": ["a"],
                    "mtls_subject": "CN = trainer, O = example",
                }
            ]
        }  # fmt: skip
    )
    for seen in ("O=example,CN=trainer", "CN=trainer,O=example", "cn=trainer, o=example"):
        assert loaded.by_subject(seen).name == "m", seen
    assert loaded.by_subject("O=example,CN=trainer2") is None
    assert loaded.by_subject("CN=trainer") is None


def test_a_file_that_turns_invalid_keeps_the_last_good_credentials(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    token = creds.create(path, "ops", "admin")
    source = CredentialsSource(path)
    path.write_text("principals: [oops")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    monkeypatch.setattr(watched_file, "RELOAD_EVERY_S", 0.0)
    assert source.current().by_token(token).name == "ops"
    assert "not valid YAML" in source.last_error
    second = creds.create(tmp_path / "d.yaml", "late", "auditor")
    path.write_text((tmp_path / "d.yaml").read_text())
    assert source.current().by_token(second).name == "late"
    assert source.current().by_token(token) is None
    assert source.last_error is None


# -- the authenticator ---------------------------------------------------------------------
@pytest.fixture
def authenticator(tmp_path):
    path = tmp_path / "c.yaml"
    token = creds.create(path, "ops", "admin")
    data = yaml.safe_load(path.read_text())
    data["principals"].append({"name": "cert", "role": "auditor", "mtls_subject": "CN=c"})
    path.write_text(yaml.safe_dump(data))
    return Authenticator(CredentialsSource(path), mtls=True), token


def test_nothing_configured_is_the_local_operator():
    assert Authenticator().open
    assert Authenticator().authenticate([("authorization", "Bearer junk")], None) is LOCAL_OPERATOR


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ([], MISSING),
        ([("authorization", "Bearer a"), ("authorization", "Bearer b")], "more than one"),
        ([("authorization", "Token abc")], "must be 'Bearer <token>'"),
        ([("authorization", "Bearer")], "must be 'Bearer <token>'"),
        ([("authorization", "Bearer genops_x")], "unknown or revoked token"),
        ([("authorization", "Bearer " + "a" * 8193)], "longer than 8192"),
    ],
)
def test_bad_metadata_is_unauthenticated(authenticator, metadata, message):
    with pytest.raises(Unauthenticated) as error:
        authenticator[0].authenticate(metadata, None)
    assert message in str(error.value)


def test_a_bearer_beats_the_certificate_and_a_bad_bearer_never_falls_back(authenticator):
    auth, token = authenticator
    assert auth.authenticate([("authorization", f"bearer {token}")], "CN=c").name == "ops"
    assert auth.authenticate([], "CN=c").name == "cert"
    with pytest.raises(Unauthenticated, match="unknown or revoked token"):
        auth.authenticate([("authorization", "Bearer genops_bad")], "CN=c")
    with pytest.raises(Unauthenticated, match="subject 'CN=x' is not a principal"):
        auth.authenticate([], "CN=x")


def test_the_certificate_is_read_only_for_a_call_without_a_bearer(authenticator):
    """The interceptor passes how to read the peer's subject (reading it costs a copy of
    the call's auth context): a call with a bearer never reads it."""
    auth, token = authenticator
    read = []

    def subject(value):
        return lambda: read.append(value) or value

    assert auth.authenticate([("authorization", f"bearer {token}")], subject("CN=c")).name == "ops"
    with pytest.raises(Unauthenticated, match="unknown or revoked token"):
        auth.authenticate([("authorization", "Bearer genops_bad")], subject("CN=c"))
    assert read == []
    assert auth.authenticate([], subject("CN=c")).name == "cert"
    with pytest.raises(Unauthenticated, match="subject 'CN=x' is not a principal"):
        auth.authenticate([], subject("CN=x"))
    with pytest.raises(Unauthenticated, match="missing"):
        auth.authenticate([], subject(None))
    assert read == ["CN=c", "CN=x", None]


# -- JWT claims ------------------------------------------------------------------------------
JWT = JwtSettings("jwks.json", "iss", "aud")


def test_claims_map_to_a_principal():
    principal = principal_from_claims(
        {
            "sub": "alice",
            "genops_role": "Approver",
            "genops_teams": "a, b c",
            "genops_projects": ["p"],
            "amr": ["pwd", "OTP"],
        },  # fmt: skip
        JWT,
    )
    assert (principal.name, principal.role, principal.teams, principal.projects) == (
        "alice",
        Role.APPROVER,
        frozenset({"a", "b", "c"}),
        frozenset({"p"}),
    )
    assert principal.method == "jwt" and principal.has_second_factor
    assert not principal_from_claims({"sub": "x", "genops_role": "admin"}, JWT).has_second_factor


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"genops_role": "admin"}, "no 'sub' claim"),
        ({"sub": "x"}, "no 'genops_role' claim"),
        ({"sub": "x", "genops_role": "god"}, "unknown role 'god'"),
        ({"sub": "x", "genops_role": "client", "genops_teams": [3]}, "genops_teams"),
    ],
)
def test_bad_claims_are_refused(claims, message):
    with pytest.raises(JwtError, match=message):
        principal_from_claims(claims, JWT)


# -- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.3.2.1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("", False), ("[::]", False), ("10.0.0.1", False), ("example.com", False)],
)  # fmt: skip
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"listen": "0.0.0.0:4317"}, "serves only on loopback"),
        ({"listen": ":4317"}, "serves only on loopback"),
        ({"metrics_listen": "0.0.0.0:9464"}, "off loopback give --metrics-token"),
        ({"jwks": "j.json"}, "--jwks, --jwt-issuer and --jwt-audience go together"),
        ({"tls_key": "k.pem"}, "--tls-cert and --tls-key go together"),
        ({"credentials": "c.yaml", "metrics_token": "short"}, "at least 16 characters"),
        ({"insecure": "maybe"}, "expected true or false"),
    ],
)
def test_insecure_settings_are_refused(options, message):
    with pytest.raises(SettingsError, match=message):
        ProcessorSettings.resolve({}, **options)


def test_open_addresses_with_credentials_a_token_or_insecure():
    assert ProcessorSettings.resolve({}, listen="0.0.0.0:1", credentials="c.yaml").authenticates
    assert ProcessorSettings.resolve({"GENOPS_INSECURE": "true"}, listen="0.0.0.0:1").insecure
    settings = ProcessorSettings.resolve(
        {"GENOPS_METRICS_TOKEN": "0123456789abcdef"}, metrics_listen="0.0.0.0:9"
    )
    assert settings.metrics_token == "0123456789abcdef"


def test_security_facts_name_the_strongest_method():
    assert SecurityFacts().authentication == "none"
    assert SecurityFacts(methods=("token", "jwt")).authentication == "jwt"
    facts = SecurityFacts(tls=True, mutual_tls=True, methods=("token", "mtls"), _mfa=lambda: True)
    assert (facts.authentication, facts.mfa_required_for_admin) == ("mtls", True)


def test_the_processor_loads_pyjwt_only_for_a_jwks():
    """PyJWT and the cryptography it imports (~9 MiB of a started processor's memory)
    are loaded when a JWKS is first read, not by a processor that has none."""
    probe = (
        "import sys\n"
        "import genops_processor.cli.main, genops_processor.server\n"
        "from genops_processor.auth.jwt_tokens import JwtVerifier\n"
        "verifier = JwtVerifier()\n"
        "print('jwt' in sys.modules, 'cryptography' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_bad_jwks_is_still_refused_by_name(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text('{"keys": "not a list"}')
    with pytest.raises(JwtError, match="JWKS file"):
        JwksSource(path).keys()
