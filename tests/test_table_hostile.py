"""Hostile input: no path makes matching superlinear, no requirement may backtrack."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect

from websockets_routes import Router
from websockets_routes.exceptions import InvalidRoute
from websockets_routes.path import RoutedPath
from websockets_routes.table import Route, RouteTable

from support import url_of

#: What fits in websockets' request line (8 KB) with the method and version.
LONG = 8_000

HOSTILE = [
    # Routes' regex for these backtracks over every split of the segment
    # before the trailing slash makes it fail: hours for /t/, seconds for
    # /files/.
    ("/t/{a}-{b}-{c}", "/t/" + "-" * LONG + "/", None),
    ("/t/{a}-{b}-{c}", "/t/" + "-" * LONG, {"a": "-", "b": "-", "c": "-" * (LONG - 4)}),
    (
        "/t/{a}-{b}-{c}",
        "/t/" + "a-" * (LONG // 2),
        {"a": "a", "b": "a", "c": "a-" * (LONG // 2 - 2)},
    ),
    ("/files/{name}.{ext}", "/files/" + "." * LONG + "/", None),
    (
        "/files/{name}.{ext}",
        "/files/" + "a." * (LONG // 2),
        {"name": "a", "ext": "a." * (LONG // 2 - 1)},
    ),
    ("/x/{a}{b}{c}", "/x/" + "b" * LONG + "/", None),
    (r"/u/{x:[a-z]+}-{y}", "/u/" + "a" * LONG + "-", None),
    (r"/v/{n:\d+}", "/v/" + "1" * LONG + "x", None),
    ("/p/{rest:path}/{name}", "/p/" + "a/" * (LONG // 2), None),
]


@pytest.mark.parametrize(("pattern", "path", "params"), HOSTILE)
def test_long_paths_match_in_linear_time(
    pattern: str, path: str, params: dict[str, Any] | None
) -> None:
    """8 KB paths that make Routes' regex backtrack match in microseconds."""
    table = RouteTable()
    table.add(Route(pattern, name="hostile"))
    start = time.process_time()
    found = table.match(path)
    elapsed = time.process_time() - start
    assert (None if found is None else found[1]) == params
    # Linear work on 8 KB is about 10 µs; Routes' regex takes seconds to hours.
    assert elapsed < 0.05, elapsed


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"/a/{x:(a+)+}", "requirement can backtrack catastrophically"),
        (r"/a/{x:(\w+\s?)+$}", "requirement can backtrack catastrophically"),
        (r"/a/{x:(?:a|ab)*}", "requirement can backtrack catastrophically"),
        (r"/a/{x:(a)\1}", "requirement can backtrack catastrophically"),
        (r"/a/{x:[a-z-]+}-{y}", "more than one parameter of a segment"),
        (r"/a/{x}-{y}-{z:\d+}", "more than one parameter of a segment"),
        (r"/a/{x:.*}/{y:.*}", "more than one parameter may match /"),
        (r"/a/{rest:path}.{ext}", "with a parameter that matches /"),
        (r"/a/{x}-{y}/{rest:path}", "more than one parameter of a segment"),
    ],
)
def test_backtracking_requirements_are_refused(pattern: str, message: str) -> None:
    """Registration refuses requirements and segments that could backtrack."""
    with pytest.raises(InvalidRoute) as info:
        Route(pattern)
    assert str(info.value).startswith(message)
    assert repr(pattern) in str(info.value)


@pytest.mark.parametrize(
    "pattern",
    [
        r"/a/{x:\d+}.{fmt}",
        r"/a/{x:[a-z]+}-{y}",
        r"/a/{x:(?:\.\d+)?}",
        r"/a/{x:[0-9a-f]{8}}",
        "/a/{x}-{y}-{z}",
        "/a/{v}/{rest:path}/{name}",
        "/a/{i:int}.{f:float}/{rest:path}",
        "/a/{id:uuid}/{when:float}",
    ],
)
def test_linear_requirements_are_accepted(pattern: str) -> None:
    """Requirements and segments that match in linear time are accepted."""
    Route(pattern)


async def _hostile_request(port: int, path: str) -> bytes:
    """Send a handshake for a path over a raw socket; return the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    try:
        return await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_server_stays_responsive_under_hostile_paths() -> None:
    """8 KB paths against backtracking-prone routes leave another client's echo fast."""
    router = Router()

    async def echo(ws: Any, path: RoutedPath) -> None:
        async for message in ws:
            await ws.send(message)

    async def idle(ws: Any, path: RoutedPath) -> None:
        pass

    router.add_route("/echo", echo)
    for pattern in ("/t/{a}-{b}-{c}", "/files/{name}.{ext}", "/x/{a}{b}{c}"):
        router.add_route(pattern, idle)
    hostile = ["/t/" + "-" * LONG + "/", "/files/" + "." * LONG + "/"]
    hostile += ["/x/" + "b" * LONG + "/", "/t/" + "-" * LONG]
    async with router.serve("127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(url_of(server, "/echo")) as ws:
            latencies: list[float] = []

            async def ping() -> None:
                for _ in range(40):
                    start = time.monotonic()
                    await ws.send("ping")
                    assert await ws.recv() == "ping"
                    latencies.append(time.monotonic() - start)
                    await asyncio.sleep(0.01)

            async def attack() -> list[bytes]:
                return [await _hostile_request(port, path) for path in hostile * 10]

            _, statuses = await asyncio.wait_for(
                asyncio.gather(ping(), attack()), timeout=30
            )
    assert set(statuses) == {
        b"HTTP/1.1 404 Not Found\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n",
    }
    # A loop blocked by backtracking stalls the echo for seconds to hours.
    assert max(latencies) < 1.0, max(latencies)
