"""Run the sandbox as a separate process and connect to it as a partner app would.

Shared by the demo and the benchmark: both want the sandbox in its own process (as in
production, where the API is another machine) and tokens obtained through the OAuth flow.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests

from gocardless_commerce.client import oauth
from gocardless_sandbox.config import ADMIN_SECRET_ENV, ADMIN_SECRET_HEADER

log = logging.getLogger(__name__)

REDIRECT_URI = "http://127.0.0.1:8080/oauth/callback"


class SandboxProcess:
    """``python -m gocardless_sandbox`` as a child process, stopped on exit.

    The child binds 127.0.0.1 and gets a fresh admin secret through its environment (never its
    command line, which other users can read); :meth:`admin` sends it.
    """

    def __init__(self, *, port: int, log_file: Path, **options: object) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.command = [sys.executable, "-m", "gocardless_sandbox", "--port", str(port)]
        for name, value in options.items():
            for each in value if isinstance(value, (list, tuple)) else [value]:  # a list repeats the flag
                self.command += [f"--{name.replace('_', '-')}", str(each)]
        self.log_file = log_file
        self.process: subprocess.Popen | None = None
        self._admin_headers = {ADMIN_SECRET_HEADER: secrets.token_urlsafe(32)}

    def __enter__(self) -> SandboxProcess:
        log.info("Starting the GoCardless sandbox on %s (log: %s)", self.base_url, self.log_file)
        self._log = self.log_file.open("w")
        environment = {**os.environ, ADMIN_SECRET_ENV: self._admin_headers[ADMIN_SECRET_HEADER]}
        self.process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, env=environment)
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"The sandbox exited early; see {self.log_file}")
            try:
                if requests.get(f"{self.base_url}/sandbox/health", headers=self._admin_headers, timeout=1).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"The sandbox did not become ready; see {self.log_file}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()

    def admin(self, method: str, path: str, **kwargs) -> dict:
        response = requests.request(
            method, f"{self.base_url}/sandbox/{path}", headers=self._admin_headers, timeout=900, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def organisations(self) -> list[dict]:
        """Organisations of the sandbox: organisation_id, creditor_id, name, email (no tokens)."""
        return self.admin("GET", "merchants")["merchants"]

    def advance(self, days: int, change_fraction: float) -> dict:
        return self.admin("POST", "clock/advance", json={"days": days, "change_fraction": change_fraction})


def authorize(base_url: str, client_id: str, email: str, redirect_uri: str = REDIRECT_URI) -> str:
    """Walk the OAuth consent (the sandbox auto-approves); returns the authorization code."""
    url = oauth.authorize_url(base_url, client_id, redirect_uri, scope="read_only", state="local", prefill_email=email)
    response = requests.get(url, allow_redirects=False, timeout=10)
    if response.status_code != 302:
        raise SystemExit(f"OAuth authorize failed: HTTP {response.status_code} {response.text[:200]}")
    return parse_qs(urlparse(response.headers["Location"]).query)["code"][0]


def connect(base_url: str, client_id: str, client_secret: str, email: str) -> dict:
    """The whole partner-app flow: ``{"access_token", "organisation_id", …}`` for one merchant."""
    code = authorize(base_url, client_id, email)
    return oauth.exchange_code(
        base_url, client_id=client_id, client_secret=client_secret, code=code, redirect_uri=REDIRECT_URI
    )
