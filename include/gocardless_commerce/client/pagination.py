"""Cursor pagination over GoCardless list endpoints.

Lists come back as ``{"<resource>": [...], "meta": {"cursors": {"before", "after"}},
"linked": {...}}``; the next page is requested with ``after=<meta.cursors.after>`` until it
is null. :func:`paginate` is a generator so a sync holds one page in memory at a time and
the next request is only made when the caller asks for the next page.

Pages come in two shapes: :class:`Page` (records decoded into dicts) and :class:`RawPage`
(each record kept as the exact JSON the API sent, plus the few fields a sync reads): a sync
that stores records as JSON never builds, nor re-encodes, a dict per record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from gocardless_commerce.client.errors import MalformedResponseError
from gocardless_commerce.client.records import RecordHead, Rejected, parse_records

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
        raise MalformedResponseError(200, detail=f"list response without a {resource!r} array")
    cursors = (body.get("meta") or {}).get("cursors") or {}
    return Page(
        records=records,
        linked=dict(body.get("linked") or {}),
        after=cursors.get("after"),
        before=cursors.get("before"),
    )


@dataclass(frozen=True, slots=True)
class RawRecords:
    """Records as the API sent them: ``raw[i]`` is record *i*'s exact JSON, ``heads[i]`` its
    declared fields (:mod:`~.records`). Nothing else of a record is decoded into Python objects.

    ``rejected``: the page's records that do not match their schema, kept as sent with their
    reasons (they are not in ``raw``). ``newest``: the newest ``created_at`` of ``heads``.
    """

    raw: list[msgspec.Raw]
    heads: list[RecordHead]
    rejected: list[Rejected] = field(default_factory=list)
    newest: datetime | None = None

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True, slots=True)
class RawPage:
    """One page of a list endpoint, its records left as JSON (see :class:`RawRecords`)."""

    records: RawRecords
    linked: dict[str, RawRecords] = field(default_factory=dict)
    after: str | None = None
    before: str | None = None


#: A list response with its values left undecoded: what the transport returns for raw pages.
RAW_BODY_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANY = msgspec.json.Decoder()
_RAW_GROUPS = msgspec.json.Decoder(dict[str, msgspec.Raw] | None)


def raw_records(resource: str, value: msgspec.Raw | None) -> RawRecords:
    try:
        if value is None:
            raise msgspec.ValidationError("missing")
        parsed = parse_records(resource, value)
    except msgspec.ValidationError:
        raise MalformedResponseError(200, detail=f"list response without a {resource!r} array") from None
    return RawRecords(raw=parsed.raw, heads=parsed.heads, rejected=parsed.rejected, newest=parsed.newest)


def raw_page_from_body(resource: str, body: Mapping[str, msgspec.Raw]) -> RawPage:
    """:func:`page_from_body` for a body decoded by :data:`RAW_BODY_DECODER`."""
    records = raw_records(resource, body.get(resource))
    meta = _ANY.decode(body["meta"]) if "meta" in body else None
    cursors = ((meta if isinstance(meta, dict) else None) or {}).get("cursors") or {}
    try:
        groups = _RAW_GROUPS.decode(body["linked"]) if "linked" in body else None
    except msgspec.ValidationError:
        raise MalformedResponseError(200, detail="list response whose 'linked' is not an object") from None
    linked = {name: raw_records(name, value) for name, value in (groups or {}).items()}
    return RawPage(records=records, linked=linked, after=cursors.get("after"), before=cursors.get("before"))


def paginate(
    fetch: Callable[[dict[str, Any]], Mapping[str, Any]],
    resource: str,
    params: Mapping[str, Any] | None = None,
    page_from: Callable[[str, Mapping[str, Any]], Any] = page_from_body,
) -> Iterator[Page]:
    """Yield pages until ``meta.cursors.after`` is null.

    :param fetch: performs one GET with the given query parameters, returns the decoded body.
    :param resource: plural resource name, also the envelope key (``payments``).
    :param params: filters; ``limit`` defaults to 500 and ``after`` may resume a listing.
    """
    query: dict[str, Any] = {"limit": DEFAULT_PAGE_SIZE, **(params or {})}
    while True:
        page = page_from(resource, fetch(dict(query)))
        yield page
        if not page.after:
            return
        if page.after == query.get("after"):
            raise MalformedResponseError(200, detail=f"cursor {page.after!r} did not advance")
        query["after"] = page.after
