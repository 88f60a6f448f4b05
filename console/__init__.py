"""The live web console of a running plant: the fleet by site and line, each machine with its name and its
condition in words and colour, each line's OEE, pushed to the page as it changes.

``ConsoleServer`` serves it from the process that runs the KPI engine (``sfsim demo``); ``fleet`` is what the page
shows, as data. Every asset ships in the package (``static/``): no CDN, no request leaves the machine.
"""

from ._server import CSP, ConsoleServer, build_app
from ._teacher import TEACHER, Teacher, loopback
from ._view import fleet

__all__ = ["CSP", "TEACHER", "ConsoleServer", "Teacher", "build_app", "fleet", "loopback"]
