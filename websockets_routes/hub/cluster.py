"""The Redis Cluster hub: :class:`RedisHub` on sharded publish/subscribe.

:class:`ClusterHub` keeps the channels and keys of
:class:`~websockets_routes.hub.redis.RedisHub` and changes how it talks to
Redis:

* it publishes with ``SPUBLISH``, which a cluster delivers within the shard
  that owns the channel's hash slot instead of to every node;
* its subscriber keeps one connection to each master that owns a channel it
  wants, sends ``SSUBSCRIBE`` there and reads every connection at once;
* :meth:`ClusterHub.count` reads a group's counts and the alive keys of
  their processes without a script, as these keys live in different slots.

A group's channel is ``{namespace:group}:group``: it carries the hash tag
of the group's presence and history keys, so that the history script can
``SPUBLISH`` within their slot. Channels of different groups and users hash
to different slots, so their traffic spreads across the masters.

"""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from .exceptions import HubUnavailable
from .presence import PRESENCE_SCRIPT
from .redis import (
    MIN_BACKOFF,
    RedisHub,
    _import_redis,
    _resolve,
    _retry,
    logger,
    send_once,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub
    from redis.asyncio.cluster import ClusterNode, RedisCluster

__all__ = [
    "CLUSTER_SCHEMES",
    "ClusterHub",
]

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""URL schemes of :class:`ClusterHub` and the redis-py schemes they stand for."""

# redis-py reports sharded messages with their own types; RedisHub reads the
# types of plain publish/subscribe.
MESSAGE_TYPES = {"smessage": "message", "ssubscribe": "subscribe", "pong": "pong"}


class ClusterHub(RedisHub):
    """A hub that delivers messages across processes through a Redis Cluster.

    It has the API and the guarantees of
    :class:`~websockets_routes.hub.redis.RedisHub`; messages travel with
    sharded publish/subscribe (``SPUBLISH``, ``SSUBSCRIBE``), so each message
    reaches only the shard that owns its channel.

    When a master fails, publishing to the channels of its slots raises
    :exc:`~websockets_routes.hub.exceptions.HubUnavailable` until the cluster
    promotes a replica and the hub learns the new topology; the subscriber
    subscribes at the new master by itself, while its connections to the
    other masters go on. Redis tells no one about messages published to the
    new master before the subscriber is back: they reach no member of this
    hub, like any message published while a RedisHub resubscribes.

    Args:
        url: URL of any node of the cluster, like
            ``redis+cluster://127.0.0.1:7000``; ``rediss+cluster://`` for TLS.
        options: Other arguments of
            :class:`~websockets_routes.hub.redis.RedisHub`, and arguments of
            :class:`redis.asyncio.cluster.RedisCluster`.

    Raises:
        ImportError: If redis-py isn't installed.
        ValueError: If the URL or an option is invalid.

    Example::

        async with ClusterHub("redis+cluster://127.0.0.1:7000") as hub:
            async with serve(handler, "", 8000):
                ...

    """

    # A failed master is replaced within seconds: look for its replica often,
    # as publishers find it at their next attempt and subscribers must follow.
    _max_backoff = 0.25

    def __init__(
        self, url: str = "redis+cluster://127.0.0.1:7000", **options: Any
    ) -> None:
        super().__init__(url, **options)
        redis = _import_redis()
        # Cluster errors that aren't RedisError, like an uncovered slot.
        self._errors = (*self._errors, redis.exceptions.RedisClusterException)
        self._session_errors = (*self._errors, HubUnavailable)
        self._close_errors = (*self._errors, asyncio.TimeoutError)
        self._refresh: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe, start refreshing counts and following the cluster's topology.

        Raises:
            HubUnavailable: If the cluster cannot be reached.
            RuntimeError: If the hub is already started.

        Example::

            hub = ClusterHub("redis+cluster://127.0.0.1:7000")
            await hub.start()

        """
        await super().start()
        # Learn the topology while the node of the URL answers: if it fails
        # later, the publisher still knows the other nodes.
        try:
            await cast("RedisCluster", self._publisher).initialize()
        except self._errors as exc:
            await self.close()
            raise HubUnavailable(f"cannot connect to redis: {exc}") from exc
        self._tasks.append(asyncio.create_task(self._follow_topology()))

    async def close(self) -> None:
        """Stop following the topology, then close like RedisHub."""
        if self._refresh is not None:
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)
        await super().close()

    async def _follow_topology(self) -> None:
        # A replica accepts SPUBLISH and forwards it within its shard, but
        # counts only its own subscribers. After a failover that caused no
        # error, like a manual one, the client would keep publishing to the
        # old master, now a replica: check the slot map every heartbeat.
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                if await self._topology_changed():
                    for client in (self._client, self._publisher):
                        cluster = cast("RedisCluster", client)
                        await cluster.nodes_manager.initialize()
            except self._errors as exc:
                logger.debug("cannot check the redis cluster topology: %s", exc)

    async def _topology_changed(self) -> bool:
        cluster = cast("RedisCluster", self._client)
        # redis-py parses the reply into {(start, end): {"primary": ...}}.
        slots: dict[tuple[int, int], dict[str, Any]]
        slots = await cluster.cluster_slots()  # type: ignore[assignment]
        cache = cluster.nodes_manager.slots_cache
        for (start, _), owners in slots.items():
            host, port = owners["primary"]
            known = cache.get(start)
            if not known or known[0].name != f"{_text(host)}:{port}":
                return True
        return False

    # Hooks of RedisHub.

    #: A room's history script publishes within the room's slot.
    publish_command = "SPUBLISH"

    def _group_channel(self, group: str) -> str:
        # The room's hash tag: its channel lives in the slot of its keys, so
        # the history script may SPUBLISH to it.
        return f"{self._room_tag(group)}:group"

    async def _refresh_presence(self, pipe: Any, room: str) -> None:
        keys = [self._presence_key(room), self._presence_alive_key(room)]
        args: list[str | int] = [self.process_id, self._presence_ttl(), "0"]
        # redis-py refuses EVALSHA in a cluster pipeline: send the script.
        pipe.execute_command("EVAL", PRESENCE_SCRIPT, len(keys), *keys, *args)

    def _parse_channel(self, channel: str) -> tuple[str, str]:
        head, tail = f"{{{self.namespace}:", "}:group"
        if channel.startswith(head) and channel.endswith(tail):
            return "group", channel[len(head) : -len(tail)]
        return super()._parse_channel(channel)

    def _create_client(self, url: str, retries: int, options: dict[str, Any]) -> Redis:
        redis = _import_redis()
        # No retry, not even of commands: redis-py's cluster client resends a
        # command after a connection error, which may publish twice.
        retry = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0)
        client = redis.asyncio.cluster.RedisCluster.from_url(
            _redis_url(url), **{"retry": retry, **options}
        )
        return cast("Redis", client)

    def _pubsub(self) -> PubSub:
        # ShardedPubSub has the part of PubSub's API that RedisHub uses.
        cluster = cast("RedisCluster", self._subscriber)
        return cast("PubSub", ShardedPubSub(cluster, self._lost))

    def _lost(self, channels: list[str]) -> None:
        # Members joining these channels don't wait for the subscription,
        # as when Redis is unreachable; ShardedPubSub subscribes later.
        for channel in channels:
            _resolve(self._waiters.pop(channel, []))

    async def _send_once(self, key: str, *command: Any) -> Any:
        # Once, on a connection to the master of the key's slot, like
        # RedisHub's commands. The cluster client would send it again after
        # a connection error, and can't tell "not sent" from "no answer".
        cluster = cast("RedisCluster", self._publisher)
        try:
            node = cluster.get_node_from_key(key)
            if node is None:
                raise _import_redis().exceptions.SlotNotCoveredError(key)
            connection = node.acquire_connection()
        except self._errors as exc:
            self._refresh_soon()
            raise HubUnavailable(f"cannot publish to redis: {exc}") from exc
        try:
            await node.disconnect_if_needed(connection)
            await connection.connect()  # type: ignore[no-untyped-call]
        except self._errors as exc:
            node.release(connection)
            self._refresh_soon()
            raise HubUnavailable(f"cannot publish to redis: {exc}") from exc
        try:
            return await send_once(
                connection, self._response_error, self._errors, *command
            )
        except HubUnavailable:
            # MOVED, CLUSTERDOWN or a lost master: learn the new topology.
            self._refresh_soon()
            raise
        finally:
            node.release(connection)

    def _refresh_soon(self) -> None:
        # At most one refresh of the slot map at a time, and a few a second,
        # however many publishes fail while a replica takes over.
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._refresh_topology())

    async def _refresh_topology(self) -> None:
        cluster = cast("RedisCluster", self._publisher)
        try:
            await cluster.nodes_manager.initialize()
        except self._errors as exc:
            logger.debug("cannot refresh the redis cluster topology: %s", exc)
        await asyncio.sleep(self._max_backoff)

    # Counts.

    async def count(self, group: str) -> int:
        local = len(self._registry.groups.get(group, ()))
        try:
            remote = await self._count_remote(group)
        except self._errors as exc:
            raise HubUnavailable(f"cannot count in redis: {exc}") from exc
        return local + remote

    async def _count_remote(self, group: str) -> int:
        # What RedisHub's script does, in two round trips: the alive keys of
        # processes hash to other slots than the group's counts.
        key = self._count_key(group)
        fields = await self._client.hgetall(key)
        counts = {_text(p): int(n) for p, n in fields.items()}
        counts.pop(self.process_id, None)
        if not counts:
            return 0
        pipe = self._client.pipeline(transaction=False)
        for process_id in counts:
            pipe.exists(self._alive_key(process_id))
        alive = dict(zip(counts, await pipe.execute(), strict=True))
        dead = [process_id for process_id, exists in alive.items() if not exists]
        if dead:
            await self._client.hdel(key, *dead)
        return sum(n for process_id, n in counts.items() if alive[process_id])


