"""``…/users/{user_id}/data-quality/*`` and ``/commerce/data-docs/…``: what validation found.

* ``runs``: a merchant's model runs, newest first, each with every Great Expectations rule of
  every table and its evaluated and failed counts summed over all chunks
  (``meta.validation_results``, written by the load);
* ``quarantine``: the merchant's quarantined rows (``commerce.quarantine``) with their failed
  rules and why each failed (the expectation behind the rule, from the run that last
  quarantined the row), filterable by table and rule;
* ``/commerce/data-docs/<path>``: the offline Data Docs folder (:mod:`gocardless_commerce.model.data_docs`),
  behind the same authentication as the API; not part of the OpenAPI document (HTML files).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from gocardless_commerce.api import models
from gocardless_commerce.api.access import READ
from gocardless_commerce.api.deps import existing_user, warehouse
from gocardless_commerce.api.errors import ApiError
from gocardless_commerce.api.paging import page_body, page_window
from gocardless_commerce.warehouse.engine import transaction

router = APIRouter(tags=["data quality"])
docs_router = APIRouter(include_in_schema=False)

#: Where the Data Docs are served, under the plugin's mount point (/commerce).
DATA_DOCS_PATH = "/data-docs"


def data_docs_root() -> Path:
    from gocardless_commerce.model.validation import default_docs_dir

    return default_docs_dir()


def run_docs_href(data_connection_id: str, run_id: str) -> str | None:
    """The run's Data Docs page, relative to the mount point, when it was written."""
    from gocardless_commerce.model.data_docs import slug

    relative = f"runs/{slug(data_connection_id)}/{slug(run_id)}/index.html"
    return f"{DATA_DOCS_PATH.lstrip('/')}/{relative}" if (data_docs_root() / relative).is_file() else None


def like_json_string(value: str) -> str:
    """A LIKE pattern matching ``value`` as one JSON string of an array's text, the same on
    DuckDB and PostgreSQL (``_`` and ``%`` escaped with ``\\``)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f'%"{escaped}"%'


def runs_page(user_id: str, query: models.DataQualityRunQuery) -> tuple[list[dict[str, Any]], int]:
    """One page of the merchant's validated runs, newest first, each with its rules."""
    where, params = "user_id = :user_id", {"user_id": user_id}
    if query.data_connection_id:
        where += " AND data_connection_id = :dc"
        params["dc"] = query.data_connection_id
    limit, offset = page_window(query.page, query.per_page)
    runs_sql = (f"SELECT data_connection_id, run_id, max(validated_at) AS validated_at FROM meta.validation_results "
                f"WHERE {where} GROUP BY data_connection_id, run_id")
    with transaction(warehouse()) as conn:
        total = conn.execute(sa.text(f"SELECT count(*) FROM ({runs_sql}) runs"), params).scalar_one()
        runs = conn.execute(sa.text(f"{runs_sql} ORDER BY validated_at DESC, run_id DESC LIMIT :limit OFFSET :offset"),
                            {**params, "limit": limit, "offset": offset}).mappings().all()
        rules: dict[tuple[str, str], list[dict]] = defaultdict(list)
        if runs:
            found = conn.execute(sa.text(
                "SELECT data_connection_id, run_id, source_table, rule, column_name, level, evaluated, failed, chunks, "
                "description FROM meta.validation_results WHERE user_id = :user_id AND run_id IN :runs "
                "ORDER BY source_table, level DESC, rule").bindparams(sa.bindparam("runs", expanding=True)),
                {"user_id": user_id, "runs": sorted({run["run_id"] for run in runs})}).mappings().all()
            for row in found:
                rules[(row["data_connection_id"], row["run_id"])].append(dict(row))
    return [run_view(dict(run), rules[(run["data_connection_id"], run["run_id"])]) for run in runs], total


def run_view(run: dict, rules: list[dict]) -> dict:
    """A run as the API shows it: its tables, each with its rules in order."""
    tables: dict[str, list[dict]] = {}
    for rule in rules:
        tables.setdefault(rule["source_table"], []).append({
            "rule": rule["rule"], "column": rule["column_name"], "level": rule["level"],
            "evaluated": int(rule["evaluated"]), "failed": int(rule["failed"]), "chunks": int(rule["chunks"]),
            "description": rule["description"]})
    return {
        "run_id": run["run_id"], "data_connection_id": run["data_connection_id"], "validated_at": run["validated_at"],
        "tables": [{"table": table, "rules": table_rules,
                    "failed_rules": sum(1 for rule in table_rules if rule["failed"])}
                   for table, table_rules in sorted(tables.items())],
        "data_docs_url": run_docs_href(run["data_connection_id"], run["run_id"]),
    }


