"""Logging for the commands: the one place that configures handlers, and keeps secrets out of every line.

Every record goes through one handler on the root logger, whose filter redacts the message and its
traceback (``shopfloor.redaction``): the secrets of the configurations the command loaded, which it
hands to ``remember``, and anything that looks like a credential whatever library wrote it. The
libraries' own messages stay at WARNING even under ``-v`` (asyncua alone writes thousands of debug lines a
minute, the password of a session among them); ``--debug-libraries`` lets them through, redacted all the same.
"""

from __future__ import annotations

import logging
import sys

from shopfloor.redaction import redact, secrets_of

#: the packages of this project; everything else is a library
OURS = ("sfsim", "shopfloor", "simulator", "edge", "collector", "dashboards", "assess")
#: libraries that warn about choices made on purpose (security none, busy publishers): quiet without -v
_NOISY = ("asyncua", "mqtt")


class SecretFilter(logging.Filter):
    """Redacts each record in place, before any handler formats it."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


_filter = SecretFilter()


def configure(*, verbose: bool, libraries: bool = False) -> None:
    """Log to stderr: this project's debug messages with ``verbose``, the libraries' too with ``libraries``."""
    root = logging.getLogger()
    if not root.handlers:  # as logging.basicConfig: a program that set up its own handlers keeps them
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(stderr)
    for handler in root.handlers:
        if _filter not in handler.filters:
            handler.addFilter(_filter)
    root.setLevel(logging.DEBUG if verbose and libraries else logging.WARNING)
    for name in OURS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
    if not verbose:
        for name in _NOISY:
            logging.getLogger(name).setLevel(logging.ERROR)
    logging.captureWarnings(True)  # a library's warnings.warn() goes through the filter too


def remember(*sources: object) -> None:
    """Redact from now on the secrets of these configurations (``secrets_of``) or these strings."""
    for source in sources:
        if isinstance(source, str):
            if source:
                _filter.secrets.add(source)
        else:
            _filter.secrets.update(secrets_of(source))


def scrub(text: str) -> str:
    """``text`` as a log line would show it: for what a command prints itself."""
    return redact(text, _filter.secrets)
