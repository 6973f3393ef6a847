"""GoCardlessHook resolves connections from AIRFLOW_CONN_* JSON, lazily, and builds clients."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from gocardless_commerce.client import ApiError
from gocardless_commerce.orchestration.hook import GoCardlessHook
from gocardless_commerce.settings import merchant_conn_id
from tests.client.stub_api import TOKEN

MERCHANT = merchant_conn_id("dc42")  # the name the registry gives a data connection's token


def _set_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "gocardless", **fields}))


@pytest.fixture
def provider(monkeypatch):
    def set_provider(**extra):
        _set_conn(monkeypatch, "gocardless_default", login="app_client_id",
                  password="cs_secret", extra=extra)
    return set_provider


def test_connection_contract():
    assert GoCardlessHook.conn_name_attr == "gocardless_conn_id"
    assert GoCardlessHook.default_conn_name == "gocardless_default"
    assert GoCardlessHook.conn_type == "gocardless"
    assert GoCardlessHook.hook_name == "GoCardless"
    behaviour = GoCardlessHook.get_ui_field_behaviour()
    assert behaviour["relabeling"] == {"login": "Client ID", "password": "Client secret"}


def test_init_reads_no_connection():
    with mock.patch.object(GoCardlessHook, "get_connection") as get_connection:
        hook = GoCardlessHook(merchant_conn_id=MERCHANT)
    assert get_connection.call_count == 0
    assert hook.gocardless_conn_id == "gocardless_default"


@pytest.mark.parametrize(
    ("provider_extra", "token", "expected"),
    [
        ({"is_sandbox": True}, "sandbox_x1", "https://api-sandbox.gocardless.com"),
        ({"is_sandbox": False}, "live_x1", "https://api.gocardless.com"),
        ({"is_sandbox": "false"}, "live_x1", "https://api.gocardless.com"),
        ({}, "live_x1", "https://api.gocardless.com"),  # token prefix decides
        ({"is_sandbox": False, "base_url": "http://127.0.0.1:4010/"}, "t", "http://127.0.0.1:4010"),
    ],
    ids=["sandbox", "live", "live-string-flag", "token-prefix", "base-url-override"],
)
def test_host_selection(monkeypatch, provider, provider_extra, token, expected):
    provider(**provider_extra)
    _set_conn(monkeypatch, MERCHANT, password=token)
    with GoCardlessHook(merchant_conn_id=MERCHANT).get_client() as client:
        assert client.base_url == expected


def test_merchant_base_url_and_options_override_provider(monkeypatch, provider):
    provider(is_sandbox=True, base_url="http://provider.invalid", max_retries=7)
    _set_conn(monkeypatch, MERCHANT, password="sandbox_x",
              extra={"base_url": "http://127.0.0.1:9999", "timeout": [1, 2]})
    hook = GoCardlessHook(merchant_conn_id=MERCHANT, client_kwargs={"rate_limit_reserve": 5})
    client = hook.get_client(backoff_max=1.0)
    assert client.base_url == "http://127.0.0.1:9999"
    assert client.max_retries == 7 and client.backoff_max == 1.0
    assert client._transport.timeout == (1, 2) and client._transport.rate_limit_reserve == 5
    assert "sandbox_x'" not in repr(client)


def test_missing_merchant_or_token_is_a_clear_error(monkeypatch, provider):
    provider(is_sandbox=True)
    with pytest.raises(ValueError, match="merchant_conn_id"):
        GoCardlessHook().get_client()
    _set_conn(monkeypatch, MERCHANT, login="nobody")
    with pytest.raises(ValueError, match="no access token"):
        GoCardlessHook(merchant_conn_id=MERCHANT).get_client()


def test_hook_client_talks_to_the_stub(monkeypatch, provider, stub):
    provider(is_sandbox=True, base_url=stub.base_url)
    _set_conn(monkeypatch, MERCHANT, password=TOKEN)
    with GoCardlessHook(merchant_conn_id=MERCHANT).get_client() as client:
        assert client.get("payments", "PM00005")["id"] == "PM00005"


def test_oauth_urls(provider):
    provider(is_sandbox=True)
    hook = GoCardlessHook()
    assert hook.oauth_urls() == {
        "authorize": "https://connect-sandbox.gocardless.com/oauth/authorize",
        "access_token": "https://connect-sandbox.gocardless.com/oauth/access_token",
        "revoke": "https://connect-sandbox.gocardless.com/oauth/revoke",
    }
    provider(is_sandbox=False)
    assert hook.oauth_urls()["authorize"] == "https://connect.gocardless.com/oauth/authorize"
    assert hook.authorize_url("https://app.example/cb", state="s1") == (
        "https://connect.gocardless.com/oauth/authorize?response_type=code&client_id=app_client_id"
        "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read_only&state=s1"
    )


def test_exchange_code_against_the_stub(provider, stub):
    provider(is_sandbox=True, base_url=stub.base_url)
    hook = GoCardlessHook()
    token = hook.exchange_code("good-code", "https://app.example/cb")
    assert token["access_token"] == TOKEN and token["organisation_id"] == "OR00001"
    with pytest.raises(ApiError) as excinfo:
        hook.exchange_code("used-code", "https://app.example/cb")
    assert str(excinfo.value) == "400 invalid_grant: The authorization code is invalid"
    assert "cs_secret" not in str(excinfo.value)


def test_test_connection(monkeypatch, provider, stub):
    provider(base_url=stub.base_url)
    assert GoCardlessHook().test_connection() == (True, "Client id and secret are set")
    _set_conn(monkeypatch, MERCHANT, password="sandbox_revoked")
    ok, message = GoCardlessHook(merchant_conn_id=MERCHANT).test_connection()
    assert not ok and message.startswith("401 invalid_api_usage: Authentication failed")


def test_the_connection_type_is_registered_with_airflow():
    """The provider entry point makes Airflow know the ``gocardless`` type: the connection form
    shows the hook's fields and its Test button (a hook Airflow cannot find gets neither)."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    hook = manager.hooks["gocardless"]
    assert (hook.hook_class_name, hook.connection_type) == (
        "gocardless_commerce.orchestration.hook.GoCardlessHook", "gocardless")
    assert "gocardless-commerce" in manager.providers
    behaviour = manager.field_behaviours["gocardless"]
    assert behaviour["relabeling"]["password"] == "Client secret"


@pytest.mark.parametrize("written, environment", [
    (True, "sandbox"), (False, "live"), ("false", "live"), ("False", "live"), ("0", "live"), ("true", "sandbox"),
    ("yes", "sandbox"),
])
def test_is_sandbox_reads_the_same_in_the_hook_and_the_cli(written, environment):
    """The CLI once sent the string "false" to the sandbox host and the hook to the live one."""
    from gocardless_commerce.client.oauth import CONNECT_URLS, environment_of
    from gocardless_commerce.orchestration.hook import provider_oauth_root

    assert environment_of({"is_sandbox": written}) == environment
    assert provider_oauth_root({"is_sandbox": written}) == CONNECT_URLS[environment]


def test_an_unreadable_is_sandbox_is_a_configuration_error():
    from gocardless_commerce.orchestration.hook import provider_oauth_root
    from gocardless_commerce.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="is_sandbox must be true or false"):
        provider_oauth_root({"is_sandbox": "maybe"})
