"""Each machine's stream as the contract defines it: whether a message is new, and what is not known.

Every collector runs these checks on what it receives **before** anything is stored, and the
KPI engine learns only what passed them, so the store and the KPIs hold the same messages:

- a message received before (a QoS 1 re-delivery, a gateway replaying its spool) is a
  *repeat*: acknowledged, neither stored nor counted again — the first copy stands. A message
  with the seq of one received before but other content contradicts it and is refused;
- a ``state`` message announcing the state already in force (a restarted gateway reports the
  current state in its new session, with the instant it began) is a repeat too;
- counters never go backwards within a publisher session, in value or in time (the contract):
  a message that makes them is refused, whatever came first (a real reset comes with a new
  session, so a cumulative count can never be inflated by one bad message);
- a timestamp further ahead of the time it arrived than ``max_ahead`` is refused: a clock gone
  wrong must not write the future;
- seqs show loss: a jump ahead counts the missing messages (a jump of more than ``MAX_GAP`` is
  a broken sequence, counted once as such, not as loss), a late arrival fills its gap, and
  after a restart (or on a retained birth, which is old news) the position in the sequence is
  unknown until the next message, so nothing is counted missing that was never expected;
- **unknown intervals**: plant time in which the machine's state may have changed without
  the collector learning of it — a seq gap (between the messages either side of it), the time
  between one publisher session's last message and the next session's first state, and the
  time since the machine went offline — which the KPI engine leaves out of its time elements;
  and **unobserved intervals**, in which the counters may have moved unseen (the unknown ones,
  and the time between two sessions up to the new one's first counters, even when the state
  was in force all along): the parts they counted cannot be placed in time.

A collector sees every message of the machines it takes (its partition's sites: ``_partition``).

Memory is bounded per machine: the last ``SESSIONS_KEPT`` sessions, ``GAPS_KEPT`` gaps and
``RECENT`` message digests per session, ``COUNTERS_KEPT`` counters samples per session.
"""

from __future__ import annotations

import bisect
import logging
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field

from shopfloor.telemetry import MessageKind

from ._messages import Invalid, Message

log = logging.getLogger(__name__)

#: a seq further ahead than this is a broken sequence, not lost messages (an edge spool holds far fewer)
MAX_GAP = 1_000_000
SESSIONS_KEPT = 3
GAPS_KEPT = 1_000
#: digests of the newest seqs per session: a re-sent message older than these is still a repeat, but its
#: content is no longer compared
RECENT = 256
COUNTERS_KEPT = 16
#: the end of an interval that is still open (the machine is still away)
OPEN = 2**62
_COUNTS = ("total", "good", "scrap", "rework", "energy_kwh", "ideal_s")
#: an interval: [start, end) in plant ms, and why it is unknown
Interval = tuple[int, int, str]


@dataclass(slots=True)
class _Gap:
    """Seqs [first, end) not received; plant time between the messages either side of them."""

    first: int
    end: int
    from_ts: int | None
    to_ts: int | None


@dataclass(slots=True)
class _Session:
    id: int | None
    #: the highest seq received; None: unknown (the session was learnt from storage or a retained birth)
    highest: int | None = None
    #: the newest plant time received up to ``highest``
    highest_ts: int | None = None
    gaps: list[_Gap] = field(default_factory=list)
    #: the seq and payload digest of the newest messages, by seq % RECENT (arrays: a few KiB per machine)
    recent_seq: array[int] = field(default_factory=lambda: array("q", [-1]) * RECENT)
    recent_digest: array[int] = field(default_factory=lambda: array("q", [0]) * RECENT)

    def saw(self, seq: int, digest: int) -> None:
        self.recent_seq[seq % RECENT], self.recent_digest[seq % RECENT] = seq, digest
    #: (seq, ts, cumulative values) of recent counters, by seq
    counters: list[tuple[int, int, tuple[float, ...]]] = field(default_factory=list)
    #: the session's first state and first counters arrived (they close the time unknown before the session)
    stated: bool = False
    counted: bool = False


