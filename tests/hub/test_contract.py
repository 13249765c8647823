"""The contract of every hub backend: each test runs against memory, Redis and
Redis Cluster."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed

from websockets_routes.hub import Hub

from .cluster import RedisCluster
from .conftest import RedisServer
from .helpers import eventually, hub_server, member, no_message
from .rooms import room_member, room_server


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


# Presence.


async def test_presence_lists_connections_by_user(hub: Hub) -> None:
    """presence() maps each user to one metadata dict per connection."""
    async with room_server(hub) as server:
        async with (
            room_member(server, "lobby", user="alice", meta={"tab": 1}),
            room_member(server, "lobby", user="alice", meta={"tab": 2}),
            room_member(server, "lobby", user="bob"),
            room_member(server, "other", user="carol"),
        ):
            presence = await hub.presence("lobby")
            assert sorted(presence) == ["alice", "bob"]
            assert sorted(presence["alice"], key=str) == [{"tab": 1}, {"tab": 2}]
            assert presence["bob"] == [{}]
        await _eventually_async(lambda: hub.presence("lobby"), {})


async def test_presence_names_anonymous_connections(hub: Hub) -> None:
    """A member without a user appears under a generated connection id."""
    async with room_server(hub) as server:
        async with room_member(server, "lobby"), room_member(server, "lobby"):
            presence = await hub.presence("lobby")
            assert len(presence) == 2
            assert all(len(id) >= 8 for id in presence)
            assert list(presence.values()) == [[{}], [{}]]


async def test_presence_drops_left_groups(hub: Hub) -> None:
    """A connection that leaves its groups leaves their presence."""
    async with room_server(hub) as server:
        async with room_member(server, "lobby", user="dan") as client:
            assert await hub.presence("lobby") == {"dan": [{}]}
            await client.send("leave")
            assert await _recv(client) == "left"
            await _eventually_async(lambda: hub.presence("lobby"), {})


async def test_presence_events(hub: Hub) -> None:
    """Members with presence_events receive join and leave events; others don't."""
    async with room_server(hub) as server:
        events: list[Any] = []
        async with (
            room_member(server, "lobby", user="w", events=1, before=events) as watcher,
            room_member(server, "lobby", user="q") as quiet,
        ):
            # Its own join may arrive before or after the join returns.
            while len(events) < 2:
                events.append(json.loads(await _recv(watcher)))
            assert events[0] == {
                "type": "presence",
                "room": "lobby",
                "event": "join",
                "user": "w",
                "meta": {},
            }
            assert (events[1]["event"], events[1]["user"]) == ("join", "q")
            async with room_member(server, "lobby", user="eve", meta={"n": 1}):
                event = json.loads(await _recv(watcher))
                assert (event["event"], event["user"], event["meta"]) == (
                    "join",
                    "eve",
                    {"n": 1},
                )
            event = json.loads(await _recv(watcher))
            assert (event["event"], event["user"]) == ("leave", "eve")
            assert await no_message(quiet)


@pytest.mark.parametrize(
    "meta, error",
    [
        ([1], r"meta must be a dict: \[1\]"),
        ({"x": object()}, "meta must be JSON-serializable"),
    ],
)
async def test_join_rejects_bad_meta(hub: Hub, meta: Any, error: str) -> None:
    """join() refuses metadata that isn't a JSON-serializable dict."""
    async with hub_server(hub) as server, member(server, "a"):
        (connection,) = hub.members("a")
        with pytest.raises(TypeError, match=error):
            hub.join(connection, "b", meta=meta)


# History.


async def test_history_messages_carry_increasing_ids(hub: Hub) -> None:
    """Messages of a room with history arrive wrapped with increasing ids."""
    async with room_server(hub) as server:
        async with room_member(server, "h", history=10) as client:
            for i in range(3):
                await hub.publish("h", f"m{i}")
            frames = [json.loads(await _recv(client)) for _ in range(3)]
            assert [f["data"] for f in frames] == ["m0", "m1", "m2"]
            assert {(f["type"], f["room"]) for f in frames} == {("message", "h")}
            ids = [_order(f["id"]) for f in frames]
            assert ids == sorted(set(ids))


async def test_rooms_without_history_are_unchanged(hub: Hub) -> None:
    """Messages of a room without history arrive as published."""
    async with room_server(hub) as server, room_member(server, "plain") as client:
        await hub.publish("plain", '{"type":"x"}')
        assert await _recv(client) == '{"type":"x"}'


async def test_resume_replays_missed_messages(hub: Hub) -> None:
    """join(since=...) replays what followed that id, then the live stream."""
    async with room_server(hub) as server:
        async with room_member(server, "h", history=10) as first:
            await hub.publish("h", "seen")
            seen = json.loads(await _recv(first))["id"]
        for text in ("missed 1", "missed 2"):
            await hub.publish("h", text)
        replayed: list[Any] = []
        async with room_member(server, "h", since=seen, before=replayed) as again:
            await hub.publish("h", "live")
            live = json.loads(await _recv(again))
        assert [f["data"] for f in replayed] == ["missed 1", "missed 2"]
        assert live["data"] == "live"


async def test_resume_reports_lost_history(hub: Hub) -> None:
    """An id older than the kept history yields a history_gap notice first."""
    async with room_server(hub) as server:
        async with room_member(server, "h", history=3) as first:
            await hub.publish("h", "old")
            old = json.loads(await _recv(first))["id"]
        for i in range(5):
            await hub.publish("h", f"m{i}")
        replayed: list[Any] = []
        async with room_member(server, "h", since=old, before=replayed):
            pass
        assert replayed[0] == {"type": "history_gap", "room": "h", "since": old}
        assert [f["data"] for f in replayed[1:]] == ["m2", "m3", "m4"]


