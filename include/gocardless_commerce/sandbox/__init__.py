"""A local, faithful simulator of the GoCardless Pro API and its OAuth (no internet needed).

``SandboxServer(SandboxConfig(...))`` serves generated, deterministic data over real HTTP so
the pipeline, tests and benchmarks run against the same API shapes as api.gocardless.com.
Imports are lazy: importing this package does not pull in FastAPI or uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gocardless_commerce.sandbox.config import SandboxConfig
    from gocardless_commerce.sandbox.server import Merchant, SandboxServer
    from gocardless_commerce.sandbox.store import SandboxStore

__all__ = ["Merchant", "SandboxConfig", "SandboxServer", "SandboxStore"]

_LOCATIONS = {
    "SandboxConfig": "gocardless_commerce.sandbox.config",
    "SandboxServer": "gocardless_commerce.sandbox.server",
    "Merchant": "gocardless_commerce.sandbox.server",
    "SandboxStore": "gocardless_commerce.sandbox.store",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        import importlib

        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
