"""The console computes the fleet once per interval however many pages are open: every ``/events`` stream and
``/api/fleet`` share one snapshot (a real uvicorn ``ConsoleServer``, real HTTP clients). A stream sends the fleet
whole once, then what changed as JSON Patch (RFC 6902), which turns the one before into the one now."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console import ConsoleServer
from console._hub import changes

INTERVAL_S = 0.25
PAGES = 5


class Counting:
    """A snapshot function that counts its calls (each call is what ``console.fleet`` costs in a demo)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return {"now_ms": self.calls, "sites": []}


def patched(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 applied, of its operations ``replace``, the only one the console sends; ``doc`` is changed."""
    for op in ops:
        assert op["op"] == "replace", op
        if op["path"] == "":
            doc = op["value"]
            continue
        keys = [k.replace("~1", "/").replace("~0", "~") for k in op["path"][1:].split("/")]
        at = doc
        for key in keys[:-1]:
            at = at[int(key)] if isinstance(at, list) else at[key]
        last = keys[-1]
        if isinstance(at, list):
            at[int(last)] = op["value"]
        else:
            assert last in at, op  # replace, not add
            at[last] = op["value"]
    return doc


async def events(port: int, seen: list[int], kinds: list[str] | None = None) -> None:
    """One page's event stream: the ``now_ms`` of the fleet after every ``fleet`` (whole) or ``patch`` event, until
    cancelled; ``kinds`` gets each event's kind."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        await writer.drain()
        event = None
        fleet: Any = None
        while line := await reader.readline():
            text = line.decode().strip()
            if text.startswith("event:"):
                event = text.partition(":")[2].strip()
            elif text.startswith("data:") and event in ("fleet", "patch"):
                data = json.loads(text.partition(":")[2])
                fleet = data if event == "fleet" else patched(fleet, data)
                seen.append(fleet["now_ms"])
                if kinds is not None:
                    kinds.append(event)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def get_fleet(port: int) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/fleet HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    result: dict[str, Any] = json.loads(body)
    return result


@pytest.mark.integration
def test_one_snapshot_per_interval_is_shared_by_every_page_and_the_api() -> None:
    snapshot = Counting()

    async def scenario() -> tuple[list[list[int]], list[str], list[int], int, int, int]:
        async with ConsoleServer(snapshot, port=0, interval_s=INTERVAL_S) as server:
            await asyncio.sleep(3 * INTERVAL_S)
            idle = snapshot.calls  # no page open: nothing to compute
            seen: list[list[int]] = [[] for _ in range(PAGES)]
            kinds: list[str] = []
            pages = [asyncio.create_task(events(server.port, s, kinds if k == 0 else None)) for k, s in enumerate(seen)]
            started = snapshot.calls
            api = []
            for _ in range(8):
                await asyncio.sleep(INTERVAL_S / 2)
                api.append((await get_fleet(server.port))["now_ms"])
            await asyncio.sleep(2.0)
            during = snapshot.calls - started
            for page in pages:
                page.cancel()
            await asyncio.gather(*pages, return_exceptions=True)
            await asyncio.sleep(0.5)  # the server notices the pages have gone
            after = snapshot.calls
            await asyncio.sleep(4 * INTERVAL_S)
            return seen, kinds, api, idle, during, snapshot.calls - after

    seen, kinds, api, idle, during, after_closing = asyncio.run(scenario())
    window_s = 8 * INTERVAL_S / 2 + 2.0
    assert idle == 0, f"{idle} snapshot(s) computed with no page open"
    for page in seen:  # every page is still updated every interval, with the shared snapshot
        assert len(page) >= window_s / INTERVAL_S - 3, seen
        assert page == sorted(set(page)), f"a page got an update twice or out of order: {page}"
    # one computation per interval for all five pages and the API together (each page alone would cost as much)
    assert during <= window_s / INTERVAL_S + 2, f"{during} snapshots in {window_s:.1f} s for {PAGES} pages"
    assert max(api) <= snapshot.calls and api == sorted(api), api
    assert after_closing == 0, f"{after_closing} snapshot(s) computed after the last page closed"
    # the fleet whole once, then patches (a stream that fell behind would get it whole again)
    assert kinds[0] == "fleet" and kinds.count("patch") >= len(kinds) - 2, kinds


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["a", "b", "now_ms", "a/b", "~", "~1", ""]), inner, max_size=4),
                    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(JSON, JSON)
def test_the_patch_from_one_fleet_to_the_next_turns_the_first_into_the_second(old: Any, new: Any) -> None:
    ops = changes(old, new)
    assert patched(copy.deepcopy(old), copy.deepcopy(ops)) == new
    assert json.loads(json.dumps(ops)) == ops  # it is JSON, as sent
    if old == new and type(old) is type(new):
        assert ops == []


def test_a_patch_names_only_what_changed() -> None:
    before = {"now_ms": 1, "sites": [{"path": "e/s", "lines": [
        {"kpis": {"oee": 0.5}, "machines": [{"id": "M1", "condition": {"key": "executing"}}, {"id": "M2"}]}]}]}
    after = copy.deepcopy(before)
    after["now_ms"] = 2
    after["sites"][0]["lines"][0]["machines"][0]["condition"] = {"key": "breakdown"}
    after["sites"][0]["lines"][0]["machines"].append({"id": "M3"})  # born: the list is sent whole
    assert changes(before, after) == [
        {"op": "replace", "path": "/now_ms", "value": 2},
        {"op": "replace", "path": "/sites/0/lines/0/machines", "value": after["sites"][0]["lines"][0]["machines"]}]
    after["sites"][0]["lines"][0]["machines"].pop()
    assert changes(before, after) == [{"op": "replace", "path": "/now_ms", "value": 2},
                                      {"op": "replace", "path": "/sites/0/lines/0/machines/0/condition/key",
                                       "value": "breakdown"}]
    assert changes({"oee": 1}, {"oee": 1.0}) == []  # JSON has one kind of number


@pytest.mark.integration
def test_a_failing_snapshot_is_logged_and_the_next_interval_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def flaky() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the engine is in the middle of something")
        return {"now_ms": calls, "sites": []}

    async def scenario() -> list[int]:
        async with ConsoleServer(flaky, port=0, interval_s=INTERVAL_S) as server:
            seen: list[int] = []
            page = asyncio.create_task(events(server.port, seen))
            await asyncio.sleep(6 * INTERVAL_S)
            page.cancel()
            await asyncio.gather(page, return_exceptions=True)
            return seen

    seen = asyncio.run(scenario())
    assert seen[0] == 1 and 2 not in seen and 3 in seen, seen
    assert "the fleet snapshot failed" in caplog.text
