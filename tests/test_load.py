"""Load and floods, against a server in its own process (marker: stress)."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect

pytestmark = pytest.mark.stress

SERVER = os.path.join(os.path.dirname(__file__), "stress_server.py")


class Remote:
    """The server process: its URL and its numbers."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def stats(self) -> dict[str, int]:
        async with connect(self.url("/stats")) as ws:
            return dict(json.loads(await ws.recv()))

    async def settled(self, baseline: dict[str, int], timeout: float = 30) -> None:
        """Wait until the server holds no more than at the baseline."""
        deadline = time.monotonic() + timeout
        while True:
            stats = await self.stats()
            held = {k: stats[k] for k in ("handlers", "tasks", "entries", "groups")}
            if all(held[k] <= baseline[k] for k in held):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"still held: {held}, baseline: {baseline}")
            await asyncio.sleep(0.2)


@pytest.fixture
async def remote() -> AsyncIterator[Remote]:
    """The stress server, running in its own process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 12000:
        if hard != resource.RLIM_INFINITY and hard < 12000:
            pytest.skip(f"12000 file descriptors are needed; the limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (12000, hard))
    # Python's own allocator keeps arenas that hold one live object each;
    # on the C allocator, the stats trim everything that is free.
    env = {**os.environ, "PYTHONMALLOC": "malloc"}
    process = subprocess.Popen(
        [sys.executable, SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    assert process.stdout is not None and process.stdin is not None
    port = int(await asyncio.to_thread(process.stdout.readline))
    try:
        yield Remote(process, port)
    finally:
        process.stdin.close()
        process.wait(30)
        process.stdout.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def report(line: str) -> None:
    """Print a figure, shown with pytest -s."""
    print(f"\n[stress] {line}", file=sys.stderr)


async def open_all(urls: list[str], batch: int = 500) -> list[ClientConnection]:
    """Open connections in concurrent batches."""
    connections: list[ClientConnection] = []
    for start in range(0, len(urls), batch):
        opening = [connect(url, open_timeout=30) for url in urls[start : start + batch]]
        connections += await asyncio.gather(*opening)
    return connections


async def warm_up(remote: Remote) -> dict[str, int]:
    """Run a small load once, so that the baseline includes warm caches."""
    connections = await open_all([remote.url("/echo")] * 200)
    await asyncio.gather(*(ws.close() for ws in connections))
    await asyncio.sleep(0.5)
    return await remote.stats()


async def load(remote: Remote) -> tuple[float, int, int]:
    """5,000 connections on three routes exchange messages, then close.

    Returns:
        Seconds to open them, messages delivered, server RSS while held.

    """
    started = time.monotonic()
    rooms = 100
    urls = (
        [remote.url("/echo")] * 2000
        + [remote.url(f"/sum/{n}/{n}") for n in range(2000)]
        + [remote.url(f"/room/r{n % rooms}") for n in range(1000)]
    )
    connections = await open_all(urls)
    opened = time.monotonic() - started
    echo, sums, members = connections[:2000], connections[2000:4000], connections[4000:]
    while (await remote.stats())["entries"] < len(members):
        await asyncio.sleep(0.1)
    held = (await remote.stats())["rss"]

    async def exchange(n: int, ws: ClientConnection) -> None:
        for i in range(3):
            await ws.send(f"{n}:{i}")
            assert await ws.recv() == f"{n}:{i}"

    async def hear(ws: ClientConnection) -> list[str]:
        return [str(await ws.recv()) for _ in range(10)]

    await asyncio.gather(*(exchange(n, ws) for n, ws in enumerate(echo)))
    answers = await asyncio.gather(*(ws.recv() for ws in sums))
    assert answers == [str(2 * n) for n in range(2000)]
    # Each member says one thing to its room of ten: each hears all ten.
    await asyncio.gather(*(ws.send(f"m{n}") for n, ws in enumerate(members)))
    heard = await asyncio.gather(*(hear(ws) for ws in members))
    for n, messages in enumerate(heard):
        expected = {f"m{m}" for m in range(len(members)) if m % rooms == n % rooms}
        assert set(messages) == expected
    await asyncio.gather(*(ws.close() for ws in connections))
    return opened, 2000 * 3 + 2000 + len(members) * 10, held


async def test_five_thousand_routed_connections(remote: Remote) -> None:
    """5,000 connections on three routes: every message arrives, nothing is kept.

    The server runs on the C allocator and trims it before each reading, so
    the figures are what it holds: after the first load, each later load
    gives its memory back to within 10%.

    """
    started = time.monotonic()
    idle = await warm_up(remote)
    rss = []
    for _ in range(3):
        opened, delivered, held = await load(remote)
        await remote.settled(idle)
        rss.append((await remote.stats())["rss"])
    elapsed = time.monotonic() - started
    report(
        f"3 x 5000 connections (the last opened in {opened:.1f} s), {delivered} "
        f"messages delivered each time, run {elapsed:.1f} s; server RSS "
        f"{idle['rss'] / 2**20:.1f} MiB idle, {held / 2**20:.1f} MiB held, after "
        f"each load: {', '.join(f'{r / 2**20:.1f}' for r in rss)} MiB"
    )
    assert elapsed < 120
    # The first load leaves what stays allocated once used (dict tables,
    # caches, interned names); every load after it gives its memory back.
    assert max(rss[1:]) <= rss[0] * 1.1


async def test_header_flood(remote: Remote) -> None:
    """300 half-open requests sending 1 MB of headers each: memory comes back."""
    baseline = await warm_up(remote)
    header = b"X-Flood: " + b"a" * 8000 + b"\r\n"
    request = b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header * 128

    async def flood() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", remote.port)
        try:
            writer.write(request)  # never the blank line that ends the headers
            await writer.drain()
        except ConnectionError:
            pass  # the server answered and closed before reading it all
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        return answer

    started = time.monotonic()
    answers = await asyncio.gather(
        *(flood() for _ in range(300)), return_exceptions=True
    )
    refused = sum(
        1 for a in answers if isinstance(a, bytes) and a.startswith(b"HTTP/1.1 431")
    )
    await remote.settled(baseline)
    after = (await remote.stats())["rss"]
    report(
        f"header flood: 300 x {len(request) / 1e6:.2f} MB in "
        f"{time.monotonic() - started:.1f} s, {refused} answered 431; server RSS "
        f"{baseline['rss'] / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after"
    )
    assert after <= baseline["rss"] * 1.1


async def test_thousand_handshakes(remote: Remote) -> None:
    """1,000 handshakes at once all succeed, and leave nothing behind."""
    baseline = await warm_up(remote)
    started = time.monotonic()
    connections = await open_all([remote.url("/echo")] * 1000, batch=1000)
    elapsed = time.monotonic() - started
    await asyncio.gather(*(ws.close() for ws in connections))
    await remote.settled(baseline)
    report(f"1000 concurrent handshakes in {elapsed:.2f} s")
    assert elapsed < 30
