"""The in-process hub: rooms, users and broadcast within one process.

:class:`Hub` is the base of every backend and the in-process backend itself.
It keeps a :class:`~websockets_routes.hub.registry.Registry` of local
connections and delivers messages to them with websockets'
:func:`~websockets.asyncio.server.broadcast`, which writes to every connection
without awaiting any of them.

This module doesn't import the Redis backend: the Redis backend imports it,
never the other way round. :meth:`Hub.from_url` looks the URL's scheme up in
a table of backends that :func:`register_backend` fills;
:mod:`websockets_routes.hub.backends`, which sits above this module and the
Redis backend, registers ``redis://``, ``rediss://`` and ``unix://`` when
:mod:`websockets_routes.hub` is imported, which Python does before importing
any of its submodules.

"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from websockets.asyncio.connection import Connection
from websockets.asyncio.server import broadcast
from websockets.frames import CloseCode

from ..closing import close_within
from .envelope import Message
from .history import (
    HistoryPolicy,
    LocalHistory,
    Policies,
    Policy,
    check_text,
    gap_notice,
    id_order,
    wrap,
)
from .presence import LocalPresence, check_meta, event
from .registry import Registry

__all__ = [
    "DEFAULT_MAX_BUFFER",
    "SLOW_CLOSE_CODE",
    "Hub",
    "HubFactory",
    "Membership",
    "register_backend",
]

logger = logging.getLogger("websockets_routes.hub")

DEFAULT_MAX_BUFFER = 2**20
"""Bytes that may wait in a connection's write buffer before it's closed."""

SLOW_CLOSE_CODE = CloseCode.TRY_AGAIN_LATER
"""Close code sent to a connection that doesn't keep up with its messages."""

H = TypeVar("H", bound="Hub")

HubFactory = Callable[..., "Hub"]
"""Creates a hub from a URL and the keyword arguments of :meth:`Hub.from_url`."""

# URL scheme -> factory of the hub that serves it, filled by register_backend().
_backends: dict[str, HubFactory] = {}


def register_backend(scheme: str, factory: HubFactory) -> None:
    """Make :meth:`Hub.from_url` create hubs with ``factory`` for a URL scheme.

    Registering a scheme again replaces its factory.

    Args:
        scheme: URL scheme, like ``"redis"``, in lowercase.
        factory: Called with the URL and the keyword arguments of
            :meth:`Hub.from_url`; returns a hub.

    Example::

        register_backend("redis", create_redis_hub)

    """
    _backends[scheme] = factory


