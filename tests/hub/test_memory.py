"""The in-process hub: what holds without Redis."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys

import pytest

from websockets_routes.hub import Hub, RedisHub

from .helpers import hub_server, member, no_message
from .rooms import room_member, room_server


async def test_works_without_start() -> None:
    """The in-process hub delivers messages without async with."""
    hub = Hub()
    async with hub_server(hub) as server, member(server, "a") as client:
        await hub.publish("a", "no start needed")
        assert await client.recv() == "no start needed"


async def test_unlimited_buffer() -> None:
    """With max_buffer=None, the hub never closes connections itself."""
    hub = Hub(max_buffer=None)
    async with hub_server(hub) as server, member(server, "a") as client:
        await hub.broadcast(b"unlimited")
        assert await client.recv() == b"unlimited"


async def test_slow_client_is_aborted() -> None:
    """A slow client that never reads is aborted after the close timeout."""
    hub = Hub(max_buffer=64 * 1024)
    async with hub_server(hub, close_timeout=0.1) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(server.url.split(":")[2].strip("/"))))
        async with member(server, "a", sock=sock, max_queue=1, close_timeout=0.1):
            (connection,) = hub.members("a")
            connection.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
            )
            while hub.members("a"):
                await hub.publish("a", os.urandom(16 * 1024))
                await asyncio.sleep(0)
            await asyncio.wait_for(connection.wait_closed(), 2)
            assert connection.protocol.close_code == 1006


def test_rejects_negative_max_buffer() -> None:
    """Hub rejects a negative max_buffer."""
    with pytest.raises(ValueError, match="max_buffer must be positive or None: -1"):
        Hub(max_buffer=-1)


def test_from_url_does_not_connect() -> None:
    """from_url() returns a RedisHub without connecting to Redis."""
    hub = Hub.from_url("redis://127.0.0.1:1/0", namespace="app")
    assert isinstance(hub, RedisHub)
    assert hub.namespace == "app"


def test_import_does_not_import_redis() -> None:
    """Importing websockets_routes.hub doesn't import redis-py."""
    code = "import sys, websockets_routes.hub; print('redis' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


async def test_replayed_message_arriving_late_is_dropped() -> None:
    """A replayed message that reaches the hub again after the replay isn't resent."""
    hub = Hub(history=10)
    async with room_server(hub) as server:
        for text in ("m1", "m2", "m3"):
            await hub.publish("h", text)
        replayed: list[object] = []
        async with room_member(server, "h", since="1", before=replayed) as client:
            # What a Redis subscriber does when its copy of m3 comes after
            # the history read: deliver it again, live.
            hub._deliver_room("h", "m3", "3")
            assert await no_message(client)
            await hub.publish("h", "m4")
            assert json.loads(await client.recv())["data"] == "m4"
            # Past a newer message, the hub no longer compares ids.
            hub._deliver_room("h", "m3", "3")
            assert json.loads(await client.recv())["data"] == "m3"
    assert [frame["id"] for frame in replayed] == ["2", "3"]  # type: ignore[index]
