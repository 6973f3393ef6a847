"""``gocardless-commerce``: the operator CLI, run in-process against a real DuckDB warehouse and
Airflow's (SQLite) metadata database, as an operator would use it."""

from __future__ import annotations

import json

import pytest

from gocardless_commerce import cli
from gocardless_commerce.orchestration.connections import load_connection
from gocardless_commerce.settings import GOCARDLESS_PROVIDER_CONN_ID


@pytest.fixture
def operator_env(airflow_db, tmp_path, monkeypatch, registry_snapshot):
    """A fresh warehouse and snapshot of this test's own (Airflow's metadata DB is the session's)."""
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{tmp_path / 'cli.duckdb'}")
    return registry_snapshot


def _merchants_in(snapshot) -> list[str]:
    return [m["user_id"] for m in json.loads(snapshot.read_text())["merchants"]]


def test_warehouse_migrate_applies_each_migration_once(operator_env, capsys):
    cli.main(["warehouse", "migrate"])
    first = capsys.readouterr().out
    from gocardless_commerce.warehouse.migrations import migration_files

    assert f"{len(migration_files())} migration(s) applied" in first and "001_meta" in first
    cli.main(["warehouse", "migrate"])
    assert "0 migration(s) applied" in capsys.readouterr().out


def test_provider_set_stores_the_secret_in_an_airflow_connection(operator_env, monkeypatch, capsys):
    monkeypatch.setenv("TEST_GC_SECRET", "cs_cli_secret")
    cli.main(["provider", "set", "--client-id", "cli_client", "--client-secret-env", "TEST_GC_SECRET"])
    out = capsys.readouterr().out
    assert "cs_cli_secret" not in out and "sandbox" in out
    saved = load_connection(GOCARDLESS_PROVIDER_CONN_ID)
    assert (saved.login, saved.password, saved.extra_dejson["is_sandbox"]) == ("cli_client", "cs_cli_secret", True)


def test_a_merchant_goes_through_add_list_disable_and_delete(operator_env, monkeypatch, capsys):
    monkeypatch.setenv("TEST_GC_TOKEN", "sandbox_cli_token")
    cli.main(["merchants", "add", "--user-id", "acme", "--name", "Acme Ltd", "--organisation-id", "OR1",
              "--token-env", "TEST_GC_TOKEN"])
    added = capsys.readouterr().out
    assert "gocardless_sync__acme" in added and "sandbox_cli_token" not in added
    assert _merchants_in(operator_env) == ["acme"]

    cli.main(["merchants", "list"])
    listed = capsys.readouterr().out
    assert "acme" in listed and "CONNECTED" in listed and "Acme Ltd" in listed
    conn_id = f"gocardless_{listed.split()[2]}"  # user, status, data connection id, …
    assert load_connection(conn_id).password == "sandbox_cli_token"

    cli.main(["merchants", "disable", "--user-id", "acme"])
    assert "DISCONNECTED" in capsys.readouterr().out
    assert _merchants_in(operator_env) == []  # its DAG disappears

    # a run's Data Docs pages (they quote failing values) go with the merchant; others stay
    from gocardless_commerce.model.data_docs import RunDocs, slug
    from gocardless_commerce.model.validation import default_docs_dir

    root = default_docs_dir()
    pages = {dc: RunDocs(root, dc, "someone", "manual__1").folder for dc in (listed.split()[2], "dc-of-another")}
    for folder in pages.values():
        folder.mkdir(parents=True)
        (folder / "run.json").write_text('{"run_id": "manual__1", "user_id": "x", "data_connection_id": "y", "tables": {}}')
    cli.main(["merchants", "delete", "--user-id", "acme"])
    assert "all its rows and its Data Docs pages deleted" in capsys.readouterr().out
    assert not (root / "runs" / slug(listed.split()[2])).exists() and pages["dc-of-another"].exists()
    cli.main(["merchants", "list"])
    assert "acme" not in capsys.readouterr().out
    with pytest.raises(Exception, match=conn_id):
        load_connection(conn_id)  # the token went with it


def test_an_empty_token_variable_is_a_clear_error(operator_env, monkeypatch):
    monkeypatch.setenv("TEST_GC_TOKEN", "")
    with pytest.raises(SystemExit, match="TEST_GC_TOKEN is empty or not set"):
        cli.main(["merchants", "add", "--user-id", "acme", "--name", "Acme", "--token-env", "TEST_GC_TOKEN"])
    assert not operator_env.exists()  # nothing registered


