"""Authlib (`authlib.integrations.requests_client.OAuth2Session`), as its documentation
shows it, against the served function: tokens with both client authentication methods,
and our errors raised as its `OAuthError` with the right `error`."""

import time

import pytest
from authlib.integrations.requests_client import OAuth2Session, OAuthError

INVALID_CLIENT = "Client authentication failed"


def fetch(service, client, **kwargs):
    """A token as authlib fetches it, with the time window of the request."""
    session = OAuth2Session(client.client_id, client.secret, **kwargs)
    before = time.time()
    token = session.fetch_token(service.url, grant_type="client_credentials")
    return token, before, time.time()


@pytest.mark.parametrize("method", [None, "client_secret_basic", "client_secret_post"])
def test_authlib_gets_a_token(service, method):
    client = service.clients["generated"]
    kwargs = {"token_endpoint_auth_method": method} if method else {}
    token, before, after = fetch(service, client, **kwargs)
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 604800
    assert len(token["access_token"]) == 40
    assert len(token["refresh_token"]) == 40
    # No scope asked: the client's default scopes.
    assert token["scope"] == "quotes"
    service.assert_stored(token, client.client_id, before, after)


def test_authlib_gets_the_scopes_it_asks_for(service):
    client = service.clients["generated"]
    token, before, after = fetch(service, client, scope="profile quotes")
    assert token["scope"] == "profile quotes"
    service.assert_stored(token, client.client_id, before, after)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_wrong_secret_raises_invalid_client(service, method):
    client = service.clients["generated"]
    session = OAuth2Session(
        client.client_id, client.wrong_secret(), token_endpoint_auth_method=method
    )
    with pytest.raises(OAuthError) as raised:
        session.fetch_token(service.url, grant_type="client_credentials")
    assert raised.value.error == "invalid_client"
    assert raised.value.description == INVALID_CLIENT


def test_authlib_scope_not_allowed_raises_invalid_scope(service):
    client = service.clients["generated"]
    session = OAuth2Session(client.client_id, client.secret, scope="quotes admin")
    with pytest.raises(OAuthError) as raised:
        session.fetch_token(service.url, grant_type="client_credentials")
    assert raised.value.error == "invalid_scope"
    assert raised.value.description == (
        'The requested scope is invalid, unknown, or malformed. Check the "admin" scope.'
    )


@pytest.mark.parametrize("secret", ["odd", "plus"])
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_secret_that_needs_url_encoding(service, method, secret):
    client = service.clients[secret]
    token, before, after = fetch(service, client, token_endpoint_auth_method=method)
    assert token["token_type"] == "bearer"
    service.assert_stored(token, client.client_id, before, after)


def test_authlib_the_documents_client(service):
    client = service.clients["document"]
    token, before, after = fetch(service, client)
    assert token["scope"] == "quotes"
    service.assert_stored(token, client.client_id, before, after)
