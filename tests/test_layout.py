"""The layering of the packages (CONTRIBUTING.md, "Layout"): no import points back up, and no test module leans on
another test module; and every public class and function the packages export has a docstring."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterator
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
    "console": {"shopfloor", "collector"},
    "classroom": {"shopfloor", "simulator", "collector"},
    "sfsim": {"shopfloor", "simulator", "edge", "collector", "assess", "dashboards", "console", "classroom"},
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
    consoles.py, opcua.py, pages.py, pipeline.py, processes.py, recording.py, servers.py) or conftest.py, where
    mypy checks it, and a test function imported into another module would run twice."""
    wrong = [f"tests/{path.name}:{node.lineno}: imports {name}"
             for path in sorted((ROOT / "tests").glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
             for name in _test_modules_named(node)]
    assert not wrong, "\n".join(wrong)


def _ours(obj: object, package: str) -> bool:
    """Whether ``obj`` is defined in ``package``, not imported into it from elsewhere."""
    return str(getattr(obj, "__module__", "")).split(".")[0] == package


def _written_docstring(obj: type | Callable[..., object]) -> bool:
    """Whether the source gives a class or function a docstring: not one that @dataclass or NamedTuple makes up
    from the fields, nor the one an Enum would inherit from its base."""
    node = ast.parse(textwrap.dedent(inspect.getsource(obj))).body[0]
    assert isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
    return bool(ast.get_docstring(node))


def _function(value: object) -> object:
    """The function behind a class attribute: a property's getter, a classmethod's or staticmethod's function."""
    if isinstance(value, property):
        return value.fget
    if isinstance(value, functools.cached_property):
        return value.func
    if isinstance(value, classmethod | staticmethod):
        return value.__func__
    return value


def _undocumented(package: str) -> Iterator[str]:
    """What a package exports (its ``__all__``, else its public names) without a docstring: the classes and
    functions defined in the package, and the public methods and properties of those classes, their own and
    those they inherit from the package's other classes."""
    module = importlib.import_module(package)
    names = getattr(module, "__all__", [name for name in vars(module) if not name.startswith("_")])
    for name in names:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or not _ours(obj, package):
            continue
        if not _written_docstring(obj):
            yield f"{package}.{name}"
        if not inspect.isclass(obj):
            continue
        seen: set[str] = set()
        for cls in inspect.getmro(obj):
            for attr, value in vars(cls).items():
                if attr.startswith("_") or attr in seen:
                    continue
                seen.add(attr)
                function = _function(value)
                if _ours(cls, package) and inspect.isfunction(function) and not function.__doc__:
                    yield f"{package}.{name}.{attr}"


def test_every_exported_class_and_function_has_a_docstring() -> None:
    """Ruff's pydocstyle rules (pyproject.toml) see only public modules, and most code lives in private ones
    (``collector/_engine.py``) that the package re-exports: so what each package exports is walked here."""
    missing = [f"{name} has no docstring" for package in MAY_IMPORT for name in _undocumented(package)]
    assert not missing, f"{len(missing)} without a docstring:\n" + "\n".join(missing)
