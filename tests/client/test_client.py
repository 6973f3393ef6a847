"""Constructing the client: hosts, timeouts, pooling, lifecycle."""

from __future__ import annotations

from unittest import mock

import pytest
import requests

from gocardless_commerce.client import GoCardlessClient


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"environment": "live"}, "https://api.gocardless.com"),
        ({"environment": "sandbox"}, "https://api-sandbox.gocardless.com"),
        ({"base_url": "http://127.0.0.1:4010/"}, "http://127.0.0.1:4010"),
        ({"base_url": "http://127.0.0.1:4010", "environment": "live"}, "http://127.0.0.1:4010"),
    ],
    ids=["live", "sandbox", "base-url", "base-url-overrides"],
)
def test_host(kwargs, expected):
    assert GoCardlessClient("sandbox_t", **kwargs).base_url == expected


@pytest.mark.parametrize(
    ("token", "kwargs", "message"),
    [
        ("", {"environment": "live"}, "access_token"),
        ("sandbox_t", {}, "environment"),
        ("sandbox_t", {"environment": "staging"}, "environment"),
        ("sandbox_t", {"environment": "live", "max_retries": -1}, "max_retries"),
    ],
    ids=["no-token", "no-host", "bad-environment", "negative-retries"],
)
def test_invalid_arguments(token, kwargs, message):
    with pytest.raises(ValueError, match=message):
        GoCardlessClient(token, **kwargs)


def test_pooled_session_and_timeouts_on_every_request():
    client = GoCardlessClient("sandbox_t", environment="sandbox", timeout=7, pool_size=4)
    adapter = client._transport.session.get_adapter("https://api-sandbox.gocardless.com")
    assert adapter._pool_connections == 4 and adapter._pool_maxsize == 4
    assert adapter.max_retries.total == 0  # retries are ours, not urllib3's
    with mock.patch.object(client._transport.session, "request") as request:
        request.return_value.status_code = 204
        client.delete("/customers/CU1")
    assert request.call_args.kwargs["timeout"] == (7.0, 7.0)


def test_context_manager_closes_own_session_but_not_a_borrowed_one():
    borrowed = requests.Session()
    with mock.patch.object(borrowed, "close") as borrowed_close:
        with GoCardlessClient("sandbox_t", environment="sandbox", session=borrowed):
            pass
    assert borrowed_close.call_count == 0
    with mock.patch.object(requests.Session, "close") as close:
        with GoCardlessClient("sandbox_t", environment="sandbox"):
            pass
    assert close.call_count == 1


@pytest.mark.parametrize("record_id", ["", ".", ".."])
def test_an_id_that_is_no_path_segment_is_refused_before_any_request(record_id):
    """``/payments/..`` would be normalised to ``/`` (another endpoint) by the HTTP stack."""
    from gocardless_commerce.client.client import UnrequestableIdError

    session = mock.Mock(spec=requests.Session)
    with GoCardlessClient("token", base_url="http://127.0.0.1:9", session=session) as client:
        with pytest.raises(UnrequestableIdError, match="cannot name a payments record"):
            client.get_raw("payments", record_id)
    session.request.assert_not_called()