async def test_resume_from_last_kept_id_has_no_gap(hub: Hub) -> None:
    """An id still kept, even the oldest, replays what follows without a notice."""
    async with room_server(hub) as server:
        async with room_member(server, "h", history=2) as first:
            for i in range(4):
                await hub.publish("h", f"m{i}")
            ids = [json.loads(await _recv(first))["id"] for _ in range(4)]
        replayed: list[Any] = []
        async with room_member(server, "h", since=ids[2], before=replayed):
            pass
        assert [f["data"] for f in replayed] == ["m3"]


@pytest.mark.parametrize("since", ["nonsense", "99999999999999-0", "99999"])
async def test_resume_from_unknown_id_reports_gap(hub: Hub, since: str) -> None:
    """An id this room never gave is reported as lost history."""
    async with room_server(hub) as server:
        await _publish_in_history_room(hub, server, "h", ["kept"])
        replayed: list[Any] = []
        async with room_member(server, "h", since=since, before=replayed):
            pass
        assert replayed[0]["type"] == "history_gap"
        assert [f["data"] for f in replayed[1:]] == ["kept"]


async def test_resume_without_history_reports_gap(hub: Hub) -> None:
    """Resuming in a group that keeps no history yields a history_gap alone."""
    async with room_server(hub) as server:
        replayed: list[Any] = []
        async with room_member(server, "plain", since="1", before=replayed) as client:
            await hub.publish("plain", "live")
            assert await _recv(client) == "live"
        assert replayed == [{"type": "history_gap", "room": "plain", "since": "1"}]


async def test_resume_is_exactly_once_under_concurrent_publishing(hub: Hub) -> None:
    """A member resuming while messages flow gets each one once, in order."""
    async with room_server(hub) as server:
        async with room_member(server, "h", history=1000) as witness:
            stop = asyncio.Event()

            async def publish() -> int:
                i = 0
                while not stop.is_set() and i < 400:
                    await hub.publish("h", f"{i}")
                    i += 1
                    await asyncio.sleep(0)
                return i

            publisher = asyncio.create_task(publish())
            first = [json.loads(await _recv(witness)) for _ in range(20)]
            since = first[9]["id"]
            replayed: list[Any] = []
            async with room_member(server, "h", since=since, before=replayed) as late:
                await asyncio.sleep(0.05)
                stop.set()
                total = await publisher
                await hub.publish("h", "end")
                later = await _frames_until_data(late, "end")
            seen = first + await _frames_until_data(witness, "end")
        expected = [f["data"] for f in seen[10:]]
        assert len(expected) == total - 10 + 1
        assert [f["data"] for f in replayed + later] == expected


async def test_history_by_age(hub: Hub) -> None:
    """A room that keeps messages for a time reports older ones as lost."""
    async with room_server(hub) as server:
        async with room_member(server, "aged") as first:
            (connection,) = hub.members("aged")
            await hub.join(connection, "aged", history=_age(0.3))
            await hub.publish("aged", "old")
            old = json.loads(await _recv(first))["id"]
            await hub.publish("aged", "old too")
            await _recv(first)
        await asyncio.sleep(0.5)
        await hub.publish("aged", "new")
        replayed: list[Any] = []
        async with room_member(server, "aged", since=old, before=replayed):
            pass
        assert replayed[0]["type"] == "history_gap"
        assert [f["data"] for f in replayed[1:]] == ["new"]


async def test_history_from_configuration(namespace: str, request: Any) -> None:
    """Hub(history=...) gives rooms matching a pattern their history."""
    for instance in _hubs(request, namespace, history={"chat:*": 5}):
        async with instance as hub, room_server(hub) as server:
            async with room_member(server, "chat:1", "plain") as client:
                await hub.publish("chat:1", "kept")
                await hub.publish("plain", "as is")
                assert json.loads(await _recv(client))["data"] == "kept"
                assert await _recv(client) == "as is"


async def test_history_refuses_binary(hub: Hub) -> None:
    """A room with history refuses binary messages."""
    async with room_server(hub) as server, room_member(server, "h", history=5):
        with pytest.raises(TypeError, match="carry text messages: 'h'"):
            await hub.publish("h", b"\x00")


async def test_history_refuses_another_policy(hub: Hub) -> None:
    """Joining a room with another history than it keeps is an error."""
    async with room_server(hub) as server, room_member(server, "h", history=5):
        (connection,) = hub.members("h")
        with pytest.raises(ValueError, match="another history: 5 messages"):
            await hub.join(connection, "h", history=6)


async def _recv(client: ClientConnection) -> Any:
    return await asyncio.wait_for(client.recv(), 10)


async def _eventually_async(read: Any, expected: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (value := await read()) != expected:
        assert loop.time() < deadline, f"still {value!r}"
        await asyncio.sleep(0.02)


def _order(id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in id.split("-"))


def _age(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=seconds)


async def _publish_in_history_room(
    hub: Hub, server: Any, room: str, texts: list[str]
) -> None:
    async with room_member(server, room, history=10) as client:
        for text in texts:
            await hub.publish(room, text)
            await _recv(client)


async def _frames_until_data(client: ClientConnection, last: str) -> list[Any]:
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(client.recv(), 10))
        frames.append(frame)
        if frame.get("data") == last:
            return frames


def _hubs(request: Any, namespace: str, **options: Any) -> list[Hub]:
    redis: RedisServer = request.getfixturevalue("redis_server")
    return [
        Hub(**options),
        Hub.from_url(redis.url, namespace=namespace, heartbeat=0.5, **options),
    ]