@dataclass(slots=True)
class MachineStream:
    """What one machine's stream has shown so far."""

    path: str
    sessions: dict[int | None, _Session] = field(default_factory=dict)
    #: the session of the last birth received (messages belong to it)
    current: int | None = None
    #: (ts, reason, product) of the newest state by time
    state: tuple[int, int, str] | None = None
    online: bool | None = None
    #: the newest plant time of any message
    last_ts: int | None = None
    #: offline, and nothing received since: unknown from ``last_ts`` on
    away: bool = False
    #: a new session began: unknown from this plant time until its first state, unobserved until its first counters
    pending_from: int | None = None
    pending_state: bool = False
    pending_counts: bool = False
    #: unknown intervals that no later message can fill (between sessions; read back from storage)
    closed: list[Interval] = field(default_factory=list)
    #: intervals in which only the counters went unseen (between sessions, the state in force all along)
    unplaced: list[Interval] = field(default_factory=list)
    #: bumped on every change of the unknown intervals (callers cache per version)
    version: int = 0

    def unknown(self) -> list[Interval]:
        """The machine's unknown intervals, by start, overlapping ones merged."""
        out = list(self.closed)
        for track in self.sessions.values():
            out += [(g.from_ts, g.to_ts, "seq") for g in track.gaps
                    if g.from_ts is not None and g.to_ts is not None and g.to_ts > g.from_ts]
        if self.pending_from is not None and self.pending_state:
            out.append((self.pending_from, OPEN, "session"))
        if self.away and self.last_ts is not None:
            out.append((self.last_ts, OPEN, "offline"))
        return _merged(out)

    def unobserved(self) -> list[Interval]:
        """Where the counters may have moved unseen: the unknown intervals and the unplaced ones, merged."""
        out = self.unknown() + self.unplaced
        if self.pending_from is not None and self.pending_counts:
            out.append((self.pending_from, OPEN, "session"))
        return _merged(out)

    @property
    def missing(self) -> int:
        return sum(g.end - g.first for track in self.sessions.values() for g in track.gaps)


