"""Reading a service's YAML configuration with the plant file's error style.

Every problem is reported as ``file:line: path: message``; converters take the
raw YAML value and return the typed one or raise ``ValueError`` with the text a
user sees after the path.
"""

from ._loader import ConfigError, Issue, read_text, read_yaml
from ._loader import _bool as boolean
from ._loader import _Checker as Checker
from ._loader import _choice as choice
from ._loader import _join as join
from ._loader import _non_negative as non_negative
from ._loader import _non_negative_duration as non_negative_duration
from ._loader import _number as number
from ._loader import _positive as positive
from ._loader import _positive_duration as positive_duration
from ._loader import _positive_int as positive_int
from ._loader import _show as show
from ._loader import _text as text

__all__ = [
    "Checker",
    "ConfigError",
    "Issue",
    "boolean",
    "choice",
    "join",
    "non_negative",
    "non_negative_duration",
    "number",
    "positive",
    "positive_duration",
    "positive_int",
    "read_text",
    "read_yaml",
    "shard",
    "show",
    "text",
]


def shard(value: object) -> tuple[int, int]:
    """``"K/N"`` (0 ≤ K < N): this process's share of a plant or a gateway's machines."""
    k, sep, n = str(value).partition("/")
    if sep and k.isdigit() and n.isdigit() and 0 <= int(k) < int(n):
        return int(k), int(n)
    raise ValueError(f"expected K/N with 0 <= K < N, e.g. 0/2, got {value!r}")
