"""requests-oauthlib with `BackendApplicationClient` (its client_credentials flow), as
its documentation shows it, against the served function."""

import os
import time

import pytest
from oauthlib.oauth2 import BackendApplicationClient, InvalidClientError, InvalidScopeError
from requests_oauthlib import OAuth2Session

# oauthlib refuses plain http unless told otherwise; the function is served on loopback.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


def fetch(service, client, scope=None, **kwargs):
    backend = BackendApplicationClient(client_id=client.client_id, scope=scope)
    session = OAuth2Session(client=backend)
    before = time.time()
    token = session.fetch_token(
        token_url=service.url,
        client_id=client.client_id,
        client_secret=client.secret,
        **kwargs,
    )
    return token, before, time.time()


def test_requests_oauthlib_gets_a_token_without_scope(service):
    client = service.clients["generated"]
    token, before, after = fetch(service, client)
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 604800
    assert token["scope"] == ["quotes"]  # the client's default, as oauthlib lists it
    service.assert_stored(
        {**token, "scope": " ".join(token["scope"])}, client.client_id, before, after
    )


def test_requests_oauthlib_gets_a_token_with_scope(service):
    client = service.clients["generated"]
    token, before, after = fetch(service, client, scope=["profile"])
    assert token["scope"] == ["profile"]
    service.assert_stored(
        {**token, "scope": " ".join(token["scope"])}, client.client_id, before, after
    )


def test_requests_oauthlib_wrong_secret_raises_invalid_client(service):
    client = service.clients["generated"]
    session = OAuth2Session(client=BackendApplicationClient(client_id=client.client_id))
    with pytest.raises(InvalidClientError) as raised:
        session.fetch_token(
            token_url=service.url,
            client_id=client.client_id,
            client_secret=client.wrong_secret(),
        )
    assert raised.value.description == "Client authentication failed"
    assert raised.value.status_code == 401


def test_requests_oauthlib_scope_not_allowed_raises_invalid_scope(service):
    client = service.clients["generated"]
    with pytest.raises(InvalidScopeError):
        fetch(service, client, scope=["admin"])


@pytest.mark.parametrize(
    "include_client_id", [None, True], ids=["basic (default)", "in the body"]
)
@pytest.mark.parametrize("secret", ["odd", "plus"])
def test_requests_oauthlib_secret_that_needs_url_encoding(
    service, include_client_id, secret
):
    client = service.clients[secret]
    token, before, after = fetch(service, client, include_client_id=include_client_id)
    assert token["token_type"] == "bearer"
    service.assert_stored(
        {**token, "scope": " ".join(token["scope"])}, client.client_id, before, after
    )
