"""JWT access tokens (docs/PROTOCOL.md §10) checked with PyJWT, an independent
implementation, from the keys the served function publishes over HTTP: the discovery
document, the JWKS, and every header field and claim; forged tokens refused by
introspection; revocation."""

import base64
import json
import time

import jwt
import pytest
import requests

AUDIENCE = "https://api.example.com"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def issue(service, client):
    before = int(time.time())
    r = requests.post(
        service.url,
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.secret),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json(), before, int(time.time())


def base(service):
    return service.url.rsplit("/oauth", 1)[0]


def test_discovery_and_jwks_as_api_gateway_reads_them(service):
    conf = requests.get(f"{base(service)}/.well-known/openid-configuration", timeout=30)
    assert conf.status_code == 200
    assert conf.headers["Cache-Control"] == "public, max-age=300"
    doc = conf.json()
    assert doc["issuer"] == base(service)
    assert doc["jwks_uri"] == f"{base(service)}/.well-known/jwks.json"
    jwks = requests.get(doc["jwks_uri"], timeout=30)
    assert jwks.status_code == 200
    keys = jwks.json()["keys"]
    assert len(keys) == 1
    assert {k: keys[0][k] for k in ("kty", "use", "alg")} == {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
    }
    assert set(keys[0]) == {"kty", "use", "alg", "kid", "n", "e"}, "no private parts"


@pytest.mark.needs("kms")  # issuing a JWT unseals the signing key
def test_a_jwt_clients_token_verifies_with_pyjwt_and_carries_rfc9068_claims(service):
    client = service.clients["jwt"]
    body, before, after = issue(service, client)
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": header["kid"]}
    jwks = jwt.PyJWKClient(f"{base(service)}/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=base(service),
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    assert claims["sub"] == client.client_id
    assert claims["client_id"] == client.client_id
    assert claims["aud"] == [AUDIENCE]
    assert claims["scope"] == "quotes"
    assert before <= claims["iat"] <= after
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] == body["expires"] == claims["iat"] + body["expires_in"]
    assert body["expires_in"] == 3600
    assert len(claims["jti"]) >= 22
    assert body["token_type"] == "bearer"
    assert len(body["refresh_token"]) == 40


def introspect(service, token):
    client = service.clients["jwt"]
    r = requests.post(
        f"{service.url}/introspect",
        data={"token": token},
        auth=(client.client_id, client.secret),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.needs("kms")  # issuing a JWT unseals the signing key
def test_introspection_accepts_the_token_and_refuses_forgeries(service):
    body, _, _ = issue(service, service.clients["jwt"])
    token = body["access_token"]
    assert introspect(service, token)["active"] is True
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "admin"
    tampered = f"{head}.{b64url(json.dumps(claims).encode())}.{sig}"
    none = f"{b64url(json.dumps({'alg': 'none', 'typ': 'at+jwt'}).encode())}.{payload}."
    # Signed with a key of our own: unknown to the service.
    from cryptography.hazmat.primitives.asymmetric import rsa

    foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode(
        claims, foreign_key, algorithm="RS256", headers={"typ": "at+jwt", "kid": "x"}
    )
    for forged in (tampered, none, foreign):
        assert introspect(service, forged) == {"active": False}


@pytest.mark.needs("kms")  # issuing a JWT unseals the signing key
def test_a_revoked_jwt_is_inactive(service):
    client = service.clients["jwt"]
    body, _, _ = issue(service, client)
    token = body["access_token"]
    r = requests.post(
        f"{service.url}/revoke",
        data={"token": token},
        auth=(client.client_id, client.secret),
        timeout=30,
    )
    assert r.status_code == 200
    assert introspect(service, token) == {"active": False}
