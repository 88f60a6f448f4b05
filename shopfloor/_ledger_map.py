"""An enterprise's own ledger words (``sfsim ledger import --map MAP.yaml``), written once and reused.

A mapping file renames columns (``columns``: the ledger's header → a column the import knows)
and translates values (``values``: per column, the ledger's cell text → what it means here),
before the import reads the ledger. It is checked like a plant file: every problem with its
line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ._loader import Issue, PlantError

_PARTS = ("columns", "values")


@dataclass(frozen=True, slots=True)
class LedgerMap:
    """Column names and values of one enterprise's ledgers."""

    source: str
    #: the ledger's header, as written → the column's key
    columns: Mapping[str, str] = field(default_factory=dict)
    #: column key → the ledger's cell text → what it means
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def load_ledger_map(path: str | Path, column_of: Callable[[str], str | None], columns: str) -> LedgerMap:
    """The mapping file at ``path``; ``column_of`` names the column a header means (None: none), ``columns`` lists
    them for messages. ``PlantError`` listing every problem, each with its line."""
    source = str(path)
    try:
        content = Path(path).read_text(encoding="utf-8-sig")
        node = yaml.compose(content)
    except OSError as e:
        raise PlantError([Issue(source, None, "", f"cannot read: {e.strerror or e}")]) from None
    except UnicodeDecodeError:
        raise PlantError([Issue(source, None, "", "not UTF-8 text: save the mapping file as UTF-8")]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise PlantError([Issue(source, mark.line + 1 if mark else None, "",
                                f"not YAML: {getattr(e, 'problem', None) or e}")]) from None
    issues: list[Issue] = []
    renamed: dict[str, str] = {}
    translated: dict[str, dict[str, str]] = {}

    def problem(at: yaml.Node, path: str, message: str) -> None:
        issues.append(Issue(source, at.start_mark.line + 1, path, message))

    def mapping(at: yaml.Node | None, path: str) -> list[tuple[yaml.Node, yaml.Node]]:
        if at is None or (isinstance(at, yaml.ScalarNode) and at.value in ("", "~", "null")):
            return []
        if not isinstance(at, yaml.MappingNode):
            problem(at, path, f"expected a mapping ({'header: column' if path == 'columns' else 'text: meaning'})")
            return []
        return list(at.value)

    def scalar(at: yaml.Node, path: str) -> str | None:
        if isinstance(at, yaml.ScalarNode) and at.value.strip():
            return str(at.value).strip()
        problem(at, path, "expected a text")
        return None

    def column(at: yaml.Node, path: str) -> str | None:
        text = scalar(at, path)
        if text is None:
            return None
        key = column_of(text)
        if key is None:
            problem(at, path, f"{text!r} is not a ledger column (the columns: {columns})")
        return key

    if node is None:
        raise PlantError([Issue(source, None, "", "empty: a mapping file has columns, values or both")])
    if not isinstance(node, yaml.MappingNode):
        raise PlantError([Issue(source, node.start_mark.line + 1, "", "expected a mapping with columns, values or "
                                                                       "both")])
    for key_node, value_node in node.value:
        part = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
        if part == "columns":
            for header, target in mapping(value_node, "columns"):
                text = scalar(header, "columns")
                key = column(target, f"columns.{text}")
                if text is not None and key is not None:
                    renamed[text] = key
        elif part == "values":
            for name, table in mapping(value_node, "values"):
                key = column(name, "values")
                for said, meant in mapping(table, f"values.{name.value}"):
                    text, meaning = scalar(said, f"values.{name.value}"), scalar(meant, f"values.{name.value}")
                    if key is not None and text is not None and meaning is not None:
                        translated.setdefault(key, {})[text] = meaning
        else:
            problem(key_node, part, f"not a part of a mapping file ({', '.join(_PARTS)})")
    if issues:
        raise PlantError(issues)
    return LedgerMap(source, renamed, translated)
