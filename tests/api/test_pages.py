"""The pages' routes, in-process (no Airflow): each page and asset is served with its type and a
Content-Security-Policy, anything else is a 404 in the API's error format, and every navigation
entry points at a page that exists (or, for Data quality, at the page its branch adds)."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gocardless_commerce.api import pages
from gocardless_commerce.api.errors import install_error_handlers
from gocardless_commerce.api.ui import NAV_VIEWS, PAGES

UI = files("gocardless_commerce.api.ui")


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(pages.router)
    return TestClient(app)


@pytest.mark.parametrize("slug, title", [("merchants", "Merchants"), ("insights", "Insights")])
def test_a_page_is_served_as_html_with_a_strict_content_security_policy(client, slug, title):
    response = client.get(f"/ui/{slug}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'self'" in policy
    assert f'<script type="module" src="static/{slug}.js">' in response.text  # the shared shell, this page's module
    assert f"<title>{title} · " in response.text and "static/commerce.css" in response.text
    assert UI.joinpath(f"{slug}.js").is_file()


@pytest.mark.parametrize("name, media_type", [("commerce.js", "text/javascript"), ("commerce.css", "text/css"),
                                               ("icon-merchants.svg", "image/svg+xml")])
def test_assets_are_served_with_their_type(client, name, media_type):
    response = client.get(f"/ui/static/{name}")
    assert response.status_code == 200 and response.headers["content-type"].startswith(media_type)
    assert response.content == UI.joinpath(name).read_bytes()


@pytest.mark.parametrize("path", ["/ui/nope", "/ui/page", "/ui/static/page.html", "/ui/static/nope.js", "/ui/static/__init__.py",
                                  "/ui/static/..%2F__init__.py", "/ui/static/commerce.JS", "/ui/__init__"])
def test_anything_else_is_a_404_in_the_api_error_format(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


def test_a_listed_page_without_its_script_is_a_404_not_an_empty_shell(client, monkeypatch):
    monkeypatch.setitem(pages._PAGE_TITLES, "coming-soon", "Coming soon")
    response = client.get("/ui/coming-soon")
    assert response.status_code == 404 and "not installed" in response.json()["error"]["message"]


def test_every_navigation_entry_is_a_relative_link_to_a_page_and_an_existing_icon():
    assert [view["name"] for view in NAV_VIEWS] == ["Merchants", "Insights", "Data quality"]
    for view, (slug, _) in zip(NAV_VIEWS, PAGES):
        assert view["href"] == f"commerce/ui/{slug}" and view["url_route"] == f"commerce-{slug}"
        assert not view["href"].startswith("/")  # the Airflow UI resolves it against [api] base_url
        assert UI.joinpath(view["icon"].rsplit("/", 1)[1]).is_file()


def test_no_page_script_sets_html_from_strings():
    """Names are data: the pages build the DOM with textContent only."""
    sinks = re.compile(r"\.(innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML|document\.write|\beval\(|new Function")
    for resource in UI.iterdir():
        if resource.name.endswith((".js", ".html")):
            assert not sinks.search(resource.read_text()), f"{resource.name} writes HTML from a string"