class Hub:
    """Rooms, users and broadcast for WebSocket connections.

    ``Hub()`` delivers messages within this process. :meth:`from_url` returns
    a :class:`~websockets_routes.hub.redis.RedisHub`, which has the same API
    and delivers messages across processes through Redis.

    A connection whose write buffer holds more than ``max_buffer`` bytes when
    a message is delivered is a slow consumer: the hub unregisters it, stops
    writing to it and closes it with code 1013 (try again later), aborting
    the TCP connection if the closing handshake doesn't complete within the
    connection's ``close_timeout``. Memory used by a client that stops reading
    is thus bounded by about ``max_buffer`` plus one message.

    Rooms may keep a history of their messages, which members that
    reconnect catch up on (see :mod:`~websockets_routes.hub.history`), and
    the hub knows who is in each room (see :meth:`presence` and
    :mod:`~websockets_routes.hub.presence`).

    Args:
        max_buffer: Limit of a connection's write buffer, in bytes; :obj:`None`
            disables the limit, leaving only websockets' keepalive to close
            slow connections.
        history: History of every room: a count of messages (:class:`int`)
            or an age (:class:`~datetime.timedelta`); or a mapping from room
            names or :mod:`fnmatch` patterns to them. :obj:`None` keeps no
            history, except in rooms joined with ``history=``.

    Example::

        hub = Hub()

        async def handler(websocket):
            async with hub.join(websocket, "lobby", user="alice"):
                async for message in websocket:
                    await hub.publish("lobby", message)

    """

    def __init__(
        self,
        *,
        max_buffer: int | None = DEFAULT_MAX_BUFFER,
        history: HistoryPolicy | Mapping[str, HistoryPolicy] | None = None,
    ) -> None:
        if max_buffer is not None and max_buffer < 0:
            raise ValueError(f"max_buffer must be positive or None: {max_buffer}")
        self.max_buffer = max_buffer
        self._registry: Registry[Connection] = Registry()
        self._closing: set[asyncio.Task[None]] = set()
        self._policies = Policies(history)
        self._history = LocalHistory()
        self._presence: LocalPresence[Connection] = LocalPresence()
        # room -> connection -> live frames held back while it catches up.
        self._replaying: dict[str, dict[Connection, list[tuple[str | None, Message]]]]
        self._replaying = {}
        # room -> connection -> last id replayed to it, until a newer live
        # frame reaches it: older ones are duplicates that arrived late.
        self._seams: dict[str, dict[Connection, str]] = {}

    @classmethod
    def from_url(
        cls, url: str, *, namespace: str = "websockets_routes", **options: Any
    ) -> Hub:
        """Create a hub that delivers messages across processes.

        The URL's scheme picks the backend: ``redis://``, ``rediss://`` and
        ``unix://`` create a :class:`~websockets_routes.hub.redis.RedisHub`.

        Args:
            url: URL of the backend, like ``redis://127.0.0.1:6379/0``.
            namespace: Prefix of the backend's channels and keys; applications
                that share a backend use different namespaces.
            options: Other arguments of the backend, like ``max_buffer`` and
                ``heartbeat`` for
                :class:`~websockets_routes.hub.redis.RedisHub`.

        Raises:
            ValueError: If no backend serves the URL's scheme, or if the URL
                or an option is invalid.
            ImportError: If the backend's dependency, like redis-py, isn't
                installed.

        Example::

            hub = Hub.from_url("redis://127.0.0.1:6379/0", namespace="chat")
            async with hub:
                ...

        """
        # Not urlsplit(): Python 3.10 reads "host:port" as a scheme.
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        factory = _backends.get(scheme)
        if factory is None:
            raise ValueError(f"unsupported hub URL scheme: {scheme!r}")
        return factory(url, namespace=namespace, **options)

    async def __aenter__(self: H) -> H:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start background tasks; ``async with hub:`` calls it.

        The in-process hub has none, so starting it is optional.

        """

    async def close(self) -> None:
        """Stop background tasks; ``async with hub:`` calls it."""
        for task in list(self._closing):
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)

    def join(
        self,
        connection: Connection,
        *groups: str,
        user: str | None = None,
        meta: Mapping[str, Any] | None = None,
        presence_events: bool = False,
        since: str | None = None,
        history: HistoryPolicy | None = None,
    ) -> Membership:
        """Register a connection in groups, as a user.

        Use it as an async context manager: the connection leaves the groups
        when the block exits, whether the connection closed normally or
        abruptly, the handler raised or its task was cancelled. Awaiting it
        instead registers the connection until :meth:`leave`.

        A registered connection receives :meth:`broadcast` messages, even if
        it's in no group, and :meth:`send_to_user` messages for its user.

        Args:
            connection: Server connection, as received by the handler.
            groups: Groups to join, like ``"room:42"``.
            user: User the connection belongs to; a user may have many
                connections. :meth:`presence` lists the connection under it,
                or under a generated connection id.
            meta: The connection's metadata in :meth:`presence`: a dict
                that JSON can serialize.
            presence_events: Receive a ``presence`` event when a connection
                joins or leaves these groups.
            since: The last history id the client saw: receive the kept
                messages after it first, or a ``history_gap`` notice if some
                are lost (see :mod:`~websockets_routes.hub.history`).
            history: Keep the history of these groups, if the hub's
                configuration doesn't: a count of messages or a
                :class:`~datetime.timedelta`. Give it in every process that
                publishes to them.

        Raises:
            TypeError: If a group, the user or ``since`` isn't a :class:`str`,
                or ``meta`` isn't a JSON-serializable dict.
            ValueError: If ``history`` differs from a group's history, when
                the join is awaited.

        Example::

            async with hub.join(websocket, "room:42", user="alice"):
                await websocket.wait_closed()

        """
        return Membership(
            self,
            connection,
            groups,
            user,
            meta=check_meta(meta),
            watch=presence_events,
            since=since,
            history=None if history is None else Policy.of(history),
        )

    async def leave(self, connection: Connection, *groups: str) -> None:
        """Remove a connection from groups, or unregister it.

        Args:
            connection: Registered connection.
            groups: Groups to leave; with none, the connection leaves all its
                groups, its user and broadcasts.

        Example::

            await hub.leave(websocket, "room:42")

        """
        if groups:
            self._remove(connection, groups)
        else:
            self._discard(connection)

    async def publish(self, group: str, message: Message) -> int:
        """Send a message to every connection in a group.

        Args:
            group: Group to send to; it may have no members.
            message: :class:`str` is sent as text, :class:`bytes` as binary.

        Returns:
            The number of processes that received the message: here, 1 if
            this process has members in the group, else 0.

        Raises:
            TypeError: If ``message`` is neither text nor binary.
            HubUnavailable: If the message cannot reach other processes.

        Example::

            await hub.publish("room:42", "hello")

        In a group with history, ``message`` must be text; members receive it
        wrapped with its id (see :mod:`~websockets_routes.hub.history`).

        """
        policy = self._policies.get(group)
        if policy is None:
            self._deliver_room(group, message)
        else:
            text = check_text(group, message)
            self._deliver_room(group, text, self._history.append(group, policy, text))
        return 1 if self._registry.groups.get(group) else 0

    async def send_to_user(self, user: str, message: Message) -> int:
        """Send a message to every connection of a user.

        Args:
            user: User to send to; it may have no connections.
            message: :class:`str` is sent as text, :class:`bytes` as binary.

        Returns:
            The number of processes that received the message: here, 1 if
            the user has connections in this process, else 0.

        Raises:
            TypeError: If ``message`` is neither text nor binary.
            HubUnavailable: If the message cannot reach other processes.

        Example::

            await hub.send_to_user("alice", "you have mail")

        """
        return self._deliver_local(self._registry.users.get(user, ()), message)

    async def broadcast(self, message: Message) -> int:
        """Send a message to every registered connection.

        Args:
            message: :class:`str` is sent as text, :class:`bytes` as binary.

        Returns:
            The number of processes that received the message: here, 1.

        Raises:
            TypeError: If ``message`` is neither text nor binary.
            HubUnavailable: If the message cannot reach other processes.

        Example::

            await hub.broadcast("server restarting")

        """
        self._deliver(self._registry.entries, message)
        return 1

    def members(self, group: str) -> frozenset[Connection]:
        """Return the connections of this process in a group.

        Example::

            for websocket in hub.members("room:42"):
                print(websocket.remote_address)

        """
        return frozenset(self._registry.groups.get(group, ()))

    async def count(self, group: str) -> int:
        """Count the connections in a group, in every process.

        Raises:
            HubUnavailable: If other processes cannot be asked.

        Example::

            online = await hub.count("room:42")

        """
        return len(self._registry.groups.get(group, ()))

    async def presence(self, group: str) -> dict[str, list[dict[str, Any]]]:
        """Tell who is in a group, in every process.

        Returns:
            Each user's list of metadata dicts, one per connection; a
            connection that joined without a user appears under a generated
            connection id.

        Raises:
            HubUnavailable: If other processes cannot be asked.

        Example::

            async with hub.join(websocket, "lobby", user="alice", meta={"tab": 1}):
                assert await hub.presence("lobby") == {"alice": [{"tab": 1}]}

        """
        return self._presence.members(group)

    # Registration. Backends override _changed() and _ready() to mirror the
    # registry elsewhere; registering and unregistering themselves are local
    # and synchronous, so that leaving never fails nor waits.

    def _add(
        self, connection: Connection, groups: Iterable[str], user: str | None
    ) -> tuple[list[str], bool]:
        added, created = self._registry.add(connection, groups, user)
        # Marking an unchanged user is harmless; backends treat it as a no-op.
        self._changed(added, [] if user is None else [user])
        return added, created

    def _remove(self, connection: Connection, groups: Iterable[str]) -> None:
        removed = self._registry.remove(connection, groups)
        self._forget_seams(connection, removed)
        self._left(self._presence.remove(connection, removed))
        self._changed(removed, [])

    def _discard(self, connection: Connection) -> None:
        entry = self._registry.discard(connection)
        if entry is not None:
            self._forget_seams(connection, entry.groups)
            self._left(self._presence.remove(connection, entry.groups))
            self._presence.forget(connection)
            self._changed(entry.groups, [] if entry.user is None else [entry.user])

    def _changed(self, groups: Iterable[str], users: Iterable[str]) -> None:
        """Called when local members of groups or users change."""

    async def _ready(self, groups: Iterable[str], user: str | None) -> None:
        """Wait until messages to these groups and user reach this process."""

    # Presence. Backends override _joined() and _left() to announce members
    # to other processes; the in-process hub delivers events at once.

    def _enter_presence(self, membership: Membership) -> list[tuple[str, str]]:
        entry = self._registry.entries.get(membership.connection)
        user = membership.user if entry is None else entry.user
        return self._presence.add(
            membership.connection,
            membership._added,
            user,
            membership.meta,
            watch=membership.watch,
        )

    async def _joined(self, members: list[tuple[str, str]]) -> None:
        """Announce members that joined rooms, as ``(room, member)`` pairs."""
        for room, member in members:
            self._deliver_room(room, event("join", room, member), presence=True)

    def _left(self, members: list[tuple[str, str]]) -> None:
        """Announce members that left rooms, as ``(room, member)`` pairs."""
        for room, member in members:
            self._deliver_room(room, event("leave", room, member), presence=True)

    # History.

    def _hold(self, connection: Connection, groups: Iterable[str]) -> None:
        # Hold live frames back from now on, until the replay is written.
        for group in groups:
            self._replaying.setdefault(group, {})[connection] = []

    async def _kept(self, group: str, since: str) -> tuple[bool, list[tuple[str, str]]]:
        """Whether messages after ``since`` are lost, and the kept ones after it."""
        return self._history.since(group, since, self._policies.get(group))

    def _release(
        self,
        connection: Connection,
        group: str,
        since: str,
        gap: bool,
        entries: list[tuple[str, str]],
    ) -> None:
        held = self._unhold(connection, group)
        frames: list[Message] = [gap_notice(group, since)] if gap else []
        frames += [wrap(group, id, text) for id, text in entries]
        # A held frame with an id already replayed is a duplicate; ids of
        # one room increase in the order frames arrive.
        seen = {id for id, _ in entries}
        frames += [frame for id, frame in held if id is None or id not in seen]
        if entries:
            # A backend's subscriber may receive a message after the history
            # that holds it was read: _deliver_room() drops it then.
            self._seams.setdefault(group, {})[connection] = entries[-1][0]
        for frame in frames:
            self._deliver([connection], frame)

    def _unhold(
        self, connection: Connection, group: str
    ) -> list[tuple[str | None, Message]]:
        replaying = self._replaying.get(group, {})
        held = replaying.pop(connection, [])
        if not replaying:
            self._replaying.pop(group, None)
        return held

    # Delivery.

    def _deliver_room(
        self,
        group: str,
        message: Message,
        id: str | None = None,
        *,
        presence: bool = False,
    ) -> None:
        """Deliver a message, a history message with its id, or an event."""
        if presence:
            members: Iterable[Connection] = self._presence.watchers.get(group, ())
        else:
            members = self._registry.groups.get(group, ())
        if id is not None:
            message = wrap(group, id, check_text(group, message))
            if group in self._seams:
                members = self._past_seams(group, id, members)
        replaying = self._replaying.get(group)
        if replaying and members:
            # Rare: someone in the group is catching up on its history.
            members = [c for c in members if c not in replaying]
            for connection, held in replaying.items():
                if presence and connection not in self._presence.watchers[group]:
                    continue
                if connection in self._registry.groups.get(group, ()):
                    held.append((id, message))
        self._deliver(members, message)

    # Delivery.

    def _past_seams(
        self, group: str, id: str, members: Iterable[Connection]
    ) -> list[Connection]:
        # Frames of a room arrive in the order of their ids: one no newer
        # than the last replayed to a connection is a duplicate, and a newer
        # one means that no duplicate follows.
        seams, order = self._seams[group], id_order(id)
        late = {c for c, last in seams.items() if order <= id_order(last)}
        for connection in seams.keys() - late:
            del seams[connection]
        if not seams:
            del self._seams[group]
        return [connection for connection in members if connection not in late]

    def _forget_seams(self, connection: Connection, groups: Iterable[str]) -> None:
        for group in groups:
            seams = self._seams.get(group, {})
            seams.pop(connection, None)
            if not seams:
                self._seams.pop(group, None)

    def _deliver_local(
        self, connections: Collection[Connection], message: Message
    ) -> int:
        self._deliver(connections, message)
        return 1 if connections else 0

    def _deliver(self, connections: Iterable[Connection], message: Message) -> None:
        if self.max_buffer is None:
            broadcast(connections, message)
            return
        slow: list[Connection] = []
        broadcast(_writable(connections, self.max_buffer, slow), message)
        for connection in slow:
            self._evict(connection)

    def _evict(self, connection: Connection) -> None:
        logger.warning("closing slow connection: %s", connection.remote_address)
        self._discard(connection)
        task = asyncio.get_running_loop().create_task(_close_slow(connection))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _writable(
    connections: Iterable[Connection], limit: int, slow: list[Connection]
) -> Iterator[Connection]:
    # A generator lets broadcast() skip slow connections in the same pass.
    for connection in connections:
        if connection.transport.get_write_buffer_size() > limit:
            slow.append(connection)
        else:
            yield connection


async def _close_slow(connection: Connection) -> None:
    # close() waits for the write buffer to drain, which a client that doesn't
    # read never lets happen; abort the connection after close_timeout.
    await close_within(connection, SLOW_CLOSE_CODE, "too slow")


class Membership:
    """Registration of a connection in groups, returned by :meth:`Hub.join`.

    Use it as an async context manager, or await it and call
    :meth:`Hub.leave` later.

    Example::

        async with hub.join(websocket, "room:42") as membership:
            assert membership.groups == ("room:42",)

    """

    def __init__(
        self,
        hub: Hub,
        connection: Connection,
        groups: tuple[str, ...],
        user: str | None,
        *,
        meta: str = "{}",
        watch: bool = False,
        since: str | None = None,
        history: Policy | None = None,
    ) -> None:
        for name in (*groups, user):
            if name is not None and not isinstance(name, str):
                raise TypeError(f"groups and users must be str: {name!r}")
        if since is not None and not isinstance(since, str):
            raise TypeError(f"since must be str: {since!r}")
        self.hub = hub
        self.connection = connection
        self.groups = groups
        self.user = user
        self.meta = meta
        self.watch = watch
        self.since = since
        self.history = history
        self._added: list[str] = []
        self._created = False

    def __await__(self) -> Generator[Any, None, Membership]:
        return self._enter().__await__()

    async def __aenter__(self) -> Membership:
        return await self._enter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exit()

    async def _enter(self) -> Membership:
        hub = self.hub
        if self.history is not None:
            hub._policies.set(self.groups, self.history)
        resumed = [] if self.since is None else list(dict.fromkeys(self.groups))
        hub._hold(self.connection, resumed)
        try:
            self._added, self._created = hub._add(
                self.connection, self.groups, self.user
            )
            joined = hub._enter_presence(self)
            await hub._ready(self.groups, self.user)
            await hub._joined(joined)
            for group in resumed:
                assert self.since is not None
                gap, entries = await hub._kept(group, self.since)
                hub._release(self.connection, group, self.since, gap, entries)
        except BaseException:
            # A cancelled join must not leave the connection registered.
            for group in resumed:
                hub._unhold(self.connection, group)
            self._exit()
            raise
        return self

    def _exit(self) -> None:
        # Undo only what this join did, so that nested joins of the same
        # connection leave the outer groups in place.
        if self._created:
            self.hub._discard(self.connection)
        else:
            self.hub._remove(self.connection, self._added)
