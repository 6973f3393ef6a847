"""The Commerce pages (Merchants, Insights, Data quality) at ``/commerce/ui/<page>``, shown by
the Airflow UI in an iframe (``ui.NAV_VIEWS``), and how they authenticate.

**Authentication.** The pages are static files: they hold no data and are served to anyone.
Every number they show comes from the REST API under ``/commerce/api/v6``, which requires
Airflow's authentication like every other route (:mod:`access`). A page sends no token itself:
Airflow 3 keeps the user's JWT in the ``_token`` cookie (``HttpOnly``, ``SameSite=Lax``, path
``[api] base_url``), set by the auth manager's login and renewed by Airflow's
``JWTRefreshMiddleware``; Airflow's ``get_user`` dependency reads it when a request carries no
``Authorization`` header. The pages are same-origin with the API (one server), so their
``fetch(…, {credentials: "same-origin"})`` carries the cookie and the API sees the logged-in
user with their role (a viewer may look, not connect or sync: the API answers 403). JavaScript
never sees the token (HttpOnly), so a script injected through data could not steal it — and
nothing is injected: pages render data with ``textContent`` only, and a Content-Security-Policy
allows scripts from this server's files alone. A cookie session expired is a 401 the pages
report with a link to Airflow's login. ``SameSite=Lax`` keeps other sites from sending writes
with the cookie, and the API accepts JSON bodies only (a cross-site JSON POST needs CORS,
which this server does not grant).

**Inside Airflow's iframe.** Airflow frames plugin views with ``sandbox="allow-scripts
allow-same-origin allow-forms allow-downloads"``: no top-level navigation, no pop-ups. Links
that must leave the frame (a merchant's DAG in the Airflow UI, the GoCardless consent page)
are followed by an anchor clicked in the parent document (same origin), see ``commerce.js``.

**Relative URLs.** Pages reach assets (``static/…``), the API (``../api/v6/…``) and the Airflow
UI (``../../dags/…``) by relative paths, so they work under any ``[api] base_url`` and proxy.
"""

from __future__ import annotations

import html
import re
from importlib.resources import files
from string import Template

from fastapi import APIRouter
from fastapi.responses import Response

from gocardless_commerce.api.errors import ApiError
from gocardless_commerce.api.ui import PAGES, PAGES_PATH

router = APIRouter(prefix=PAGES_PATH, include_in_schema=False)

_ASSET_TYPES = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
_ASSET_NAME = re.compile(r"^[a-z0-9-]+\.(js|css|svg)$")
_PAGE_TITLES = dict(PAGES)

#: Scripts and styles from this server's files only (no inline script, no CDN); data and
#: framing for the same origin only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache", "Referrer-Policy": "same-origin"}


def _ui_file(name: str) -> bytes:
    resource = files("gocardless_commerce.api.ui").joinpath(name)
    if not resource.is_file():
        raise ApiError(404, f"No page or file {name!r}")
    return resource.read_bytes()


@router.get("/static/{name}")
def asset(name: str) -> Response:
    match = _ASSET_NAME.match(name)
    if not match:
        raise ApiError(404, f"No file {name!r}")
    return Response(_ui_file(name), media_type=_ASSET_TYPES[match.group(1)], headers=_HEADERS)


@router.get("/{slug}")
def page(slug: str) -> Response:
    if slug not in _PAGE_TITLES:
        raise ApiError(404, f"No page {slug!r}")
    ui = files("gocardless_commerce.api.ui")
    own = ui.joinpath(f"{slug}.html")
    if own.is_file():
        body = own.read_text(encoding="utf-8")
    elif not ui.joinpath(f"{slug}.js").is_file():
        raise ApiError(404, f"The page {slug!r} is not installed")  # listed (a branch adds it), not there yet
    else:
        shell = Template(_ui_file("page.html").decode("utf-8"))
        body = shell.substitute(title=html.escape(_PAGE_TITLES[slug]), slug=html.escape(slug))
    return Response(body, media_type="text/html; charset=utf-8", headers=_HEADERS)
