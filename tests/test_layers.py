"""The package's layers, checked from the source: what each folder may import.

The flow reads client → extract → model → warehouse, reconciliation beside the model,
orchestration (Airflow) on top and the REST API above it, devtools and the simulator apart. A lower layer importing a
higher one, production code importing the simulator, or Airflow outside ``orchestration``
fails here, with the file and line that did it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "include" / "gocardless_commerce"
SANDBOX = PROJECT_ROOT / "include" / "gocardless_sandbox"

#: Each layer of ``gocardless_commerce`` and the layers of it that it may import.
ALLOWED = {
    "settings": set(),
    "data_types": set(),
    "names": set(),
    "client": set(),
    "warehouse": {"settings"},
    "extract": {"client", "warehouse", "settings", "data_types"},
    "model": {"warehouse", "settings", "data_types"},
    "reconciliation": {"client", "model", "warehouse", "settings"},
    "registry": {"model", "warehouse", "settings", "data_types", "names"},
    "orchestration": {"client", "extract", "model", "reconciliation", "warehouse", "registry", "settings", "data_types", "names"},
    "api": {"client", "extract", "model", "reconciliation", "warehouse", "registry", "settings", "data_types", "names",
            "orchestration"},
    "cli": {"client", "model", "orchestration", "registry", "warehouse", "settings", "data_types", "names"},
    "__main__": {"cli"},
    "__init__": set(),
    "devtools": None,  # anything, the simulator included
}
#: Only these layers may import Airflow.
AIRFLOW_LAYERS = {"orchestration", "api", "devtools"}


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute module name a file imports (top level or inside functions)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "gocardless_commerce":  # ``from gocardless_commerce import settings``
                found += [(node.lineno, f"gocardless_commerce.{alias.name}") for alias in node.names]
    return found


def _violations(path: Path) -> list[str]:
    layer = _layer(path)
    allowed = ALLOWED[layer]
    where = path.relative_to(PROJECT_ROOT)
    problems = []
    for line, module in _imports(path):
        top, _, rest = module.partition(".")
        if top == "gocardless_sandbox" and allowed is not None:
            problems.append(f"{where}:{line} imports the simulator ({module}); only devtools and tests may")
        elif top == "airflow" and layer not in AIRFLOW_LAYERS:
            problems.append(f"{where}:{line} imports Airflow ({module}); only orchestration, api and devtools may")
        elif top == "gocardless_commerce" and rest and allowed is not None:
            target = rest.split(".")[0]
            if target != layer and target not in allowed:
                problems.append(f"{where}:{line}: {layer} imports {module} ({target} is not below it)")
    return problems


def _python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_belongs_to_a_known_layer():
    unknown = sorted({_layer(p) for p in _python_files(PACKAGE)} - set(ALLOWED))
    assert unknown == [], f"add these to ALLOWED with what they may import: {unknown}"


@pytest.mark.parametrize("path", _python_files(PACKAGE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_it(path):
    assert _violations(path) == []


def test_the_simulator_imports_nothing_of_the_pipeline():
    offenders = [
        f"{p.relative_to(PROJECT_ROOT)}:{line}"
        for p in _python_files(SANDBOX)
        for line, module in _imports(p)
        if module.split(".")[0] == "gocardless_commerce"
    ]
    assert offenders == []


def test_dag_files_are_wiring_that_imports_only_orchestration():
    offenders = [
        f"{p.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for p in _python_files(PROJECT_ROOT / "dags")
        for line, module in _imports(p)
        if module.startswith("gocardless_commerce") and not module.startswith("gocardless_commerce.orchestration")
    ]
    assert offenders == []


def test_plugin_files_are_wiring_that_imports_only_the_api():
    offenders = [
        f"{p.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for p in _python_files(PROJECT_ROOT / "plugins")
        for line, module in _imports(p)
        if module.startswith("gocardless_commerce") and not module.startswith("gocardless_commerce.api")
    ]
    assert offenders == []


def test_the_layer_check_catches_a_violation(tmp_path, monkeypatch):
    """The check itself can fail: a model module importing the client and Airflow is caught."""
    fake_package = tmp_path / "gocardless_commerce"
    (fake_package / "model").mkdir(parents=True)
    bad = fake_package / "model" / "bad.py"
    bad.write_text("from gocardless_commerce.client import GoCardlessClient\n\ndef f():\n    import airflow.sdk\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake_package)
    monkeypatch.setattr(f"{__name__}.PROJECT_ROOT", tmp_path)
    problems = _violations(bad)
    assert len(problems) == 2
    assert "model imports gocardless_commerce.client" in problems[0]
    assert "imports Airflow" in problems[1]
