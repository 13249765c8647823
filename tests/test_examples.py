"""Tests for the demo server that README.rst's first command starts."""

from __future__ import annotations

import asyncio
import pathlib
import re
import sys
from collections.abc import AsyncIterator

import pytest
import websockets

from support import http_get

DEMO = pathlib.Path(__file__).parent.parent / "examples" / "server.py"


@pytest.fixture
async def demo() -> AsyncIterator[int]:
    """Run examples/server.py on a free port; yield the port."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(DEMO), "--port", "0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        match = re.search(rb"127\.0\.0\.1:(\d+)/", line)
        assert match is not None, line
        yield int(match[1])
    finally:
        process.terminate()
        await process.wait()


async def test_demo_serves_page_and_health(demo: int) -> None:
    """The demo answers GET / with its page and /healthz with OK."""
    status, headers, body = await http_get(demo, "/")
    assert status == 200 and b"new WebSocket(url)" in body
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert (await http_get(demo, "/healthz"))[2] == b"OK\n"


async def test_demo_room(demo: int) -> None:
    """Messages in a demo room reach everyone in it."""
    base = f"ws://127.0.0.1:{demo}/rooms/kitchen"
    async with websockets.connect(base + "?user=alice") as alice:
        assert await alice.recv() == "alice joined"
        async with websockets.connect(base + "?user=bob") as bob:
            assert await alice.recv() == "bob joined"
            assert await bob.recv() == "bob joined"
            await bob.send("hi")
            assert await alice.recv() == "bob: hi"
            assert await bob.recv() == "bob: hi"
        assert await alice.recv() == "bob left"
