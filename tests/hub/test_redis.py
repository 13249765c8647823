"""The Redis hub: delivery across hubs and processes, namespaces, faults."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio
from websockets.asyncio.client import ClientConnection, connect

from websockets_routes.hub import Hub, HubDeliveryUnknown, HubUnavailable, RedisHub
from websockets_routes.hub.envelope import encode
from websockets_routes.hub.redis import MAX_ROUTES

from .conftest import RedisServer
from .helpers import hub_server, member, no_message

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain Redis client, to look at what the hub does in Redis."""
    client = redis.asyncio.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def _hub(server: RedisServer, namespace: str) -> RedisHub:
    hub = Hub.from_url(server.url, namespace=namespace, heartbeat=0.2)
    assert isinstance(hub, RedisHub)
    return hub


async def test_hubs_exchange_messages(
    redis_server: RedisServer, namespace: str
) -> None:
    """Group, user and broadcast messages cross between two hubs."""
    async with (
        _hub(redis_server, namespace) as hub1,
        _hub(redis_server, namespace) as hub2,
    ):
        async with hub_server(hub1) as server1, hub_server(hub2) as server2:
            async with (
                member(server1, "room", user="alice") as alice1,
                member(server2, "room", user="alice") as alice2,
                member(server2, "room", user="bob") as bob2,
            ):
                await hub1.publish("room", "from 1")
                await hub2.send_to_user("alice", "to alice")
                await hub1.broadcast("to all")
                for client in (alice1, alice2):
                    assert [await client.recv() for _ in range(3)] == [
                        "from 1",
                        "to alice",
                        "to all",
                    ]
                assert [await bob2.recv() for _ in range(2)] == ["from 1", "to all"]
                # Counts of the other hub arrive within milliseconds.
                assert await _count(hub1, 3)
                assert await _count(hub2, 3)


async def _count(hub: Hub, expected: int) -> bool:
    for _ in range(100):
        if await hub.count("room") == expected:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_namespaces_are_isolated(
    redis_server: RedisServer, namespace: str
) -> None:
    """Hubs in different namespaces don't see each other's messages."""
    async with _hub(redis_server, namespace) as hub1:
        async with _hub(redis_server, namespace + "-other") as hub2:
            async with hub_server(hub1) as server1, member(server1, "room") as client:
                await hub2.publish("room", "other application")
                await hub2.broadcast("other application")
                assert await no_message(client)
                assert await hub2.count("room") == 0


async def test_subscribes_only_while_members(
    redis_server: RedisServer, namespace: str, raw: redis.asyncio.Redis
) -> None:
    """A hub subscribes to a group's channel only while it has members there."""

    async def channels() -> set[bytes | str]:
        return set(await raw.pubsub_channels(f"{namespace}:*"))

    async with _hub(redis_server, namespace) as hub:
        assert await channels() == {f"{namespace}:broadcast".encode()}
        async with hub_server(hub) as server:
            async with member(server, "room", user="alice"):
                assert await channels() == {
                    f"{namespace}:broadcast".encode(),
                    f"{namespace}:group:room".encode(),
                    f"{namespace}:user:alice".encode(),
                }
            for _ in range(100):
                if len(await channels()) == 1:
                    break
                await asyncio.sleep(0.02)
            assert await channels() == {f"{namespace}:broadcast".encode()}


