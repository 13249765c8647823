"""ClusterHub against a real Redis Cluster: sharding, counts and failover.

The contract tests (``test_contract.py``) run against the cluster too; these
tests check what is particular to a cluster.

"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
import redis.asyncio.cluster
from websockets.asyncio.client import ClientConnection

from websockets_routes.hub import ClusterHub, Hub, HubUnavailable
from websockets_routes.hub.cluster import ShardedPubSub

from .cluster import ClusterNode, RedisCluster
from .conftest import RedisServer
from .helpers import eventually, hub_server, member

#: How long a failover may keep a room without delivery, in seconds: the
#: cluster needs about 2 node timeouts (1 s here) to promote a replica, then
#: the hub needs at most its reconnection backoff (2 s) to resubscribe.
FAILOVER_BOUND = 10.0
#: How long publishes may reach the new master before the subscriber does:
#: ClusterHub retries every 0.25 s at most; the rest is slack for a busy CPU.
UNHEARD_BOUND = 1.5
#: The message whose publish follows the master's SIGKILL.
KILL_AT = 50


def channel_of(namespace: str, room: str) -> str:
    """The channel of a room, as ClusterHub's module docstring names it."""
    return f"{{{namespace}:{room}}}:group"


def rooms_on_each_master(cluster: RedisCluster, namespace: str) -> dict[int, str]:
    """One room per master, keyed by the master's port."""
    rooms: dict[int, str] = {}
    for index in range(1000):
        room = f"room-{index}"
        rooms.setdefault(cluster.owner(channel_of(namespace, room)).port, room)
        if len(rooms) == len(cluster.masters()):
            return rooms
    raise AssertionError("no room hashes to some master")  # pragma: no cover


async def read_all(client: ClientConnection, received: list[str]) -> None:
    """Append every text message that a client receives to a list."""
    async for message in client:
        assert isinstance(message, str)
        received.append(message)


@contextlib.asynccontextmanager
async def cluster_hub(url: str, namespace: str) -> AsyncIterator[ClusterHub]:
    """A started ClusterHub."""
    hub = Hub.from_url(url, namespace=namespace, heartbeat=0.5)
    assert isinstance(hub, ClusterHub)
    async with hub:
        yield hub


@pytest.mark.parametrize("scheme", ["redis+cluster", "rediss+cluster", "REDIS+CLUSTER"])
def test_cluster_schemes_create_cluster_hub(scheme: str) -> None:
    """from_url() creates a ClusterHub for the cluster schemes, with the options."""
    hub = Hub.from_url(f"{scheme}://127.0.0.1:1", namespace="app", heartbeat=1.0)
    assert isinstance(hub, ClusterHub)
    assert (hub.namespace, hub.heartbeat) == ("app", 1.0)


