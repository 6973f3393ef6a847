"""The merchant registry: users and data connections in ``meta.*``, and the DAG snapshot it
keeps in step, on both warehouses."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from gocardless_commerce.registry import Registry, RegistryError
from gocardless_commerce.settings import merchant_conn_id
from gocardless_commerce.warehouse.engine import transaction


@pytest.fixture
def registry(warehouse, registry_snapshot):
    return Registry(warehouse, registry_snapshot)


def _snapshot(registry) -> list[dict]:
    return json.loads(registry.snapshot_path.read_text())["merchants"]


def test_connect_registers_the_user_and_names_its_token_connection(registry):
    dc = registry.connect("acme", "Acme Ltd", organisation_id="OR1")
    assert (dc.user_id, dc.user_name, dc.status, dc.organisation_id) == ("acme", "Acme Ltd", "CONNECTED", "OR1")
    assert dc.airflow_conn_id == merchant_conn_id(dc.id)
    assert [m["id"] for m in _snapshot(registry)] == [dc.id]


def test_reconnecting_keeps_the_data_connection_and_its_history(registry):
    first = registry.connect("acme", "Acme Ltd", organisation_id="OR1")
    registry.set_status(first.id, "AUTH_ERROR", "token revoked")
    again = registry.connect("acme", "Acme Limited", organisation_id="OR1", schedule="0 3 * * *")
    assert again.id == first.id and again.status == "CONNECTED" and again.status_reason is None
    assert (again.user_name, again.schedule) == ("Acme Limited", "0 3 * * *")


def test_auth_error_keeps_the_dag_disconnected_removes_it(registry):
    dc = registry.connect("acme", "Acme Ltd", organisation_id="OR1")
    registry.set_status(dc.id, "AUTH_ERROR", "token revoked")
    assert [m["status"] for m in _snapshot(registry)] == ["AUTH_ERROR"]
    registry.disconnect("acme")
    assert _snapshot(registry) == []
    assert registry.get(dc.id).status == "DISCONNECTED"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.connect("acme", "Acme", organisation_id=None, requested_data_types=("BANK",)), "Unknown data types"),
        (lambda r: r.set_status("nope", "CONNECTED"), "Unknown data connection"),
        (lambda r: r.set_status("nope", "SLEEPING"), "Unknown status"),
        (lambda r: r.disconnect("ghost"), "no live GoCardless data connection"),
        (lambda r: r.delete("ghost"), "no GoCardless data connection"),
        (lambda r: r.connect("acme ltd", "Acme", organisation_id=None), "Airflow DAG id cannot hold"),
        (lambda r: r.connect("", "Acme", organisation_id=None), "must not be empty"),
        (lambda r: r.connect("acme", "Acme\nLtd", organisation_id=None), "control characters"),
        (lambda r: r.connect("acme", "A" * 201, organisation_id=None), "at most 200"),
    ],
)
def test_impossible_requests_are_clear_errors(registry, change, message):
    with pytest.raises(RegistryError, match=message):
        change(registry)


def test_delete_removes_the_connection_and_its_rows_in_every_schema(registry, warehouse):
    kept = registry.connect("globex", "Globex", organisation_id="OR2")
    gone = registry.connect("acme", "Acme Ltd", organisation_id="OR1")
    with transaction(warehouse) as conn:
        for dc in (kept.id, gone.id):
            conn.execute(
                sa.text("INSERT INTO meta.sync_state (data_connection_id, stream, updated_at) "
                        "VALUES (:dc, 'payments', CURRENT_TIMESTAMP)"),
                {"dc": dc},
            )
    registry.delete("acme")
    with transaction(warehouse) as conn:
        left = conn.execute(sa.text("SELECT data_connection_id FROM meta.sync_state")).scalars().all()
    assert left == [kept.id]
    assert [c.user_id for c in registry.data_connections()] == ["globex"]
    assert [m["user_id"] for m in _snapshot(registry)] == ["globex"]


def test_only_the_awaited_nonce_marks_a_connection_connecting_and_only_until_it_is_used(registry):
    registry.create_user("acme", "Acme Ltd")
    connection = registry.request_connection("acme", ("COMMERCE_TRANSACTION",), "nonce-1")

    assert not registry.mark_connecting(connection.id, "another-nonce")
    assert registry.get(connection.id).status == "AUTH_REQUIRED"
    assert registry.mark_connecting(connection.id, "nonce-1")
    assert registry.mark_connecting(connection.id, "nonce-1")  # the consent page opened again
    assert registry.get(connection.id).status == "CONNECTING"
    assert registry.consume_oauth_nonce(connection.id, "nonce-1")
    assert not registry.mark_connecting(connection.id, "nonce-1")  # used by the callback