async def test_foreign_messages_are_dropped(
    redis_server: RedisServer,
    namespace: str,
    raw: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Malformed or foreign messages are logged and never reach clients."""
    channel = f"{namespace}:group:room"
    async with _hub(redis_server, namespace) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            with caplog.at_level(logging.WARNING, "websockets_routes.hub"):
                for junk in [b"hello", b"\x80\x04K*.", b"[]", b'{"v": 2}', b"{}"]:
                    await raw.publish(channel, junk)
                await raw.publish(channel, b'{"v":1,"type":"text","data":"valid"}')
                assert await client.recv() == "valid"
            assert hub.stats.invalid_envelopes == 5
    # A burst of invalid messages is logged once.
    dropped = [r for r in caplog.records if "dropped message" in r.message]
    assert len(dropped) == 1


async def test_envelopes_decode_alike(
    redis_server: RedisServer, namespace: str, raw: redis.asyncio.Redis
) -> None:
    """Escapes, extra keys and spaces in envelopes don't change the text delivered."""
    envelopes = [
        b'{"v":1,"type":"text","data":"caf\\u00e9 \\"q\\""}',
        b'{"v":1,"type":"text","data":"lone \\ud800"}',
        b'{"v":1,"type":"text","data":"later","later":true}',
        b'{"v":1,"type":"text","data":"spaced"} ',
        b'{"v":1,"type":"text","data":"plain"}',
    ]
    async with _hub(redis_server, namespace) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            for envelope in envelopes:
                await raw.publish(f"{namespace}:group:room", envelope)
            received = [await client.recv() for _ in range(4)]
            assert received == ['café "q"', "later", "spaced", "plain"]
            assert hub.stats.invalid_envelopes == 1


def test_channel_names_kept_are_bounded() -> None:
    """The receiving loop keeps a bounded number of parsed channel names."""
    hub = RedisHub("redis://127.0.0.1:1/0", namespace="bounded")
    for index in range(MAX_ROUTES + 10):
        hub._received(f"bounded:user:{index}".encode(), encode("x"))
    assert 0 < len(hub._routes) <= MAX_ROUTES
    hub._received(b"bounded:broadcast:not", encode("x"))
    assert hub._routes[b"bounded:broadcast:not"] == ("", "")


unpickled: list[str] = []


def _unpickle() -> None:  # pragma: no cover
    unpickled.append("code ran")


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _unpickle, ()


async def test_deep_json_keeps_subscriber_running(
    redis_server: RedisServer, namespace: str, raw: redis.asyncio.Redis
) -> None:
    """JSON nested too deep for Python's parser is dropped; delivery goes on."""
    async with _hub(redis_server, namespace) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            await raw.publish(f"{namespace}:group:room", b"[" * 100_000)
            assert await hub.publish("room", "good") == 1
            assert await asyncio.wait_for(client.recv(), 5) == "good"
            assert hub.stats.invalid_envelopes == 1


async def test_pickle_is_never_unpickled(
    redis_server: RedisServer,
    namespace: str,
    raw: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pickle published on a hub channel is logged and dropped, never unpickled."""
    payload = pickle.dumps(_Payload())
    async with _hub(redis_server, namespace) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            with caplog.at_level(logging.WARNING, "websockets_routes.hub"):
                assert await raw.publish(f"{namespace}:group:room", payload) == 1
                assert await raw.publish(f"{namespace}:broadcast", payload) == 1
                assert await hub.publish("room", "good") == 1
                assert await client.recv() == "good"
            assert hub.stats.invalid_envelopes == 2
    assert unpickled == []
    (record,) = [r for r in caplog.records if "dropped message" in r.message]
    assert record.levelno == logging.WARNING
    assert "invalid JSON" in record.getMessage()


async def test_refused_publish_was_not_sent(
    redis_server: RedisServer, namespace: str, raw: redis.asyncio.Redis
) -> None:
    """A publish that Redis refuses raises HubUnavailable, not the unknown kind."""
    user = f"{namespace}-user"
    await raw.acl_setuser(
        user, enabled=True, passwords=["+secret"], keys=["*"], channels=["*"]
    )
    await raw.execute_command("ACL", "SETUSER", user, "+@all", "-publish")
    try:
        hub = Hub.from_url(
            redis_server.url, namespace=namespace, username=user, password="secret"
        )
        assert isinstance(hub, RedisHub)
        async with hub:
            with pytest.raises(HubUnavailable, match="redis refused to publish") as exc:
                await hub.publish("room", "refused")
            assert not isinstance(exc.value, HubDeliveryUnknown)
            assert hub.stats.unsent_publishes == 1
    finally:
        await raw.acl_deluser(user)


async def test_start_fails_without_redis(namespace: str) -> None:
    """Starting a hub raises HubUnavailable when Redis cannot be reached."""
    hub = Hub.from_url("redis://127.0.0.1:1/0", namespace=namespace)
    with pytest.raises(HubUnavailable, match="cannot reach redis"):
        async with hub:
            pass  # pragma: no cover


async def test_join_requires_start(redis_server: RedisServer, namespace: str) -> None:
    """join() on a Redis hub that isn't started raises RuntimeError."""
    hub = _hub(redis_server, namespace)
    try:
        async with hub_server(Hub()) as server, member(server, "a"):
            (connection,) = server.hub.members("a")
            with pytest.raises(RuntimeError, match="async with hub"):
                await hub.join(connection, "a")
            assert not hub.members("a")
        await hub.publish("a", "publishing needs no start")
    finally:
        await hub.close()


def test_invalid_options(redis_server: RedisServer) -> None:
    """from_url() rejects an empty namespace and an unsupported scheme at once."""
    with pytest.raises(ValueError, match="namespace must not be empty: ''"):
        Hub.from_url(redis_server.url, namespace="")
    with pytest.raises(ValueError, match="unsupported hub URL scheme: 'http'"):
        Hub.from_url("http://127.0.0.1/")


def test_missing_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-py, from_url() says which extra to install."""
    for name in [name for name in sys.modules if name.split(".")[0] == "redis"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install websockets-routes\[redis\]"):
        Hub.from_url("redis://127.0.0.1:6379/0")


async def test_fault_redis_restart(
    own_redis_server: RedisServer, namespace: str
) -> None:
    """publish() raises while Redis is down; the hub resubscribes when it returns."""
    async with _hub(own_redis_server, namespace) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            await hub.publish("room", "before")
            assert await client.recv() == "before"
            own_redis_server.stop()
            # The first publish may be written before the hub sees the close.
            with pytest.raises(HubUnavailable):
                await hub.publish("room", "lost")
            with pytest.raises(HubUnavailable, match="cannot publish to redis") as exc:
                await hub.publish("room", "lost")
            assert not isinstance(exc.value, HubDeliveryUnknown)
            with pytest.raises(HubUnavailable, match="cannot count in redis"):
                await hub.count("room")
            own_redis_server.start()
            await _wait_for_delivery(hub, client)
            for i in range(20):
                await hub.publish("room", f"after {i}")
            received = [await client.recv() for _ in range(20)]
            assert received == [f"after {i}" for i in range(20)]
            assert await hub.count("room") == 1
            assert hub.stats.resubscribes == 1
            assert hub.stats.unsent_publishes + hub.stats.unknown_publishes >= 2


async def test_fault_redis_hangs(
    own_redis_server: RedisServer, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A hung Redis is detected by the heartbeat; delivery resumes after it."""
    async with _hub(own_redis_server, namespace) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            process = own_redis_server.process
            assert process is not None
            with caplog.at_level(logging.WARNING, "websockets_routes.hub"):
                process.send_signal(signal.SIGSTOP)
                try:
                    await asyncio.sleep(1.0)
                finally:
                    process.send_signal(signal.SIGCONT)
                await _wait_for_delivery(hub, client)
            assert any("subscriber disconnected" in r.message for r in caplog.records)


async def _wait_for_delivery(hub: Hub, client: ClientConnection) -> None:
    # Probe until the hub has resubscribed, then drain late probes.
    for _ in range(200):
        try:
            await hub.publish("room", "probe")
        except HubUnavailable:
            pass
        if not await no_message(client, 0.05):
            break
    else:  # pragma: no cover
        pytest.fail("delivery didn't resume")
    while not await no_message(client, 0.1):
        pass


# Multi-process test.


def _spawn(server: RedisServer, namespace: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = Path(__file__).with_name("server_process.py")
    process = subprocess.Popen(
        [sys.executable, str(script), server.url, namespace],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    assert port, "server process didn't start"
    return process, f"ws://127.0.0.1:{port}/"


@pytest.fixture
def processes(
    redis_server: RedisServer, namespace: str
) -> Iterator[list[tuple[subprocess.Popen[str], str]]]:
    """Two server processes sharing a Redis and a namespace."""
    spawned = [_spawn(redis_server, namespace) for _ in range(2)]
    yield spawned
    for process, _ in spawned:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


async def _join(url: str) -> ClientConnection:
    client = await connect(url)
    assert await client.recv() == "joined"
    return client


async def _recv(client: ClientConnection, count: int) -> list[str | bytes]:
    return [await asyncio.wait_for(client.recv(), 5) for _ in range(count)]


async def test_multi_process(
    processes: list[tuple[subprocess.Popen[str], str]],
) -> None:
    """Rooms, users, broadcasts and counts cross two server processes in order."""
    (_, url1), (process2, url2) = processes
    alice1 = await _join(url1 + "?group=room&user=alice")
    alice2 = await _join(url2 + "?group=room&user=alice")
    bob2 = await _join(url2 + "?group=room&user=bob")
    everyone = (alice1, alice2, bob2)
    try:
        for sender, prefix in [(alice1, "one"), (bob2, "two")]:
            for i in range(100):
                await sender.send(f"publish room {prefix}-{i}")
            expected = [f"{prefix}-{i}" for i in range(100)]
            for client in everyone:
                assert await _recv(client, 100) == expected
        for i in range(20):
            await bob2.send(f"user alice to-alice-{i}")
        for client in (alice1, alice2):
            assert await _recv(client, 20) == [f"to-alice-{i}" for i in range(20)]
        for i in range(20):
            await alice1.send(f"broadcast all-{i}")
        for client in everyone:
            # Bob's first message is a broadcast: no user message reached him.
            assert await _recv(client, 20) == [f"all-{i}" for i in range(20)]
        await alice2.send(b"\x00binary")
        for client in everyone:
            assert await _recv(client, 1) == [b"\x00binary"]
        assert await _count_from(alice1, 3)
        process2.kill()
        # Process 2 died without cleaning up: its count expires with its TTL.
        assert await _count_from(alice1, 1)
    finally:
        for client in everyone:
            await client.close()


async def _count_from(client: ClientConnection, expected: int) -> bool:
    for _ in range(100):
        await client.send("count room")
        if await client.recv() == f"count {expected}":
            return True
        await asyncio.sleep(0.05)
    return False
