"""The exit codes of every ``sfsim`` command: one convention, so that a script or a supervisor can tell a mistake
in what it gave the command from a failure of what the command needs (README, "Exit codes")."""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    #: done (for ``edge`` and ``collect``, which run until stopped: stopped by Ctrl-C or SIGTERM)
    OK = 0
    #: the command started and something it needs failed: a server unreachable or refusing (``--check --connect``,
    #: ``assess``, ``dashboards push``), no data for the report, an unexpected error (logged with its traceback)
    FAILED = 1
    #: what the command was given cannot be used, whichever command it is: the command line, a plant, ledger or
    #: configuration file, an environment setting, a file or folder named on the command line, an address or port
    #: to listen on. argparse exits with 2 for usage errors: one code says "change what you gave and run it again"
    INPUT = 2
    #: stopped by Ctrl-C before its end (128 + SIGINT, as shells report a process that SIGINT ended)
    INTERRUPTED = 130
