"""Exercises for the classroom, scored automatically against the truth.

Each team's exercises come from its own instance of the plant: the plant file run for a shift with a seed made
from the class seed and the team's name, one fault injected (``exercises``, ``team_seed``). They ask for a
machine's OEE with A, P and Q, a line's constraint station, a site's 关键工序数控化率 from its register, the fault
injected, and what an upgrade to NC changes; each answer is marked within a stated tolerance and the worked
solution follows (``Exercise.mark``). ``Classroom`` keeps a class's teams and their results (CSV).
"""

from ._class import RESULT_COLUMNS, Classroom, Marked, results_csv, team_name
from ._exercise import Answer, Exercise, Field, Mark, Table, Words
from ._generate import FAULTS, RUN_S, Instance, exercises, instance, team_seed

__all__ = ["FAULTS", "RESULT_COLUMNS", "RUN_S", "Answer", "Classroom", "Exercise", "Field", "Instance", "Mark",
           "Marked", "Table", "Words", "exercises", "instance", "results_csv", "team_name", "team_seed"]
