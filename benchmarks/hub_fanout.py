"""Fan-out time of the in-process hub against a bare websockets broadcast().

Usage: ``python benchmarks/hub_fanout.py [--quick]``.

The server runs in this process; clients run in a subprocess, so that each
process stays below its file descriptor limit. For each number of
connections, the script times ``broadcast(connections, message)`` and
``await hub.publish(group, message)`` over the same connections, alternating
them, and prints the median of each and their ratio. Compression is off:
it would dominate the time of both.

"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from common import Row, machine, print_table
from websockets.asyncio.client import connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection, broadcast, serve

from websockets_routes.hub import Hub

__all__ = ["main"]

MESSAGE = "x" * 64


async def clients(port: int, count: int) -> None:
    """Open connections that read everything until stdin closes."""

    async def client() -> None:
        async with connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            async for _ in ws:
                pass

    tasks = []
    for start in range(0, count, 500):
        batch = [asyncio.create_task(client()) for _ in range(min(500, count - start))]
        tasks += batch
        await asyncio.sleep(0.05)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for task in tasks:
        task.cancel()


async def drained(connections: list[Connection]) -> None:
    """Wait until the kernel accepted every write, between two rounds."""
    while any(c.transport.get_write_buffer_size() for c in connections):
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.02)


async def measure(hub: Hub, count: int, rounds: int, port: int) -> tuple[float, ...]:
    """Return median times (s) of broadcast(), hub and unlimited hub publish."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--clients", str(port), str(count)],
        stdin=subprocess.PIPE,
    )
    try:
        while len(hub.members("bench")) < count:
            await asyncio.sleep(0.05)
        connections = list(hub.members("bench"))

        async def bare() -> None:
            broadcast(connections, MESSAGE)

        async def limited() -> None:
            hub.max_buffer = 2**20
            await hub.publish("bench", MESSAGE)

        async def unlimited() -> None:
            hub.max_buffer = None
            await hub.publish("bench", MESSAGE)

        times: list[list[float]] = [[], [], []]
        for _ in range(rounds):
            for i, send in enumerate([bare, limited, unlimited]):
                start = time.perf_counter()
                await send()
                times[i].append(time.perf_counter() - start)
                await drained(connections)
        return tuple(statistics.median(t) for t in times)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait()


async def run(quick: bool) -> list[Row]:
    """Fan-out times, as rows: ratio = time / broadcast()'s."""
    sizes, rounds = ([1_000], 5) if quick else ([1_000, 10_000], 20)
    hub = Hub()

    async def handler(websocket: ServerConnection) -> None:
        async with hub.join(websocket, "bench"):
            await websocket.wait_closed()

    rows = []
    async with serve(handler, "127.0.0.1", 0, compression=None, backlog=4096) as server:
        port = server.sockets[0].getsockname()[1]
        for count in sizes:
            bare, limited, unlimited = await measure(hub, count, rounds, port)
            while hub.members("bench"):
                await asyncio.sleep(0.05)
            case = f"{count:,} connections, 64 bytes"
            note = f"ratio = time / broadcast(); median of {rounds} rounds"
            for subject, value in [
                ("websockets broadcast() (bare)", bare),
                ("hub.publish()", limited),
                ("hub.publish(), max_buffer=None", unlimited),
            ]:
                rows.append(
                    Row(
                        "hub fan-out",
                        case,
                        subject,
                        value * 1e3,
                        "ms",
                        value / bare,
                        note,
                    )
                )
    return rows


def main(quick: bool = False) -> list[Row]:
    """Fan-out rows, for benchmarks/run.py."""
    return asyncio.run(run(quick))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run in a few seconds")
    parser.add_argument("--clients", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients:
        asyncio.run(clients(*args.clients))
    else:
        print(machine())
        print_table(main(args.quick))
