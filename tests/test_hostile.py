"""Hostile clients: the server stays up, logs no traceback and leaks nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server
from websockets.exceptions import ConnectionClosed

from websockets_routes import RoutedPath, Router
from websockets_routes.hub import Hub

from support import url_of

#: What the hostile server allows: short timeouts keep the tests short.
LIMITS: dict[str, Any] = {
    "open_timeout": 1,
    "close_timeout": 1,
    "write_timeout": 1,
    "ping_interval": 0.5,
    "ping_timeout": 1,
    "max_size": 2**16,
}


class Target:
    """A server under attack, with what it must give back afterwards."""

    def __init__(self, server: Server, hub: Hub) -> None:
        self.server = server
        self.hub = hub
        self.port = server.sockets[0].getsockname()[1]
        self.tasks = len(asyncio.all_tasks())

    def handlers(self) -> int:
        """How many connection handlers run."""
        tasks = getattr(self.server, "handler_tasks", None)
        if tasks is None:  # websockets 14
            tasks = self.server.handlers
        return len(tasks)

    async def settled(self, timeout: float = 10) -> None:
        """Wait until no handler, task or hub membership is left; fail if one is."""
        registry = self.hub._registry
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = (
                self.handlers(),
                len(asyncio.all_tasks()) - self.tasks,
                len(registry.entries),
                len(registry.groups),
                len(registry.users),
            )
            if left == (0, 0, 0, 0, 0):
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"leaked (handlers, tasks, entries, groups, users): {left}")

    async def alive(self) -> None:
        """A well-behaved client still gets its echo."""
        async with connect(url_of(self.server, "/echo")) as ws:
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 5) == "ping"

    async def raw(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A plain TCP connection to the server."""
        return await asyncio.open_connection("127.0.0.1", self.port)


@pytest.fixture
async def target(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Target]:
    """A routed server with a hub; afterwards, no traceback or error was logged."""
    hub = Hub(max_buffer=2**16)
    router = Router()

    @router.route("/echo")
    async def echo(ws: Any, path: RoutedPath) -> None:
        async for message in ws:
            await ws.send(message)

    @router.route("/room/{name}")
    async def room(ws: Any, path: RoutedPath) -> None:
        async with hub.join(ws, path.params["name"], user=path.params["name"]):
            async for message in ws:
                await hub.publish(path.params["name"], message)

    caplog.set_level(logging.INFO)
    async with hub, router.serve("127.0.0.1", 0, **LIMITS) as server:
        target = Target(server, hub)
        yield target
        await target.alive()
        await target.settled()
    noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert noisy == []


def reset(writer: asyncio.StreamWriter) -> None:
    """Close a TCP connection with a reset, as a crashed client does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def ended(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Read until the server ends the connection; what it sent."""
    data = bytearray()

    async def read() -> None:
        while chunk := await reader.read(65536):
            data.extend(chunk)

    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(read(), timeout)
    return bytes(data)


async def test_mid_handshake_disconnects(target: Target) -> None:
    """Clients that leave in the middle of their request, by FIN or RST."""
    request = (
        b"GET /room/a HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    # Every cut of the request, the whole of it included, each by FIN or RST.
    for n in range(2 * (len(request) + 1)):
        _, writer = await target.raw()
        writer.write(request[: n // 2])
        await writer.drain()
        if n % 2:
            reset(writer)
        else:
            writer.close()


async def test_slowloris(target: Target) -> None:
    """Clients that send a header byte at a time are cut off by open_timeout."""
    clients = [await target.raw() for _ in range(20)]
    started = time.monotonic()

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(b"GET /echo HTTP/1.1\r\nX: ")
            while not reader.at_eof() and time.monotonic() - started < 5:
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(0.1)
        writer.close()

    await asyncio.gather(*(drip(r, w) for r, w in clients))
    assert time.monotonic() - started < 4


async def test_silent_sockets(target: Target) -> None:
    """Clients that connect and say nothing are closed by open_timeout."""
    clients = [await target.raw() for _ in range(20)]
    started = time.monotonic()
    sent = await asyncio.gather(*(ended(r, 5) for r, _ in clients))
    assert time.monotonic() - started < 4
    assert sent == [b""] * 20
    for _, writer in clients:
        writer.close()


async def test_many_handshakes(target: Target) -> None:
    """200 clients open and close at once; every one gets its echo."""

    async def client(n: int) -> str:
        async with connect(url_of(target.server, "/echo")) as ws:
            await ws.send(str(n))
            return str(await ws.recv())

    answers = await asyncio.gather(*(client(n) for n in range(200)))
    assert answers == [str(n) for n in range(200)]


async def test_clients_that_never_read(target: Target) -> None:
    """Room members that never read are closed (1013 or aborted); others go on."""
    stalled = []
    for _ in range(5):
        ws = await connect(url_of(target.server, "/room/r"), close_timeout=0.5)
        ws.transport.pause_reading()
        stalled.append(ws)
    async with connect(url_of(target.server, "/room/r")) as speaker:
        for _ in range(100):
            await speaker.send(os.urandom(30000))
            await speaker.recv()
        deadline = time.monotonic() + 10
        while len(target.hub.members("r")) > 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(target.hub.members("r")) == 1
    for ws in stalled:
        ws.transport.abort()


async def test_oversized_frames(target: Target) -> None:
    """A frame over max_size closes the connection with 1009."""
    async with connect(url_of(target.server, "/echo"), max_size=None) as ws:
        await ws.send(b"x" * (2**16 + 1))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.protocol.close_rcvd is not None
    assert ws.protocol.close_rcvd.code == 1009
