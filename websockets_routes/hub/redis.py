"""The Redis hub: rooms, users and broadcast across processes and machines.

:class:`RedisHub` publishes every message to a Redis channel; each process
keeps one subscriber connection and subscribes to a group's or a user's
channel only while it has local members there, then delivers what it
receives to them with websockets' :func:`~websockets.asyncio.server.broadcast`.

Channels and keys, all prefixed with the namespace (``websockets_routes`` by
default):

* ``{namespace}:group:{group}``: messages to a group;
* ``{namespace}:user:{user}``: messages to a user;
* ``{namespace}:broadcast``: messages to everyone;
* ``{namespace}:count:{group}``: a hash of local member counts, one field per
  process;
* ``{namespace}:alive:{process}``: a key that expires when a process stops
  refreshing it;
* ``{namespace:room}:history``: the stream of a room with history (see
  :mod:`~websockets_routes.hub.history`);
* ``{namespace:room}:presence`` and ``{namespace:room}:presence:alive``: who
  is in a room, and until when each process with members there is alive (see
  :mod:`~websockets_routes.hub.presence`).

The keys of a room's history and presence share the hash tag
``{namespace:room}``: the scripts that use them touch one room's keys, never
another room's nor a process's, so they run on Redis Cluster too. The
methods that name keys and channels, and :attr:`RedisHub.publish_command`,
let a subclass change them.

redis-py is imported when a :class:`RedisHub` is created, not when this module
is imported; install it with ``pip install websockets-routes[redis]``.

"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import random
import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from .envelope import Message, encode, unwrap
from .exceptions import HubDeliveryUnknown, HubUnavailable, InvalidEnvelope
from .history import (
    PUBLISH_SCRIPT,
    HistoryPolicy,
    Policy,
    check_text,
    parse_stream_id,
    plan_replay,
)
from .memory import DEFAULT_MAX_BUFFER, Hub
from .presence import PRESENCE_SCRIPT, event, group_members

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = [
    "RedisHub",
    "RedisHubStats",
]

logger = logging.getLogger("websockets_routes.hub")

# Sums the counts of live processes other than the caller and deletes the
# fields of processes whose alive key expired. Keys are built in the script,
# so this works on a single Redis, not on Redis Cluster.
COUNT_SCRIPT = """
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
    if fields[i] ~= ARGV[2] then
        if redis.call('EXISTS', ARGV[1] .. fields[i]) == 1 then
            total = total + tonumber(fields[i + 1])
        else
            redis.call('HDEL', KEYS[1], fields[i])
        end
    end
