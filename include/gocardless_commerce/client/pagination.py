"""Cursor pagination over GoCardless list endpoints.

Lists come back as ``{"<resource>": [...], "meta": {"cursors": {"before", "after"}},
"linked": {...}}``; the next page is requested with ``after=<meta.cursors.after>`` until it
is null. :func:`paginate` is a generator so a sync holds one page in memory at a time and
the next request is only made when the caller asks for the next page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gocardless_commerce.client.errors import MalformedResponseError

DEFAULT_PAGE_SIZE = 500  # the API's maximum; the default of 50 would cost 10x the requests


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list endpoint.

    :param records: the resources on this page, as the API sent them.
    :param linked: resources side-loaded with ``include=`` (events), keyed by plural name.
    :param after: cursor for the next page, None on the last page.
    :param before: cursor for the previous page.
    """

    records: list[dict[str, Any]]
    linked: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    after: str | None = None
    before: str | None = None


def page_from_body(resource: str, body: Mapping[str, Any]) -> Page:
    """Unwrap a list response; a body without the resource key is malformed, not empty."""
    records = body.get(resource)
    if not isinstance(records, list):
        raise MalformedResponseError(200, f"list response without a {resource!r} array")
    cursors = (body.get("meta") or {}).get("cursors") or {}
    return Page(
        records=records,
        linked=dict(body.get("linked") or {}),
        after=cursors.get("after"),
        before=cursors.get("before"),
    )


def paginate(
    fetch: Callable[[dict[str, Any]], Mapping[str, Any]],
    resource: str,
    params: Mapping[str, Any] | None = None,
) -> Iterator[Page]:
    """Yield pages until ``meta.cursors.after`` is null.

    :param fetch: performs one GET with the given query parameters, returns the decoded body.
    :param resource: plural resource name, also the envelope key (``payments``).
    :param params: filters; ``limit`` defaults to 500 and ``after`` may resume a listing.
    """
    query: dict[str, Any] = {"limit": DEFAULT_PAGE_SIZE, **(params or {})}
    while True:
        page = page_from_body(resource, fetch(dict(query)))
        yield page
        if not page.after:
            return
        if page.after == query.get("after"):
            raise MalformedResponseError(200, f"cursor {page.after!r} did not advance")
        query["after"] = page.after
