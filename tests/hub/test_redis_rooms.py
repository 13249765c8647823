"""Presence and history of the Redis hub across processes, and its keys."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from websockets.asyncio.client import connect

from websockets_routes.hub import Hub, HubUnavailable, RedisHub

from .conftest import RedisServer
from .rooms import frames_until, room_member, room_server

ROOT = Path(__file__).parents[2]
HEARTBEAT = 0.2


@pytest.fixture
async def hub(redis_server: RedisServer, namespace: str) -> AsyncIterator[Hub]:
    """A started Redis hub with a short heartbeat."""
    async with Hub.from_url(
        redis_server.url, namespace=namespace, heartbeat=HEARTBEAT
    ) as instance:
        yield instance


@pytest.fixture
def worker(redis_server: RedisServer, namespace: str) -> Iterator[tuple[Any, str]]:
    """A server process (``server_process.py``) on the same Redis and namespace.

    Its rooms keep 100,000 messages of history. Request it before ``hub``:
    waiting for the process blocks the event loop, which a started hub's
    subscriber would take for a Redis that hangs, and resubscribe.

    """
    script = Path(__file__).with_name("server_process.py")
    process = subprocess.Popen(
        [sys.executable, str(script), redis_server.url, namespace, "100000"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    assert port, "server process didn't start"
    yield process, f"ws://127.0.0.1:{port}/"
    process.kill()
    process.wait()
    process.stdout.close()


async def _presence_until(hub: Hub, room: str, expected: Any) -> float:
    """Poll presence until it is as expected; return how long it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while (presence := await hub.presence(room)) != expected:
        assert loop.time() - start < 10, f"presence stayed {presence!r}"
        await asyncio.sleep(0.02)
    return loop.time() - start


async def test_members_of_a_killed_process_leave_presence(
    worker: tuple[Any, str], hub: Hub
) -> None:
    """A process killed with SIGKILL leaves presence within 3 heartbeats."""
    process, url = worker
    async with room_server(hub) as server:
        events: list[Any] = []
        async with room_member(server, "room", user="w", events=1, before=events) as w:
            async with (
                connect(url + "?group=room&user=alice") as alice,
                connect(url + "?group=room&user=bob") as bob,
            ):
                assert [await alice.recv(), await bob.recv()] == ["joined"] * 2
                everyone = {"w": [{}], "alice": [{}], "bob": [{}]}
                await _presence_until(hub, "room", everyone)
                process.send_signal(signal.SIGKILL)
                process.wait()
                # Presence drops them 3 heartbeats after the last refresh, at
                # most; allow for a loaded machine.
                took = await _presence_until(hub, "room", {"w": [{}]})
                assert took < 3 * HEARTBEAT + 2.0
            left: set[str] = set()
            while left != {"alice", "bob"}:
                event = json.loads(await asyncio.wait_for(w.recv(), 10))
                if event["event"] == "leave":
                    left.add(event["user"])


async def test_presence_across_hubs(
    hub: Hub, redis_server: RedisServer, namespace: str
) -> None:
    """presence() lists the members of every process; closing a hub removes its own."""
    other = Hub.from_url(redis_server.url, namespace=namespace, heartbeat=HEARTBEAT)
    async with room_server(hub) as here:
        async with room_member(here, "room", user="alice", meta={"p": 1}):
            async with other, room_server(other) as there:
                async with room_member(there, "room", user="alice", meta={"p": 2}):
                    for reader in (hub, other):
                        presence = await reader.presence("room")
                        assert sorted(presence["alice"], key=str) == [
                            {"p": 1},
                            {"p": 2},
                        ]
            assert await hub.presence("room") == {"alice": [{"p": 1}]}


async def test_resume_across_hubs(redis_server: RedisServer, namespace: str) -> None:
    """A member of one process resumes what another process published."""
    config = {"namespace": namespace, "heartbeat": HEARTBEAT, "history": 100}
    async with (
        Hub.from_url(redis_server.url, **config) as publisher,
        Hub.from_url(redis_server.url, **config) as subscriber,
        room_server(subscriber) as server,
    ):
        async with room_member(server, "h") as client:
            await publisher.publish("h", "seen")
            seen = json.loads(await asyncio.wait_for(client.recv(), 5))["id"]
        for i in range(3):
            await publisher.publish("h", f"missed {i}")
        replayed: list[Any] = []
        async with room_member(server, "h", since=seen, before=replayed) as client:
            await publisher.publish("h", "live")
            live = json.loads(await asyncio.wait_for(client.recv(), 5))
        assert [f["data"] for f in replayed] == [f"missed {i}" for i in range(3)]
        ids = [f["id"] for f in replayed] + [live["id"]]
        assert ids == sorted(ids, key=lambda id: tuple(map(int, id.split("-"))))


async def test_room_keys_share_a_hash_tag(
    hub: Hub, redis_server: RedisServer, namespace: str
) -> None:
    """Every key of a room's history and presence carries the room's hash tag."""
    async with room_server(hub) as server:
        async with room_member(server, "r:1", user="u", history=5):
            await hub.publish("r:1", "hello")
            client = redis.asyncio.Redis.from_url(redis_server.url)
            try:
                keys = sorted(k.decode() for k in await client.keys(f"*{namespace}*"))
            finally:
                await client.aclose()
    tag = f"{{{namespace}:r:1}}"
    room_keys = [key for key in keys if "r:1" in key]
    assert room_keys == sorted(
        [
            f"{tag}:history",
            f"{tag}:presence",
            f"{tag}:presence:alive",
            f"{namespace}:count:r:1",
        ]
    )