def test_unknown_data_types_are_refused_before_anything_changes(operator_env, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["merchants", "add", "--user-id", "acme", "--name", "Acme", "--data-types", "BANK_ACCOUNT"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'BANK_ACCOUNT'" in capsys.readouterr().err


@pytest.mark.parametrize("schedule", ["every day", "61 * * * *", "@fortnightly"])
def test_a_schedule_airflow_would_refuse_is_refused_before_anything_changes(operator_env, monkeypatch, capsys, schedule):
    monkeypatch.setenv("TEST_GC_TOKEN", "token")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["merchants", "add", "--user-id", "acme", "--name", "Acme", "--token-env", "TEST_GC_TOKEN",
                  "--schedule", schedule])
    assert exit_info.value.code == 2
    assert f"{schedule!r} is not a cron expression or preset Airflow accepts" in capsys.readouterr().err
    assert not operator_env.exists() or _merchants_in(operator_env) == []


def test_a_valid_schedule_is_kept(operator_env, monkeypatch):
    monkeypatch.setenv("TEST_GC_TOKEN", "token")
    cli.main(["merchants", "add", "--user-id", "acme", "--name", "Acme", "--token-env", "TEST_GC_TOKEN",
              "--schedule", "30 4 * * 1-5"])
    assert [m["schedule"] for m in json.loads(operator_env.read_text())["merchants"]] == ["30 4 * * 1-5"]


@pytest.mark.parametrize(
    "user_id, name, message",
    [
        ("acme ltd", "Acme", "Airflow DAG id cannot hold"),
        ("acme/1", "Acme", "Airflow DAG id cannot hold"),
        ("a" * 234, "Acme", "at most 233"),
        ("acme", "Acme\nacme2   CONNECTED", "control characters (\\n)"),
        ("acme", "", "must not be empty"),
    ],
)
def test_add_refuses_a_bad_id_or_name_before_reading_the_token(operator_env, monkeypatch, capsys, user_id, name, message):
    monkeypatch.delenv("TEST_GC_TOKEN", raising=False)  # reading the token would fail differently
    with pytest.raises(SystemExit) as exit_:
        cli.main(["merchants", "add", "--user-id", user_id, "--name", name, "--token-env", "TEST_GC_TOKEN"])
    assert message in str(exit_.value) and "\n" not in str(exit_.value)
    assert not operator_env.exists() or _merchants_in(operator_env) == []


def test_list_prints_one_line_per_merchant_whatever_its_stored_name(operator_env, monkeypatch, capsys):
    """A name stored before names were checked cannot forge lines or colour the terminal."""
    import sqlalchemy as sa

    from gocardless_commerce.warehouse.engine import get_engine, transaction

    monkeypatch.setenv("TEST_GC_TOKEN", "sandbox_cli_token")
    cli.main(["merchants", "add", "--user-id", "acme", "--name", "Acme", "--token-env", "TEST_GC_TOKEN"])
    capsys.readouterr()
    with transaction(get_engine()) as conn:
        conn.execute(sa.text("UPDATE meta.users SET name = :n WHERE id = 'acme'"),
                     {"n": "Acme\nevil      CONNECTED     forged\x1b[2J"})
    cli.main(["merchants", "list"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out
    assert "Acme\\nevil" in out and "\\x1b[2J" in out


def test_add_creates_the_merchants_pools_and_delete_removes_its_own(operator_env, monkeypatch, capsys):
    from airflow.models.pool import Pool

    monkeypatch.setenv("TEST_GC_TOKEN", "sandbox_cli_token")
    cli.main(["merchants", "add", "--user-id", "pooled", "--name", "Pooled Ltd", "--token-env", "TEST_GC_TOKEN"])
    assert Pool.get_pool("gocardless_api__pooled").slots == 1
    assert Pool.get_pool("gocardless_duckdb_writer").slots == 1  # the warehouse here is DuckDB
    Pool.delete_pool("gocardless_duckdb_writer")
    cli.main(["pools", "sync"])
    assert "1 Airflow pool(s) created ['gocardless_duckdb_writer']" in capsys.readouterr().out
    cli.main(["merchants", "delete", "--user-id", "pooled"])
    assert Pool.get_pool("gocardless_api__pooled") is None
    Pool.delete_pool("gocardless_duckdb_writer")
