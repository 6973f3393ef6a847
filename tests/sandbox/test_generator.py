"""The generator: deterministic from the seed, realistic mix, internally consistent."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from gocardless_sandbox import SandboxConfig
from gocardless_sandbox.catalog import CURRENCIES, SCHEME_BY_CURRENCY
from gocardless_sandbox.generator import generate
from gocardless_sandbox.lifecycle import carried_payouts
from gocardless_sandbox.store import RESOURCES, SandboxStore, decode

NOW = datetime(2026, 11, 1, tzinfo=UTC)
PAYMENT_STATUSES = {"pending_customer_approval", "pending_submission", "submitted", "confirmed", "paid_out",
                    "cancelled", "customer_approval_denied", "failed", "charged_back"}


def build(tmp_path, name: str, **settings) -> SandboxStore:
    config = SandboxConfig(**{"seed": 7, "merchants": 2, "payments_per_merchant": 300, "now": NOW, **settings})
    store = SandboxStore(tmp_path / f"{name}.sqlite3")
    generate(store, config)
    return store


def fingerprint(store: SandboxStore) -> str:
    digest = hashlib.sha256()
    for table in (*RESOURCES, "payout_items", "pending", "meta"):
        for row in store.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def moderate(tmp_path_factory) -> SandboxStore:
    """Five merchants with 2,000 payments each: enough for every currency and status."""
    return build(tmp_path_factory.mktemp("moderate"), "moderate", merchants=5, payments_per_merchant=2000)


def test_same_seed_and_now_give_identical_data(tmp_path):
    assert fingerprint(build(tmp_path, "a")) == fingerprint(build(tmp_path, "b"))


def test_another_seed_or_now_gives_other_data(tmp_path):
    baseline = fingerprint(build(tmp_path, "a"))
    assert fingerprint(build(tmp_path, "seed", seed=8)) != baseline
    assert fingerprint(build(tmp_path, "now", now=datetime(2026, 10, 1, tzinfo=UTC))) != baseline


def test_exact_payment_count_per_merchant(moderate):
    for organisation in moderate.organisations():
        assert moderate.count(organisation.id, "payments") == 2000
        assert moderate.count(organisation.id, "creditors") == 1


def test_every_currency_and_payment_status_appears(moderate):
    currencies = dict(moderate.conn.execute("SELECT currency, count(*) FROM payments GROUP BY 1").fetchall())
    assert set(currencies) == set(CURRENCIES)
    assert currencies["GBP"] > currencies["EUR"] > max(currencies[c] for c in CURRENCIES if c not in ("GBP", "EUR"))
    statuses = {row[0] for row in moderate.conn.execute("SELECT DISTINCT status FROM payments")}
    assert statuses == PAYMENT_STATUSES


def test_scheme_matches_currency_everywhere(moderate):
    for currency, scheme in moderate.conn.execute("SELECT DISTINCT currency, scheme FROM payments"):
        assert SCHEME_BY_CURRENCY[currency] == scheme
    rows = moderate.conn.execute(
        "SELECT b.body, m.scheme FROM mandates m JOIN customer_bank_accounts b ON b.id = m.customer_bank_account"
    ).fetchall()
    assert rows
    for body, scheme in rows:
        assert SCHEME_BY_CURRENCY[decode(body)["currency"]] == scheme


def test_lifecycle_variety(moderate):
    conn = moderate.conn
    actions = {tuple(row) for row in conn.execute("SELECT DISTINCT resource_type, action FROM events")}
    for expected in [("payments", a) for a in ("created", "submitted", "confirmed", "paid_out", "failed", "charged_back",
                                                "chargeback_settled", "late_failure_settled", "resubmission_requested",
                                                "cancelled", "customer_approval_denied")] + [
        ("mandates", a) for a in ("created", "submitted", "active", "failed", "cancelled", "expired", "reinstated")
    ] + [("refunds", a) for a in ("created", "paid", "refund_settled")] + [("payouts", "paid"), ("subscriptions", "payment_created")]:
        assert expected in actions, expected
    subscription_statuses = {r[0] for r in conn.execute("SELECT DISTINCT status FROM subscriptions")}
    assert {"active", "cancelled", "finished", "paused"} <= subscription_statuses
    cascaded = conn.execute("SELECT count(*) FROM events WHERE parent_event IS NOT NULL AND resource_type = 'subscriptions'")
    assert cascaded.fetchone()[0] > 0
    units = {r[0] for r in conn.execute("SELECT DISTINCT json_extract(body, '$.interval_unit') FROM subscriptions")}
    assert units == {"weekly", "monthly", "yearly"}


def test_every_status_change_has_its_event(moderate):
    """A payment's current status is explained by its latest status-changing event."""
    status_of_action = {"submitted": "submitted", "confirmed": "confirmed", "paid_out": "paid_out", "failed": "failed",
                        "charged_back": "charged_back", "cancelled": "cancelled", "customer_approval_denied": "customer_approval_denied",
                        "resubmission_requested": "pending_submission", "customer_approval_granted": "pending_submission",
                        "created": None, "late_failure_settled": "failed", "chargeback_settled": "charged_back"}
    latest = moderate.conn.execute(
        "SELECT p.status, (SELECT e.action FROM events e WHERE e.resource_id = p.id ORDER BY e.created_at DESC, e.id DESC LIMIT 1) "
        "FROM payments p"
    ).fetchall()
    for status, action in latest:
        expected = status_of_action[action]
        assert expected in (status, None), (status, action)
        if action == "created":
            assert status in ("pending_submission", "pending_customer_approval")


