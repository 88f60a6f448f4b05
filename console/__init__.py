"""The live web console of a running plant: the fleet by site and line, each machine with its name and its
condition in words and colour, each line's OEE, pushed to the page as it changes.

``ConsoleServer`` serves it from the process that runs the KPI engine (``sfsim demo``, ``sfsim collect
--web-port``); ``fleet`` is what the page shows, as data (``CollectorFleet``: a collector's, with the machines it
knows from births alone). Every asset ships in the package (``static/``): no CDN, no request leaves the machine.
"""

from ._births import Births, CollectorFleet, births_plants
from ._exercises import Exercises
from ._server import CSP, ConsoleServer, build_app
from ._teacher import TEACHER, Teacher, loopback
from ._view import AlarmLog, fleet

__all__ = ["CSP", "TEACHER", "AlarmLog", "Births", "CollectorFleet", "ConsoleServer", "Exercises", "Teacher",
           "births_plants", "build_app", "fleet", "loopback"]
