"""Fixtures for client tests: one stub API server per session, a fresh fast client per test."""

from __future__ import annotations

import pytest

from gocardless_commerce.client import GoCardlessClient
from tests.client.server import serve
from tests.client.stub_api import TOKEN, StubStack


@pytest.fixture(scope="session")
def _stub_server():
    stack = StubStack()
    # uvicorn's own Date lags up to a second; the limiter sends an exact one instead.
    with serve(stack.script, date_header=False) as base_url:
        yield stack, base_url


@pytest.fixture
def stub(_stub_server) -> StubStack:
    stack, base_url = _stub_server
    stack.reset()
    stack.base_url = base_url
    yield stack
    stack.reset()


@pytest.fixture
def make_client(stub):
    """Build clients against the stub with test-sized backoff; closes them afterwards."""
    clients: list[GoCardlessClient] = []

    def factory(**overrides) -> GoCardlessClient:
        options = {"base_url": stub.base_url, "backoff_base": 0.01, "backoff_max": 0.05,
                   "timeout": (2.0, 5.0)}
        options.update(overrides)
        client = GoCardlessClient(options.pop("access_token", TOKEN), **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> GoCardlessClient:
    return make_client()
