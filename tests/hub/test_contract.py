"""The contract of every hub backend: each test runs against memory, Redis and
Redis Cluster."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed

from websockets_routes.hub import Hub

from .cluster import RedisCluster
from .conftest import RedisServer
from .helpers import eventually, hub_server, member, no_message


@pytest.fixture(params=["memory", "redis", "cluster"])
async def hub(request: pytest.FixtureRequest, namespace: str) -> AsyncIterator[Hub]:
    """A started hub of each backend."""
    if request.param == "memory":
        instance = Hub()
    else:
        fixture = "redis_server" if request.param == "redis" else "redis_cluster"
        redis: RedisServer | RedisCluster = request.getfixturevalue(fixture)
        instance = Hub.from_url(redis.url, namespace=namespace, heartbeat=0.5)
    async with instance:
        yield instance


async def test_publish_text_reaches_group(hub: Hub) -> None:
    """publish() sends a str as a text frame to every member of the group."""
    async with hub_server(hub) as server:
        async with member(server, "a") as a1, member(server, "a", "b") as a2:
            await hub.publish("a", "hello")
            assert await a1.recv() == "hello"
            assert await a2.recv() == "hello"


async def test_publish_binary_reaches_group(hub: Hub) -> None:
    """publish() sends bytes as a binary frame."""
    async with hub_server(hub) as server, member(server, "a") as client:
        await hub.publish("a", b"\x00\xff")
        assert await client.recv() == b"\x00\xff"


async def test_publish_skips_other_groups(hub: Hub) -> None:
    """publish() doesn't reach connections outside the group."""
    async with hub_server(hub) as server, member(server, "b") as client:
        await hub.publish("a", "not for b")
        await hub.publish("b", "for b")
        assert await client.recv() == "for b"


async def test_publish_to_empty_group(hub: Hub) -> None:
    """publish() to a group without members succeeds and sends nothing."""
    await hub.publish("nobody", "hello")


async def test_publish_returns_processes_reached(hub: Hub) -> None:
    """Sending returns the number of processes reached: this one, or none."""
    assert await hub.publish("nobody", "hello") == 0
    assert await hub.send_to_user("nobody", "hello") == 0
    assert await hub.broadcast("hello") == 1
    async with hub_server(hub) as server, member(server, "a", user="al") as client:
        assert await hub.publish("a", "group") == 1
        assert await hub.send_to_user("al", "user") == 1
        assert await hub.broadcast("all") == 1
        assert [await client.recv() for _ in range(3)] == ["group", "user", "all"]


async def test_send_to_user_reaches_all_connections(hub: Hub) -> None:
    """send_to_user() reaches every connection of the user and no other."""
    async with hub_server(hub) as server:
        async with (
            member(server, "a", user="alice") as alice1,
            member(server, user="alice") as alice2,
            member(server, "a", user="bob") as bob,
        ):
            await hub.send_to_user("alice", "hi alice")
            assert await alice1.recv() == "hi alice"
            assert await alice2.recv() == "hi alice"
            assert await no_message(bob)


async def test_broadcast_reaches_registered_connections(hub: Hub) -> None:
    """broadcast() reaches every connection that joined, even in no group."""
    async with hub_server(hub) as server:
        async with (
            member(server, "a") as in_group,
            member(server, user="carol") as as_user,
            member(server) as in_nothing,
            connect(f"{server.url}?join=no") as outsider,
        ):
            assert await outsider.recv() == "connected"
            await hub.broadcast("everyone")
            for client in (in_group, as_user, in_nothing):
                assert await client.recv() == "everyone"
            assert await no_message(outsider)


async def test_messages_arrive_in_order(hub: Hub) -> None:
    """Messages published one after the other arrive in that order."""
    async with hub_server(hub) as server, member(server, "a") as client:
        for i in range(200):
            await hub.publish("a", f"{i}")
        assert [await client.recv() for _ in range(200)] == [f"{i}" for i in range(200)]


async def test_members_and_count(hub: Hub) -> None:
    """members() lists this process's connections; count() counts them."""
    async with hub_server(hub) as server:
        async with member(server, "a"), member(server, "a", "b"):
            assert len(hub.members("a")) == 2
            assert len(hub.members("b")) == 1
            assert await hub.count("a") == 2
        await eventually(lambda: not hub.members("a"))
        assert await hub.count("a") == 0


async def test_leave_groups(hub: Hub) -> None:
    """leave() with groups removes the connection from those groups only."""
    async with hub_server(hub) as server, member(server, "a", "b", user="dan") as c:
        (connection,) = hub.members("a")
        await hub.leave(connection, "a")
        assert not hub.members("a")
        assert hub.members("b") == {connection}
        await hub.publish("a", "not for dan")
        await hub.send_to_user("dan", "still dan")
        assert await c.recv() == "still dan"


async def test_leave_all(hub: Hub) -> None:
    """leave() without groups unregisters the connection altogether."""
    async with hub_server(hub) as server, member(server, "a", user="eve") as client:
        (connection,) = hub.members("a")
        await hub.leave(connection)
        await hub.send_to_user("eve", "not for eve")
        await hub.broadcast("not for anyone")
        assert not hub.members("a")
        assert await no_message(client)


