"""No production app imports the synthetic city: `ejia.demo` may use every app, no app may use it
(tests and migrations aside). The catalogue reaches the demo population only through the module
named in settings.EJIA_COUNT_POPULATION."""

from __future__ import annotations

import ast
from pathlib import Path

import ejia

ROOT = Path(ejia.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def production_modules() -> list[Path]:
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).parts[0] != "demo"
        and "tests" not in path.relative_to(ROOT).parts
        and "migrations" not in path.relative_to(ROOT).parts
    ]


def test_no_production_app_imports_demo():
    offenders = {
        str(path.relative_to(ROOT)): sorted(name for name in _imports(path) if name.split(".")[:2] == ["ejia", "demo"])
        for path in production_modules()
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert offenders == {}


def test_the_scan_sees_an_import_of_demo(tmp_path):
    sample = tmp_path / "views.py"
    sample.write_text("def f():\n    from ejia.demo.city import build_city\n    return build_city\n", "utf-8")
    assert "ejia.demo.city" in _imports(sample)
    assert len(production_modules()) > 100
