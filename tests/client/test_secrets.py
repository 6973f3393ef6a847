"""The access token never shows up in logs, reprs or exception text."""

from __future__ import annotations

import logging

import pytest

from gocardless_commerce.client import AuthenticationError, GoCardlessClient
from tests.client.stub_api import TOKEN


def test_repr_and_str_mask_the_token(client):
    for text in (repr(client), str(client)):
        assert TOKEN not in text and "5ecret" not in text
        assert "access_token='sandbox_****'" in text and client.base_url in text
    assert "live_****" in repr(GoCardlessClient("live_abc", environment="live"))
    assert "'****'" in repr(GoCardlessClient("opaque", environment="live"))


def test_401_error_and_logs_hold_no_token(make_client, caplog):
    bad_token = "sandbox_not_the_right_one"
    client = make_client(access_token=bad_token)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as excinfo:
        client.get("payments", "PM00001")
    assert str(excinfo.value) == "401 invalid_api_usage: Authentication failed (request_id=RQ401)"
    assert bad_token not in repr(excinfo.value)
    assert bad_token not in caplog.text


def test_retry_warnings_name_the_failure_but_not_the_token(client, stub, caplog):
    stub.script.push("500", "drop", "502-html")
    with caplog.at_level(logging.DEBUG):
        client.get("payments", "PM00001")
    warnings = [r for r in caplog.records if r.name == "gocardless_commerce.client"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 3
    messages = [r.getMessage() for r in warnings]
    assert messages[0].startswith(
        "GoCardless GET /payments/PM00001 failed (InternalError: 500 gocardless: "
        "Uh-oh! Something went wrong. Please try again later. (request_id="
    )
    assert "retry 1/5 in " in messages[0]
    assert "(TransportError: GET /payments/PM00001: connection failed (incomplete read: " \
        "connection closed mid-response)); retry 2/5" in messages[1]
    assert "(MalformedResponseError: 502 malformed response (text/html; charset=UTF-8, " in messages[2]
    assert "Bad Gateway" not in messages[2] and "<html>" not in messages[2]  # no body in logs
    assert TOKEN not in caplog.text and "Bearer" not in caplog.text


def test_a_malformed_token_response_keeps_no_token(stub, caplog):
    """Half a token response is still a token: the error names the response, not its text."""
    from gocardless_commerce.client import MalformedResponseError, oauth

    stub.script.push("truncate")
    with caplog.at_level(logging.DEBUG), pytest.raises(MalformedResponseError) as excinfo:
        oauth.exchange_code(stub.base_url, client_id="app", client_secret="cs_secret", code="good-code",
                            redirect_uri="http://127.0.0.1:8080/oauth/callback")
    text = str(excinfo.value) + repr(excinfo.value)
    assert text.startswith("200 malformed response (application/json, ")
    assert "sandbox_stub" not in text and "5ecret" not in text and "access_token" not in text
    assert "5ecret" not in caplog.text
