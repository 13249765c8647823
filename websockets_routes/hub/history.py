"""Message history and resume: what a room keeps and how a member catches up.

A room with history keeps its last N messages, or its messages of the last
T seconds. Every message published there gets an id that increases within
the room, and reaches members wrapped in a JSON object (text frame)::

    {"type":"message","room":"lobby","id":"1718000000000-0","data":"hello"}

``data`` is the text that was published: rooms with history carry text
messages only. Ids are opaque strings: a client keeps the last one it saw
and gives it back as ``since`` when it reconnects. Messages of rooms without
history reach members unchanged.

A member that joins with ``since=ID`` first receives the kept messages that
follow ``ID``, in order, then the live stream, with no duplicate and no gap
between them. When messages that followed ``ID`` are no longer kept (or
``ID`` is unknown: not an id of this room, or from before a Redis restart),
the member first receives::

    {"type":"history_gap","room":"lobby","since":"1718000000000-0"}

then whatever is kept, then the live stream: the client should reload what
it shows.

The Redis hub keeps a room's history in a stream,
``{namespace:room}:history`` (the hash tag keeps every key of a room in one
slot of a Redis Cluster). Each entry has two fields: ``d``, the text, and
``p``, the id of the entry before it, which tells whether the entries between
``since`` and the first kept one were trimmed. :data:`PUBLISH_SCRIPT` adds
the entry, trims the stream (``XADD ... MAXLEN =`` or ``MINID =``) and
publishes the envelope with its id, atomically, so that ids increase in the
order members receive the messages.

This module knows no I/O, apart from the Lua script it hands to Redis.

"""

from __future__ import annotations

import collections
import datetime
import fnmatch
import json
import re
import time
from collections.abc import Iterable, Mapping

from .envelope import Message

__all__ = [
    "PUBLISH_SCRIPT",
    "HistoryPolicy",
    "LocalHistory",
    "Policies",
    "Policy",
    "gap_notice",
    "id_order",
    "parse_stream_id",
    "plan_replay",
    "wrap",
]

HistoryPolicy = int | datetime.timedelta
"""``history=``: keep the last N messages, or messages younger than this."""


class Policy:
    """How much history a room keeps: a count of messages or an age.

    Example::

        >>> Policy.of(100).max_messages
        100

    """

    __slots__ = ("max_age", "max_messages")

    def __init__(self, max_messages: int | None, max_age: float | None) -> None:
        self.max_messages = max_messages
        self.max_age = max_age

    @classmethod
    def of(cls, value: HistoryPolicy) -> Policy:
        """Check ``history=`` and turn it into a policy.

        Raises:
            TypeError: If ``value`` is neither an :class:`int` nor a
                :class:`~datetime.timedelta`.
            ValueError: If it isn't positive.

        """
        if isinstance(value, datetime.timedelta):
            seconds = value.total_seconds()
            if seconds <= 0:
                raise ValueError(f"history must be positive: {value!r}")
            return cls(None, seconds)
        if isinstance(value, int) and not isinstance(value, bool):
            if value <= 0:
                raise ValueError(f"history must be positive: {value!r}")
            return cls(value, None)
        raise TypeError(f"history must be an int or a timedelta: {value!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return (self.max_messages, self.max_age) == (other.max_messages, other.max_age)

    def __hash__(self) -> int:
        return hash((self.max_messages, self.max_age))

    def __repr__(self) -> str:
        if self.max_messages is not None:
            return f"{self.max_messages} messages"
        return f"{self.max_age} seconds"


class Policies:
    """The history of each room: the hub's configuration, then first uses.

    The configuration is a policy for every room, or a mapping from room
    names or :mod:`fnmatch` patterns (``"chat:*"``) to policies.

    """

    def __init__(
        self, config: HistoryPolicy | Mapping[str, HistoryPolicy] | None
    ) -> None:
        self._default: Policy | None = None
        self._patterns: dict[str, Policy] = {}
        if isinstance(config, Mapping):
            self._patterns = {str(k): Policy.of(v) for k, v in config.items()}
        elif config is not None:
            self._default = Policy.of(config)
        self._rooms: dict[str, Policy | None] = {}

    def get(self, room: str) -> Policy | None:
        """The policy of a room, or :obj:`None` if it keeps no history."""
        # Not try/except KeyError: every publish to a room without history
        # would raise it.
        policy = self._rooms.get(room)
        if policy is not None:
            return policy
        policy = self._lookup(room)
        # Rooms without history aren't cached: there may be many.
        if policy is not None:
            self._rooms[room] = policy
        return policy

    def _lookup(self, room: str) -> Policy | None:
        if room in self._patterns:
            return self._patterns[room]
        for pattern, policy in self._patterns.items():
            if fnmatch.fnmatchcase(room, pattern):
                return policy
        return self._default

    def set(self, rooms: Iterable[str], policy: Policy) -> None:
        """Give rooms a policy when first used; refuse to change one.

        Raises:
            ValueError: If a room already keeps another history.

        """
        rooms = list(rooms)
        for room in rooms:
            current = self.get(room)
            if current is not None and current != policy:
                raise ValueError(f"room keeps another history: {current!r}")
        for room in rooms:
            self._rooms[room] = policy


def wrap(room: str, id: str, text: str) -> str:
    """The frame that carries a message of a room with history.

    Example::

        >>> wrap("lobby", "7", "hi")
        '{"type":"message","room":"lobby","id":"7","data":"hi"}'

    """
    frame = {"type": "message", "room": room, "id": id, "data": text}
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def gap_notice(room: str, since: str) -> str:
    """The frame that tells a member that messages after ``since`` are lost.

    Example::

        >>> gap_notice("lobby", "7")
        '{"type":"history_gap","room":"lobby","since":"7"}'

    """
    frame = {"type": "history_gap", "room": room, "since": since}
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def check_text(room: str, message: Message) -> str:
    """Refuse a binary message in a room with history."""
    if isinstance(message, str):
        return message
    raise TypeError(f"rooms with history carry text messages: {room!r}")


class LocalHistory:
    """The history of the in-process hub: ids count up from 1 in each room.

    Example::

        >>> history = LocalHistory()
        >>> history.append("lobby", Policy.of(2), "hi")
        '1'

    """

    def __init__(self) -> None:
        # room -> (last id, deque of (id, monotonic time, text))
        self._rooms: dict[str, tuple[int, collections.deque[tuple[int, float, str]]]]
        self._rooms = {}

    def append(self, room: str, policy: Policy, text: str) -> str:
        """Keep a message; return its id."""
        last, entries = self._rooms.get(room, (0, collections.deque()))
        last += 1
        entries.append((last, time.monotonic(), text))
        if policy.max_messages is not None:
            while len(entries) > policy.max_messages:
                entries.popleft()
        self._rooms[room] = (last, entries)
        self._expire(entries, policy)
        return str(last)

    def since(
        self, room: str, since: str, policy: Policy | None
    ) -> tuple[bool, list[tuple[str, str]]]:
        """Whether messages after ``since`` were lost, and the kept ones after it."""
        last, entries = self._rooms.get(room, (0, collections.deque()))
        if policy is not None:
            self._expire(entries, policy)
        after = int(since) if since.isdigit() and since.isascii() else -1
        # Ids are consecutive: nothing is lost if the one after "since" is
        # kept, or if "since" is the last id and nothing came after it.
        first = entries[0][0] if entries else last + 1
        gap = after < 0 or after > last or after + 1 < first
        # After a gap, the client reloads: give it everything that is kept.
        kept = [(str(i), text) for i, _, text in entries if gap or i > after]
        return gap, kept

    @staticmethod
    def _expire(
        entries: collections.deque[tuple[int, float, str]], policy: Policy
    ) -> None:
        if policy.max_age is None:
            return
        # Keep the newest entry so that the next one knows what came before.
        horizon = time.monotonic() - policy.max_age
        while len(entries) > 1 and entries[0][1] < horizon:
            entries.popleft()


# The Redis hub's history. KEYS[1] is the room's stream; ARGV: the channel,
# the publish command (PUBLISH, or SPUBLISH on a cluster), "MAXLEN" and a
# count or "MINID" and an age in ms, the text, and the envelope around the
# id. It touches one key and publishes in the same slot on a cluster.
PUBLISH_SCRIPT = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if #last > 0 then prev = last[1][1] end
local id
if ARGV[3] == 'MAXLEN' then
    id = redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[4],
                    '*', 'd', ARGV[5], 'p', prev)
