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
from collections.abc import Callable, Generator, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from websockets.asyncio.connection import Connection
from websockets.asyncio.server import broadcast
from websockets.frames import CloseCode

from ..closing import close_within
from .envelope import Message
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

    Args:
        max_buffer: Limit of a connection's write buffer, in bytes; :obj:`None`
            disables the limit, leaving only websockets' keepalive to close
            slow connections.

    Example::

        hub = Hub()

        async def handler(websocket):
            async with hub.join(websocket, "lobby", user="alice"):
                async for message in websocket:
                    await hub.publish("lobby", message)

    """

    def __init__(self, *, max_buffer: int | None = DEFAULT_MAX_BUFFER) -> None:
        if max_buffer is not None and max_buffer < 0:
            raise ValueError(f"max_buffer must be positive or None: {max_buffer}")
        self.max_buffer = max_buffer
        self._registry: Registry[Connection] = Registry()
        self._closing: set[asyncio.Task[None]] = set()

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
        self, connection: Connection, *groups: str, user: str | None = None
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
                connections.

        Raises:
            TypeError: If a group or the user isn't a :class:`str`.

        Example::

            async with hub.join(websocket, "room:42", user="alice"):
                await websocket.wait_closed()

        """
        return Membership(self, connection, groups, user)

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

    async def publish(self, group: str, message: Message) -> None:
        """Send a message to every connection in a group.

        Args:
            group: Group to send to; it may have no members.
            message: :class:`str` is sent as text, :class:`bytes` as binary.

        Raises:
            TypeError: If ``message`` is neither text nor binary.
            HubUnavailable: If the message cannot reach other processes.

        Example::

            await hub.publish("room:42", "hello")

        """
        self._deliver(self._registry.groups.get(group, ()), message)

    async def send_to_user(self, user: str, message: Message) -> None:
        """Send a message to every connection of a user.

        Args:
            user: User to send to; it may have no connections.
            message: :class:`str` is sent as text, :class:`bytes` as binary.

        Raises:
            TypeError: If ``message`` is neither text nor binary.
            HubUnavailable: If the message cannot reach other processes.

        Example::

            await hub.send_to_user("alice", "you have mail")

        """
        self._deliver(self._registry.users.get(user, ()), message)

    async def broadcast(self, message: Message) -> None:
        """Send a message to every registered connection.

        Args:
            message: :class:`str` is sent as text, :class:`bytes` as binary.

        Raises:
            TypeError: If ``message`` is neither text nor binary.
            HubUnavailable: If the message cannot reach other processes.

        Example::

            await hub.broadcast("server restarting")

        """
        self._deliver(self._registry.entries, message)

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
        self._changed(self._registry.remove(connection, groups), [])

    def _discard(self, connection: Connection) -> None:
        entry = self._registry.discard(connection)
        if entry is not None:
            self._changed(entry.groups, [] if entry.user is None else [entry.user])

    def _changed(self, groups: Iterable[str], users: Iterable[str]) -> None:
        """Called when local members of groups or users change."""

    async def _ready(self, groups: Iterable[str], user: str | None) -> None:
        """Wait until messages to these groups and user reach this process."""

    # Delivery.

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
    ) -> None:
        for name in (*groups, user):
            if name is not None and not isinstance(name, str):
                raise TypeError(f"groups and users must be str: {name!r}")
        self.hub = hub
        self.connection = connection
        self.groups = groups
        self.user = user
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
        self._added, self._created = self.hub._add(
            self.connection, self.groups, self.user
        )
        try:
            await self.hub._ready(self.groups, self.user)
        except BaseException:
            # A cancelled join must not leave the connection registered.
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
