"""Fixtures for client tests: a fresh fast client per test against the stub (tests/fixtures/stub_api.py)."""

from __future__ import annotations

import pytest

from gocardless_commerce.client import GoCardlessClient
from tests.client.stub_api import TOKEN


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
