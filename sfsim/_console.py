"""Terminal output shared by the commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

import yaml

from shopfloor import Issue
from shopfloor.checks import Check
from shopfloor.config import shard

from . import _logs
from ._exit import Exit


def print_issues(issues: Iterable[Issue]) -> None:
    for issue in issues:
        print(issue, file=sys.stderr)


def print_checks(checks: Iterable[Check]) -> Exit:
    """One line per server tried; the exit code (FAILED when any failed)."""
    failed = False
    for check in checks:
        print(_logs.scrub(str(check)))
        failed = failed or not check.ok
    return Exit.FAILED if failed else Exit.OK


def yaml_value(text: str) -> Any:
    """A command line's VALUE as a plant or scenario file would read it (``30``, ``true``, ``{mtbf: 20m}``), and
    as the text it is when that is not YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def percent(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def shard_arg(text: str) -> tuple[int, int]:
    """``--shard K/N`` for argparse."""
    try:
        return shard(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def opcua_users(users: Iterable[str], operators: Iterable[str] = ()) -> tuple[dict[str, str], frozenset[str]]:
    """The users of ``--opcua-user`` and ``--opcua-operator`` (``USER:PASSWORD`` each), and the operators' names;
    ``ValueError`` naming the option."""
    accepted: dict[str, str] = {}
    names: set[str] = set()
    for option, items in (("--opcua-user", users), ("--opcua-operator", operators)):
        for item in items:
            name, sep, password = item.partition(":")
            if not sep or not name:
                raise ValueError(f"{option} expects USER:PASSWORD, got {name or item!r}…")
            if accepted.get(name, password) != password:
                raise ValueError(f"{option}: user {name} is given twice with different passwords")
            accepted[name] = password
            if option == "--opcua-operator":
                names.add(name)
    return accepted, frozenset(names)
