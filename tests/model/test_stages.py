"""The commerce stages end to end: sandbox → raw → transform → validate → insights → load."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from gocardless_commerce import model
from gocardless_commerce.extract import landing
from gocardless_commerce.model import schema, stages
from gocardless_commerce.model.staging import frame_to_decimals
from gocardless_commerce.warehouse.engine import get_engine, transaction
from gocardless_commerce.warehouse.migrations import apply_migrations
from tests.fixtures.model_runs import COMMERCE_TABLES, MODEL_DC, dump_commerce, extract_into_raw, model_run, run_stages
from tests.fixtures.sandbox import PINNED_NOW
from tests.fixtures.warehouse import _reset_postgres


def test_a_run_loads_every_commerce_table(model_sandbox, warehouse):
    extract_into_raw(model_sandbox, warehouse)
    summary = run_stages(warehouse, model_run())
    org = model_sandbox.merchants[0].organisation_id
    store = model_sandbox.store
    with transaction(warehouse) as conn:
        by_type = dict(
            conn.execute(sa.text("SELECT type, count(*) FROM commerce.transactions GROUP BY type")).all()
        )
        months = conn.execute(
            sa.text("SELECT count(DISTINCT month) FROM commerce.transactions_insight")
        ).scalar_one()
        subscriptions = conn.execute(sa.text("SELECT count(*) FROM commerce.subscriptions")).scalar_one()
        insight_total = conn.execute(
            sa.text("SELECT currency, sum(payments_amount) FROM commerce.transactions_insight GROUP BY currency")
        ).all()
        direct_total = dict(
            conn.execute(
                sa.text(
                    "SELECT currency, sum(amount) FROM commerce.transactions WHERE type = 'PAYMENT' "
                    "AND status IN ('SUCCESS', 'SUCCESS_REFUND') AND value_date >= DATE '2025-12-01' "
                    "AND value_date < DATE '2026-12-01' GROUP BY currency"
                )
            ).all()
        )
    assert by_type["PAYMENT"] + summary["validate"]["transactions"]["quarantined"] >= store.count(org, "payments")
    assert by_type["PAYOUT"] > 0 and by_type["PAYMENT_REFUND"] > 0
    assert subscriptions == store.count(org, "subscriptions")
    assert months == 12  # every month of the window, zeros included
    for currency, total in insight_total:
        assert Decimal(total) == Decimal(direct_total.get(currency, 0)).quantize(Decimal("0.01"))
    assert summary["load"]["transactions"]["changed"] == summary["load"]["transactions"]["rows"]


def _whole_raw_frames(engine) -> model.RawFrames:
    """Every live raw record in memory at once: the reference the chunked reading must match."""
    frames = {}
    with transaction(engine) as conn:
        for name in ("payments", "refunds", "payouts", "payout_items", "subscriptions", "mandates", "events"):
            resource = landing.RESOURCES[name]
            extra = "".join(f", {c}" for c in resource.extra_columns)
            frames[name] = pd.read_sql_query(sa.text(
                f"SELECT user_id, data_connection_id, id, created_at, CAST(payload AS VARCHAR) AS payload{extra} "
                f"FROM {resource.table} WHERE removed_at IS NULL ORDER BY id"
            ), conn)
    return model.RawFrames(**frames)


def _sorted(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    return frame.sort_values(key, ignore_index=True).astype(object)


def test_chunked_reading_builds_exactly_what_the_whole_history_builds(model_sandbox, warehouse):
    extract_into_raw(model_sandbox, warehouse)
    with transaction(warehouse) as conn:  # the sandbox charges no fee outside a payment: add one per payout
        payouts = conn.execute(sa.text("SELECT id FROM raw.gocardless_payouts ORDER BY id LIMIT 40")).scalars().all()
        ctx = landing.LandingContext("user-1", MODEL_DC, "test", "2026-10-30T00:00:00")
        landing.land_payout_items(conn, [(p, [{"type": "app_fee", "amount": "-12.5", "links": {}}]) for p in payouts], ctx)
        # and a fee that cannot be read, on a payment: both paths must name it on that payment
        payment = conn.execute(sa.text("SELECT id FROM raw.gocardless_payments ORDER BY id LIMIT 1")).scalar_one()
        landing.land_payout_items(conn, [(payouts[0], [{"type": "gocardless_fee", "amount": "n/a",
                                                         "links": {"payment": payment}}])], ctx)
    run = dataclasses.replace(model_run(), chunk_rows=37)  # many chunks, every stream split
    stages.transform(warehouse, run)
    chunks = list(run.staging.read_parts("transactions"))
    chunked = pd.concat(chunks, ignore_index=True)
    frames = _whole_raw_frames(warehouse)

    whole = model.build_transactions(frames)
    assert len(chunks) > 10
    assert {"PAYMENT", "PAYMENT_REFUND", "PAYOUT", "FEE"} <= set(whole["type"])
    pd.testing.assert_frame_equal(_sorted(chunked, ["type", "source_id"]), _sorted(whole, ["type", "source_id"]))
    subscriptions = pd.concat(run.staging.read_parts("subscriptions"), ignore_index=True)
    pd.testing.assert_frame_equal(_sorted(subscriptions, ["source_id"]),
                                  _sorted(model.build_subscriptions(frames, PINNED_NOW), ["source_id"]))
    assert whole.set_index("source_id").loc[payment, schema.ISSUES] == ("fee_item_amount_readable",)
    # monthly cells are sums: chunk by chunk gives the whole history's insight
    pd.testing.assert_frame_equal(
        model.transactions_insight(iter(chunks), now=PINNED_NOW), model.transactions_insight(whole, now=PINNED_NOW)
    )
    refunded = frame_to_decimals(run.staging.read("refunded_payment_amounts"))
    refunds = whole[whole["type"] == "PAYMENT_REFUND"]
    assert set(refunds["initial_transaction_id"]) <= set(refunded)


def test_rerunning_the_same_run_leaves_every_table_identical(model_sandbox, warehouse):
    extract_into_raw(model_sandbox, warehouse)
    _land_bad_records(warehouse)
    run_stages(warehouse, model_run())
    before = dump_commerce(warehouse)
    assert len(before["commerce.quarantine"]) >= len(BAD_PAYMENTS)
    extract_into_raw(model_sandbox, warehouse)
    second = run_stages(warehouse, model_run())
    assert dump_commerce(warehouse) == before
    assert all(stats["changed"] == 0 for name, stats in second["load"].items() if isinstance(stats, dict))


def test_a_new_run_over_the_same_data_keeps_one_quarantine_row_per_record(model_sandbox, warehouse):
    extract_into_raw(model_sandbox, warehouse)
    _land_bad_records(warehouse)
    run_stages(warehouse, model_run("run-1"))
    before = dump_commerce(warehouse)
    run_stages(warehouse, model_run("run-2"))
    after = dump_commerce(warehouse)
    assert {t: rows for t, rows in after.items() if t != "commerce.quarantine"} == {
        t: rows for t, rows in before.items() if t != "commerce.quarantine"}
    last_run = list(schema.QUARANTINE).index("last_run_id")
    first_run = list(schema.QUARANTINE).index("first_run_id")
    assert len(after["commerce.quarantine"]) == len(before["commerce.quarantine"])  # not appended again
    assert {(row[first_run], row[last_run]) for row in after["commerce.quarantine"]} == {("run-1", "run-2")}
    assert sorted(row[:last_run] for row in after["commerce.quarantine"]) == sorted(
        row[:last_run] for row in before["commerce.quarantine"])  # same records, rules and payloads


def test_duckdb_and_postgresql_hold_identical_results(model_sandbox, tmp_path, postgres_server_url):
    dumps = []
    for url in (f"duckdb:///{tmp_path / 'same.duckdb'}", postgres_server_url):
        if url.startswith("postgresql"):
            _reset_postgres(url)
        engine = get_engine(url)
        apply_migrations(engine)
        extract_into_raw(model_sandbox, engine)
        run_stages(engine, model_run())
        dumps.append(dump_commerce(engine))
    assert dumps[0] == dumps[1]
    assert dumps[0]["commerce.transactions"]


def _bad_payment(pid: str, **changes) -> dict:
    record = {
        "id": pid, "created_at": "2026-10-01T10:00:00.000Z", "amount": 1000, "amount_refunded": 0,
        "currency": "GBP", "status": "paid_out", "scheme": "bacs", "charge_date": "2026-10-05",
        "description": "bad record", "reference": None, "links": {"mandate": "MD-missing", "creditor": "CR1"},
        "metadata": {},
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


BAD_PAYMENTS = {
    "PMBAD1": _bad_payment("PMBAD1", amount=...),  # missing amount
    "PMBAD2": _bad_payment("PMBAD2", currency="XYZ"),  # unknown currency
    "PMBAD3": _bad_payment("PMBAD3", status="teleported"),  # unknown status
    "PMBAD4": _bad_payment("PMBAD4", amount=-500),  # negative amount
    "PMBAD5": _bad_payment("PMBAD5", scheme="sepa_core"),  # wrong scheme for GBP
    "PMBAD6": _bad_payment("PMBAD6", amount="1250"),  # amount as text
    "PMBAD7": _bad_payment("PMBAD7", amount=12.5),  # a fraction of a penny
    "PMBAD8": _bad_payment("PMBAD8", charge_date="n/a"),  # charge_date not a date
    "PMBAD9": _bad_payment("PMBAD9"),  # its fee payout item cannot be read (landed below)
}
BAD_REFUND = {"id": "RFBAD1", "created_at": "2026-10-02T10:00:00.000Z", "amount": 100, "currency": "GBP",
              "status": "paid", "reference": "orphan", "links": {"payment": "PM-never-landed"}, "metadata": {}}


def _land_bad_records(engine) -> None:
    ctx = landing.LandingContext(user_id="user-1", data_connection_id=MODEL_DC, run_id="manual", extracted_at="2026-11-01 00:00:00")
    with transaction(engine) as conn:
        landing.land(conn, landing.RESOURCES["payments"], list(BAD_PAYMENTS.values()), ctx)
        landing.land(conn, landing.RESOURCES["refunds"], [BAD_REFUND], ctx)
        payout = conn.execute(sa.text("SELECT min(id) FROM raw.gocardless_payouts")).scalar_one()
        landing.land_payout_items(conn, [(payout, [{"type": "gocardless_fee", "amount": "unknown",
                                                    "links": {"payment": "PMBAD9"}}])], ctx)


def test_malformed_records_are_quarantined_with_reasons_and_the_rest_loads(model_sandbox, warehouse):
    extract_into_raw(model_sandbox, warehouse)
    _land_bad_records(warehouse)
    summary = run_stages(warehouse, model_run())
    with transaction(warehouse) as conn:
        rows = conn.execute(
            sa.text("SELECT source_id, CAST(failed_rules AS VARCHAR) FROM commerce.quarantine WHERE source_id LIKE 'PMBAD%'")
        ).all()
        loaded_bad = conn.execute(
            sa.text("SELECT count(*) FROM commerce.transactions WHERE source_id LIKE 'PMBAD%'")
        ).scalar_one()
        payload = conn.execute(
            sa.text("SELECT CAST(payload AS VARCHAR) FROM commerce.quarantine WHERE source_id = 'PMBAD2'")
        ).scalar_one()
    reasons = {source_id: set(json.loads(rules)) for source_id, rules in rows}
    assert set(reasons) == set(BAD_PAYMENTS)
    assert all(reasons.values())
    assert reasons["PMBAD6"] == reasons["PMBAD7"] == {"amount_integer_minor_units"}
    assert reasons["PMBAD8"] == {"charge_date_is_date"} and reasons["PMBAD9"] == {"fee_item_amount_readable"}
    with transaction(warehouse) as conn:
        refund_rules = conn.execute(sa.text(
            "SELECT CAST(failed_rules AS VARCHAR) FROM commerce.quarantine WHERE source_id = 'RFBAD1'")).scalar_one()
    assert json.loads(refund_rules) == ["refund_payment_in_raw"]
    by_rule = summary["validate"]["transactions"]["quarantined_by_rule"]
    assert by_rule["amount_integer_minor_units"] == 2 and by_rule["refund_payment_in_raw"] == 1
    assert loaded_bad == 0
    assert json.loads(payload)["source"]["currency"] == "XYZ"  # the GoCardless record itself is kept
    assert summary["load"]["transactions"]["rows"] > 100  # the rest loaded


def test_a_batch_level_failure_loads_nothing(model_sandbox, warehouse, monkeypatch):
    extract_into_raw(model_sandbox, warehouse)
    real_frame, calls = stages.transactions_frame, []

    def third_chunk_loses_its_currency(rows):
        calls.append(1)
        frame = real_frame(rows)
        return frame.drop(columns=["currency"]) if len(calls) == 3 else frame

    monkeypatch.setattr(stages, "transactions_frame", third_chunk_loses_its_currency)
    run = dataclasses.replace(model_run(), chunk_rows=50, validation_rows=50)  # earlier chunks are valid: still nothing loads
    stages.transform(warehouse, run)
    assert len(calls) > 3
    with pytest.raises(model.BatchValidationError, match="columns_match_contract"):
        stages.validate(warehouse, run)
    assert all(not rows for rows in dump_commerce(warehouse).values())


def test_a_rebuild_keeps_the_reconciliation_columns(model_sandbox, warehouse):
    extract_into_raw(model_sandbox, warehouse)
    run_stages(warehouse, model_run())
    with transaction(warehouse) as conn:
        target = conn.execute(sa.text("SELECT id FROM commerce.transactions WHERE type = 'PAYMENT' ORDER BY id LIMIT 1")).scalar_one()
        conn.execute(
            sa.text("UPDATE commerce.transactions SET gateway_state = 'Settled', settled_on = DATE '2026-10-02' WHERE id = :id"),
            {"id": target},
        )
    run_stages(warehouse, model_run("run-2"))
    with transaction(warehouse) as conn:
        state, settled = conn.execute(
            sa.text("SELECT gateway_state, settled_on FROM commerce.transactions WHERE id = :id"), {"id": target}
        ).one()
    assert (state, settled) == ("Settled", date(2026, 10, 2))


def test_data_types_pick_the_tables(model_sandbox, warehouse):
    extract_into_raw(model_sandbox, warehouse)
    summary = run_stages(warehouse, model_run(data_types=("COMMERCE_SUBSCRIPTION",)))
    assert set(summary["load"]) == {"subscriptions"}
    dump = dump_commerce(warehouse)
    assert dump["commerce.subscriptions"] and not dump["commerce.transactions"]


def test_deleting_a_data_connection_deletes_its_rows_everywhere(model_sandbox, warehouse, registry_snapshot):
    from gocardless_commerce.registry import Registry

    registry = Registry(warehouse)
    kept = registry.connect("other", "Other Ltd", organisation_id="OR-other")
    with transaction(warehouse) as conn:  # the model's rows belong to a registered connection
        conn.execute(sa.text("UPDATE meta.data_connections SET id = :dc WHERE id = :old"), {"dc": MODEL_DC, "old": kept.id})
    registry.connect("keeper", "Keeper", organisation_id="OR-keeper")
    extract_into_raw(model_sandbox, warehouse)
    run_stages(warehouse, model_run())
    registry.delete("other")
    with transaction(warehouse) as conn:
        leftovers = {
            table: conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE data_connection_id = :dc"), {"dc": MODEL_DC}).scalar_one()
            for table in (*COMMERCE_TABLES, "raw.gocardless_payments", "raw.gocardless_events", "meta.sync_state", "meta.sync_runs")
        }
        remaining = conn.execute(sa.text("SELECT user_id FROM meta.data_connections")).scalars().all()
    assert set(leftovers.values()) == {0}
    assert remaining == ["keeper"]


def test_the_sandbox_shapes_reach_the_model(tmp_path):
    """The generator's plan changes, amended amounts, fees outside a payment and reinstated
    mandates land, and the model turns them into FEE rows and non-zero expansion/contraction.
    (DuckDB only: a merchant big enough to hold every shape; the model's backends are compared above.)"""
    from gocardless_sandbox import SandboxServer
    from tests.fixtures.sandbox import small_config

    warehouse = get_engine(f"duckdb:///{tmp_path / 'shapes.duckdb'}")
    apply_migrations(warehouse)
    with SandboxServer(small_config(merchants=1, payments_per_merchant=1500, seed=42, rate_limit_per_minute=100_000)) as server:
        # the sandbox carries negative balances forward, so a negative payout comes only as an odd record
        negative = server.store.all_bodies(server.merchants[0].organisation_id, "payouts")[0]["id"]
        server.app.state.odd_records.replace({"bad_fields": [{"resource": "payouts", "id": negative, "mode": "negative_amount"}]})
        extract_into_raw(server, warehouse)
    summary = run_stages(warehouse, model_run())
    with transaction(warehouse) as conn:
        def scalar(sql: str):
            return conn.execute(sa.text(sql)).scalar_one()

        fee_rows = scalar("SELECT count(*) FROM commerce.transactions WHERE type = 'FEE'")
        customers_with_plans = scalar(
            "SELECT count(*) FROM (SELECT customer_id FROM commerce.subscriptions GROUP BY customer_id HAVING count(*) > 1) c")
        amended = scalar("SELECT count(*) FROM raw.gocardless_events WHERE resource_type = 'subscriptions' AND action = 'amended'")
        reinstated = scalar("SELECT count(*) FROM raw.gocardless_events WHERE resource_type = 'mandates' AND action = 'reinstated'")
        expansion, contraction = conn.execute(sa.text(
            "SELECT sum(expansion_mrr), sum(contraction_mrr) FROM commerce.subscriptions_insight")).one()
        quarantined = conn.execute(sa.text("SELECT source_table, source_id FROM commerce.quarantine")).all()
    assert fee_rows > 0 and customers_with_plans > 0 and amended > 0 and reinstated > 0
    assert expansion > 0 and contraction > 0
    # generated data breaks no rule: the one negative payout served is the only quarantined row
    assert summary["validate"]["transactions"]["quarantined_by_rule"] == {"amount_non_negative": 1}
    assert [tuple(row) for row in quarantined] == [("commerce.transactions", negative)]
    assert summary["validate"]["subscriptions"]["quarantined"] == 0


def test_each_stage_reads_only_the_shared_staging_and_a_failed_load_can_be_retried(model_sandbox, warehouse, tmp_path, monkeypatch):
    """As on Celery: every stage on another worker (its own local data folder), one staging URL."""
    extract_into_raw(model_sandbox, warehouse)
    run = dataclasses.replace(model_run(), staging_root=(tmp_path / "bucket").as_uri())
    for worker, stage in enumerate((stages.transform, stages.validate, stages.build_insights)):
        monkeypatch.setenv("GC_COMMERCE_DATA_DIR", str(tmp_path / f"worker-{worker}"))
        stage(warehouse, run)
    assert all(not (tmp_path / f"worker-{n}" / "staging").exists() for n in range(3))

    unreachable = get_engine(f"duckdb:///{tmp_path / 'no-such-folder' / 'warehouse.duckdb'}")
    with pytest.raises(Exception):  # noqa: B017 - any warehouse error: the load did not commit
        stages.load(unreachable, run)
    assert run.staging.has_parts("transactions_valid")  # kept for the retry
    loaded = stages.load(warehouse, run)
    assert loaded["transactions"]["rows"] > 0
    assert not run.staging.path.exists()  # cleaned up once the load committed


def test_amended_subscriptions_count_at_the_amount_in_force_each_month(sandbox_factory, warehouse):
    """The sandbox amends some subscriptions in place (``subscriptions.amended``, no amount in
    the event): the chunked SQL reading finds the same amount changes as the in-memory one,
    each matches what the sandbox's payments charged either side of it, and the insights
    loaded count them as expansion or contraction."""
    from gocardless_commerce.model.lookups import build_lookups
    from gocardless_commerce.model.subscriptions import amount_changes_frame

    model_sandbox = sandbox_factory(merchants=1, payments_per_merchant=600, seed=21)  # five amendments
    extract_into_raw(model_sandbox, warehouse)
    run = model_run("amended-1", data_types=("COMMERCE_SUBSCRIPTION", "COMMERCE_SUBSCRIPTION_INSIGHT"))
    stages.transform(warehouse, run)
    staged = pd.concat(list(run.staging.read_parts("subscription_amounts")), ignore_index=True)
    frames = _whole_raw_frames(warehouse)
    in_memory = amount_changes_frame(frames.subscriptions, build_lookups(frames))
    key = ["subscription_id", "changed_at"]
    pd.testing.assert_frame_equal(_sorted(staged, key), _sorted(in_memory, key))
    assert len(staged) >= 2, "the sandbox should amend some subscriptions with payments either side"

    org = model_sandbox.merchants[0].organisation_id
    charged = sorted((p["links"]["subscription"], p["created_at"], p["amount"])
                     for p in model_sandbox.store.all_bodies(org, "payments") if p["links"].get("subscription"))
    for change in staged.itertuples():
        moment = change.changed_at.strftime("%Y-%m-%dT%H:%M:%S")
        before = [a for s, at, a in charged if s == change.subscription_id and at < moment]
        after = [a for s, at, a in charged if s == change.subscription_id and at >= moment]
        assert Decimal(before[-1]).scaleb(-2) == change.amount_before, change
        if after:
            assert Decimal(after[0]).scaleb(-2) == change.amount_after, change

    for stage in (stages.validate, stages.build_insights, stages.load):
        stage(warehouse, run)
    with transaction(warehouse) as conn:
        loaded = conn.execute(sa.text(
            "SELECT sum(expansion_mrr), sum(contraction_mrr) FROM commerce.subscriptions_insight")).one()
        subscriptions = pd.read_sql_query(sa.text("SELECT * FROM commerce.subscriptions"), conn)

    def moves(**amendments) -> tuple:
        insight = model.subscriptions_insight(subscriptions, frames.events, now=PINNED_NOW, history_months=12, **amendments)
        return sum(insight["expansion_mrr"]), sum(insight["contraction_mrr"])

    assert tuple(Decimal(v) for v in loaded) == moves(amount_changes=in_memory) != moves()


def _validation_results(engine, run_id: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    with transaction(engine) as conn:
        rows = conn.execute(sa.text(
            "SELECT source_table, rule, evaluated, failed, chunks FROM meta.validation_results WHERE run_id = :run"),
            {"run": run_id}).all()
    return {(table, rule): (int(evaluated), int(failed), int(chunks)) for table, rule, evaluated, failed, chunks in rows}


def test_rule_counts_add_up_every_chunk_and_a_rerun_replaces_them(model_sandbox, warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("GC_COMMERCE_DATA_DIR", str(tmp_path / "data"))
    extract_into_raw(model_sandbox, warehouse)
    _land_bad_records(warehouse)
    run = dataclasses.replace(model_run(), chunk_rows=50, validation_rows=50)  # the orphan refund sits chunks after the first
    summary = run_stages(warehouse, run)
    results = _validation_results(warehouse, run.run_id)
    by_rule = summary["validate"]["transactions"]["quarantined_by_rule"]
    for rule, quarantined in by_rule.items():
        assert results[("commerce.transactions", rule)][1] == quarantined, rule
    evaluated, failed, chunks = results[("commerce.transactions", "refund_payment_in_raw")]
    assert failed == 1 and chunks > 5
    assert results[("commerce.transactions", "id_not_null")][0] == sum(
        summary["validate"]["transactions"][k] for k in ("valid", "quarantined"))  # every row of every chunk
    assert results[("commerce.transactions_insight", "columns_match_contract")] == (1, 0, 1)
    assert {table for table, _ in results} == {"commerce.transactions", "commerce.subscriptions",
                                               "commerce.transactions_insight", "commerce.subscriptions_insight"}

    run_stages(warehouse, run)  # the same run again: its rows are replaced, not added
    assert _validation_results(warehouse, run.run_id) == results
    with transaction(warehouse) as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM meta.validation_results")).scalar_one() == len(results)


def test_data_docs_show_every_chunk_offline_and_keep_earlier_runs(model_sandbox, warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("GC_COMMERCE_DATA_DIR", str(tmp_path / "data"))
    extract_into_raw(model_sandbox, warehouse)
    _land_bad_records(warehouse)
    first = dataclasses.replace(model_run("manual__first"), chunk_rows=50, validation_rows=50)
    summary = run_stages(warehouse, first)
    run_stages(warehouse, dataclasses.replace(first, run_id="manual__second"))
    root = tmp_path / "data" / "gx_data_docs"
    run_page = root / "runs" / MODEL_DC / "manual__first" / "index.html"
    assert summary["validate"]["data_docs"] == run_page.resolve().as_uri()
    text = run_page.read_text()
    assert "refund_payment_in_raw" in text and "row(s) quarantined" in text
    facts = json.loads((run_page.parent / "run.json").read_text())
    pages = facts["tables"]["commerce.transactions"]["pages"]
    assert pages[0] == 0 and len(pages) > 1  # the first chunk and the later ones that broke a rule
    for page in root.rglob("*.html"):
        assert "https://" not in page.read_text() and "http://" not in page.read_text(), page
    index = (root / "index.html").read_text()
    assert "manual__first" in index and "manual__second" in index