async def test_await_join_then_leave(hub: Hub) -> None:
    """Awaiting join() registers a connection until leave()."""
    async with hub_server(hub) as server, member(server, "base") as client:
        (connection,) = hub.members("base")
        membership = await hub.join(connection, "extra")
        assert membership.groups == ("extra",)
        await hub.publish("extra", "joined late")
        assert await client.recv() == "joined late"
        await hub.leave(connection, "extra")
        assert not hub.members("extra")


async def test_nested_join_keeps_outer_groups(hub: Hub) -> None:
    """Leaving a nested join keeps the groups of the outer one."""
    async with hub_server(hub) as server, member(server, "outer") as client:
        (connection,) = hub.members("outer")
        async with hub.join(connection, "outer", "inner"):
            assert hub.members("inner") == {connection}
        assert not hub.members("inner")
        assert hub.members("outer") == {connection}
        await hub.publish("outer", "still here")
        assert await client.recv() == "still here"


async def test_join_unregisters_on_close(hub: Hub) -> None:
    """A connection leaves its groups when the client closes normally."""
    async with hub_server(hub) as server:
        async with member(server, "a"):
            assert hub.members("a")
        await eventually(lambda: not hub.members("a"))


async def test_join_unregisters_on_error(hub: Hub) -> None:
    """A connection leaves its groups when the handler raises."""
    async with hub_server(hub) as server, member(server, "a") as client:
        await client.send("raise")
        await client.wait_closed()
        assert client.protocol.close_code == 1011
        await eventually(lambda: not hub.members("a"))


async def test_join_unregisters_on_cancel(hub: Hub) -> None:
    """A connection leaves its groups when the handler's task is cancelled."""
    async with hub_server(hub) as server, member(server, "a"):
        server.tasks[-1].cancel()
        await eventually(lambda: not hub.members("a"))


async def test_join_unregisters_on_abrupt_disconnect(hub: Hub) -> None:
    """A connection leaves its groups when the TCP connection is lost."""
    async with hub_server(hub) as server:
        async with member(server, "a") as gone, member(server, "a") as stays:
            gone.transport.abort()
            await eventually(lambda: len(hub.members("a")) == 1)
            await hub.publish("a", "after")
            assert await stays.recv() == "after"


async def test_join_rejects_other_user(hub: Hub) -> None:
    """join() refuses to change the user of a registered connection."""
    async with hub_server(hub) as server, member(server, "a", user="fay"):
        (connection,) = hub.members("a")
        with pytest.raises(ValueError, match="another user: 'fay'"):
            await hub.join(connection, "b", user="gus")
        assert not hub.members("b")


async def test_join_rejects_non_str(hub: Hub) -> None:
    """join() rejects a group that isn't a str."""
    async with hub_server(hub) as server, member(server, "a"):
        (connection,) = hub.members("a")
        with pytest.raises(TypeError, match=r"must be str: \['b'\]"):
            hub.join(connection, ["b"])  # type: ignore[arg-type]


async def test_publish_rejects_non_message(hub: Hub) -> None:
    """publish() rejects a message that is neither str nor bytes."""
    with pytest.raises(TypeError):
        await hub.publish("a", 42)  # type: ignore[arg-type]


def _server_side(hub: Hub, group: str, client: ClientConnection) -> Connection:
    # The client's local address is the server connection's remote address.
    (connection,) = [
        c for c in hub.members(group) if c.remote_address == client.local_address
    ]
    return connection


async def _read_all(client: ClientConnection, received: list[object]) -> None:
    async for message in client:
        received.append(message)


def _small_buffers_socket(url: str) -> socket.socket:
    # Without limits, the kernel buffers megabytes on loopback before the
    # server's write buffer grows at all.
    host, port = urlsplit(url).netloc.split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return sock


async def test_slow_client_is_closed(hub: Hub) -> None:
    """A client that stops reading is closed with 1013; others get everything."""
    hub.max_buffer = 64 * 1024
    # Random bytes, so that compression doesn't shrink them.
    payload, count = os.urandom(16 * 1024), 200
    async with hub_server(hub) as server:
        sock = _small_buffers_socket(server.url)
        async with (
            member(server, "a", max_queue=1, sock=sock) as slow,
            member(server, "a") as fast,
        ):
            slow_connection = _server_side(hub, "a", slow)
            server_sock = slow_connection.transport.get_extra_info("socket")
            server_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            fast_received: list[object] = []
            reader = asyncio.create_task(_read_all(fast, fast_received))
            high = 0
            for i in range(count):
                await hub.publish("a", payload)
                while len(fast_received) <= i:
                    await asyncio.sleep(0)
                high = max(high, slow_connection.transport.get_write_buffer_size())
            # The write buffer of the slow connection stays bounded.
            assert hub.max_buffer < high <= hub.max_buffer + 2 * len(payload)
            assert hub.members("a") == {_server_side(hub, "a", fast)}
            slow_received = 0
            with pytest.raises(ConnectionClosed):
                async for _ in slow:
                    slow_received += 1
            assert slow.protocol.close_code == 1013
            assert slow_received < count
            assert len(fast_received) == count
            reader.cancel()
