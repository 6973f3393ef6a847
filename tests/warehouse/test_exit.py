"""A process that uses the warehouse and Great Expectations exits quietly: DuckDB's objects are
freed at interpreter exit, so nanobind (DuckDB's bindings) reports no leaked instances.

The cause, and why the exit hook in ``warehouse/engine.py`` removes it, are in the docstring of
``_clear_duckdb_engine_globals``. Each check runs a fresh interpreter, as an Airflow
task does: a leak only shows at the very end of a process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: What a commerce task does: the warehouse engine and the validation module, a DuckDB file
#: opened, migrated and closed, one Great Expectations validation.
TASK = textwrap.dedent(
    """
    import atexit, sys
    from pathlib import Path

    from gocardless_commerce.model import schema
    from gocardless_commerce.model.validation import validate_transactions_insight
    from gocardless_commerce.warehouse import engine as warehouse_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    if "--without-exit-hook" in sys.argv:
        atexit.unregister(warehouse_engine._clear_duckdb_engine_globals)
    home = Path(sys.argv[1])
    engine = warehouse_engine.get_engine(f"duckdb:///{home / 'warehouse.duckdb'}")
    apply_migrations(engine)
    with warehouse_engine.transaction(engine) as conn:
        conn.exec_driver_sql("SELECT count(*) FROM meta.schema_migrations").scalar_one()
    engine.dispose()
    outcome = validate_transactions_insight(schema.frame({}, schema.TRANSACTIONS_INSIGHT), docs_dir=home / "docs")
    print("validated", outcome.batch_failures)
    """
)


def _run_task(tmp_path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", TASK, str(tmp_path), *flags],
        capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.mark.parametrize("exit_hook", [True, False], ids=["with-exit-hook", "without-exit-hook"])
def test_a_task_process_exits_without_nanobind_leak_reports(tmp_path, exit_hook):
    flags = () if exit_hook else ("--without-exit-hook",)
    finished = _run_task(tmp_path, *flags)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "validated []" in finished.stdout
    leak_lines = [line for line in finished.stderr.splitlines() if line.startswith("nanobind: leaked")]
    if exit_hook:
        assert leak_lines == [], finished.stderr[-3000:]
    else:  # the check sees the leak when the hook is off (remove the hook once this fails upstream)
        assert leak_lines, "no leak without the exit hook: fixed upstream, drop the hook"
