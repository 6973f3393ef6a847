"""A local, faithful simulator of the GoCardless Pro API and its OAuth (no internet needed).

``SandboxServer(SandboxConfig(...))`` serves generated, deterministic data over real HTTP so
the pipeline, tests and benchmarks run against the same API shapes as api.gocardless.com.
Imports are lazy: importing this package does not pull in FastAPI or uvicorn.

A package of its own: the tests, the demo and the benchmark use it; the pipeline's production
code (``gocardless_commerce`` outside ``devtools``) never imports it. It imports nothing of
``gocardless_commerce`` either, so it can also serve the official clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gocardless_sandbox.config import SandboxConfig
    from gocardless_sandbox.server import Merchant, SandboxServer
    from gocardless_sandbox.store import SandboxStore

__all__ = ["Merchant", "SandboxConfig", "SandboxServer", "SandboxStore"]

_LOCATIONS = {
    "SandboxConfig": "gocardless_sandbox.config",
    "SandboxServer": "gocardless_sandbox.server",
    "Merchant": "gocardless_sandbox.server",
    "SandboxStore": "gocardless_sandbox.store",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        import importlib

        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
