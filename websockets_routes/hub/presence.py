"""Presence: who is in a room, in every process, and events when it changes.

``hub.join(ws, room, user="alice", meta={"name": "Alice"})`` makes the
connection a member of the room's presence; ``await hub.presence(room)``
returns ``{"alice": [{"name": "Alice"}, ...]}``: each user, with the metadata
of each of its connections in the room. A connection that joined without a
user appears under a generated connection id. A member that joins with
``presence_events=True`` also receives, as text frames::

    {"type":"presence","room":"lobby","event":"join","user":"alice","meta":{"name":"Alice"}}
    {"type":"presence","room":"lobby","event":"leave","user":"alice","meta":{"name":"Alice"}}

one per connection that joins or leaves, its own included.

The Redis hub keeps two keys per room, which share the hash tag
``{namespace:room}`` and thus a slot of a Redis Cluster:

* ``{namespace:room}:presence``: a hash; one field per connection,
  ``{process}:{connection}``, whose value is ``{"user": ..., "meta": ...}``;
* ``{namespace:room}:presence:alive``: a sorted set of the processes with
  members in the room, scored by the time (Redis's clock, in ms) until which
  they are alive.

Every ``heartbeat`` seconds, each process with members in a room pushes its
time to ``now + 3 * heartbeat`` with :data:`PRESENCE_SCRIPT`, which also
removes the members of processes whose time passed and returns them, so that
the process announces their leaving. Reading presence runs the same script.
A process that dies without leaving thus disappears from presence within
``3 * heartbeat`` seconds, and its members' ``leave`` events follow within
one more heartbeat of a live process with members in the room. Both keys
expire ``3 * heartbeat`` seconds after the last refresh.

This module knows no I/O, apart from the Lua script it hands to Redis.

"""

from __future__ import annotations

import json
import uuid
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

__all__ = [
    "PRESENCE_SCRIPT",
    "LocalPresence",
    "Member",
    "check_meta",
    "event",
    "group_members",
]

C = TypeVar("C", bound=Hashable)


def check_meta(meta: Mapping[str, Any] | None) -> str:
    """Check a member's metadata; return it as JSON.

    Raises:
        TypeError: If ``meta`` isn't a dict that JSON can serialize.

    Example::

        >>> check_meta({"name": "Alice"})
        '{"name":"Alice"}'

    """
    if meta is None:
        return "{}"
    if not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a dict: {meta!r}")
    try:
        return json.dumps(dict(meta), ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"meta must be JSON-serializable: {meta!r}") from exc


def member_json(user: str, meta: str) -> str:
    """A member as Redis keeps it: ``{"user": ..., "meta": ...}``."""
    return f'{{"user":{json.dumps(user, ensure_ascii=False)},"meta":{meta}}}'


def event(kind: str, room: str, member: str) -> str:
    """The frame of a presence event, from a member as :func:`member_json` wrote it.

    Example::

        >>> event("join", "lobby", member_json("alice", "{}"))
        '{"type":"presence","room":"lobby","event":"join","user":"alice","meta":{}}'

    """
    fields = json.loads(member)
    frame = {"type": "presence", "room": room, "event": kind, **fields}
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def group_members(members: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Group members, as :func:`member_json` wrote them, by user."""
    result: dict[str, list[dict[str, Any]]] = {}
    for member in members:
        fields = json.loads(member)
        result.setdefault(fields["user"], []).append(fields["meta"])
    return result


class Member:
    """A connection's presence in a room: its user and metadata, as JSON."""

    __slots__ = ("json", "watch")

    def __init__(self, json: str, watch: bool) -> None:
        self.json = json
        self.watch = watch


class LocalPresence(Generic[C]):
    """The presence of this process's connections, room by room.

    Example::

        >>> presence = LocalPresence()
        >>> presence.add("conn", ["lobby"], "alice", "{}", watch=False)
        [('lobby', '{"user":"alice","meta":{}}')]
        >>> presence.members("lobby")
        {'alice': [{}]}

    """

    def __init__(self) -> None:
        self.rooms: dict[str, dict[C, Member]] = {}
        self.watchers: dict[str, set[C]] = {}
        self.ids: dict[C, str] = {}

    def connection_id(self, connection: C) -> str:
        """The generated id of a connection, which stands for a missing user."""
        id = self.ids.get(connection)
        if id is None:
            id = self.ids[connection] = uuid.uuid4().hex[:16]
        return id

    def add(
        self,
        connection: C,
        rooms: Iterable[str],
        user: str | None,
        meta: str,
        *,
        watch: bool,
    ) -> list[tuple[str, str]]:
        """Make a connection a member of rooms; return ``(room, member)`` pairs."""
        member = member_json(user or self.connection_id(connection), meta)
        added = []
        for room in rooms:
            self.rooms.setdefault(room, {})[connection] = Member(member, watch)
            if watch:
                self.watchers.setdefault(room, set()).add(connection)
            added.append((room, member))
        return added

    def remove(self, connection: C, rooms: Iterable[str]) -> list[tuple[str, str]]:
        """Remove a connection from rooms; return ``(room, member)`` pairs."""
        removed = []
        for room in rooms:
            members = self.rooms.get(room)
            entry = None if members is None else members.pop(connection, None)
            if entry is None:
                continue
            removed.append((room, entry.json))
            if not members:
                del self.rooms[room]
            watchers = self.watchers.get(room)
            if watchers is not None:
                watchers.discard(connection)
                if not watchers:
                    del self.watchers[room]
        return removed

    def forget(self, connection: C) -> None:
        """Drop a connection's generated id, once it left every room."""
        self.ids.pop(connection, None)

    def members(self, room: str) -> dict[str, list[dict[str, Any]]]:
        """The presence of a room in this process."""
        return group_members(m.json for m in self.rooms.get(room, {}).values())


# KEYS[1]: the room's presence hash; KEYS[2]: its sorted set of processes.
# ARGV[1]: this process, or "" to refresh nothing; ARGV[2]: the TTL in ms;
# ARGV[3]: "1" to return every member too. Returns the members removed
# because their process's time passed, and every member if asked.
PRESENCE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if ARGV[1] ~= '' then
    redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
end
local removed = {}
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #dead > 0 then
    local gone = {}
    for _, process in ipairs(dead) do gone[process] = true end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
    local fields = redis.call('HGETALL', KEYS[1])
    for i = 1, #fields, 2 do
        local process = string.match(fields[i], '^([^:]*):')
        if gone[process] then
            redis.call('HDEL', KEYS[1], fields[i])
            table.insert(removed, fields[i + 1])
        end
    end
end
local all = {}
if ARGV[3] == '1' then all = redis.call('HVALS', KEYS[1]) end
return {removed, all}
"""
