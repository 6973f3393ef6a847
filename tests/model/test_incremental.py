"""The incremental commerce model against its oracle, the full rebuild.

Two warehouses follow the same sandbox merchant day after day: each day both sync the
merchant (the same incremental sync, so both hold the same raw data), then warehouse
``incremental`` runs the model incrementally and warehouse ``full`` rebuilds in full. Every
``commerce.*`` table must be identical in both after every day (the quarantine's
``last_run_id`` aside: an incremental run does not re-check, so does not re-stamp, a record
it did not rebuild).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.extract import landing, sync
from gocardless_commerce.model import schema, stages
from gocardless_commerce.warehouse.engine import get_engine, transaction
from gocardless_commerce.warehouse.migrations import apply_migrations
from tests.fixtures.hypothesis_profiles import property_settings
from tests.fixtures.model_runs import ALL_TYPES, COMMERCE_TABLES
from tests.fixtures.warehouse import PG_ADMIN_DSN, _reset_postgres, dump_tables

_LAST_RUN = list(schema.QUARANTINE).index("last_run_id")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_pair(request, tmp_path) -> Iterator[dict[str, sa.Engine]]:
    """Two empty migrated warehouses of one backend: ``incremental`` and ``full``."""
    if request.param == "duckdb":
        yield {name: _migrated(f"duckdb:///{tmp_path / f'{name}.duckdb'}") for name in ("incremental", "full")}
        return
    first = request.getfixturevalue("postgres_server_url")
    _reset_postgres(first)
    name = f"gc_commerce_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"incremental": _migrated(first), "full": _migrated(f"{first.rsplit('/', 1)[0]}/{name}")}
    finally:
        get_engine(f"{first.rsplit('/', 1)[0]}/{name}").dispose()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrated(url: str) -> sa.Engine:
    engine = get_engine(url)
    apply_migrations(engine)
    return engine


@dataclass
class Merchant:
    """One sandbox merchant followed by both warehouses."""

    server: object
    dc: str = "dc-incremental"
    day: int = 0

    def sync_and_model(self, warehouses: dict[str, sa.Engine]) -> dict[str, dict]:
        now = self.server.now
        run_id = f"day-{self.day}"
        summaries = {}
        for name, engine in warehouses.items():
            request = sync.SyncRequest(user_id="user-1", data_connection_id=self.dc, run_id=run_id, now=now,
                                       history_months=18)
            with GoCardlessClient(self.server.merchants[0].access_token, base_url=self.server.base_url) as client:
                sync.sync_data_connection(client, engine, request)
            run = stages.ModelRun(user_id="user-1", data_connection_id=self.dc, run_id=run_id, now=now, history_months=12,
                                  data_types=ALL_TYPES, incremental=name == "incremental")
            summaries[name] = {stage.__name__: stage(engine, run) for stage in
                               (stages.transform, stages.validate, stages.build_insights, stages.load)}
        self.day += 1
        return summaries


def _commerce(engine: sa.Engine) -> dict[str, list[tuple]]:
    dump = dump_tables(engine, COMMERCE_TABLES)
    dump["commerce.quarantine"] = sorted((row[:_LAST_RUN] + row[_LAST_RUN + 1:] for row in dump["commerce.quarantine"]), key=repr)
    return dump


def assert_same_commerce(warehouses: dict[str, sa.Engine]) -> None:
    incremental, full = (_commerce(warehouses[name]) for name in ("incremental", "full"))
    for table in COMMERCE_TABLES:
        assert incremental[table] == full[table], f"{table} differs from the full rebuild"


def _watermark(engine: sa.Engine, dc: str) -> tuple:
    with transaction(engine) as conn:
        return conn.execute(sa.text("SELECT mode, landed_seq FROM meta.model_watermarks WHERE data_connection_id = :dc"),
                            {"dc": dc}).one()


@pytest.fixture
def merchant(sandbox_factory) -> Merchant:
    return Merchant(sandbox_factory(merchants=1, payments_per_merchant=150, seed=43, rate_limit_per_minute=100_000))


def test_days_of_changes_built_incrementally_equal_the_full_rebuild(merchant, warehouse_pair):
    first = merchant.sync_and_model(warehouse_pair)
    assert first["incremental"]["transform"]["plan"]["mode"] == "full"  # never modelled
    assert_same_commerce(warehouse_pair)
    for change_fraction in (0.0, 0.05, 0.2):
        merchant.server.advance(days=1, change_fraction=change_fraction)
        summary = merchant.sync_and_model(warehouse_pair)["incremental"]
        assert summary["transform"]["plan"]["mode"] == "incremental", summary["transform"]["plan"]
        assert 0 < summary["transform"]["transactions"] < first["incremental"]["transform"]["transactions"]
        assert_same_commerce(warehouse_pair)
    mode, landed = _watermark(warehouse_pair["incremental"], merchant.dc)
    assert mode == "incremental" and landed > 0


def test_a_run_with_nothing_landed_rebuilds_nothing(merchant, warehouse_pair):
    warehouses = {"incremental": warehouse_pair["incremental"]}
    merchant.sync_and_model(warehouses)
    summary = merchant.sync_and_model(warehouses)["incremental"]
    assert summary["transform"]["plan"]["mode"] == "incremental"
    assert summary["transform"]["transactions"] == 0
    assert summary["load"]["transactions"]["changed"] == 0


# -------------------------------------------------------------------------------------- property
#: One sandbox day: how many days the clock moves and which fraction of old payments changes
#: (charge-backs and late failures); every day also brings new customers, payments, refunds,
#: payouts and subscription charges.
days = st.lists(st.tuples(st.integers(1, 3), st.sampled_from([0.0, 0.01, 0.1, 0.3])), min_size=1, max_size=3)


@property_settings(3)
@given(sequence=days, seed=st.integers(1, 10_000))
def test_any_sequence_of_sandbox_days_built_incrementally_equals_the_full_rebuild(sandbox_factory, warehouse_pair,
                                                                                   sequence, seed):
    """Each example starts a fresh merchant (its own sandbox) in a fresh data connection."""
    merchant = Merchant(sandbox_factory(merchants=1, payments_per_merchant=80, seed=seed, rate_limit_per_minute=100_000),
                        dc=f"dc-{uuid.uuid4().hex[:10]}")
    merchant.sync_and_model(warehouse_pair)
    for days_ahead, change_fraction in sequence:
        merchant.server.advance(days=days_ahead, change_fraction=change_fraction)
        merchant.sync_and_model(warehouse_pair)
        assert_same_commerce(warehouse_pair)


# ------------------------------------------------------------------------------------ quarantine
def _land_payment(engine: sa.Engine, dc: str, **changes) -> None:
    record = {"id": "PMFIXED", "created_at": "2026-10-01T10:00:00.000Z", "amount": 1000, "amount_refunded": 0,
              "currency": "GBP", "status": "paid_out", "scheme": "bacs", "charge_date": "2026-10-05",
              "description": "fixed at the source", "links": {"creditor": "CR1"}, **changes}
    ctx = landing.LandingContext(user_id="user-1", data_connection_id=dc, run_id="manual", extracted_at="2026-11-01 00:00:00")
    with transaction(engine) as conn:
        landing.land(conn, landing.RESOURCES["payments"], [record], ctx)


def _model(engine: sa.Engine, merchant: Merchant, run_id: str, now) -> dict:
    run = stages.ModelRun(user_id="user-1", data_connection_id=merchant.dc, run_id=run_id, now=now, history_months=12,
                          data_types=ALL_TYPES, incremental=True)
    return {stage.__name__: stage(engine, run) for stage in (stages.transform, stages.validate, stages.build_insights,
                                                               stages.load)}


def _quarantined(engine: sa.Engine, source_id: str) -> list:
    with transaction(engine) as conn:
        return list(conn.execute(sa.text("SELECT CAST(failed_rules AS VARCHAR) FROM commerce.quarantine WHERE source_id = :id"),
                                 {"id": source_id}).scalars())


def test_a_record_fixed_at_the_source_or_by_time_leaves_the_quarantine(merchant, warehouse_pair):
    engine = warehouse_pair["incremental"]
    merchant.sync_and_model({"incremental": engine})
    now = merchant.server.now
    _land_payment(engine, merchant.dc, amount=-500)
    assert _model(engine, merchant, "bad", now)["transform"]["plan"]["mode"] == "incremental"
    assert "amount_non_negative" in _quarantined(engine, "PMFIXED")[0]
    _land_payment(engine, merchant.dc, amount=500)  # fixed at the source
    _model(engine, merchant, "fixed", now)
    assert _quarantined(engine, "PMFIXED") == []
    # created after the run's now: quarantined, then valid for a later run with no new raw row
    _land_payment(engine, merchant.dc, amount=500, created_at=(now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    _model(engine, merchant, "future", now)
    assert "source_created_at_not_in_future" in _quarantined(engine, "PMFIXED")[0]
    later = _model(engine, merchant, "later", now + timedelta(hours=2))
    assert later["transform"]["plan"]["mode"] == "incremental"
    assert _quarantined(engine, "PMFIXED") == []
    with transaction(engine) as conn:
        assert conn.execute(sa.text("SELECT amount FROM commerce.transactions WHERE source_id = 'PMFIXED'")).scalar_one() == 5
