"""Helpers for the sandbox tests: an HTTP session per merchant token."""

from __future__ import annotations

from typing import Any

import requests

from tests.fixtures.sandbox import sandbox_headers


class Api:
    """A requests session speaking to one sandbox as one merchant."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update(sandbox_headers(token))

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base_url + path, params=params, timeout=30)

    def post(self, path: str, body: dict[str, Any], **headers: str) -> requests.Response:
        return self.session.post(self.base_url + path, json=body, headers=headers, timeout=30)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.base_url + path, timeout=30)

    def walk(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every record of a list, following ``after`` cursors."""
        key = path.strip("/")
        records: list[dict[str, Any]] = []
        after = None
        while True:
            response = self.get(path, **params, **({"after": after} if after else {}))
            assert response.status_code == 200, response.text
            page = response.json()
            records += page[key]
            after = page["meta"]["cursors"]["after"]
            if after is None:
                return records


def api_for(server: Any, merchant_index: int = 0) -> Api:
    return Api(server.base_url, server.merchants[merchant_index].access_token)


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["request_id"], body
    assert body["error"]["code"] == response.status_code
    return body["error"]
