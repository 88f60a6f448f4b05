"""The ``sfsim`` command: one entry point, one subcommand per job."""

from ._main import main

__all__ = ["main"]
