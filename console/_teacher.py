"""The teacher's controls of a running plant, as the console serves them: pause, resume and the speed, inject an
event of the scenario kinds on a machine or line and clear it, load a scenario file, and what was injected.

Who may: anyone on this machine while the console listens on loopback only; beyond it, only with the teacher
password (HTTP basic authentication, user ``teacher``), and nobody when none was set. On a LAN the password goes
over plain HTTP: enough to keep students' hands off a classroom demo, not a secret against a network sniffer
(docs/console.md).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

#: the user name of the basic authentication (the password is what matters)
TEACHER = "teacher"


class Teacher(Protocol):
    """What the console asks of the plant it controls (``sfsim demo`` gives one); ``ValueError`` refuses."""

    def pause(self) -> None:
        """Stop the plant's clock."""
        ...

    def resume(self) -> None:
        """Start the plant's clock again from where it stood."""
        ...

    def set_speed(self, speed: float) -> None:
        """Sim seconds per wall second from now on."""
        ...

    def inject(self, event: dict[str, Any]) -> int:
        """Apply the event now (a scenario file's form, without ``at``); its id in the truth's ``injected``."""
        ...

    def clear(self, number: int) -> None:
        """End injected event ``number`` now."""
        ...

    def load(self, text: str, source: str) -> list[int]:
        """Schedule a scenario file's events (``text``, named ``source`` in messages), ``at`` from now; their ids."""
        ...

    def state(self) -> dict[str, Any]:
        """Paused or not, the speed, and the truth's ``injected`` list."""
        ...


def loopback(host: str) -> bool:
    """Does ``host`` listen on this machine only?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def authorised(request: Request, password: str | None, local_only: bool) -> Response | None:
    """None when the request may act; else the refusal, saying what to do."""
    if password is None:
        if local_only:
            return None
        return JSONResponse({"accepted": False, "reason": "the console listens beyond this machine: teacher "
                             "actions need a password (sfsim demo --teacher-password, or SFSIM_TEACHER_PASSWORD)"},
                            status_code=403)
    given = ""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, given = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            given = ""
        else:
            given = given if user == TEACHER else ""
    if given and hmac.compare_digest(given.encode(), password.encode()):
        return None
    return JSONResponse({"accepted": False, "reason": "the teacher password is wrong or missing"},
                        status_code=401, headers={"WWW-Authenticate": 'Basic realm="sfsim teacher"'})


def teacher_routes(teacher: Teacher, *, password: str | None, local_only: bool) -> list[Route]:
    """``POST /api/teacher/{pause,resume,speed,inject,clear,scenario}`` and ``GET /api/teacher/state``."""

    def action(apply: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if (refused := authorised(request, password, local_only)) is not None:
                return refused
            try:
                body = await request.json() if request.method == "POST" and await request.body() else {}
                answer = apply(body if isinstance(body, dict) else {})
            except ValueError as e:  # the plant refused it, or the body is not what the action takes
                return JSONResponse({"accepted": False, "reason": str(e)}, status_code=400)
            return JSONResponse({"accepted": True, **(answer or {})})
        return endpoint

    def speed(body: dict[str, Any]) -> None:
        value = body.get("speed")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f'expected {{"speed": <sim seconds per wall second>}}, got {body!r}')
        teacher.set_speed(float(value))

    def inject(body: dict[str, Any]) -> dict[str, Any]:
        return {"event": teacher.inject(body.get("event") or {})}

    def clear(body: dict[str, Any]) -> dict[str, Any]:
        number = body.get("event")
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f'expected {{"event": <the id inject answered>}}, got {body!r}')
        teacher.clear(number)
        return {"event": number}

    def load(body: dict[str, Any]) -> dict[str, Any]:
        text, name = body.get("scenario"), body.get("name") or "scenario"
        if not isinstance(text, str) or not isinstance(name, str):
            raise ValueError('expected {"scenario": "<the scenario file\'s text>", "name": "<its file name>"}, got '
                             f"{sorted(body) if body else 'nothing'}")
        return {"events": teacher.load(text, name)}

    return [Route("/api/teacher/pause", action(lambda _: teacher.pause()), methods=["POST"]),
            Route("/api/teacher/resume", action(lambda _: teacher.resume()), methods=["POST"]),
            Route("/api/teacher/speed", action(speed), methods=["POST"]),
            Route("/api/teacher/inject", action(inject), methods=["POST"]),
            Route("/api/teacher/clear", action(clear), methods=["POST"]),
            Route("/api/teacher/scenario", action(load), methods=["POST"]),
            Route("/api/teacher/state", action(lambda _: teacher.state()), methods=["GET"])]


__all__ = ["TEACHER", "Teacher", "loopback", "teacher_routes"]
