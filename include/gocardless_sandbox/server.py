"""Run the sandbox in-process: a real uvicorn server on a free local port, in a thread.

Tests and benchmarks talk to it over real HTTP exactly as they would to api.gocardless.com;
:attr:`SandboxServer.store` is the ground truth they compare against.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from gocardless_sandbox.config import SandboxConfig
from gocardless_sandbox.generator import generate
from gocardless_sandbox.security import ADMIN_SECRET_HEADER, issue_merchant_tokens
from gocardless_sandbox.store import SandboxStore
from gocardless_sandbox.timeutil import to_datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Merchant:
    """A generated organisation and its pre-issued read-write access token."""

    organisation_id: str
    creditor_id: str
    name: str
    email: str
    access_token: str

    def __repr__(self) -> str:  # never print tokens
        return f"Merchant(organisation_id={self.organisation_id!r}, name={self.name!r})"


def open_store(config: SandboxConfig) -> tuple[SandboxStore, Path | None]:
    """The store at ``config.db_path`` (generated when empty), or a new temporary one.

    Returns the store and the temporary directory to delete afterwards (None for a given path).
    """
    temp_dir = None
    if config.db_path is None:
        temp_dir = Path(tempfile.mkdtemp(prefix="gc-sandbox-"))
        path = temp_dir / "sandbox.sqlite3"
    else:
        path = Path(config.db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
    store = SandboxStore(path)
    if not store.organisations():
        generate(store, config)
    return store, temp_dir


class SandboxServer:
    """Context manager serving a generated sandbox on ``127.0.0.1:<free port>``.

    Each start issues new random merchant tokens (:attr:`merchants`) and, unless the config
    sets one, a new admin secret (:attr:`admin_secret`, sent as :attr:`admin_headers`).
    """

    def __init__(self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self.port = port
        self.store: SandboxStore | None = None
        self.app: Any = None
        self._temp_dir: Path | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._tokens: dict[str, str] = {}

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        from gocardless_sandbox.app import create_app

        self.store, self._temp_dir = open_store(self.config)
        self._tokens = issue_merchant_tokens(self.store)
        self.app = create_app(self.store, self.config)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.host, self.port))
        self.port = self._socket.getsockname()[1]
        uv_config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30)
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="gocardless-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.01)
        log.info("GoCardless sandbox listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        if self.store is not None:
            self.store.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
        self._server = self._thread = self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what clients need ------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def merchants(self) -> list[Merchant]:
        """Each organisation with the token this instance issued it."""
        return [Merchant(o.id, o.creditor_id, o.name, o.email, self._tokens[o.id]) for o in self.store.organisations()]

    @property
    def admin_secret(self) -> str:
        return self.app.state.admin_secret

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers an admin request (``/sandbox/…``) needs."""
        return {ADMIN_SECRET_HEADER: self.admin_secret}

    @property
    def simulation(self) -> Any:
        return self.app.state.simulation

    @property
    def now(self) -> datetime:
        """The simulated clock."""
        return to_datetime(self.simulation.now)

    def advance(self, days: int = 1, change_fraction: float = 0.0) -> dict[str, Any]:
        """Move the simulated clock (see :meth:`Simulation.advance`); returns the summary."""
        return self.simulation.advance(days=days, change_fraction=change_fraction)
