"""The console's web server: the page and its assets from the package, the fleet as JSON, and the fleet pushed
to the page as server-sent events (Starlette on uvicorn, in the event loop of the process that runs the engine).

Nothing is fetched from elsewhere: the Content-Security-Policy allows this origin only, so a page that tried
would be refused by the browser, offline or not.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from types import TracebackType

import uvicorn
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._exercises import Exercises, exercise_routes
from ._hub import Hub, Snapshot
from ._teacher import Teacher, loopback, teacher_routes

log = logging.getLogger(__name__)

STATIC = Path(str(resources.files("console").joinpath("static")))
#: the browser may load and connect to this origin only
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def build_app(snapshot: Snapshot, *, interval_s: float = 1.0, teacher: Teacher | None = None,
              password: str | None = None, local_only: bool = True,
              exercises: Exercises | None = None) -> Starlette:
    """The console's routes: ``/`` the page, ``/static/…`` its assets, ``/api/fleet`` the fleet now, ``/events``
    the fleet every ``interval_s`` as server-sent events (``event: fleet``, the whole; ``event: patch``, what changed
    since, as JSON Patch); with a ``teacher``, its controls
    under ``/api/teacher/`` (``_teacher``: who may use them); with ``exercises``, the page ``/exercises`` and
    its routes (``_exercises``)."""

    async def page(_: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def teacher_page(_: Request) -> Response:
        return FileResponse(STATIC / "teacher.html", media_type="text/html; charset=utf-8")

    # one snapshot per interval for every page and the API (_hub: N pages used to cost N snapshots)
    hub = Hub(snapshot, interval_s)

    async def fleet(_: Request) -> Response:
        try:
            return Response(hub.now(), media_type="application/json")
        except RuntimeError as e:
            return JSONResponse({"error": str(e)}, status_code=503)

    async def events(_: Request) -> Response:
        async def stream() -> AsyncIterator[dict[str, str]]:
            # sse-starlette cancels this when the page goes (it watches for the disconnect itself)
            async for kind, text in hub.updates():
                yield {"event": kind, "data": text}
        return EventSourceResponse(stream(), ping=15)

    async def exercise_page(_: Request) -> Response:
        return FileResponse(STATIC / "exercise.html", media_type="text/html; charset=utf-8")

    controls = [] if teacher is None else [Route("/teacher", teacher_page),
                                           *teacher_routes(teacher, password=password, local_only=local_only)]
    if exercises is not None:
        controls += [Route("/exercises", exercise_page),
                     *exercise_routes(exercises, password=password, local_only=local_only)]
    app = Starlette(routes=[Route("/", page), Route("/api/fleet", fleet), Route("/events", events), *controls,
                            Mount("/static", StaticFiles(directory=STATIC), name="static")],
                    middleware=[Middleware(_Headers)])
    app.state.hub = hub  # ConsoleServer stops its task with the server
    return app


class _Headers:
    """Every response with the page's security headers (plain ASGI: streamed events pass through untouched)."""

    HEADERS = ((b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)
        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


class ConsoleServer:
    """The console served on ``host:port`` while in its ``async with`` (port 0: a free one; ``url`` says which)."""

    def __init__(self, snapshot: Snapshot, *, host: str = "127.0.0.1", port: int = 8765,
                 interval_s: float = 1.0, teacher: Teacher | None = None, password: str | None = None,
                 exercises: Exercises | None = None) -> None:
        self.host = host
        self.port = port
        app = build_app(snapshot, interval_s=interval_s, teacher=teacher, password=password,
                        local_only=loopback(host), exercises=exercises)
        self._hub: Hub = app.state.hub
        config = uvicorn.Config(app, host=host, port=port,
                                log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Where the page is."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def __aenter__(self) -> ConsoleServer:
        # bound here, so that a port in use is an OSError to report (uvicorn itself would exit the process)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if sys.platform == "win32":  # there SO_REUSEADDR would take a port another program listens on
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
            else:  # a port a console left a moment ago (TIME_WAIT) is free again at once
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise OSError(f"the console cannot listen on {self.host}:{self.port}: {e.strerror or e}") from None
        self.port = int(sock.getsockname()[1])
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"the console did not start on {self.host}:{self.port}")
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        await self._hub.close()


__all__ = ["CSP", "ConsoleServer", "build_app"]