class ShardedPubSub:
    """The subscriber of :class:`ClusterHub`: one connection per master.

    It offers the part of redis-py's ``PubSub`` that
    :class:`~websockets_routes.hub.redis.RedisHub` uses. :meth:`subscribe`
    sends ``SSUBSCRIBE`` to the master that owns each channel's slot, on a
    connection of its own per master; a task per connection reads it, so
    that a message from any master is read as soon as it arrives, which
    redis-py's ``ClusterPubSub.get_sharded_message()`` doesn't do: it polls
    one node after the other.

    When a master fails, or Redis unsubscribes a channel by itself because
    its slot moved, the channels of that master are lost: the subscriber
    tells ``on_lost``, learns the topology again and subscribes to them at
    their new master, until it succeeds, while the connections to the other
    masters go on.

    Args:
        cluster: The cluster client whose topology and connection settings
            this subscriber uses.
        on_lost: Called with channels that are lost.

    """

    def __init__(
        self, cluster: RedisCluster, on_lost: Callable[[list[str]], None]
    ) -> None:
        self._redis = _import_redis()
        self._errors = (self._redis.exceptions.RedisError, OSError)
        self._cluster = cluster
        self._on_lost = on_lost
        self._pubsubs: dict[str, PubSub] = {}
        self._reading: dict[str, PubSub] = {}
        self._nodes: dict[str, str] = {}
        self._lost: dict[str, None] = {}
        self._leaving: collections.Counter[str] = collections.Counter()
        # One subscribe at a time per master: redis-py's PubSub opens a
        # connection for each command sent while it has none, and reads only
        # the last one, so a second command while the first connects would
        # leave a subscription on a connection that no one reads.
        self._locks: collections.defaultdict[str, asyncio.Lock]
        self._locks = collections.defaultdict(asyncio.Lock)
        self._tasks: list[asyncio.Task[None]] = []
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._topology_known = False

    async def subscribe(self, *channels: str) -> None:
        """Send ``SSUBSCRIBE`` for each channel to the master of its slot."""
        if not self._topology_known:
            # A subscriber starts after a failure, maybe a failover: forget
            # the topology and learn it again.
            await self._cluster.aclose()
            await self._cluster.initialize()
            self._topology_known = True
        for channel in channels:
            await self._subscribe(channel)

    async def unsubscribe(self, *channels: str) -> None:
        """Send ``SUNSUBSCRIBE`` for each channel to the master it went to."""
        for channel in channels:
            name = self._nodes.pop(channel, None)
            if name is None:
                # A lost channel: no master has it, which RedisHub awaits.
                self._lost.pop(channel, None)
                self._queue.put_nowait({"type": "unsubscribe", "channel": channel})
                continue
            pubsub = self._read_pubsub(name)
            if pubsub is None:
                # Its connection failed: its reader loses the channel, which
                # RedisHub then no longer wants.
                self._queue.put_nowait({"type": "unsubscribe", "channel": channel})
                continue
            self._leaving[channel] += 1
            await pubsub.sunsubscribe(channel)

    async def ping(self) -> None:
        """Ping every master this subscriber is connected to."""
        # Only connections that are read: a ping on one still connecting
        # would open another (see _locks). A connection that fails fails its
        # reader too, which handles it.
        pubsubs = [self._read_pubsub(name) for name in self._reading]
        pings = [pubsub.ping() for pubsub in pubsubs if pubsub is not None]
        await asyncio.gather(*pings, return_exceptions=True)

    def _read_pubsub(self, name: str) -> PubSub | None:
        pubsub = self._reading.get(name)
        return pubsub if self._pubsubs.get(name) is pubsub else None

    async def get_message(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Wait for the next message or confirmation from any master.

        Returns:
            The message, or None when Redis moved a channel.

        """
        item = await self._queue.get()
        kind = item["type"]
        if kind == "sunsubscribe":
            channel = _text(item["channel"])
            if not self._leaving[channel]:
                logger.warning("redis moved a shard channel: %r", channel)
                self._nodes.pop(channel, None)
                self._lose([channel])
                return None
            self._leaving[channel] -= 1
            return {**item, "type": "unsubscribe"}
        # Each item is a dict of its own, made by redis-py for this message:
        # rename its type in place rather than copy it.
        item["type"] = MESSAGE_TYPES.get(kind, kind)
        return item

    async def aclose(self) -> None:
        """Stop reading and close every connection."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        results = await asyncio.gather(
            *(_close(pubsub) for pubsub in self._pubsubs.values()),
            return_exceptions=True,
        )
        # Every connection closed; now report the first failure.
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _subscribe(self, channel: str) -> None:
        try:
            node = self._cluster.get_node_from_key(channel)
        except self._redis.exceptions.RedisClusterException:
            # The slot has no master now, as during a failover.
            node = None
        if node is None:
            self._lose([channel])
            return
        async with self._locks[node.name]:
            pubsub = self._pubsub(node)
            try:
                await pubsub.ssubscribe(channel)
            except self._errors as exc:
                logger.warning("cannot subscribe at %s: %s", node.name, exc)
                self._master_failed(node.name, pubsub)
                self._lose([channel])
                return
            self._nodes[channel] = node.name
            if self._reading.get(node.name) is not pubsub:
                # A connection exists once the first command went out.
                self._reading[node.name] = pubsub
                reader = asyncio.create_task(self._read(node.name, pubsub))
                self._tasks.append(reader)

    def _pubsub(self, node: ClusterNode) -> PubSub:
        pubsub = self._pubsubs.get(node.name)
        if pubsub is None:
            # Like RedisHub's subscriber: no reconnection by redis-py, as the
            # reader and the hub's writer would both reconnect.
            retry = _retry(self._redis, 0)
            pool = self._redis.asyncio.ConnectionPool(
                connection_class=node.connection_class,
                **{**node.connection_kwargs, "retry": retry},
            )
            pubsub = self._redis.asyncio.client.PubSub(pool)
            self._pubsubs[node.name] = pubsub
        return pubsub

    async def _read(self, name: str, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None:
                    self._queue.put_nowait(message)
        except Exception as exc:
            # Not only redis-py's errors: a PubSub closed under its reader
            # raises RuntimeError. Whatever ends the reader, its channels are
            # lost until they are subscribed again.
            exc_info = not isinstance(exc, self._errors)
            logger.warning(
                "redis master %s disconnected: %s", name, exc, exc_info=exc_info
            )
            lost = [channel for channel, node in self._nodes.items() if node == name]
            for channel in lost:
                del self._nodes[channel]
            self._master_failed(name, pubsub)
            self._lose(lost)

    def _master_failed(self, name: str, pubsub: PubSub) -> None:
        if self._pubsubs.get(name) is pubsub:
            del self._pubsubs[name]
        self._tasks.append(asyncio.create_task(_close_quietly(pubsub)))

    def _lose(self, channels: list[str]) -> None:
        self._lost.update(dict.fromkeys(channels))
        self._on_lost(channels)
        recovering = any(
            t.get_name() == "recover" and not t.done() for t in self._tasks
        )
        if channels and not recovering:
            self._tasks.append(asyncio.create_task(self._recover(), name="recover"))

    async def _recover(self) -> None:
        # Follow the failover: learn the topology again and subscribe at the
        # new masters, until every lost channel is back.
        backoff = MIN_BACKOFF
        while self._lost:
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, ClusterHub._max_backoff)
            try:
                await self._cluster.nodes_manager.initialize()
            except (*self._errors, self._redis.exceptions.RedisClusterException) as exc:
                logger.debug("cannot learn the redis cluster topology: %s", exc)
                continue
            for channel in list(self._lost):
                del self._lost[channel]
                await self._subscribe(channel)


async def _close_quietly(pubsub: PubSub) -> None:
    try:
        await _close(pubsub)
    except Exception as exc:
        logger.debug("cannot close a redis subscriber: %s", exc)


async def _close(pubsub: PubSub) -> None:
    try:
        await cast(Any, pubsub).aclose()
    finally:
        await pubsub.connection_pool.disconnect()


def _redis_url(url: str) -> str:
    scheme, separator, rest = url.partition("://")
    if scheme.lower() not in CLUSTER_SCHEMES or not separator:
        raise ValueError(f"unsupported redis cluster URL: {url!r}")
    return f"{CLUSTER_SCHEMES[scheme.lower()]}://{rest}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