def test_payouts_add_up_to_their_items(moderate):
    payouts = moderate.conn.execute("SELECT id, body FROM payouts LIMIT 300").fetchall()
    negative_fees = 0
    for payout_id, body in payouts:
        payout = decode(body)
        items = moderate.payout_items(payout_id)
        assert items, payout_id
        total = sum(float(item["amount"]) for item in items)
        fees = -sum(float(i["amount"]) for i in items if i["type"] in ("gocardless_fee", "app_fee", "surcharge_fee"))
        assert abs(payout["amount"] - total) <= 0.5
        assert abs(payout["deducted_fees"] - fees) <= 0.5
        assert all(item["amount"].count(".") == 1 and len(item["amount"].split(".")[1]) == 1 for item in items)
        negative_fees += payout["deducted_fees"] < 0
        if payout["status"] == "paid":
            assert payout["arrival_date"] is not None
    item_types = {decode(r[0])["type"] for r in moderate.conn.execute("SELECT body FROM payout_items")}
    assert {"payment_paid_out", "gocardless_fee", "app_fee", "surcharge_fee", "refund", "payment_charged_back",
            "payment_failed"} <= item_types


def test_no_payout_is_negative_a_carried_balance_goes_into_the_next_payout(moderate):
    """GoCardless never pays out a balance <= 0: it carries it into the next payout, whose items,
    events and payments then name that payout."""
    payouts = {payout_id: decode(body) for payout_id, body in moderate.conn.execute("SELECT id, body FROM payouts")}
    assert min(payout["amount"] for payout in payouts.values()) > 0
    waiting = {part[0] for org in moderate.organisations()
               for carry in carried_payouts(moderate, org.id).values() for part in carry["parts"]}
    with_items = {payout_id for (payout_id,) in moderate.conn.execute("SELECT DISTINCT payout FROM payout_items")}
    assert with_items - set(payouts) == waiting  # only the balance still carried at `now` waits
    days_paid = defaultdict(set)
    for (body,) in moderate.conn.execute("SELECT body FROM events WHERE resource_type IN ('payments', 'refunds')"):
        event = decode(body)
        if payout_id := event["links"].get("payout"):
            assert payout_id in payouts or payout_id in waiting, event
            days_paid[payout_id].add(event["created_at"][:10])
    for (body,) in moderate.conn.execute("SELECT body FROM payments WHERE status = 'paid_out'"):
        payout_id = decode(body)["links"]["payout"]
        assert payout_id in payouts or payout_id in waiting
    assert sum(len(days) > 1 for days in days_paid.values()) >= 10  # payouts that paid carried days


def test_history_spans_the_configured_months(moderate):
    oldest, newest = moderate.conn.execute("SELECT min(created_at), max(created_at) FROM payments").fetchone()
    assert "2025-05-01" <= oldest < "2025-09-01"
    assert newest < "2026-11-01T00:00:00.000Z"
    assert moderate.conn.execute("SELECT count(*) FROM events WHERE created_at > '2026-11-01T00:00:05'").fetchone()[0] == 0
    assert moderate.conn.execute("SELECT count(*) FROM pending").fetchone()[0] > 0


def test_ids_look_like_gocardless_ids(moderate):
    prefixes = Counter(row[0][:2] for row in moderate.conn.execute("SELECT id FROM payments UNION ALL SELECT id FROM events"))
    assert set(prefixes) == {"PM", "EV"}
    sample = moderate.conn.execute("SELECT id FROM payments LIMIT 1").fetchone()[0]
    assert len(sample) == 14 and sample.isalnum() and sample.isupper()


def test_a_subscription_whose_last_charge_fell_in_a_pause_finishes_once_resumed(tmp_path):
    """No subscription stays ``active`` after its ``count``-th charge (the model would quarantine it
    as ``active_subscription_not_ended``). Seed 5 holds subscriptions whose last charge fell in a
    pause: their ``finished`` came before the resume and was refused, so they stayed active."""
    from datetime import timedelta

    from gocardless_sandbox.lifecycle import subscription_charge_date

    store = build(tmp_path, "paused", seed=5, merchants=1, payments_per_merchant=10_000)
    subscriptions = [decode(body) for (body,) in store.conn.execute("SELECT body FROM subscriptions")]
    overdue = [
        s["id"] for s in subscriptions
        if s["status"] == "active" and s["count"] is not None
        and subscription_charge_date(s, s["count"] - 1) < (NOW - timedelta(days=3)).date()
    ]
    assert overdue == []
    statuses = Counter(s["status"] for s in subscriptions)
    assert statuses["paused"] and statuses["finished"]