def _merged(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end, cause in sorted(intervals):
        if merged and start <= merged[-1][1]:
            a, b, c = merged[-1]
            merged[-1] = (a, max(b, end), c)
        else:
            merged.append((start, end, cause))
    return merged


class Streams:
    """Every machine's stream; ``admit`` decides on each valid message (see the module's docstring)."""

    def __init__(self, *, max_ahead_ms: int | None = None, counts: Counter[str] | None = None) -> None:
        self.max_ahead_ms = max_ahead_ms
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self.machines: dict[str, MachineStream] = {}
        self._logged: dict[tuple[str, str], float] = {}

    def machine(self, path: str) -> MachineStream:
        s = self.machines.get(path)
        if s is None:
            s = self.machines[path] = MachineStream(path)
        return s

    # ------------------------------------------------------------ admission

    def admit(self, msg: Message, received_ms: int) -> bool:
        """True: a new message, to store and learn from; False: a repeat (acknowledge it, nothing more).
        ``Invalid`` (with the reason) for a message that contradicts the stream."""
        body = msg.body
        ts: int = body["ts"]
        s = self.machine(msg.path)
        kind = msg.kind
        if kind is MessageKind.STATUS:
            self._ahead(ts, received_ms)
            self._status(s, body["status"] == "online", msg.retained)
            return True
        if kind is MessageKind.BIRTH:
            self._ahead(ts, received_ms)
            return self._birth(s, msg)
        track = s.sessions.get(s.current)
        if track is None:
            track = s.sessions[s.current] = _Session(s.current)
        seq: int = body["seq"]
        position = self._position(track, seq, msg.digest)
        if position == "repeat":
            self.counts["duplicates"] += 1
            return False
        #: a message that only says again what is known: under a new seq, so not a duplicate
        repeat = None
        try:
            self._ahead(ts, received_ms)
            if kind is MessageKind.COUNTERS and self._counters(track, seq, ts, tuple(float(body[k]) for k in _COUNTS)):
                repeat = "restated"
        except Invalid:
            # refused, but received: a copy of it sent again is a repeat (not a second dead letter), and the next
            # seq or one that fills a gap is not missing; a refused message cannot move the stream's position
            # elsewhere (one bad message must not make later good ones look lost, or received before)
            if position == "late" or (track.highest is not None and seq == track.highest + 1):
                self._commit(s, track, seq, msg.digest, None)
            else:
                track.saw(seq, msg.digest)
            raise
        if kind is MessageKind.STATE:
            state = (ts, body["reason_code"], body["product"])
            if state == s.state:
                repeat = "restated"
            elif s.state is None or ts >= s.state[0]:
                s.state = state
        self._commit(s, track, seq, msg.digest, ts)
        if kind is MessageKind.STATE and not track.stated:
            track.stated = True
            self._session_stated(s, ts)
        elif kind is MessageKind.COUNTERS and not track.counted:
            track.counted = True
            self._session_counted(s, ts)
        if repeat is not None:
            self.counts[repeat] += 1
            return False
        return True

    def _ahead(self, ts: int, received_ms: int) -> None:
        if self.max_ahead_ms is not None and ts - received_ms > self.max_ahead_ms:
            raise Invalid(f"'ts' {ts} is {(ts - received_ms) / 1000:.0f} s ahead of the time the message arrived "
                          f"(the limit, max_ahead, is {self.max_ahead_ms / 1000:g} s): a clock running ahead, or a "
                          "simulation faster than real time (docs/collector.md#timestamps)")

    def _status(self, s: MachineStream, online: bool, retained: bool) -> None:
        if retained and s.online is not None:
            return  # what the broker holds, delivered again on subscribing: not news
        if not online and s.online is not False:
            s.away, s.version = True, s.version + 1
        s.online = online

    def _birth(self, s: MachineStream, msg: Message) -> bool:
        session: int = msg.body["session"]
        seq: int = msg.body["seq"]
        known = session in s.sessions
        previous, s.current = s.current, session  # messages belong to the session of the last birth
        if not known:
            # a retained birth is old news: where the session's seqs stand is not known from it
            track = s.sessions[session] = _Session(session, highest=None if msg.retained else -1)
            if previous is not None and s.last_ts is not None:
                # a publisher session began (a restart): nothing is known from the previous one's last message
                # until the new one says which state the machine is in
                s.pending_from, s.pending_state, s.pending_counts, s.away = s.last_ts, True, True, False
                s.version += 1
            for old in list(s.sessions)[:-SESSIONS_KEPT]:  # a gateway re-sends the previous backlog, no older
                del s.sessions[old]
        track = s.sessions[session]
        if self._position(track, seq, msg.digest) == "repeat":
            self.counts["duplicates"] += 1
            return False
        if msg.retained and not known:
            track.saw(seq, msg.digest)  # a repeat if it comes again; the position stays unknown
        else:
            self._commit(s, track, seq, msg.digest, None)
        return True

    def _position(self, track: _Session, seq: int, digest: int) -> str:
        """Where ``seq`` stands in its session: "new", "late" (fills a gap) or "repeat"; ``Invalid`` when it
        contradicts the message received before with that seq."""
        seen, seen_digest = track.recent_seq[seq % RECENT], track.recent_digest[seq % RECENT]
        if seen == seq:
            if seen_digest != digest:
                raise Invalid(f"seq {seq} of session {track.id} was received before with other content; the first "
                              "copy stands (docs/collector.md#what-a-machine-may-send)")
            return "repeat"
        if track.highest is None or seq > track.highest:
            return "new"
        i = bisect.bisect_right(track.gaps, seq, key=lambda g: g.first) - 1
        if i >= 0 and track.gaps[i].first <= seq < track.gaps[i].end:
            return "late"
        return "repeat"  # older than the digests kept, and not missing: received before

    def _commit(self, s: MachineStream, track: _Session, seq: int, digest: int, ts: int | None) -> None:
        track.saw(seq, digest)
        if ts is not None:
            if s.last_ts is None or ts > s.last_ts:
                s.last_ts = ts
            if s.away:  # the stream goes on: what it missed, if anything, is a seq gap
                s.away, s.version = False, s.version + 1
        if track.highest is None:
            track.highest, track.highest_ts = seq, ts
        elif seq > track.highest:
            jump = seq - track.highest - 1
            if jump > MAX_GAP:
                self.counts["seq_discontinuities"] += 1
                self._log(s.path, "jump", "%s: seq jumps from %d to %d in session %s: a broken sequence, not loss; "
                          "counting goes on from it", s.path, track.highest, seq, track.id)
            elif jump:
                track.gaps.append(_Gap(track.highest + 1, seq, track.highest_ts, ts))
                self.counts["seq_missing"] += jump
                s.version += 1
                if len(track.gaps) > GAPS_KEPT:
                    del track.gaps[0]  # still counted as missing; no longer fillable
                self._log(s.path, "gap", "%s: seq gap in session %s: %d message(s) missing before seq %d (logged "
                          "once a minute per machine; seq_missing counts them all)", s.path, track.id, jump, seq)
            track.highest = seq
            if ts is not None:
                track.highest_ts = ts
        else:  # late: it fills its gap
            i = bisect.bisect_right(track.gaps, seq, key=lambda g: g.first) - 1
            if i < 0 or not track.gaps[i].first <= seq < track.gaps[i].end:
                return
            g = track.gaps[i]
            parts = [_Gap(g.first, seq, g.from_ts, ts if ts is not None else g.to_ts),
                     _Gap(seq + 1, g.end, ts if ts is not None else g.from_ts, g.to_ts)]
            track.gaps[i:i + 1] = [p for p in parts if p.end > p.first]
            self.counts["seq_missing"] -= 1
            s.version += 1

    def _counters(self, track: _Session, seq: int, ts: int, values: tuple[float, ...]) -> bool:
        """Check a counters sample against its session's neighbours by seq; True for a repeat (the same values
        again at an earlier instant, as a gateway reports them after re-subscribing)."""
        kept = track.counters
        i = bisect.bisect_left(kept, seq, key=lambda c: c[0])
        before = kept[i - 1] if i else None
        after = kept[i] if i < len(kept) else None
        if before is not None:
            b_seq, b_ts, b_values = before
            if values == b_values and ts <= b_ts:
                return True
            for key, new, old in zip(_COUNTS, values, b_values, strict=True):
                if new < old:
                    raise Invalid(f"counters go backwards within session {track.id}: {key} {_num(new)} after "
                                  f"{_num(old)} (seq {b_seq}); counters never reset within a session, a restarted "
                                  "machine begins a new one")
            if ts < b_ts:
                raise Invalid(f"counters of seq {seq} are older ({ts}) than those of seq {b_seq} ({b_ts}), sent "
                              "before them: time runs backwards within the session")
        if after is not None:
            a_seq, a_ts, a_values = after
            for key, new, later in zip(_COUNTS, values, a_values, strict=True):
                if new > later:
                    raise Invalid(f"counters go backwards within session {track.id}: {key} {_num(later)} (seq "
                                  f"{a_seq}) after {_num(new)} (this seq {seq}); counters never reset within a "
                                  "session")
            if ts > a_ts:
                raise Invalid(f"counters of seq {seq} are newer ({ts}) than those of seq {a_seq} ({a_ts}), sent "
                              "after them: time runs backwards within the session")
        kept.insert(i, (seq, ts, values))
        if len(kept) > COUNTERS_KEPT:
            del kept[0]
        return False

    def _session_stated(self, s: MachineStream, first_state_ts: int) -> None:
        """The new session's first state closes the unknown time before it (none if that state began before the
        previous session's last message: it has been in force all along)."""
        if s.pending_from is None or not s.pending_state:
            return
        if first_state_ts > s.pending_from:
            s.closed = sorted([*s.closed, (s.pending_from, first_state_ts, "session")])
        s.pending_state = False
        self._session_settled(s)

    def _session_counted(self, s: MachineStream, first_counters_ts: int) -> None:
        """The new session's first counters close the time in which they moved unseen."""
        if s.pending_from is None or not s.pending_counts:
            return
        if first_counters_ts > s.pending_from:
            s.unplaced = sorted([*s.unplaced, (s.pending_from, first_counters_ts, "session")])
        s.pending_counts = False
        self._session_settled(s)

    def _session_settled(self, s: MachineStream) -> None:
        if not s.pending_state and not s.pending_counts:
            s.pending_from = None
        s.version += 1

    def _log(self, path: str, what: str, message: str, *args: object) -> None:
        wall = time.monotonic()
        if wall - self._logged.get((path, what), -60.0) >= 60.0:  # a lossy link must not flood the log
            self._logged[(path, what)] = wall
            log.warning(message, *args)

    # ------------------------------------------------------------ queries and restore

    def missing(self) -> dict[str, int]:
        """Messages missing per machine (seq gaps not filled so far)."""
        return {p: s.missing for p, s in self.machines.items() if s.missing}

    def unknown(self, path: str) -> list[Interval]:
        s = self.machines.get(path)
        return s.unknown() if s is not None else []

    def unobserved(self, path: str) -> list[Interval]:
        s = self.machines.get(path)
        return s.unobserved() if s is not None else []

    def forget_before(self, path: str, ts_ms: int) -> None:
        """Unknown intervals that ended before ``ts_ms`` no longer matter (windows before it are final)."""
        s = self.machines.get(path)
        if s is None:
            return
        kept = [i for i in s.closed if i[1] > ts_ms]
        unplaced = [i for i in s.unplaced if i[1] > ts_ms]
        if len(kept) != len(s.closed) or len(unplaced) != len(s.unplaced):
            s.closed, s.unplaced, s.version = kept, unplaced, s.version + 1

    def restore_session(self, path: str, session: int) -> None:
        """The machine's current publisher session, learnt from storage after a restart (its seqs so far
        unknown)."""
        s = self.machine(path)
        if session not in s.sessions:
            s.sessions[session] = _Session(session)
            if s.current is None:
                s.current = session

    def restore_state(self, path: str, ts_ms: int, reason: int, product: str) -> None:
        """A stored state (after a restart): the newest is the state in force, and a machine's plant time."""
        s = self.machine(path)
        if s.state is None or ts_ms >= s.state[0]:
            s.state = (ts_ms, reason, product)
        self.restore_seen(path, ts_ms)

    def restore_seen(self, path: str, ts_ms: int) -> None:
        s = self.machine(path)
        if s.last_ts is None or ts_ms > s.last_ts:
            s.last_ts = ts_ms

    def restore_online(self, path: str, online: bool) -> None:
        """The stored status, unless the stream said otherwise since the start."""
        s = self.machine(path)
        if s.online is None:
            self._status(s, online, retained=False)

    def restore_unknown(self, path: str, start_ms: int, end_ms: int, cause: str, *, state: bool = True) -> None:
        """An interval written by the previous process — the state unknown in it, or (``state`` False) only the
        counters unseen: no message can fill it any more."""
        s = self.machine(path)
        kept = s.closed if state else s.unplaced
        if (start_ms, end_ms, cause) not in kept:
            kept.append((start_ms, end_ms, cause))
            kept.sort()
            s.version += 1


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(x)