def quarantine_page(user_id: str, query: models.QuarantineQuery) -> tuple[list[dict[str, Any]], int]:
    """One page of the merchant's quarantined rows, each failed rule with its reason."""
    where, params = ["user_id = :user_id"], {"user_id": user_id}
    for name, column in (("data_connection_id", "data_connection_id"), ("table", "source_table")):
        value = getattr(query, name)
        if value is not None:
            where.append(f"{column} = :{name}")
            params[name] = value
    if query.rule is not None:
        where.append("CAST(failed_rules AS VARCHAR) LIKE :rule ESCAPE '\\'")
        params["rule"] = like_json_string(query.rule)
    limit, offset = page_window(query.page, query.per_page)
    condition = " AND ".join(where)
    with transaction(warehouse()) as conn:
        total = conn.execute(sa.text(f"SELECT count(*) FROM commerce.quarantine WHERE {condition}"), params).scalar_one()
        rows = conn.execute(sa.text(
            "SELECT data_connection_id, source_table, source_id, occurrence, row_id, first_run_id, last_run_id, "
            f"CAST(failed_rules AS VARCHAR) AS failed_rules, CAST(payload AS VARCHAR) AS payload "
            f"FROM commerce.quarantine WHERE {condition} "
            "ORDER BY last_run_id DESC, source_table, source_id, occurrence LIMIT :limit OFFSET :offset"),
            {**params, "limit": limit, "offset": offset}).mappings().all()
        reasons = _reasons(conn, {(row["data_connection_id"], row["last_run_id"]) for row in rows})
    return [quarantined_view(dict(row), reasons) for row in rows], total


def _reasons(conn, runs: set[tuple[str, str]]) -> dict[tuple[str, str, str, str], str]:
    """(data connection, run, table, rule) → the expectation behind the rule in that run."""
    if not runs:
        return {}
    found = conn.execute(sa.text(
        "SELECT data_connection_id, run_id, source_table, rule, description FROM meta.validation_results "
        "WHERE run_id IN :runs AND level = 'row'").bindparams(sa.bindparam("runs", expanding=True)),
        {"runs": sorted({run for _, run in runs})}).all()
    return {(dc, run, table, rule): text for dc, run, table, rule, text in found if (dc, run) in runs}


def quarantined_view(row: dict, reasons: dict[tuple[str, str, str, str], str]) -> dict:
    rules = json.loads(row["failed_rules"]) if isinstance(row["failed_rules"], str) else row["failed_rules"]
    payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
    key = (row["data_connection_id"], row["last_run_id"], row["source_table"])
    return {
        **{name: row[name] for name in ("data_connection_id", "source_table", "source_id", "occurrence", "row_id",
                                        "first_run_id", "last_run_id")},
        "failed_rules": [{"rule": rule, "reason": reasons.get((*key, rule))} for rule in rules],
        "row": (payload or {}).get("row") or {},
    }


@router.get("/users/{user_id}/data-quality/runs", dependencies=[READ])
def data_quality_runs(user_id: models.UserIdPath,
                      query: Annotated[models.DataQualityRunQuery, Query()]) -> models.DataQualityRunPage:
    existing_user(user_id)
    runs, total = runs_page(user_id, query)
    return models.DataQualityRunPage(**page_body(runs, page=query.page, per_page=query.per_page, total=total))


@router.get("/users/{user_id}/data-quality/quarantine", dependencies=[READ])
def data_quality_quarantine(user_id: models.UserIdPath,
                            query: Annotated[models.QuarantineQuery, Query()]) -> models.QuarantinePage:
    existing_user(user_id)
    rows, total = quarantine_page(user_id, query)
    return models.QuarantinePage(**page_body(rows, page=query.page, per_page=query.per_page, total=total))


def docs_file(root: Path, path: str) -> Path:
    """The file under ``root`` that ``path`` names (``""`` → the index); 404 for anything
    else, a way out of ``root`` included."""
    base = root.resolve()
    target = (base / (path or "index.html")).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_relative_to(base) or not target.is_file() or target.suffix not in (".html", ".json"):
        raise ApiError(404, f"No Data Docs page {path!r}")
    return target


@docs_router.get(DATA_DOCS_PATH + "/{path:path}", dependencies=[READ])
def data_docs(path: str) -> FileResponse:
    target = docs_file(data_docs_root(), path)
    return FileResponse(target, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