else
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local age = tonumber(ARGV[4])
    id = redis.call('XADD', KEYS[1], 'MINID', '=', now - age,
                    '*', 'd', ARGV[5], 'p', prev)
    redis.call('PEXPIRE', KEYS[1], age)
end
return redis.call(ARGV[2], ARGV[1], ARGV[6] .. id .. ARGV[7])
"""

_STREAM_ID = re.compile(r"(\d+)-(\d+)")


def parse_stream_id(id: str) -> tuple[int, int] | None:
    """Parse a Redis stream id, ``"1718000000000-0"``; :obj:`None` if invalid."""
    match = _STREAM_ID.fullmatch(id)
    if match is None:
        return None
    return int(match[1]), int(match[2])


def id_order(id: str) -> tuple[int, int]:
    """The position of a history id in its room; ids increase in this order.

    Ids are the in-process hub's counts, ``"7"``, or Redis stream ids,
    ``"1718000000000-0"``; anything else comes first.

    Example::

        >>> id_order("7") < id_order("12")
        True

    """
    if id.isdigit() and id.isascii():
        return int(id), 0
    return parse_stream_id(id) or (-1, -1)


Entry = tuple[str, dict[str, str]]


def plan_replay(
    since: str, after: list[Entry], first: list[Entry]
) -> tuple[bool, list[tuple[str, str]]]:
    """Decide what a member resuming from ``since`` receives from a stream.

    Args:
        since: The last id the member saw.
        after: ``XRANGE stream since +``: entries from ``since``, included.
        first: ``XRANGE stream - + COUNT 1``: the oldest kept entry, if any.

    Returns:
        Whether messages after ``since`` were lost, and the ``(id, text)``
        pairs to replay.

    """
    position = parse_stream_id(since)
    kept = [(id, fields.get("d", "")) for id, fields in after if id != since]
    if position is None or not first:
        return True, kept
    if after and after[0][0] == since:
        return False, kept
    if not after:
        # Past the last kept entry: an id that this stream never gave.
        return True, kept
    first_id, first_fields = first[0]
    if position >= (parse_stream_id(first_id) or (0, 0)):
        return False, kept
    # "since" was trimmed; so were entries after it unless the first kept
    # entry came right after it. A first entry with nothing before it starts
    # a new stream: the one that gave "since" expired.
    previous = parse_stream_id(first_fields.get("p", "")) or (0, 0)
    return position < previous or previous == (0, 0), kept
