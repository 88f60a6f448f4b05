"""``python -m sfsim``: the command line, as the ``sfsim`` script runs it."""

from . import main

raise SystemExit(main())
