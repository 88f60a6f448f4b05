"""The layering of the packages (CONTRIBUTING.md, "Layout"): no import points back up, and no test module leans on
another test module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from .conftest import ROOT

#: what each package may import of ours: shopfloor at the bottom, the services on it, the readers of the
#: collector's results on that, the command line on top
MAY_IMPORT = {
    "shopfloor": set(),
    "simulator": {"shopfloor"},
    "edge": {"shopfloor"},
    "collector": {"shopfloor"},
    "assess": {"shopfloor", "collector"},
    "dashboards": {"shopfloor", "collector"},
    "sfsim": {"shopfloor", "simulator", "edge", "collector", "assess", "dashboards"},
}


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in a file, wherever it stands (in a function too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_no_package_imports_one_above_or_beside_it() -> None:
    wrong = []
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, module in imported(path):
                top = module.split(".")[0]
                if top in MAY_IMPORT and top != package and top not in allowed:
                    wrong.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert not wrong, "\n".join(wrong)


def _test_modules_named(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        module = node.module or ""
        names = [module] + ([f"{module}.{alias.name}" for alias in node.names] if module in ("", "tests") else [])
    else:
        return []
    return [name for name in names if name.split(".")[-1].startswith("test_")]


def test_no_test_module_imports_another_test_module() -> None:
    """A test module is a specification, not a library: what tests share lives in the helper modules (acme.py,
    pipeline.py, processes.py, recording.py, servers.py) or conftest.py, where mypy checks it, and a test function
    imported into another module would run twice."""
    wrong = [f"tests/{path.name}:{node.lineno}: imports {name}"
             for path in sorted((ROOT / "tests").glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
             for name in _test_modules_named(node)]
    assert not wrong, "\n".join(wrong)
