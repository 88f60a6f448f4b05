"""The finite buffer between two stations.

Same semantics and the same one event per get and per put as ``simpy.Store``,
without the general resource machinery: the buffers are on the hot path of
every part (bench/simulate.py measured the difference).
"""

from __future__ import annotations

from collections import deque

import simpy


class Buffer:
    __slots__ = ("_getters", "_putters", "capacity", "env", "items")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self.env = env
        self.capacity = capacity
        self.items: deque[str] = deque()
        self._getters: deque[simpy.Event] = deque()
        self._putters: deque[tuple[simpy.Event, str]] = deque()

    @property
    def waiting(self) -> int:
        """Finished parts held by a blocked upstream station, not yet in the buffer."""
        return len(self._putters)

    def get(self) -> simpy.Event:
        """An event whose value is the oldest part, once there is one."""
        event = simpy.Event(self.env)
        if self.items:
            event.succeed(self.items.popleft())
            if self._putters:
                putter, item = self._putters.popleft()
                self.items.append(item)
                putter.succeed()
        else:
            self._getters.append(event)
        return event

    def put(self, item: str) -> simpy.Event:
        """An event that fires once ``item`` is in the buffer (or handed on)."""
        event = simpy.Event(self.env)
        if self._getters:
            self._getters.popleft().succeed(item)
            event.succeed()
        elif len(self.items) < self.capacity:
            self.items.append(item)
            event.succeed()
        else:
            self._putters.append((event, item))
        return event
