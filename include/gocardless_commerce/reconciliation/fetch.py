"""Read a period's events straight from the GoCardless API (the gateway's daily report).

Straight from the API, not from ``raw``: the reconciliation must not depend on the sync DAGs
having run. Payment, refund and mandate events are listed with ``include=`` so each page
side-loads the records they are about: amounts for events that match nothing, and the mandate
to open a payment method the warehouse does not know yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.client.pagination import DEFAULT_PAGE_SIZE
from gocardless_commerce.client.timestamps import format_timestamp
from gocardless_commerce.reconciliation.period import Period

#: resource type → the ``include`` that side-loads its record
INCLUDES = {"payments": "payment", "refunds": "refund", "mandates": "mandate"}


@dataclass
class PeriodEvents:
    events: list[dict[str, Any]] = field(default_factory=list)
    #: side-loaded records by resource type and id: ``linked["mandates"]["MD1"]``
    linked: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


def fetch_period_events(client: GoCardlessClient, period: Period) -> PeriodEvents:
    """Every event created in the period, oldest first, with the records it links to."""
    window = {"created_at[gte]": format_timestamp(period.start), "created_at[lt]": format_timestamp(period.end), "limit": DEFAULT_PAGE_SIZE}
    found = PeriodEvents()
    by_id: dict[str, dict[str, Any]] = {}
    for resource_type, include in INCLUDES.items():
        linked = found.linked.setdefault(resource_type, {})
        for page in client.iter_pages("events", {**window, "resource_type": resource_type, "include": include}):
            by_id.update((event["id"], event) for event in page.records)
            linked.update((record["id"], record) for record in page.linked.get(resource_type, []))
    for page in client.iter_pages("events", window):  # the other resource types
        by_id.update((event["id"], event) for event in page.records if event["id"] not in by_id)
    found.events = sorted(by_id.values(), key=lambda e: (e["created_at"], e["id"]))
    return found
