"""A failed statement never carries its bound values (raw payloads) into logs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gocardless_commerce.warehouse.engine import transaction

PERSONAL = '{"email": "jane.doe@example.com", "account_holder_name": "Jane Doe"}'


def test_a_failed_statement_hides_its_parameters(warehouse):
    with transaction(warehouse) as conn:
        conn.execute(sa.text("CREATE TABLE meta.hygiene_probe (id VARCHAR PRIMARY KEY, payload VARCHAR)"))
        conn.execute(sa.text("INSERT INTO meta.hygiene_probe VALUES (:id, :payload)"), {"id": "PM1", "payload": "{}"})
    with pytest.raises(sa.exc.DBAPIError) as excinfo, transaction(warehouse) as conn:
        conn.execute(sa.text("INSERT INTO meta.hygiene_probe VALUES (:id, :payload)"), {"id": "PM1", "payload": PERSONAL})
    text = str(excinfo.value)
    assert "PM1" in text or "duplicate" in text.lower()  # the error still says what went wrong
    assert "jane.doe" not in text and "Jane Doe" not in text
    assert "parameters hidden" in text
