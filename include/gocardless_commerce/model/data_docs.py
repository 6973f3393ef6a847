"""Great Expectations Data Docs that render offline and keep every run.

GX's own site builder has two faults for us: its pages load Bootstrap, jQuery and fonts from
CDNs (blank on a machine without internet) and its index lists only what the current
in-memory context validated (a new run hides the earlier ones). So the validate stage renders
GX's validation page of each chunk it wants to show with GX's renderer, strips every external
``<link>``/``<script>``/image and inlines ``data_docs.css`` instead, and writes our own indexes:

* ``<root>/runs/<data connection>/<run>/<table>/chunk-00000.html``: GX's page of one chunk (the
  first chunk of each table, and every chunk that broke a rule, up to :data:`MAX_PAGES`);
* ``<root>/runs/<data connection>/<run>/index.html``: the run, every rule with its evaluated
  and failed counts summed over **all** chunks, and links to the chunk pages
  (``run.json`` beside it holds the same facts);
* ``<root>/index.html``: every run ever validated, newest first.

A rerun of the same run replaces that run's folder; other runs are never touched. The API
server serves ``<root>`` under ``/commerce/data-docs/`` (:mod:`gocardless_commerce.api.data_quality`).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

#: Chunk pages kept per table and run: the first chunk and the chunks that broke a rule. A
#: merchant whose every chunk breaks a rule would otherwise pay a render per chunk; the run
#: page's counts cover every chunk whatever this cap.
MAX_PAGES = 20

_EXTERNAL = re.compile(
    r"<link\b[^>]*href=[\"']https?://[^>]*>"
    r"|<script\b[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>"
    r"|<script\b[^>]*>.*?</script>"  # GX's inline scripts drive jQuery widgets that are not here
    r"|<img\b[^>]*src=[\"']https?://[^>]*>",
    re.IGNORECASE | re.DOTALL,
)
_EXTERNAL_CSS_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.IGNORECASE)
_EXTERNAL_HREF = re.compile(r"href=([\"'])https?://[^\"']*\1", re.IGNORECASE)


@lru_cache(maxsize=1)
def stylesheet() -> str:
    return (Path(__file__).with_name("data_docs.css")).read_text(encoding="utf-8")


def offline(page: str) -> str:
    """The page without anything fetched from another host, with the local stylesheet inlined."""
    page = _EXTERNAL.sub("", page)
    page = _EXTERNAL_CSS_URL.sub("none", page)
    page = _EXTERNAL_HREF.sub('href="#"', page)
    style = f"<style>{stylesheet()}</style>"
    return page.replace("</head>", f"{style}\n</head>", 1) if "</head>" in page else style + page


def _write(path: Path, text: str) -> None:
    """Write whole or not at all: the API server may be reading it, another merchant's task
    rewriting the site index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_page(gx_result: Any, path: str | Path) -> str:
    """Render GX's validation page of ``gx_result`` (offline) to ``path``; its file:// URL."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    page = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(gx_result))
    path = Path(path)
    _write(path, offline(page))
    return path.resolve().as_uri()


def slug(text: str) -> str:
    """A file name for an id (run ids hold ``:`` and ``+``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "_"


@dataclass(frozen=True)
class RunDocs:
    """The Data Docs folder of one model run of one data connection."""

    root: Path
    data_connection_id: str
    user_id: str
    run_id: str

    @property
    def folder(self) -> Path:
        return Path(self.root) / "runs" / slug(self.data_connection_id) / slug(self.run_id)

    def table_folder(self, table: str) -> Path:
        return self.folder / slug(table)

    def chunk_page(self, table: str, chunk: int) -> Path:
        return self.table_folder(table) / f"chunk-{chunk:05d}.html"

    def clear(self, table: str) -> None:
        """Forget the table's pages of an earlier attempt of this same run."""
        shutil.rmtree(self.table_folder(table), ignore_errors=True)

    def record(self, validated_at: str, tables: Mapping[str, list[dict]], *, pages: Mapping[str, list[int]],
               chunks: Mapping[str, int], quarantined: Mapping[str, int]) -> str:
        """Add these tables (rules summed over all chunks, chunk pages written, rows
        quarantined) to the run's page, rewrite the site index; the file:// URL of the run's page."""
        facts_path = self.folder / "run.json"
        facts = json.loads(facts_path.read_text()) if facts_path.exists() else {"tables": {}}
        facts.update(data_connection_id=self.data_connection_id, user_id=self.user_id, run_id=self.run_id,
                     validated_at=validated_at)
        for table, rules in tables.items():
            facts["tables"][table] = {"rules": rules, "chunks": chunks.get(table, 1),
                                      "pages": sorted(pages.get(table, [])), "quarantined": quarantined.get(table, 0)}
        _write(facts_path, json.dumps(facts, indent=1, sort_keys=True))
        _write(self.folder / "index.html", _run_page(facts, self))
        write_site_index(Path(self.root))
        return (self.folder / "index.html").resolve().as_uri()


# -- our pages ---------------------------------------------------------------------------------
def _document(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"UTF-8\"><title>{html.escape(title)}</title>"
            f"<style>{stylesheet()}</style></head>\n<body><div class=\"container\">\n{body}\n</div></body></html>\n")


def _counts_cell(failed: int) -> str:
    return f"<td class=\"number {'failed' if failed else 'passed'}\">{failed}</td>"


def _run_page(facts: Mapping[str, Any], run: RunDocs) -> str:
    parts = ["<p><a href=\"../../../index.html\">All runs</a></p>",
             f"<h1>Data quality of run {html.escape(run.run_id)}</h1>",
             f"<p>Merchant {html.escape(run.user_id)}, data connection {html.escape(run.data_connection_id)}, "
             f"validated at {html.escape(str(facts.get('validated_at')))}. Counts are summed over every chunk.</p>"]
    for table, found in sorted(facts["tables"].items()):
        rules = found["rules"]
        broken = sum(1 for rule in rules if rule["failed"])
        parts.append(f"<h2>{html.escape(table)}</h2><p>{len(rules) - broken}/{len(rules)} rules passed over "
                     f"{found['chunks']} chunk(s); {found.get('quarantined', 0)} row(s) quarantined.</p>")
        parts.append("<table class=\"table\"><tr><th>rule</th><th>column</th><th>level</th>"
                     "<th class=\"number\">evaluated</th><th class=\"number\">failed</th><th>expectation</th></tr>")
        for rule in rules:
            parts.append(f"<tr><td>{html.escape(rule['rule'])}</td><td>{html.escape(rule['column'] or '')}</td>"
                         f"<td>{rule['level']}</td><td class=\"number\">{rule['evaluated']}</td>"
                         f"{_counts_cell(rule['failed'])}<td>{html.escape(rule['description'])}</td></tr>")
        parts.append("</table>")
        links = [f"<a href=\"{slug(table)}/chunk-{chunk:05d}.html\">chunk {chunk}</a>" for chunk in found["pages"]]
        if links:
            parts.append(f"<p>Great Expectations pages: {', '.join(links)}</p>")
    return _document(f"Data quality — {run.run_id}", "\n".join(parts))


def _runs(root: Path) -> Iterable[dict]:
    for path in (root / "runs").glob("*/*/run.json"):
        try:
            facts = json.loads(path.read_text())
        except ValueError:
            continue
        facts["href"] = path.parent.relative_to(root).as_posix() + "/index.html"
        yield facts


def write_site_index(root: Path) -> Path:
    """``<root>/index.html``: every run's page, newest first, with its failed rule counts."""
    runs = sorted(_runs(root), key=lambda facts: (str(facts.get("validated_at")), facts["run_id"]), reverse=True)
    rows = []
    for facts in runs:
        tables = facts.get("tables", {})
        failed = sum(found.get("quarantined", 0) for found in tables.values())
        broken = sum(1 for found in tables.values() for rule in found["rules"] if rule["failed"])
        rows.append(f"<tr><td>{html.escape(str(facts.get('validated_at')))}</td>"
                    f"<td>{html.escape(facts['user_id'])}</td><td>{html.escape(facts['data_connection_id'])}</td>"
                    f"<td><a href=\"{html.escape(facts['href'])}\">{html.escape(facts['run_id'])}</a></td>"
                    f"<td>{html.escape(', '.join(sorted(tables)))}</td>"
                    f"{_counts_cell(broken)}{_counts_cell(failed)}</tr>")
    body = ("<h1>Great Expectations Data Docs</h1><p>Every validated run, newest first; counts over all chunks.</p>"
            "<table class=\"table\"><tr><th>validated at</th><th>merchant</th><th>data connection</th><th>run</th>"
            "<th>tables</th><th class=\"number\">rules broken</th><th class=\"number\">rows quarantined</th></tr>"
            + "".join(rows) + "</table>")
    index = root / "index.html"
    _write(index, _document("Great Expectations Data Docs", body))
    return index


def delete_connection_docs(root: Path, data_connection_id: str) -> bool:
    """Remove every run page of one data connection (deleting a merchant deletes all its data:
    the pages quote failing values) and rewrite the site index; whether there were any."""
    folder = Path(root) / "runs" / slug(data_connection_id)
    existed = folder.exists()
    shutil.rmtree(folder, ignore_errors=True)
    if existed:
        write_site_index(Path(root))
    return existed
