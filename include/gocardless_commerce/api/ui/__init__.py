"""The Commerce pages' files (HTML, JS modules, CSS, icons) and their entries in the Airflow
navigation. Pure data, no imports: the plugin reads :data:`NAV_VIEWS` in every Airflow process.

A page is served at ``/commerce/ui/<slug>`` (:mod:`gocardless_commerce.api.pages`): the shared
shell ``page.html`` (header, messages, content; the shared CSS) running the page's module
``<slug>.js``, or ``<slug>.html`` when a page needs its own. Its assets are the ``*.js``,
``*.css`` and ``*.svg`` files here, served at ``/commerce/ui/static/<name>``. Adding a page is
adding ``<slug>.js``, ``icon-<slug>.svg`` and a line in :data:`PAGES`.
"""

#: (slug, title) of each page, in the navigation's order.
PAGES = (
    ("merchants", "Merchants"),
    ("insights", "Insights"),
    ("data-quality", "Data quality"),
)

#: Where the plugin mounts its FastAPI app, and the pages under it.
MOUNT_POINT = "/commerce"
PAGES_PATH = "/ui"

def url_route(slug: str) -> str:
    """Where the Airflow UI shows a page: ``/plugin/<url_route>`` under its base URL."""
    return f"commerce-{slug}"


#: The Airflow plugin's ``external_views``: each page in an iframe of the Airflow UI at
#: ``/plugin/commerce-<slug>``, grouped under "Commerce" in the Plugins menu. ``href`` has no
#: leading slash: the Airflow UI resolves it against its own base URL (``[api] base_url``).
NAV_VIEWS = [
    {
        "name": title,
        "href": f"{MOUNT_POINT.strip('/')}{PAGES_PATH}/{slug}",
        "url_route": url_route(slug),
        "destination": "nav",
        "category": "Commerce",
        "icon": f"{MOUNT_POINT.strip('/')}{PAGES_PATH}/static/icon-{slug}.svg",
    }
    for slug, title in PAGES
]
