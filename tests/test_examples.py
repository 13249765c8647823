"""Tests for the demo server that README.rst's first command starts."""

from __future__ import annotations

import asyncio
import pathlib
import re
import subprocess
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


# Runs the demo with redis-py unimportable, as if it were not installed: a
# finder ahead of the others fails every import of redis the way Python does.
WITHOUT_REDIS = """
import runpy, sys

class BlockRedis:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "redis":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, BlockRedis())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_demo_redis_without_extra() -> None:
    """The demo's --redis without redis-py names the extra to install and exits 2."""
    args = [DEMO, "--port", "0", "--redis", "redis://127.0.0.1:1/0"]
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_REDIS, *args],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == (
        "error: --redis requires the [redis] extra: "
        "pip install -e '.[redis]' in the clone\n"
    )
    assert result.stdout == ""
