"""GoCardless Connect OAuth: authorize, token exchange, revocation, RFC 6749 errors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from gocardless_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET, DEFAULT_OAUTH_REDIRECT_URIS
from tests.fixtures.sandbox import sandbox_headers
from tests.sandbox.conftest import authorize, code_from, exchange


@pytest.fixture(scope="module")
def server():
    from gocardless_sandbox import SandboxServer
    from tests.fixtures.sandbox import small_config

    with SandboxServer(small_config(payments_per_merchant=20)) as running:
        yield running


def test_happy_path_picks_the_organisation_by_email_and_token_works(server):
    second = server.merchants[1]
    code = code_from(authorize(server, **{"prefill[email]": second.email, "initial_view": "login",
                                          "prefill[given_name]": "Ada", "prefill[family_name]": "L"}))
    response = exchange(server, code)
    assert response.status_code == 200
    token = response.json()
    assert set(token) == {"access_token", "token_type", "scope", "organisation_id", "email"}
    assert (token["token_type"], token["scope"], token["organisation_id"], token["email"]) == (
        "bearer", "read_write", second.organisation_id, second.email)
    assert token["access_token"].startswith("sandbox_")
    creditors = requests.get(f"{server.base_url}/creditors", headers=sandbox_headers(token["access_token"]), timeout=10)
    assert creditors.json()["creditors"][0]["id"] == second.creditor_id


def test_organisation_by_name_then_first(server):
    by_name = exchange(server, code_from(authorize(server, **{"prefill[organisation_name]": server.merchants[1].name.upper()})))
    assert by_name.json()["organisation_id"] == server.merchants[1].organisation_id
    fallback = exchange(server, code_from(authorize(server, **{"prefill[email]": "nobody@example.com"})))
    assert fallback.json()["organisation_id"] == server.merchants[0].organisation_id


def test_read_only_scope_cannot_write(server):
    token = exchange(server, code_from(authorize(server, scope="read_only"))).json()
    assert token["scope"] == "read_only"
    headers = sandbox_headers(token["access_token"])
    assert requests.get(f"{server.base_url}/payments", headers=headers, timeout=10).status_code == 200
    write = requests.post(f"{server.base_url}/customers", json={"customers": {"email": "a@b.c"}}, headers=headers, timeout=10)
    assert write.status_code == 403
    assert write.json()["error"]["errors"][0]["reason"] == "insufficient_permissions"


def test_authorize_errors_never_redirect_to_unregistered_uris(server):
    unknown_client = authorize(server, client_id="someone-else")
    assert unknown_client.status_code == 400 and "location" not in unknown_client.headers
    assert unknown_client.json()["error"] == "invalid_client"
    wrong_redirect = authorize(server, redirect_uri="https://evil.example.com/callback")
    assert wrong_redirect.status_code == 400 and "location" not in wrong_redirect.headers
    assert wrong_redirect.json()["error"] == "invalid_request"
    bad_scope = authorize(server, scope="full_access")
    assert bad_scope.status_code == 302 and "error=invalid_scope" in bad_scope.headers["location"]


def test_token_errors(server):
    code = code_from(authorize(server))
    wrong_secret = exchange(server, code, client_secret="nope")
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    wrong_grant = exchange(server, code, grant_type="client_credentials")
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")
    wrong_redirect = exchange(server, code_from(authorize(server)), redirect_uri=DEFAULT_OAUTH_REDIRECT_URIS[1])
    assert (wrong_redirect.status_code, wrong_redirect.json()["error"]) == (400, "invalid_grant")
    assert exchange(server, code).status_code == 200
    reused = exchange(server, code)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert exchange(server, "made-up-code").json()["error"] == "invalid_grant"


def test_revoked_token_gets_401(server):
    token = exchange(server, code_from(authorize(server))).json()["access_token"]
    headers = sandbox_headers(token)
    assert requests.get(f"{server.base_url}/mandates", headers=headers, timeout=10).status_code == 200
    denied = requests.post(f"{server.base_url}/oauth/revoke", data={"client_id": DEFAULT_OAUTH_CLIENT_ID,
                                                                   "client_secret": "wrong", "token": token}, timeout=10)
    assert denied.status_code == 401
    revoked = requests.post(f"{server.base_url}/oauth/revoke", data={"client_id": DEFAULT_OAUTH_CLIENT_ID,
                                                                    "client_secret": DEFAULT_OAUTH_CLIENT_SECRET, "token": token}, timeout=10)
    assert revoked.status_code == 200
    after = requests.get(f"{server.base_url}/mandates", headers=headers, timeout=10)
    assert after.status_code == 401
    assert after.json()["error"]["errors"][0]["reason"] == "unauthorized"


def test_custom_oauth_client(sandbox_factory):
    server = sandbox_factory(payments_per_merchant=10, oauth_client_id="app", oauth_client_secret="s3cret",
                             oauth_redirect_uris=("http://localhost:9999/cb",))
    response = requests.get(f"{server.base_url}/oauth/authorize", allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": "app", "redirect_uri": "http://localhost:9999/cb", "state": "s"})
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    token = requests.post(f"{server.base_url}/oauth/access_token", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost:9999/cb"}, auth=("app", "s3cret"))
    assert token.status_code == 200 and token.json()["scope"] == "read_write"