async def test_room_keys_come_from_overridable_methods(
    redis_server: RedisServer, namespace: str
) -> None:
    """A subclass renames a room's keys by overriding _room_tag()."""

    class TaggedHub(RedisHub):
        def _room_tag(self, room: str) -> str:
            return f"{{custom:{room}}}"

    async with TaggedHub(redis_server.url, namespace=namespace) as hub:
        async with room_server(hub) as server, room_member(server, "x", history=5):
            await hub.publish("x", "hello")
            client = redis.asyncio.Redis.from_url(redis_server.url)
            try:
                assert await client.exists("{custom:x}:history") == 1
                assert await client.exists("{custom:x}:presence") == 1
            finally:
                await client.aclose()


@pytest.mark.stress
async def test_resume_under_load_across_processes(
    worker: tuple[Any, str], hub: Hub
) -> None:
    """Members resuming while another process publishes get each message once."""
    _, url = worker
    async with room_server(hub) as server:
        async with (
            room_member(server, "load") as witness,
            # Not a member: it would receive every message and never read.
            connect(url) as publisher,
        ):
            assert await publisher.recv() == "joined"
            count = 4000

            async def send() -> None:
                # At a pace that keeps publishing going while members resume:
                # at full speed, it could end before the fifth resume.
                for i in range(count):
                    await publisher.send(f"publish load {i}")
                    if i % 20 == 19:
                        await asyncio.sleep(0.01)

            sending = asyncio.create_task(send())
            seen: list[Any] = []

            async def see(until: int) -> None:
                while len(seen) < until:
                    seen.append(json.loads(await asyncio.wait_for(witness.recv(), 10)))

            await see(50)
            resumes = 0
            while resumes < 20 and len(seen) < count - 200:
                resumes += 1
                since, position = seen[-1]["id"], len(seen)
                got: list[Any] = []
                async with room_member(server, "load", since=since, before=got) as m:
                    # Check the seam between the replay and the live stream.
                    length = min(len(got) + 50, count - position)
                    while len(got) < length:
                        got.append(json.loads(await asyncio.wait_for(m.recv(), 10)))
                    await _leave(m)
                await see(position + length)
                assert got == seen[position : position + length]
            await sending
            await _leave(witness)
            assert [int(f["data"]) for f in seen] == list(range(len(seen)))
            assert resumes >= 5


async def _leave(client: Any) -> None:
    """Leave the rooms and read what came before, so that closing is quick.

    A client that stops reading while messages keep coming pauses reading
    from the network, so it can't read the closing handshake: its close()
    would wait for close_timeout, while publishing goes on.

    """
    await client.send("leave")
    await frames_until(client, "left")


async def test_at_most_once_across_a_redis_restart(
    own_redis_server: RedisServer, namespace: str
) -> None:
    """Across a Redis restart, no message arrives twice nor out of order."""
    url = own_redis_server.url
    async with (
        Hub.from_url(url, namespace=namespace, heartbeat=HEARTBEAT) as hub,
        room_server(hub) as server,
        room_member(server, "room") as client,
    ):
        published: list[int] = []
        for i in range(600):
            if i == 200:
                own_redis_server.stop()
            if i == 300:
                own_redis_server.start()
            try:
                await hub.publish("room", str(i))
            except HubUnavailable:
                await asyncio.sleep(0.01)
            else:
                published.append(i)
        # The end marker may be lost while the hub resubscribes: repeat it.
        received: list[int] = []
        for _ in range(100):
            await hub.publish("room", "end")
            try:
                while (message := await asyncio.wait_for(client.recv(), 0.1)) != "end":
                    received.append(int(message))
                break
            except TimeoutError:
                pass
    assert received == sorted(set(received))
    assert set(received) <= set(published)
    assert received[:200] == list(range(200))


async def test_lost_history_after_a_redis_restart(
    own_redis_server: RedisServer, namespace: str
) -> None:
    """History that Redis lost in a restart is reported to a resuming member."""
    url = own_redis_server.url
    async with (
        Hub.from_url(url, namespace=namespace, heartbeat=HEARTBEAT, history=10) as hub,
        room_server(hub) as server,
    ):
        async with room_member(server, "room") as client:
            await hub.publish("room", "before")
            since = json.loads(await asyncio.wait_for(client.recv(), 5))["id"]
        own_redis_server.stop()
        with pytest.raises(HubUnavailable):
            await hub.publish("room", "lost")
        own_redis_server.start()
        for _ in range(200):
            try:
                await hub.publish("room", "after")
                break
            except HubUnavailable:
                await asyncio.sleep(0.05)
        replayed: list[Any] = []
        async with room_member(server, "room", since=since, before=replayed):
            pass
    assert replayed[0] == {"type": "history_gap", "room": "room", "since": since}
    assert [frame["data"] for frame in replayed[1:]] == ["after"]
