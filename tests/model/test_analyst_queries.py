"""The five example questions of docs/analysts.md, run exactly as the page prints them, on
DuckDB and PostgreSQL, against a warehouse the model built from sandbox data."""

from __future__ import annotations

import re
from decimal import Decimal

import sqlalchemy as sa

from gocardless_commerce import settings
from gocardless_commerce.registry import Registry
from gocardless_commerce.warehouse.engine import transaction
from tests.fixtures.model_runs import extract_into_raw, model_run, run_stages

ANALYSTS_PAGE = settings.PROJECT_ROOT / "docs" / "analysts.md"
#: The merchant the page's queries name, and the one the model's test run builds.
PAGE_MERCHANT, TEST_MERCHANT = "demo_merchant_1", model_run().user_id


def example_queries() -> dict[str, str]:
    """Question heading → SQL, for every ```sql block under "## Five questions"."""
    section = ANALYSTS_PAGE.read_text().split("## Five questions", 1)[1]
    return {
        title.strip(): sql.strip()
        for title, sql in re.findall(r"^### (.+?)$.*?^```sql\n(.*?)^```", section, flags=re.M | re.S)
    }


def test_the_page_has_five_questions_each_with_its_sql():
    queries = example_queries()
    assert len(queries) == 5, list(queries)
    assert all(sql.upper().startswith("SELECT") for sql in queries.values())


def test_every_example_question_returns_rows(model_sandbox, warehouse, registry_snapshot):
    extract_into_raw(model_sandbox, warehouse)
    run_stages(warehouse, model_run())
    Registry(warehouse).connect(TEST_MERCHANT, "Sandbox merchant", organisation_id=model_sandbox.merchants[0].organisation_id)
    answers, empty = {}, []
    with transaction(warehouse) as conn:
        for title, sql in example_queries().items():
            result = conn.execute(sa.text(sql.replace(f"'{PAGE_MERCHANT}'", f"'{TEST_MERCHANT}'")))
            answers[title] = [row._asdict() for row in result]
            if not answers[title]:
                empty.append(title)
    assert empty == []
    net, bridge = answers["1. Net revenue per month and currency"], answers["2. A merchant's MRR and its movements"]
    assert all(r["payments"] - r["refunds"] - r["fees"] == r["net_revenue"] for r in net)
    assert all(r["opening_mrr"] + r["net_new_mrr"] == r["mrr"] for r in bridge)
    assert any(r["mrr"] > 0 for r in bridge)
    assert all(Decimal(0) <= r["failure_rate"] <= 1 for r in answers["3. Failed-payment rate per merchant and month"])
    assert all(r["payments_nb"] > 0 and r["amount"] > 0 for r in answers["5. Payments collected but not yet paid out"])
