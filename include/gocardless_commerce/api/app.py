"""The FastAPI app of the Commerce API and its pages, and the light handle the Airflow plugin mounts.

Every Airflow process loads plugins (the scheduler, the DAG processor, each task), but only the
API server serves them: :class:`LazyApp` builds the app (and imports Airflow's security module,
the warehouse code...) on the first request, so loading the plugin costs the others nothing.
"""

from __future__ import annotations

from typing import Any

#: Where the routes live under the plugin's mount point (``/commerce`` → ``/commerce/api/v6``).
API_PREFIX = "/api/v6"


def create_app():
    from fastapi import FastAPI

    from gocardless_commerce.api import data_connections, data_quality, pages, providers, reads, syncs, users
    from gocardless_commerce.api.errors import ERROR_RESPONSES, install_error_handlers

    app = FastAPI(
        title="GoCardless Commerce API",
        version="6",
        description="Providers, users, data connections (GoCardless OAuth), syncs and commerce data, "
                    "after Qard API v6. Authenticate with an Airflow JWT (POST /auth/token).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    for module in (providers, users, data_connections, syncs, reads, data_quality):
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(pages.router)  # the pages calling the API: /commerce/ui/<page>
    app.include_router(data_quality.docs_router)  # the Data Docs: /commerce/data-docs/…
    return app


class LazyApp:
    """An ASGI app that builds :func:`create_app` on its first request."""

    def __init__(self) -> None:
        self._app = None

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)
