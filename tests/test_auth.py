"""JWT authentication: off by default (with a warning); with a key, tokens are checked."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from webtest import TestApp

from service.api.auth import authentication
from service.core.config import Config, ConfigError
from service.server.bootstrap import Runtime, build
from tests.conftest import make_config

SECRET = "s3cret-" + "x" * 60  # 64+ bytes: long enough for HS512 too
ISSUER = "https://issuer.example"
AUDIENCE = "tasks-api"


def pem_of(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def claims(sub: str, **more) -> dict:
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + 300, **more}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def running(database_url: str, **settings: str) -> Iterator[TestApp]:
    rt: Runtime = build(make_config(database_url, **settings))
    rt.pool.open(wait=True, timeout=10)
    try:
        yield TestApp(rt.app, extra_environ={"HTTP_HOST": "tasks.test"})
    finally:
        rt.stop()


@pytest.fixture(scope="module")
def hs_app(database_url) -> Iterator[TestApp]:
    yield from running(database_url, JWT_SECRET=SECRET)


@pytest.fixture(scope="module")
def es_app(database_url, ec_key) -> Iterator[TestApp]:
    yield from running(
        database_url, JWT_PUBLIC_KEY=pem_of(ec_key), JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE
    )


def hs(sub: str, **more) -> str:
    return jwt.encode(claims(sub, **more), SECRET, algorithm="HS256")


def es(key, sub: str, **more) -> str:
    return jwt.encode(
        claims(sub, **{"iss": ISSUER, "aud": AUDIENCE, **more}), key, algorithm="ES256"
    )


# --- off by default ----------------------------------------------------------------------


def test_without_a_key_authentication_is_off_and_a_warning_says_so(database_url, caplog):
    with caplog.at_level(logging.WARNING, logger="service.api.auth"):
        assert authentication(make_config(database_url)) is None
    assert "authentication is off" in caplog.text and "trusted" in caplog.text


def test_without_a_key_requests_need_no_token(api):
    api.create(status=201)


# --- HS256 -------------------------------------------------------------------------------


def test_a_valid_token_for_the_path_user_is_accepted(hs_app, user_id):
    token = hs(user_id)
    created = hs_app.post_json(
        f"/api/{user_id}/tasks", {"title": "mine"}, headers=bearer(token), status=201
    ).json
    listed = hs_app.get(f"/api/{user_id}/tasks", headers=bearer(token)).json
    assert [t["id"] for t in listed] == [created["id"]]


@pytest.mark.parametrize(
    "path",
    ["/tasks", "/tasks/00000000-0000-4000-8000-000000000000", "/tasks/x/complete"],
)
def test_a_request_without_a_token_is_401_with_a_bearer_challenge(hs_app, user_id, path):
    resp = hs_app.get(f"/api/{user_id}{path}", status=401)
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert resp.content_type == "application/problem+json"
    assert resp.json["status"] == 401


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "token"])
def test_a_non_bearer_authorization_is_401(hs_app, user_id, header):
    resp = hs_app.get(f"/api/{user_id}/tasks", headers={"Authorization": header}, status=401)
    assert resp.headers["WWW-Authenticate"] == "Bearer"


def test_the_scheme_is_case_insensitive(hs_app, user_id):
    hs_app.get(f"/api/{user_id}/tasks", headers={"Authorization": f"bearer {hs(user_id)}"})


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda u: hs(u, exp=int(time.time()) - 10), id="expired"),
        pytest.param(lambda u: hs(u, nbf=int(time.time()) + 600), id="not-yet-valid"),
        pytest.param(
            lambda u: jwt.encode(claims(u), "another-secret-" + "y" * 40, algorithm="HS256"),
            id="wrong-secret",
        ),
        pytest.param(lambda u: jwt.encode({"sub": u}, SECRET, algorithm="HS256"), id="no-exp"),
        pytest.param(
            lambda u: jwt.encode(claims(u), SECRET, algorithm="HS512"), id="other-algorithm"
        ),
        pytest.param(lambda u: jwt.encode(claims(u), None, algorithm="none"), id="alg-none"),
        pytest.param(lambda u: hs(u)[:-4] + "AAAA", id="tampered"),
        pytest.param(lambda u: "not.a.jwt", id="garbage"),
        # PyJWT reads exp with int(): a string or a huge number made a token that never expires.
        pytest.param(lambda u: hs(u, exp=str(int(time.time()) + 300)), id="exp-string"),
        pytest.param(lambda u: hs(u, exp=1e300), id="exp-1e300"),
        pytest.param(lambda u: hs(u, exp=True), id="exp-bool"),
        pytest.param(lambda u: hs(u, nbf="0"), id="nbf-string"),
        pytest.param(lambda u: hs(u, iat=1e300), id="iat-1e300"),
    ],
)
def test_an_invalid_token_is_401_invalid_token(hs_app, user_id, make_token):
    resp = hs_app.get(f"/api/{user_id}/tasks", headers=bearer(make_token(user_id)), status=401)
    assert resp.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert resp.json["status"] == 401 and resp.json["detail"]


def test_a_token_of_another_user_is_403_and_writes_nothing(hs_app, user_id, other_user, db):
    resp = hs_app.post_json(
        f"/api/{user_id}/tasks", {"title": "x"}, headers=bearer(hs(other_user)), status=403
    )
    assert resp.content_type == "application/problem+json"
    n = db.execute("SELECT count(*) AS n FROM tasks WHERE user_id = %s", (user_id,)).fetchone()
    assert n["n"] == 0


def test_authentication_comes_before_validation(hs_app):
    # An anonymous caller gets 401, not a 422 that would reveal what the path must look like.
    hs_app.get("/api/bad%20user/tasks", status=401)
    hs_app.post_json("/api/someone/tasks", {"title": ""}, status=401)


def test_leeway_accepts_a_just_expired_token(database_url, user_id):
    token = hs(user_id, exp=int(time.time()) - 5)
    for app in running(database_url, JWT_SECRET=SECRET, JWT_LEEWAY_SECONDS="60"):
        app.get(f"/api/{user_id}/tasks", headers=bearer(token), status=200)


@pytest.mark.parametrize("path", ["/health", "/livez", "/readyz"])
def test_operational_endpoints_stay_open(hs_app, path):
    hs_app.get(path, status=200)


def test_cors_preflight_needs_no_token(hs_app, user_id):
    resp = hs_app.options(
        f"/api/{user_id}/tasks",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, idempotency-key",
        },
    )
    assert resp.status_int < 300
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


def test_an_unknown_api_route_is_a_plain_404(hs_app):
    # Checked after routing: a path that names no resource reveals nothing either way.
    hs_app.get("/api/x/nothing-here", status=404)


# --- ES256 with issuer and audience ------------------------------------------------------


def test_an_es256_token_is_accepted(es_app, ec_key, user_id):
    es_app.post_json(
        f"/api/{user_id}/tasks", {"title": "t"}, headers=bearer(es(ec_key, user_id)), status=201
    )


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda key, u: es(key, u, iss="https://evil.example"), id="wrong-iss"),
        pytest.param(lambda key, u: es(key, u, aud="another-api"), id="wrong-aud"),
        pytest.param(
            lambda key, u: jwt.encode(claims(u, aud=AUDIENCE), key, algorithm="ES256"),
            id="no-iss",
        ),
        pytest.param(lambda key, u: es(ec.generate_private_key(ec.SECP256R1()), u), id="other-key"),
        pytest.param(lambda key, u: hs(u), id="hs256-token"),
        pytest.param(
            # Algorithm confusion: an HMAC signed with the public key's PEM as the secret.
            lambda key, u: _hmac_with_public_key(key, u),
            id="hmac-with-the-public-key",
        ),
    ],
)
def test_an_es256_service_rejects_bad_tokens(es_app, ec_key, user_id, make_token):
    resp = es_app.get(
        f"/api/{user_id}/tasks", headers=bearer(make_token(ec_key, user_id)), status=401
    )
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def _hmac_with_public_key(key, sub: str) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims(sub, iss=ISSUER, aud=AUDIENCE)).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(pem_of(key).encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def test_an_eddsa_key_verifies_eddsa_tokens(database_url, user_id):
    key = ed25519.Ed25519PrivateKey.generate()
    token = jwt.encode(claims(user_id), key, algorithm="EdDSA")
    # The PEM as one env line with literal \n, as deployments often pass it.
    one_line = pem_of(key).strip().replace("\n", "\\n")
    for app in running(database_url, JWT_PUBLIC_KEY=one_line):
        app.get(f"/api/{user_id}/tasks", headers=bearer(token), status=200)
        app.get(f"/api/{user_id}/tasks", headers=bearer(hs(user_id)), status=401)


# --- configuration -----------------------------------------------------------------------


def config(**env: str) -> Config:
    return Config.from_env({"DATABASE_URL": "postgresql://x/y", **env}, dotenv_path=None)


def test_the_algorithm_follows_the_key_type(ec_key, tmp_path):
    assert config(JWT_SECRET=SECRET).jwt_algorithm == "HS256"
    assert config(JWT_PUBLIC_KEY=pem_of(ec_key)).jwt_algorithm == "ES256"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert config(JWT_PUBLIC_KEY=pem_of(rsa_key)).jwt_algorithm == "RS256"
    ed_key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "key.pem"
    path.write_text(pem_of(ed_key))
    assert config(JWT_PUBLIC_KEY=str(path)).jwt_algorithm == "EdDSA"
    assert config().jwt_enabled is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JWT_SECRET": "short"}, "at least 32 bytes"),
        ({"JWT_SECRET": SECRET, "JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----"}, "not both"),
        (
            {"JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"},
            "not a readable PEM",
        ),
        ({"JWT_PUBLIC_KEY": "/no/such/file.pem"}, "PEM public key or the path"),
        ({"JWT_LEEWAY_SECONDS": "-1"}, "JWT_LEEWAY_SECONDS"),
    ],
)
def test_unusable_jwt_settings_fail_start_up(env, message):
    with pytest.raises(ConfigError, match=message):
        config(**env)


def test_an_unsupported_key_type_fails_start_up():
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ConfigError, match="P-256"):
        config(JWT_PUBLIC_KEY=pem_of(p384))


def test_request_ids_stay_unique_under_auth(hs_app, user_id):
    # The 401 path still carries a request id, like every problem.
    resp = hs_app.get(f"/api/{user_id}/tasks", status=401)
    assert resp.json["request_id"] == resp.headers["X-Request-ID"]
    uuid.UUID(resp.headers["X-Request-ID"])
