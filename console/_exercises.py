"""The exercises' routes of the console: a team's sheet, its answers marked, the data as CSV, and every team's
results for the teacher.

Students need no password: a team is the name they type (a classroom's trust, not an examination's). The
results of every team are the teacher's, behind the teacher's rules (``_teacher``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._teacher import authorised


class Marked(Protocol):
    """An answer marked."""

    def json(self) -> dict[str, Any]:
        """The marks, the score and the worked solution."""
        ...


class Exercises(Protocol):
    """What the console asks of a class's exercises (``classroom.Classroom`` is one); ``ValueError`` refuses."""

    def sheet(self, team: str) -> dict[str, Any]:
        """The team's exercises without their truth, and the marks and solution of those it answered."""
        ...

    def answer(self, team: str, number: int, answers: Mapping[str, object]) -> Marked:
        """Mark the team's answer to exercise ``number`` (once)."""
        ...

    def table(self, team: str, number: int, file: str) -> str:
        """A data table of an exercise as CSV (``KeyError``: none)."""
        ...

    def csv(self, team: str | None = None) -> str:
        """Every team's results as CSV, or one team's."""
        ...


def _refused(e: ValueError) -> Response:
    return JSONResponse({"accepted": False, "reason": str(e)}, status_code=400)


def _csv(text: str, filename: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


def exercise_routes(exercises: Exercises, *, password: str | None, local_only: bool) -> list[Route]:
    """``GET /api/exercises/{team}``, ``POST /api/exercises/{team}/{n}`` (``{"answers": {field: value}}``),
    ``GET /api/exercises/{team}/{n}/{file}.csv``, and the teacher's ``GET /api/teacher/results.csv[?team=T]``."""

    # a team's first request makes its instance (a shift simulated, a fraction of a second): in a worker thread,
    # so that a class joining at once does not hold up the plant, the broker and the engine in the event loop
    async def sheet(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(exercises.sheet, request.path_params["team"]))
        except ValueError as e:
            return _refused(e)

    async def answer(request: Request) -> Response:
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return _refused(ValueError('expected {"answers": {"<field>": "<your answer>", …}}, got no JSON'))
        given = body.get("answers") if isinstance(body, dict) else None
        if not isinstance(given, dict):
            return _refused(ValueError(f'expected {{"answers": {{"<field>": "<your answer>", …}}}}, got {body!r}'))
        try:
            marked = await run_in_threadpool(exercises.answer, request.path_params["team"],
                                             request.path_params["number"], given)
        except ValueError as e:
            return _refused(e)
        return JSONResponse({"accepted": True, **marked.json()})

    async def table(request: Request) -> Response:
        team, number, file = (request.path_params[k] for k in ("team", "number", "file"))
        try:
            text = await run_in_threadpool(exercises.table, team, number, f"{file}.csv")
        except ValueError as e:
            return _refused(e)
        except KeyError:
            return JSONResponse({"accepted": False, "reason": f"exercise {number} has no table {file}.csv"},
                                status_code=404)
        return _csv(text, f"{team}-{number}-{file}.csv")

    async def results(request: Request) -> Response:
        if (refused := authorised(request, password, local_only)) is not None:
            return refused
        team = request.query_params.get("team")
        try:
            return _csv(exercises.csv(team), f"{team}-results.csv" if team else "exercise-results.csv")
        except ValueError as e:
            return _refused(e)

    return [Route("/api/teacher/results.csv", results),
            Route("/api/exercises/{team}", sheet),
            Route("/api/exercises/{team}/{number:int}", answer, methods=["POST"]),
            Route("/api/exercises/{team}/{number:int}/{file}.csv", table)]


__all__ = ["Exercises", "Marked", "exercise_routes"]
