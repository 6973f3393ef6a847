"""Helpers for the sandbox tests: an HTTP session per merchant token, the OAuth walk."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from gocardless_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET, DEFAULT_OAUTH_REDIRECT_URIS
from tests.fixtures.sandbox import sandbox_headers

REDIRECT = DEFAULT_OAUTH_REDIRECT_URIS[0]


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


# GoCardless Connect OAuth, as a partner app walks it.


def authorize(server, **params):
    query = {"response_type": "code", "client_id": DEFAULT_OAUTH_CLIENT_ID, "redirect_uri": REDIRECT,
             "scope": "read_write", "state": "xyz", **params}
    return requests.get(f"{server.base_url}/oauth/authorize", params=query, allow_redirects=False, timeout=10)


def code_from(response) -> str:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def exchange(server, code, **overrides):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": DEFAULT_OAUTH_CLIENT_ID, "client_secret": DEFAULT_OAUTH_CLIENT_SECRET, **overrides}
    return requests.post(f"{server.base_url}/oauth/access_token", data=form, timeout=10)
