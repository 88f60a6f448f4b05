"""What a seam module relies on in a dependency's internals, and a check of it against the installed version.

Each dependency whose internals are used has one seam module (shopfloor/_asyncua_seam.py,
shopfloor/_aiomqtt_seam.py, collector/_paho_seam.py). Its ``SEAM`` lists every internal it relies on,
next to the code relying on it; ``SEAM.check()`` (and a test per seam) says which ones the installed
version no longer has, in the words "paho-mqtt 2.3.0 changed `Client._sock_recv(bufsize)` that
collector/_paho_seam.py relies on".
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any


@dataclass(frozen=True, slots=True)
class Requirement:
    """One internal a seam relies on: ``name`` as the seam's docstring says it; ``holds`` is true while the installed
    version still has it (raising counts as not)."""

    name: str
    holds: Callable[[], object]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Seam:
    """A seam module (``module``, a path) and what it relies on in ``distribution``."""

    distribution: str
    module: str
    requires: tuple[Requirement, ...]

    def version(self) -> str:
        try:
            return version(self.distribution)
        except PackageNotFoundError:
            return "(not installed)"

    def broken(self, requirement: Requirement) -> str | None:
        """None while ``requirement`` holds; else what changed, naming the version and this seam."""
        try:
            if requirement.holds():
                return None
            detail = ""
        except Exception as e:
            detail = f" ({type(e).__name__}: {e})"
        return (f"{self.distribution} {self.version()} changed `{requirement.name}` that {self.module} relies on"
                f"{detail}")

    def check(self) -> list[str]:
        """What changed in the installed version, one line per requirement that no longer holds."""
        return [problem for r in self.requires if (problem := self.broken(r)) is not None]


def method(owner: Any, name: str, *params: str) -> Callable[[], bool]:
    """``owner.name`` is a function whose parameters (after ``self``) are named ``params``, in order.

    ``owner`` is an object or, so that a module or class gone missing fails the check and not the import of
    the seam, where to find one: "package.module" or "package.module:Class.attribute"."""
    def holds() -> bool:
        found = list(inspect.signature(inspect.getattr_static(_found(owner), name)).parameters)
        return found[1:] == list(params) if found[:1] == ["self"] else found == list(params)
    return holds


def mentions(owner: Any, text: str) -> Callable[[], bool]:
    """The source of ``owner`` (a module, class or function, or where to find one as for ``method``) contains
    ``text``."""
    return lambda: text in inspect.getsource(_found(owner))


def _found(owner: Any) -> Any:
    if not isinstance(owner, str):
        return owner
    module, _, path = owner.partition(":")
    found = importlib.import_module(module)
    for name in filter(None, path.split(".")):
        found = getattr(found, name)
    return found
