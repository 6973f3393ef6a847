"""The warehouse explains itself: every table, view and column carries the comment of
``sql/comments.yml``, read back from the database's own catalogue, on DuckDB and PostgreSQL;
the catalogue names nothing that does not exist; docs/columns.md is the catalogue rendered."""

from __future__ import annotations

import pytest

from gocardless_commerce import cli, settings
from gocardless_commerce.warehouse import comments
from gocardless_commerce.warehouse.migrations import apply_migrations, apply_views

DOCUMENTED_SCHEMAS = ("commerce", "reconciliation", "meta", "raw")


def _read(engine) -> dict[str, comments.DatabaseObject]:
    with engine.connect() as conn:
        return comments.read_comments(conn)


def test_every_table_view_and_column_has_its_catalogue_comment(warehouse):
    catalogue = comments.load_catalogue()
    found = _read(warehouse)
    views = {name for name, obj in found.items() if obj.kind == "VIEW"}
    assert {"commerce.mrr_movements", "commerce.latest_month_per_merchant"} <= views
    assert {name.partition(".")[0] for name in found} == set(DOCUMENTED_SCHEMAS)

    uncommented = [name for name, obj in found.items() if not (obj.comment or "").strip()]
    uncommented += [f"{name}.{column}" for name, obj in found.items()
                    for column, text in obj.columns.items() if not (text or "").strip()]
    assert uncommented == []
    assert comments.missing_from_database(catalogue, found) == []  # the catalogue cannot rot
    for name, doc in catalogue.items():
        assert found[name].comment == doc.description
        assert found[name].columns == doc.columns, name  # same columns, same texts


def test_comments_are_idempotent_and_survive_the_views_being_replaced(warehouse):
    assert comments.apply_comments(warehouse) == 0  # the fixture's migrate wrote them all
    for replace_views in (apply_views, apply_migrations):  # DuckDB's CREATE OR REPLACE VIEW drops
        replace_views(warehouse)                           # a view's comments: both write them again
        view = _read(warehouse)["commerce.mrr_movements"]
        assert view.comment and all(view.columns.values())
        assert comments.apply_comments(warehouse) == 0


def test_a_catalogue_naming_a_missing_column_or_table_is_refused(warehouse):
    catalogue = {
        "commerce.transactions": comments.TableDoc("commerce.transactions", "changed", {"no_such_column": "x"}),
        "commerce.no_such_table": comments.TableDoc("commerce.no_such_table", "x", {"id": "x"}),
    }
    with pytest.raises(comments.CatalogueError, match=r"commerce\.transactions\.no_such_column, commerce\.no_such_table"):
        comments.apply_comments(warehouse, catalogue)
    assert _read(warehouse)["commerce.transactions"].comment != "changed"  # nothing half-written


def test_quotes_percent_signs_and_colons_are_kept_as_text(warehouse):
    text = "12.34 % of the merchant's payments: :name %s %(x)s"
    doc = comments.TableDoc("meta.users", text, {"id": text})
    assert comments.apply_comments(warehouse, {"meta.users": doc}) == 2
    users = _read(warehouse)["meta.users"]
    assert (users.comment, users.columns["id"]) == (text, text)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("", "holds no tables"),
        ("commerce.t: {columns: {a: x}}\n", "commerce.t needs a non-empty description"),
        ("commerce.t: {description: d, columns: {a: '', b: 3}}\n", "columns without a description: a, b"),
        ("commerce.t: {description: d}\n", "commerce.t needs its columns"),
        ("elsewhere.t: {description: d, columns: {a: x}}\n", "'elsewhere.t' is not <schema>.<table>"),
        ("commerce.t: {description: d, columns: {a: x: y}}\n", "not valid YAML"),
    ],
)
def test_a_malformed_catalogue_is_a_clear_error(tmp_path, yaml_text, message):
    path = tmp_path / "comments.yml"
    path.write_text(yaml_text)
    with pytest.raises(comments.CatalogueError, match=message):
        comments.load_catalogue(path)


def test_docs_columns_md_is_the_catalogue_rendered():
    page = settings.PROJECT_ROOT / "docs" / "columns.md"
    assert page.read_text() == comments.render_markdown(comments.load_catalogue()), (
        "docs/columns.md is out of date with sql/comments.yml: run `gocardless-commerce warehouse docs`"
    )


def test_the_docs_command_writes_the_page_and_check_fails_when_it_is_stale(tmp_path, capsys):
    output = tmp_path / "columns.md"
    with pytest.raises(SystemExit, match="out of date"):
        cli.main(["warehouse", "docs", "--output", str(output), "--check"])
    cli.main(["warehouse", "docs", "--output", str(output)])
    assert output.read_text().startswith("# Warehouse columns")
    assert "| `subscription_id` | GoCardless subscription id (SB…); joins commerce.subscriptions.source_id. |" in output.read_text()
    cli.main(["warehouse", "docs", "--output", str(output), "--check"])
    assert "is up to date" in capsys.readouterr().out