def test_cluster_backend_imported_lazily() -> None:
    """The cluster backend and redis-py are imported when a ClusterHub is created."""
    code = (
        "import sys\n"
        "from websockets_routes.hub import Hub\n"
        "assert 'websockets_routes.hub.cluster' not in sys.modules\n"
        "assert 'redis' not in sys.modules\n"
        "hub = Hub.from_url('redis+cluster://127.0.0.1:1')\n"
        "print(type(hub).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "ClusterHub"


def test_cluster_hub_rejects_other_url() -> None:
    """ClusterHub rejects a URL without a cluster scheme, naming the URL."""
    with pytest.raises(
        ValueError, match=r"^unsupported redis cluster URL: 'redis://h'$"
    ):
        ClusterHub("redis://h")


async def test_start_fails_without_cluster(redis_server: RedisServer) -> None:
    """start() raises HubUnavailable when the URL isn't a node of a cluster."""
    for url in (
        "redis+cluster://127.0.0.1:1",
        redis_server.url.replace("redis", "redis+cluster", 1),
    ):
        hub = ClusterHub(url)
        with pytest.raises(HubUnavailable, match=r"^cannot reach redis: "):
            await asyncio.wait_for(hub.start(), 10)


async def test_unreachable_cluster_raises() -> None:
    """publish() and count() raise HubUnavailable when no node can be reached."""
    hub = ClusterHub("redis+cluster://127.0.0.1:1")
    try:
        with pytest.raises(HubUnavailable, match=r"^cannot publish to redis: "):
            await hub.publish("a", "hello")
        with pytest.raises(HubUnavailable, match=r"^cannot count in redis: "):
            await hub.count("a")
    finally:
        await hub.close()


async def test_traffic_spreads_across_masters(
    redis_cluster: RedisCluster, namespace: str
) -> None:
    """Each room's messages reach only the master of its channel's slot."""
    rooms = rooms_on_each_master(redis_cluster, namespace)
    masters = {node.port: node for node in redis_cluster.masters()}
    async with cluster_hub(redis_cluster.url, namespace) as hub:
        async with hub_server(hub) as server, contextlib.AsyncExitStack() as stack:
            clients = {
                port: await stack.enter_async_context(member(server, room))
                for port, room in rooms.items()
            }
            for port, room in rooms.items():
                channels = masters[port].values(b"PUBSUB SHARDCHANNELS")
                assert channel_of(namespace, room) in channels
                assert not {channel_of(namespace, r) for r in rooms.values()} - {
                    channel_of(namespace, room)
                } & set(channels)
            before = {port: node.calls("spublish") for port, node in masters.items()}
            plain = sum(node.calls("publish") for node in redis_cluster.running())
            for count, room in enumerate(rooms.values(), start=1):
                for i in range(count):
                    await hub.publish(room, f"{room} {i}")
            for count, (port, room) in enumerate(rooms.items(), start=1):
                expected = [f"{room} {i}" for i in range(count)]
                assert [await clients[port].recv() for _ in expected] == expected
            after = {port: node.calls("spublish") for port, node in masters.items()}
            assert [after[port] - before[port] for port in rooms] == [1, 2, 3]
            assert (
                sum(node.calls("publish") for node in redis_cluster.running()) == plain
            )


async def test_subscriber_reconnects_to_master(
    redis_cluster: RedisCluster, namespace: str
) -> None:
    """A subscriber whose connection to a master drops resubscribes by itself."""
    async with cluster_hub(redis_cluster.url, namespace) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            master = redis_cluster.owner(channel_of(namespace, "room"))
            assert master.ask(b"CLIENT KILL TYPE pubsub") == b":1"
            await receive_eventually(hub, client, "room")
            await hub.publish("room", "after")
            while await asyncio.wait_for(client.recv(), 5) != "after":
                pass


def channels_on_one_master(
    cluster: RedisCluster, namespace: str, count: int
) -> list[str]:
    """Channels of rooms whose slots one master serves."""
    by_master: dict[int, list[str]] = {}
    for index in range(1000):
        channel = channel_of(namespace, f"room-{index}")
        channels = by_master.setdefault(cluster.owner(channel).port, [])
        channels.append(channel)
        if len(channels) == count:
            return channels
    raise AssertionError("no master serves enough rooms")  # pragma: no cover


@contextlib.asynccontextmanager
async def sharded_pubsub(
    cluster: RedisCluster,
) -> AsyncIterator[tuple[ShardedPubSub, redis.asyncio.cluster.RedisCluster]]:
    """A ShardedPubSub with a cluster client of its own, and a publishing client."""
    url = cluster.url.replace("redis+cluster", "redis", 1)
    subscriber = redis.asyncio.cluster.RedisCluster.from_url(url)
    publisher = redis.asyncio.cluster.RedisCluster.from_url(url)
    pubsub = ShardedPubSub(subscriber, lambda channels: None)
    try:
        yield pubsub, publisher
    finally:
        await pubsub.aclose()
        await subscriber.aclose()
        await publisher.aclose()


def subscribers(node: ClusterNode) -> int:
    """How many publish/subscribe connections a node has."""
    reply = node.ask(b"CLIENT LIST TYPE pubsub").decode()
    return sum(line.startswith("id=") for line in reply.split("\n"))


async def received_messages(pubsub: ShardedPubSub, count: int) -> dict[str, str]:
    """The data of the next ``count`` messages, by channel; subscriptions skipped."""
    messages: dict[str, str] = {}
    while len(messages) < count:
        message = await asyncio.wait_for(pubsub.get_message(), 5)
        if message is not None and message["type"] == "message":
            messages[message["channel"].decode()] = message["data"].decode()
    return messages


async def test_concurrent_subscribes_share_one_connection(
    redis_cluster: RedisCluster, namespace: str
) -> None:
    """Channels subscribed at once on a new master all deliver, on one connection."""
    channels = channels_on_one_master(redis_cluster, namespace, 3)
    master = redis_cluster.owner(channels[0])
    async with sharded_pubsub(redis_cluster) as (pubsub, publisher):
        await pubsub.subscribe()  # learn the topology
        before = subscribers(master)
        await asyncio.gather(*(pubsub.subscribe(channel) for channel in channels))
        assert subscribers(master) == before + 1
        for channel in channels:
            assert await publisher.spublish(channel, channel) == 1
        expected = {channel: channel for channel in channels}
        assert await received_messages(pubsub, len(channels)) == expected


async def test_ping_while_subscribing_reads_the_subscription(
    redis_cluster: RedisCluster, namespace: str
) -> None:
    """A ping while a new master connection opens doesn't strand the subscription."""
    for channel in channels_on_one_master(redis_cluster, namespace, 5):
        async with sharded_pubsub(redis_cluster) as (pubsub, publisher):
            await pubsub.subscribe()  # learn the topology
            await asyncio.gather(pubsub.subscribe(channel), pubsub.ping())
            assert await publisher.spublish(channel, "after") == 1
            assert await received_messages(pubsub, 1) == {channel: "after"}


async def receive_eventually(hub: Hub, client: ClientConnection, room: str) -> None:
    """Publish probes to a room until the client receives one, for 5 s at most.

    A probe may fail with HubUnavailable while the hub learns the topology.

    """
    for i in range(50):
        with contextlib.suppress(HubUnavailable):
            await hub.publish(room, f"probe {i}")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(client.recv(), 0.1)
            return
    raise AssertionError("no probe arrived")


async def test_manual_failover(own_redis_cluster: RedisCluster, namespace: str) -> None:
    """After a manual failover, messages go to the new master, which counts them."""
    cluster, channel = own_redis_cluster, channel_of(namespace, "room")
    async with cluster_hub(cluster.url, namespace) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            master = cluster.owner(channel)
            (replica,) = [
                node
                for node in cluster.running()
                if f"master_port:{master.port}" in node.info(b"INFO replication")
            ]
            assert replica.ask(b"CLUSTER FAILOVER") == b"+OK"
            await asyncio.to_thread(cluster.wait_ok, 10)
            # The new master counts the subscriber once both the subscriber
            # and the publisher follow it, within a heartbeat or two.
            for i in range(100):
                with contextlib.suppress(HubUnavailable):
                    if await hub.publish("room", f"{i}") == 1:
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the new master never counted the subscriber")
            assert cluster.owner(channel) is replica
            while await asyncio.wait_for(client.recv(), 5) != f"{i}":
                pass


async def test_count_across_hubs(redis_cluster: RedisCluster, namespace: str) -> None:
    """count() adds the members of other live hubs and drops dead processes."""
    async with (
        cluster_hub(redis_cluster.url, namespace) as first,
        cluster_hub(redis_cluster.url, namespace) as second,
    ):
        async with (
            hub_server(first) as server,
            member(server, "a"),
            member(server, "a"),
        ):
            key = f"{namespace}:count:a"
            client = redis.asyncio.cluster.RedisCluster.from_url(
                redis_cluster.url.replace("redis+cluster", "redis", 1)
            )
            try:
                # A process that died without closing its hub: no alive key.
                await client.hset(key, "dead-process", 5)
                await eventually_count(second, "a", 2)
                assert not await client.hexists(key, "dead-process")
            finally:
                await client.aclose()
        await eventually_count(second, "a", 0)


async def eventually_count(hub: Hub, group: str, expected: int) -> None:
    """Wait until count() returns the expected number."""
    for _ in range(100):
        if await hub.count(group) == expected:
            return
        await asyncio.sleep(0.05)
    assert await hub.count(group) == expected


@pytest.mark.stress
async def test_failover_surfaces_errors_then_resumes(
    own_redis_cluster: RedisCluster, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Publishes to a killed master fail until its replica serves, then deliver.

    Rooms on the other masters keep receiving everything meanwhile.

    """
    cluster = own_redis_cluster
    room, other = list(rooms_on_each_master(cluster, namespace).values())[:2]
    async with (
        cluster_hub(cluster.url, namespace) as subscriber,
        cluster_hub(cluster.url, namespace) as publisher,
        hub_server(subscriber) as server,
        member(server, room) as client,
        member(server, other) as other_client,
    ):
        received: list[str] = []
        other_received: list[str] = []
        readers = [
            asyncio.create_task(read_all(client, received)),
            asyncio.create_task(read_all(other_client, other_received)),
        ]
        times: dict[int, float] = {}
        outcomes, others = await publish_through_failover(
            cluster, publisher, [room, other], times
        )
        reported = {i for i, n in outcomes.items() if n is not None and n > 0}
        with contextlib.suppress(AssertionError):
            await eventually(lambda: len(received) >= len(reported))
        await eventually(lambda: len(other_received) >= len(others))
        for reader in readers:
            reader.cancel()
    errors = [i for i, n in outcomes.items() if n is None]
    assert errors, "the failover raised no error"
    # Not silent: every publish that returned normally and counted a receiver
    # was delivered, and nothing else was, except what the master counted
    # just before it was killed: Redis had written it for the subscriber,
    # whose connection broke before it was read, which the subscriber logs.
    delivered = {int(text) for text in received}
    assert delivered <= reported
    missed = reported - delivered
    assert all(index < KILL_AT for index in missed), missed
    if missed:
        assert "disconnected" in caplog.text
    # Delivery resumed: the last publishes all reached the member.
    assert all(outcomes[i] == 1 for i in sorted(outcomes)[-20:])
    # Publishes that reached the new master before the subscriber came back
    # counted no receiver; that lasts at most about the hub's backoff.
    unheard = [times[i] for i, n in outcomes.items() if n == 0]
    assert not unheard or max(unheard) - min(unheard) < UNHEARD_BOUND
    # The other room's master didn't fail: every message reached its member.
    assert set(others.values()) == {1}
    assert [int(text) for text in other_received] == sorted(others)


@pytest.mark.stress
async def test_join_during_failover(
    own_redis_cluster: RedisCluster, namespace: str
) -> None:
    """Joining a room of a dead master doesn't wait for the failover, then delivers."""
    cluster = own_redis_cluster
    room, other = list(rooms_on_each_master(cluster, namespace).values())[:2]
    channel = channel_of(namespace, room)
    async with cluster_hub(cluster.url, namespace) as hub, hub_server(hub) as server:
        async with member(server, other):
            cluster.owner(channel).kill()
            async with member(server, room) as client:
                assert not cluster.served(channel), "joined after the failover"
                await asyncio.to_thread(cluster.wait_ok, FAILOVER_BOUND)
                await receive_eventually(hub, client, room)


async def publish_through_failover(
    cluster: RedisCluster,
    publisher: ClusterHub,
    rooms: list[str],
    times: dict[int, float],
) -> tuple[dict[int, int | None], dict[int, int | None]]:
    """Kill the master of a room while publishing to it and another room.

    Publishes to both rooms every 10 ms. Returns, for each message to each
    room, the receivers that Redis counted, or None if publishing raised
    :exc:`HubUnavailable`, and records when it was sent. Stops once 20
    messages in a row reached a receiver after an error; fails after
    :data:`FAILOVER_BOUND`.

    """
    room, other = rooms
    outcomes: dict[int, int | None] = {}
    others: dict[int, int | None] = {}
    loop = asyncio.get_running_loop()
    victim = cluster.owner(channel_of(publisher.namespace, room))
    killed_at, streak, index = 0.0, 0, 0
    while not killed_at or loop.time() < killed_at + FAILOVER_BOUND:
        if index == KILL_AT:
            victim.kill()
            killed_at = loop.time()
        times[index] = loop.time()
        outcomes[index] = await publish_counted(publisher, room, f"{index}")
        others[index] = await publish_counted(publisher, other, f"{index}")
        after_error = any(n is None for n in outcomes.values())
        streak = streak + 1 if after_error and outcomes[index] == 1 else 0
        if streak == 20:
            return outcomes, others
        index += 1
        await asyncio.sleep(0.01)
    raise AssertionError(f"no delivery {FAILOVER_BOUND} s after the failover")


async def publish_counted(hub: ClusterHub, room: str, text: str) -> int | None:
    """Publish; return the receivers that Redis counted, or None on an error."""
    try:
        return await hub.publish(room, text)
    except HubUnavailable:
        return None