end
return total
"""

MIN_BACKOFF, MAX_BACKOFF = 0.05, 2.0

# Invalid envelopes are logged at most once per interval, in seconds.
INVALID_LOG_INTERVAL = 1.0

# Parsed channel names kept for the receiving loop; more than this many
# means channels come and go: start over rather than grow.
MAX_ROUTES = 4096


@dataclasses.dataclass
class RedisHubStats:
    """What a :class:`RedisHub` couldn't deliver, counted since it was created.

    Read them as metrics; each count comes with a warning in the log, except
    publishes that raised, which the caller sees.

    Attributes:
        resubscribes: Times the subscriber reconnected after losing Redis:
            messages published meanwhile didn't reach this process.
        lost_publishes: Publishes from this process that its own members
            missed, because its subscriber was down.
        unsent_publishes: Publishes that raised
            :exc:`~websockets_routes.hub.exceptions.HubUnavailable`: not sent.
        unknown_publishes: Publishes that raised
            :exc:`~websockets_routes.hub.exceptions.HubDeliveryUnknown`.
        invalid_envelopes: Messages received from Redis that weren't valid
            envelopes, such as pickles, and were dropped.

    Example::

        stats = hub.stats
        print(stats.resubscribes, stats.lost_publishes)

    """

    resubscribes: int = 0
    lost_publishes: int = 0
    unsent_publishes: int = 0
    unknown_publishes: int = 0
    invalid_envelopes: int = 0


def _import_redis() -> Any:
    try:
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.exceptions
    except ImportError as exc:
        raise ImportError(
            "RedisHub requires redis; pip install websockets-routes[redis]"
        ) from exc
    return redis


class RedisHub(Hub):
    """A hub that delivers messages across processes through Redis.

    It has the API of :class:`~websockets_routes.hub.Hub`; use it as an async
    context manager so that it subscribes and keeps its counts in Redis::

        async with RedisHub("redis://127.0.0.1:6379/0") as hub:
            async with serve(handler, "", 8000):
                ...

    Delivery is at most once, as Redis publish/subscribe is: a message never
    reaches a member twice, as the hub never sends a PUBLISH again. What
    :meth:`publish` tells:

    * it returns the number of processes that received the message, as Redis
      counts them: processes with members in the group (or the user's
      connections); every process for :meth:`broadcast`;
    * it raises :exc:`~websockets_routes.hub.exceptions.HubUnavailable` when
      the message wasn't sent, so no member receives it;
    * it raises :exc:`~websockets_routes.hub.exceptions.HubDeliveryUnknown`
      when the message was sent but Redis didn't answer in time: it may reach
      members, once at most.

    The hub reconnects and resubscribes by itself when Redis returns.
    Messages published while a process was resubscribing don't reach it: that
    process logs a warning and counts it in :attr:`stats`. A publish that this
    process's own members missed for the same reason is logged and counted
    too. Messages awaited one after the other by one publisher arrive in that
    order.

    :meth:`count` adds the exact count of this process to the counts that
    other processes write to Redis as soon as their members change, and at
    least every ``heartbeat`` seconds. A process that stops without closing
    its hub stops counting after ``3 * heartbeat`` seconds.

    :meth:`presence` reads who is in a room from Redis, where each process
    writes its members when they join (``join`` returns once written) and
    leave (soon after), and refreshes them every ``heartbeat`` seconds. The
    members of a process that stops without closing its hub leave presence
    after ``3 * heartbeat`` seconds at most.

    Rooms with history keep it in Redis Streams: publishing adds the message
    to the stream and publishes it with its id in one script, so that
    members see ids increase. Give every process the same history
    configuration.

    Args:
        url: Redis URL, like ``redis://127.0.0.1:6379/0``.
        namespace: Prefix of channels and keys.
        max_buffer: See :class:`~websockets_routes.hub.Hub`.
        heartbeat: Interval between refreshes of counts and presence, and
            checks of the subscriber connection, in seconds.
        history: See :class:`~websockets_routes.hub.Hub`.
        options: Arguments of :meth:`redis.asyncio.Redis.from_url`, like
            ``password`` or ``ssl_ca_certs``.

    Raises:
        ImportError: If redis-py isn't installed.
        ValueError: If the URL or an option is invalid.

    """

    # Longest wait between two attempts to resubscribe, in seconds.
    _max_backoff = MAX_BACKOFF

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "websockets_routes",
        max_buffer: int | None = DEFAULT_MAX_BUFFER,
        heartbeat: float = 5.0,
        history: HistoryPolicy | Mapping[str, HistoryPolicy] | None = None,
        **options: Any,
    ) -> None:
        redis = _import_redis()
        super().__init__(max_buffer=max_buffer, history=history)
        if not namespace:
            raise ValueError(f"namespace must not be empty: {namespace!r}")
        if heartbeat <= 0:
            raise ValueError(f"heartbeat must be positive: {heartbeat}")
        self.namespace = namespace
        self.heartbeat = heartbeat
        self.process_id = uuid.uuid4().hex
        self._errors: tuple[type[Exception], ...] = (
            redis.exceptions.RedisError,
            OSError,
        )
        self._session_errors: tuple[type[Exception], ...]
        self._session_errors = (*self._errors, HubUnavailable)
        self._close_errors: tuple[type[Exception], ...]
        self._close_errors = (*self._errors, asyncio.TimeoutError)
        options = {"socket_connect_timeout": 5.0, **options}
        # Counts and their refreshes may be sent again; a PUBLISH that Redis
        # may have run must not: the publisher never retries.
        command_options = {"socket_timeout": 5.0, **options}
        self._client: Redis = self._create_client(url, 1, command_options)
        self._publisher: Redis = self._create_client(url, 0, command_options)
        self._response_error: type[Exception] = redis.exceptions.ResponseError
        self._no_script_error: type[Exception] = redis.exceptions.NoScriptError
        self.stats = RedisHubStats()
        """Counts of what this hub couldn't deliver: a :class:`RedisHubStats`."""
        # The subscriber doesn't retry: the hub resubscribes by itself. It
        # pings every heartbeat, so a read that waits for 3 heartbeats means
        # that Redis hangs.
        subscriber_options = {"socket_timeout": 3 * heartbeat, **options}
        self._subscriber: Redis = self._create_client(url, 0, subscriber_options)
        self._count_script = self._client.register_script(COUNT_SCRIPT)
        self._broadcast_channel = f"{namespace}:broadcast"
        self._tasks: list[asyncio.Task[None]] = []
        self._recovered = False
        # When the subscriber lost Redis, until it resubscribes; whether a
        # loss of local members was logged since the last good publish.
        self._down_since: float | None = None
        self._losing = False
        self._last_invalid_log = -INVALID_LOG_INTERVAL
        # Channel, as Redis sends it -> (kind, name): see _route().
        self._routes: dict[bytes | str, tuple[str, str]] = {}
        self._session_reset()
        self._wake = asyncio.Event()
        self._dirty_groups: set[str] = set()
        self._dirty_users: set[str] = set()
        self._count_wake = asyncio.Event()
        self._dirty_counts: set[str] = set()
        self._history_script = self._client.register_script(PUBLISH_SCRIPT)
        self._presence_script = self._client.register_script(PRESENCE_SCRIPT)
        self._presence_wake = asyncio.Event()
        self._presence_lock = asyncio.Lock()
        self._dirty_presence: set[str] = set()
        # room -> field -> member: what Redis holds for this process.
        self._presence_written: dict[str, dict[str, str]] = {}

    #: The command that publishes a room's message in the history script;
    #: a hub on Redis Cluster with sharded channels uses ``SPUBLISH``.
    publish_command = "PUBLISH"

    # Hooks of other Redis deployments, like ClusterHub.

    def _create_client(self, url: str, retries: int, options: dict[str, Any]) -> Redis:
        return _client(_import_redis(), url, retries, options)

    def _pubsub(self) -> PubSub:
        return self._subscriber.pubsub()

    # Channels and keys.

    def _room_tag(self, room: str) -> str:
        # One hash tag per room: its keys share a slot of a Redis Cluster.
        return f"{{{self.namespace}:{room}}}"

    def _history_key(self, room: str) -> str:
        return f"{self._room_tag(room)}:history"

    def _presence_key(self, room: str) -> str:
        return f"{self._room_tag(room)}:presence"

    def _presence_alive_key(self, room: str) -> str:
        return f"{self._room_tag(room)}:presence:alive"

    def _group_channel(self, group: str) -> str:
        return f"{self.namespace}:group:{group}"

    def _parse_channel(self, channel: str) -> tuple[str, str]:
        # ("group", name), ("user", name), or ("broadcast", "").
        prefix, _, name = channel[len(self.namespace) + 1 :].partition(":")
        return prefix, name

    def _user_channel(self, user: str) -> str:
        return f"{self.namespace}:user:{user}"

    def _count_key(self, group: str) -> str:
        return f"{self.namespace}:count:{group}"

    def _alive_key(self, process_id: str) -> str:
        return f"{self.namespace}:alive:{process_id}"

    # Lifecycle.

    async def start(self) -> None:
        """Subscribe to Redis and start refreshing counts.

        Raises:
            HubUnavailable: If Redis cannot be reached.
            RuntimeError: If the hub is already started.

        Example::

            hub = RedisHub("redis://127.0.0.1:6379/0")
            await hub.start()

        """
        if self._tasks:
            raise RuntimeError("hub is already started")
        self._started = asyncio.get_running_loop().create_future()
        self._tasks = [
            asyncio.create_task(self._subscribe_forever()),
            asyncio.create_task(self._count_forever()),
            asyncio.create_task(self._presence_forever()),
        ]
        try:
            await self._started
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Unsubscribe, remove this process's counts and close connections."""
        tasks, self._tasks = self._tasks, []
        locked = False
        try:
            # Cancelling a pipeline midway leaks its connection in redis-py:
            # wait until no presence write is under way.
            await asyncio.wait_for(self._presence_lock.acquire(), self.heartbeat)
            locked = True
        except TimeoutError:
            logger.debug("presence write still under way; cancelling it")
        error = await _cancel(tasks)
        if error is not None:  # pragma: no cover
            logger.error("hub task failed", exc_info=error)
        if tasks:
            await self._forget_counts()
            await self._forget_presence()
        if locked:
            self._presence_lock.release()
        await super().close()
        await self._client.aclose()
        await self._publisher.aclose()
        await self._subscriber.aclose()

    # Sending.

    async def publish(self, group: str, message: Message) -> int:
        local = self._registry.groups.get(group, ())
        policy = self._policies.get(group)
        if policy is not None:
            text = check_text(group, message)
            return await self._publish_history(group, local, text, policy)
        channel = self._group_channel(group)
        return await self._publish_message(channel, local, message)

    async def send_to_user(self, user: str, message: Message) -> int:
        local = self._registry.users.get(user, ())
        return await self._publish_message(self._user_channel(user), local, message)

    async def broadcast(self, message: Message) -> int:
        local = self._registry.entries
        return await self._publish_message(self._broadcast_channel, local, message)

    async def _publish_message(
        self, channel: str, local: Collection[Any], message: Message, **extra: Any
    ) -> int:
        data = encode(message, extra)
        try:
            receivers = await self._publish(channel, data)
        except HubDeliveryUnknown:
            self.stats.unknown_publishes += 1
            raise
        except HubUnavailable:
            self.stats.unsent_publishes += 1
            raise
        if local:
            self._check_local(channel, receivers)
        return receivers

    async def _publish(self, channel: str, data: bytes) -> int:
        """Send one PUBLISH command; return what Redis answers.

        This is the only method that publishes a message of a group without
        history, of a user or to everyone. It sends :attr:`publish_command`
        once at most and never again.

        Returns:
            The number of subscribers that received the message.

        Raises:
            HubUnavailable: If the command wasn't sent.
            HubDeliveryUnknown: If it was sent but no answer came.

        """
        return int(await self._send_once(channel, self.publish_command, channel, data))

    async def _send_once(self, key: str, *command: Any) -> Any:
        """Send a command once and return Redis's answer.

        ``key`` is the key or channel that routes the command: a subclass on
        Redis Cluster sends it to the master of its slot.

        Raises:
            HubUnavailable: If the command wasn't sent, or Redis refused it.
            HubDeliveryUnknown: If it was sent but no answer came.

        """
        refused, failed = self._response_error, self._errors
        return await _execute_once(self._publisher, refused, failed, *command)

    def _check_local(self, channel: str, receivers: int) -> None:
        # This process has members there. If Redis counted no subscriber, or
        # this process's subscriber is disconnected, they missed the message.
        # While the subscriber resubscribes, Redis may or may not run the
        # SUBSCRIBE first: the resubscribe warning covers that window.
        if receivers > 0 and self._connected:
            self._losing = False
            return
        self.stats.lost_publishes += 1
        if not self._losing:
            # Once per outage: the resubscribe warning tells when it ends.
            self._losing = True
            logger.warning(
                "publish reached no subscriber in this process, whose redis "
                "subscriber is down; its members missed it: %s",
                channel,
            )

    async def count(self, group: str) -> int:
        local = len(self._registry.groups.get(group, ()))
        keys = [self._count_key(group)]
        args = [self._alive_key(""), self.process_id]
        try:
            remote = await self._count_script(keys=keys, args=args)
        except self._errors as exc:
            raise HubUnavailable(f"cannot count in redis: {exc}") from exc
        return local + int(remote)

    # History.

    async def _publish_history(
        self, group: str, local: Collection[Any], text: str, policy: Policy
    ) -> int:
        # The script writes the id between the envelope's head and tail.
        head, tail = encode(text)[:-1] + b',"id":"', b'"}'
        if policy.max_messages is not None:
            mode, limit = "MAXLEN", policy.max_messages
        else:
            mode, limit = "MINID", max(1, int((policy.max_age or 0) * 1000))
        keys = [self._history_key(group)]
        channel = self._group_channel(group)
        args: list[str | bytes | int] = [channel, self.publish_command, mode, limit]
        args += [text, head, tail]
        try:
            receivers = await self._run_once(PUBLISH_SCRIPT, keys, args)
        except HubDeliveryUnknown:
            self.stats.unknown_publishes += 1
            raise
        except HubUnavailable:
            self.stats.unsent_publishes += 1
            raise
        if local:
            self._check_local(channel, receivers)
        return receivers

    async def _run_once(self, script: str, keys: list[str], args: list[Any]) -> int:
        # Like _publish(): the script publishes, so it runs once at most. A
        # NOSCRIPT answer means it didn't run: load it and run it then.
        sha = self._history_script.sha
        command = ("EVALSHA", sha, len(keys), *keys, *args)
        try:
            return int(await self._send_once(keys[0], *command))
        except HubUnavailable as exc:
            if not isinstance(exc.__cause__, self._no_script_error):
                raise
        try:
            await self._client.script_load(script)
        except self._errors as exc:
            raise HubUnavailable(f"cannot publish to redis: {exc}") from exc
        return int(await self._send_once(keys[0], *command))

    async def _kept(self, group: str, since: str) -> tuple[bool, list[tuple[str, str]]]:
        key = self._history_key(group)
        # An invalid id would make XRANGE fail: read everything instead.
        start = since if parse_stream_id(since) is not None else "-"
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.xrange(key, min=start, max="+")
                pipe.xrange(key, min="-", max="+", count=1)
                after, first = await pipe.execute()
        except self._errors as exc:
            raise HubUnavailable(f"cannot read history from redis: {exc}") from exc
        gap, kept = plan_replay(since, _entries(after), _entries(first))
        if gap and start != "-":
            # After a gap, the client reloads: give it everything that is kept.
            try:
                kept = plan_replay(since, _entries(await self._client.xrange(key)), [])[
                    1
                ]
            except self._errors as exc:
                raise HubUnavailable(f"cannot read history from redis: {exc}") from exc
        return gap, kept

    # Presence.

    async def presence(self, group: str) -> dict[str, list[dict[str, Any]]]:
        if group in self._dirty_presence:
            # Read this process's own changes.
            await self._sync_presence_quietly([group])
        keys = [self._presence_key(group), self._presence_alive_key(group)]
        args: list[str | int] = ["", self._presence_ttl(), "1"]
        try:
            removed, members = await self._presence_script(keys=keys, args=args)
        except self._errors as exc:
            raise HubUnavailable(f"cannot read presence from redis: {exc}") from exc
        await self._announce(group, "leave", _texts(removed))
        return group_members(_texts(members))

    async def _joined(self, members: list[tuple[str, str]]) -> None:
        rooms = {room for room, _ in members}
        self._dirty_presence.update(rooms)
        if self._connected:
            await self._sync_presence_quietly(rooms)
        else:
            self._presence_wake.set()

    def _left(self, members: list[tuple[str, str]]) -> None:
        self._dirty_presence.update(room for room, _ in members)
        self._presence_wake.set()

    def _presence_ttl(self) -> int:
        return int(self.heartbeat * 3000)

    async def _presence_forever(self) -> None:
        full = True
        while True:
            rooms = set(self._dirty_presence)
            if full:
                rooms.update(self._presence.rooms, self._presence_written)
            try:
                await self._sync_presence(rooms, full)
            except self._errors as exc:
                logger.debug("cannot write presence to redis: %s", exc)
                full = True
            else:
                full = False
            if not await _wait(self._presence_wake, self.heartbeat):
                full = True
            self._presence_wake.clear()

    async def _sync_presence_quietly(self, rooms: Iterable[str]) -> None:
        try:
            await self._sync_presence(rooms)
        except self._errors as exc:
            # The background task writes it when Redis returns.
            logger.debug("cannot write presence to redis: %s", exc)
            self._presence_wake.set()

    async def _sync_presence(self, rooms: Iterable[str], full: bool = False) -> None:
        # One writer at a time, so that a stale HDEL never follows an HSET and
        # events go out in the order of the writes.
        async with self._presence_lock:
            rooms = list(rooms)
            self._dirty_presence.difference_update(rooms)
            try:
                events = await self._write_presence(rooms, full)
            except BaseException:
                self._dirty_presence.update(rooms)
                raise
            for room, kind, members in events:
                await self._announce(room, kind, members)

    async def _write_presence(
        self, rooms: list[str], full: bool
    ) -> list[tuple[str, str, list[str]]]:
        # Every room in one round trip; each room's commands touch its keys.
        plans, count = [], 0
        async with self._client.pipeline(transaction=False) as pipe:
            for room in rooms:
                wanted, added, removed = self._presence_diff(room, full)
                if added:
                    # redis-py types mapping with invariant keys of its own union.
                    pipe.hset(self._presence_key(room), mapping=cast(Any, added))
                if removed:
                    pipe.hdel(self._presence_key(room), *removed)
                if wanted:
                    await self._refresh_presence(pipe, room)
                else:
                    pipe.zrem(self._presence_alive_key(room), self.process_id)
                count += bool(added) + bool(removed) + 1
                plans.append((room, wanted, added, removed, count - 1))
            results = await pipe.execute() if plans else []
        events = []
        for room, wanted, added, removed, index in plans:
            written = self._presence_written.pop(room, {})
            if wanted:
                self._presence_written[room] = wanted
            dead = _texts(results[index][0]) if wanted else []
            events.append(
                (room, "join", [m for f, m in added.items() if f not in written])
            )
            events.append((room, "leave", [written[f] for f in removed] + dead))
        return events

    def _presence_diff(
        self, room: str, full: bool
    ) -> tuple[dict[str, str], dict[str, str], list[str]]:
        members = self._presence.rooms.get(room, {})
        wanted = {
            f"{self.process_id}:{self._presence.connection_id(c)}": m.json
            for c, m in members.items()
        }
        written = self._presence_written.get(room, {})
        added = {f: m for f, m in wanted.items() if full or f not in written}
        removed = [f for f in written if f not in wanted]
        return wanted, added, removed

    async def _refresh_presence(self, pipe: Any, room: str) -> None:
        keys = [self._presence_key(room), self._presence_alive_key(room)]
        args: list[str | int] = [self.process_id, self._presence_ttl(), "0"]
        # Awaiting a script on a pipeline queues it.
        await self._presence_script(keys=keys, args=args, client=pipe)

    async def _announce(self, room: str, kind: str, members: list[str]) -> None:
        channel = self._group_channel(room)
        for member in members:
            try:
                await self._publish_message(
                    channel, (), event(kind, room, member), presence=True
                )
            except HubUnavailable as exc:
                # Events are delivered at most once, as messages are.
                logger.debug("cannot publish presence event: %s", exc)

    async def _forget_presence(self) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for room, written in self._presence_written.items():
                    pipe.hdel(self._presence_key(room), *written)
                    pipe.zrem(self._presence_alive_key(room), self.process_id)
                await asyncio.wait_for(pipe.execute(), self.heartbeat)
        except self._close_errors as exc:
            logger.debug("cannot remove presence from redis: %s", exc)

    # Registration.

    def _changed(self, groups: Iterable[str], users: Iterable[str]) -> None:
        groups = list(groups)
        self._dirty_groups.update(groups)
        self._dirty_users.update(users)
        self._dirty_counts.update(groups)
        self._wake.set()
        self._count_wake.set()

    async def _ready(self, groups: Iterable[str], user: str | None) -> None:
        if not self._tasks:
            raise RuntimeError("hub isn't started; use async with hub")
        if not self._connected:
            # Redis is unreachable: the registration is local for now and the
            # hub subscribes when Redis returns. Waiting would block handlers.
            return
        channels = [self._group_channel(group) for group in groups]
        if user is not None:
            channels.append(self._user_channel(user))
        waiters = [self._waiter(channel) for channel in channels]
        await asyncio.gather(*[waiter for waiter in waiters if waiter is not None])

    def _waiter(self, channel: str) -> asyncio.Future[None] | None:
        if channel in self._active:
            return None
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        return waiter

    # Subscriber.

    def _session_reset(self) -> None:
        self._connected = False
        # Channels we sent SUBSCRIBE for, channels whose subscription Redis
        # confirmed, and confirmations still expected per channel.
        self._requested: set[str] = set()
        self._active: set[str] = set()
        self._pending: dict[str, int] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._last_seen = 0.0

    async def _subscribe_forever(self) -> None:
        backoff = MIN_BACKOFF
        while True:
            try:
                await self._session()
            except self._session_errors as exc:
                self._session_failed(exc)
                if not self._started.done():
                    # Fail start() rather than retry: a wrong URL shows at once.
                    self._started.set_exception(
                        HubUnavailable(f"cannot reach redis: {exc}")
                    )
                    return
            if self._recovered:
                backoff = MIN_BACKOFF
            # Jitter spreads the reconnections of many processes.
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self._max_backoff)

    async def _session(self) -> None:
        self._recovered = False
        pubsub = self._pubsub()
        try:
            self._connected = True
            self._last_seen = asyncio.get_running_loop().time()
            await self._request(pubsub, self._wanted(), [])
            await _first_of(self._read(pubsub), self._write(pubsub))
        finally:
            await _close_quietly(pubsub, self._errors)

    def _session_failed(self, exc: BaseException) -> None:
        logger.warning("redis subscriber disconnected: %s", exc)
        if self._down_since is None and self._started.done():
            self._down_since = asyncio.get_running_loop().time()
        for waiters in self._waiters.values():
            _resolve(waiters)
        self._session_reset()
        # The next session subscribes to every wanted channel and Redis may
        # have lost the counts: rewrite them all.
        self._dirty_groups.clear()
        self._dirty_users.clear()
        self._dirty_counts.update(self._registry.groups)
        self._count_wake.set()

    def _wanted(self) -> list[str]:
        self._dirty_groups.clear()
        self._dirty_users.clear()
        channels = [self._broadcast_channel]
        channels.extend(self._group_channel(group) for group in self._registry.groups)
        channels.extend(self._user_channel(user) for user in self._registry.users)
        return channels

    async def _request(
        self, pubsub: PubSub, subscribe: list[str], unsubscribe: list[str]
    ) -> None:
        for channel in subscribe:
            self._requested.add(channel)
            self._pending[channel] = self._pending.get(channel, 0) + 1
        for channel in unsubscribe:
            self._requested.discard(channel)
            self._active.discard(channel)
            _resolve(self._waiters.pop(channel, []))
            self._pending[channel] = self._pending.get(channel, 0) + 1
        if subscribe:
            await pubsub.subscribe(*subscribe)
        if unsubscribe:
            await pubsub.unsubscribe(*unsubscribe)

    async def _write(self, pubsub: PubSub) -> None:
        # All commands go through this task, in order, so that an UNSUBSCRIBE
        # can never overtake a later SUBSCRIBE of the same channel.
        loop = asyncio.get_running_loop()
        last_ping = loop.time()
        while True:
            await _wait(self._wake, self.heartbeat)
            self._wake.clear()
            now = loop.time()
            if now - self._last_seen > 3 * self.heartbeat:
                raise HubUnavailable("redis subscriber timed out")
            if now - last_ping >= self.heartbeat:
                last_ping = now
                await pubsub.ping()
            await self._request(pubsub, *self._reconcile())

    def _reconcile(self) -> tuple[list[str], list[str]]:
        subscribe, unsubscribe = [], []
        groups, self._dirty_groups = self._dirty_groups, set()
        users, self._dirty_users = self._dirty_users, set()
        targets = [(self._group_channel(g), g in self._registry.groups) for g in groups]
        targets += [(self._user_channel(u), u in self._registry.users) for u in users]
        for channel, wanted in targets:
            if wanted and channel not in self._requested:
                subscribe.append(channel)
            elif not wanted and channel in self._requested:
                unsubscribe.append(channel)
        return subscribe, unsubscribe

    async def _read(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await pubsub.get_message(timeout=None)
            self._last_seen = loop.time()
            if message is None:
                continue
            kind, channel = message["type"], message["channel"]
            if kind == "message":
                self._received(channel, message["data"])
            elif kind in ("subscribe", "unsubscribe"):
                self._confirmed(_text(channel))

    def _confirmed(self, channel: str) -> None:
        # Redis confirms SUBSCRIBE and UNSUBSCRIBE in the order they were
        # sent: the last confirmation tells the state of the channel.
        pending = self._pending.pop(channel, 0) - 1
        if pending > 0:
            self._pending[channel] = pending
            return
        if channel not in self._requested:
            return
        self._active.add(channel)
        _resolve(self._waiters.pop(channel, []))
        if channel == self._broadcast_channel:
            self._recovered = True
            if not self._started.done():
                self._started.set_result(None)
            if self._down_since is not None:
                self._resubscribed(self._down_since)

    def _resubscribed(self, since: float) -> None:
        # Redis subscribed every wanted channel with this SUBSCRIBE command:
        # from now on, this process receives what's published.
        self._down_since = None
        self._losing = False
        self.stats.resubscribes += 1
        logger.warning(
            "redis subscriber resubscribed after %.1f s; messages published "
            "meanwhile didn't reach this process",
            asyncio.get_running_loop().time() - since,
        )

    def _received(self, channel: bytes | str, data: bytes | str) -> None:
        try:
            message, fields = unwrap(data)
        except InvalidEnvelope as exc:
            self._invalid(_text(channel), exc)
            return
        route = self._routes.get(channel)
        prefix, name = self._route(channel) if route is None else route
        if prefix == "group":
            id = fields.get("id")
            if not (isinstance(id, str) and isinstance(message, str)):
                id = None
            presence = fields.get("presence") is True
            self._deliver_room(name, message, id, presence=presence)
        elif prefix == "user":
            self._deliver(self._registry.users.get(name, ()), message)
        elif prefix == "broadcast":
            self._deliver(self._registry.entries, message)

    def _route(self, channel: bytes | str) -> tuple[str, str]:
        # Every message of a channel needs the same parse: do it once, not
        # once per message, and skip decoding the channel's name too.
        if len(self._routes) >= MAX_ROUTES:
            self._routes.clear()
        text = _text(channel)
        route = self._parse_channel(text)
        if route[0] == "broadcast" and text != self._broadcast_channel:
            route = ("", "")
        self._routes[channel] = route
        return route

    def _invalid(self, channel: str, exc: InvalidEnvelope) -> None:
        # Whoever can publish to Redis could fill the log: one line a second.
        self.stats.invalid_envelopes += 1
        now = asyncio.get_running_loop().time()
        if now - self._last_invalid_log >= INVALID_LOG_INTERVAL:
            self._last_invalid_log = now
            logger.warning(
                "dropped message on %s (%d dropped so far): %s",
                channel,
                self.stats.invalid_envelopes,
                exc,
            )

    # Counts.

    async def _count_forever(self) -> None:
        full = True
        while True:
            try:
                await self._write_counts(full)
            except self._errors as exc:
                logger.debug("cannot write counts to redis: %s", exc)
                full = True
            else:
                full = False
            if not await _wait(self._count_wake, self.heartbeat):
                full = True
            self._count_wake.clear()

    async def _write_counts(self, full: bool) -> None:
        ttl = int(self.heartbeat * 3000)
        dirty, self._dirty_counts = self._dirty_counts, set()
        groups = dirty.union(self._registry.groups) if full else dirty
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self._alive_key(self.process_id), 1, px=ttl)
        for group in groups:
            key, members = self._count_key(group), self._registry.groups.get(group)
            if members:
                pipe.hset(key, self.process_id, len(members))
                pipe.pexpire(key, ttl)
            else:
                pipe.hdel(key, self.process_id)
        try:
            await pipe.execute()
        except BaseException:
            self._dirty_counts.update(dirty)
            raise

    async def _forget_counts(self) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.delete(self._alive_key(self.process_id))
        for group in self._registry.groups:
            pipe.hdel(self._count_key(group), self.process_id)
        try:
            await asyncio.wait_for(pipe.execute(), self.heartbeat)
        except self._close_errors as exc:
            logger.debug("cannot remove counts from redis: %s", exc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _texts(values: Iterable[bytes | str]) -> list[str]:
    return [_text(value) for value in values]


def _entries(entries: Any) -> list[tuple[str, dict[str, str]]]:
    # redis-py returns stream entries as (id, {field: value}), in bytes.
    return [
        (_text(id), {_text(k): _text(v) for k, v in fields.items()})
        for id, fields in entries
    ]


def _resolve(waiters: Iterable[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


async def _execute_once(
    client: Redis,
    refused: type[Exception],
    failed: tuple[type[Exception], ...],
    *args: Any,
) -> Any:
    """Send a command once, on a connection of ``client``'s pool.

    Unlike ``client.execute_command()``, it never sends the command again
    and tells whether it was sent: the exception it raises means "not sent"
    until the command is written, and "unknown" afterwards.

    Args:
        client: Redis client whose pool provides the connection.
        refused: The exception of an error that Redis answers with.
        failed: The exceptions of a failed connection.
        args: The command and its arguments.

    """
    pool = client.connection_pool
    try:
        connection = await _connection(pool)
    except failed as exc:
        raise HubUnavailable(f"cannot publish to redis: {exc}") from exc
    try:
        return await send_once(connection, refused, failed, *args)
    finally:
        await pool.release(connection)


async def send_once(
    connection: Any,
    refused: type[Exception],
    failed: tuple[type[Exception], ...],
    *args: Any,
) -> Any:
    """Send a command once on a connected ``connection`` and read its answer.

    Raises:
        HubUnavailable: If Redis refused the command: it didn't run.
        HubDeliveryUnknown: If the command was written but no answer came.

    """
    try:
        await connection.send_command(*args)
        return await connection.read_response()
    except refused as exc:
        raise HubUnavailable(f"redis refused to publish: {exc}") from exc
    except failed as exc:
        # A late answer would be read as the next command's: drop the
        # connection. redis-py already does on most errors.
        await connection.disconnect(nowait=True)
        raise HubDeliveryUnknown(f"no answer from redis to publish: {exc}") from exc
    except BaseException:
        await connection.disconnect(nowait=True)
        raise


def _connection(pool: Any) -> Any:
    # redis-py < 5.3 requires a command name, which later versions deprecate.
    if _legacy_pool():  # pragma: no cover
        return pool.get_connection("PUBLISH")
    return pool.get_connection()


@functools.cache
def _legacy_pool() -> bool:
    import redis

    major, minor = redis.__version__.split(".")[:2]
    return (int(major), int(minor)) < (5, 3)


def _client(redis: Any, url: str, retries: int, options: dict[str, Any]) -> Redis:
    retry = _retry(redis, retries)
    return cast(
        "Redis", redis.asyncio.Redis.from_url(url, **{"retry": retry, **options})
    )


def _retry(redis: Any, retries: int) -> Any:
    """redis-py's retry policy: ``retries`` attempts, or none and no reconnection.

    redis-py's ``PubSub`` reconnects a failed connection before it gives up,
    even when it retries nothing. The subscriber's reader and writer tasks
    share one connection: after Redis restarts, both reconnected it at once
    and the second socket replaced the first, which was never closed. With
    no retries, a failure raises and leaves the connection as it is: the
    hub closes it and starts a new session.

    """
    backoff = redis.backoff.NoBackoff()
    if retries:
        return redis.asyncio.retry.Retry(backoff, retries)
    return redis.asyncio.retry.Retry(backoff, 0, supported_errors=())


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    # Unlike asyncio.wait_for(), asyncio.wait() never swallows a cancellation
    # that arrives as the event is set, which would keep close() waiting.
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return bool(done)


async def _cancel(tasks: Iterable[asyncio.Future[None]]) -> BaseException | None:
    # redis-py may swallow a cancellation (pipeline.execute() does in 8.x),
    # leaving the task running: cancel again until every task ends.
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    errors = [task.exception() for task in tasks if not task.cancelled()]
    return next((error for error in errors if error is not None), None)


async def _first_of(*coroutines: Any) -> None:
    # Run coroutines until one of them raises, then cancel the others; what
    # asyncio.TaskGroup does on Python >= 3.11.
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        error = await _cancel(tasks)
    if error is not None:
        raise error


async def _close_quietly(pubsub: PubSub, errors: tuple[type[Exception], ...]) -> None:
    try:
        await cast(Any, pubsub).aclose()
    except errors as exc:
        logger.debug("cannot close redis subscriber: %s", exc)
