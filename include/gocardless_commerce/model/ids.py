"""Deterministic commerce ids: the same GoCardless record always gets the same uuid.

A rerun or a full rebuild therefore upserts onto the same keys, and a refund can point at its
payment's transaction (``initial_transaction_id``) without a lookup in the warehouse.
"""

from __future__ import annotations

import uuid

#: Namespace of every commerce id: ``uuid5(NAMESPACE_URL, "https://gocardless.com/commerce")``,
#: written out so that it never depends on how it was first computed.
COMMERCE_NAMESPACE = uuid.UUID("4cca0b22-2658-554e-aebd-0c43e1d49c59")

#: Source object types that carry an id in the commerce model.
OBJECT_TYPES = ("payment", "refund", "payout", "payout_item", "subscription")


def commerce_id(data_connection_id: str, object_type: str, gocardless_id: str) -> str:
    """``uuid5(COMMERCE_NAMESPACE, "<data connection id>:<object type>:<GoCardless id>")``.

    ``object_type`` is the singular GoCardless object (``payment``, ``refund``, ``payout``,
    ``subscription``) or ``payout_item`` (whose id is the raw table's synthesised key).
    """
    return str(uuid.uuid5(COMMERCE_NAMESPACE, f"{data_connection_id}:{object_type}:{gocardless_id}"))
