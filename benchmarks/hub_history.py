"""The Redis hub with and without history, across processes, on loopback.

Usage: ``python benchmarks/hub_history.py [--quick] [--url redis://...]``.

Without ``--url``, the script starts a redis-server on a free port. A
subprocess serves WebSocket connections with a RedisHub; this process
publishes with another RedisHub to a group that a client, connected to the
subprocess, joined. Every message thus crosses Redis, a process boundary and
a WebSocket connection. ``hub_redis.py`` compares the hub with plain redis-py;
this script compares a group that keeps its last 10,000 messages in a Redis
Stream with one that keeps none, through the same subprocess and client, in
alternating rounds:

* latency: one message at a time, from ``publish()`` to the client; p50, p99;
* throughput: messages published back to back, until the client received the
  last one;
* CPU time of this process (publisher and client) per message.

The ratios are medians of per-round ratios (with / without).

"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid

from common import Row, machine, print_table
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from websockets_routes.hub import Hub

__all__ = ["main"]


async def server(url: str, namespace: str) -> None:
    """Serve clients that join the group "bench"; print the port."""
    async with Hub.from_url(url, namespace=namespace) as hub:

        async def handler(websocket: ServerConnection) -> None:
            async with hub.join(websocket, "bench"):
                await websocket.send("joined")
                await websocket.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as ws_server:
            print(ws_server.sockets[0].getsockname()[1], flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def _round_trips(hub: Hub, client: ClientConnection, count: int) -> list[float]:
    # As latency(), without looking at the frames, which history wraps.
    times = []
    for i in range(count):
        start = time.perf_counter()
        await hub.publish("bench", f"{i}")
        await client.recv()
        times.append(time.perf_counter() - start)
    return times


async def _rate(hub: Hub, client: ClientConnection, count: int) -> tuple[float, float]:
    # As throughput(), with the CPU time of this process per message.
    async def publish() -> None:
        for i in range(count):
            await hub.publish("bench", f"{i}")

    start, cpu = time.perf_counter(), time.process_time()
    publisher = asyncio.create_task(publish())
    for _ in range(count):
        await client.recv()
    await publisher
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return count / elapsed, cpu / count


async def _history_round(
    hubs: dict[str, Hub], client: ClientConnection, quick: bool, flip: bool
) -> dict[str, tuple[float, float, float, float]]:
    # Per subject: p50, p99, msg/s, CPU s/msg; the order alternates by round.
    figures = {}
    for name in sorted(hubs, reverse=flip):
        times = await _round_trips(hubs[name], client, 200 if quick else 2_000)
        p50, p99 = (statistics.quantiles(times, n=100)[i] for i in (49, 98))
        rate, cpu = await _rate(hubs[name], client, 1_000 if quick else 10_000)
        figures[name] = (p50, p99, rate, cpu)
    return figures


async def run_history(url: str, quick: bool) -> list[Row]:
    """Messages with and without history, interleaved, as rows."""
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, namespace],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        plain = Hub.from_url(url, namespace=namespace)
        kept = Hub.from_url(url, namespace=namespace, history=10_000)
        rounds = []
        async with plain, kept, connect(f"ws://127.0.0.1:{port}/") as client:
            assert await client.recv() == "joined"
            hubs = {"with history": kept, "without history": plain}
            await _history_round(hubs, client, True, False)  # warm up
            for index in range(1 if quick else 5):
                rounds.append(await _history_round(hubs, client, quick, index % 2 == 1))
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait()
    return _history_rows(rounds)


def _history_rows(rounds: list[dict[str, tuple[float, ...]]]) -> list[Row]:
    def median(name: str, index: int) -> float:
        return statistics.median(r[name][index] for r in rounds)

    def ratio(index: int) -> float:
        values = [
            r["with history"][index] / r["without history"][index] for r in rounds
        ]
        return statistics.median(values)

    case, rows = "across processes, loopback", []
    note = "ratio: with / without history, median of rounds"
    for name in ("without history", "with history"):
        subject = f"RedisHub.publish(), {name}"
        is_kept = name == "with history"
        for label, index, scale, unit in [
            ("latency p50", 0, 1e3, "ms"),
            ("latency p99", 1, 1e3, "ms"),
            ("throughput", 2, 1, "msg/s"),
            ("CPU per message", 3, 1e6, "us"),
        ]:
            rows.append(
                Row(
                    "hub redis history",
                    f"{case}, {label}",
                    subject,
                    median(name, index) * scale,
                    unit,
                    ratio(index) if is_kept else None,
                    note if is_kept else "",
                )
            )
    return rows


def main(quick: bool = False) -> list[Row]:
    """Start a redis-server on a free port for the duration of the benchmark."""
    executable = shutil.which("redis-server")
    if executable is None:
        print("hub_redis: redis-server isn't installed; skipped", file=sys.stderr)
        return []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [executable, "--port", str(port), "--bind", "127.0.0.1"]
    redis = subprocess.Popen(
        [*command, "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    try:
        for _ in range(500):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.01)
        url = f"redis://127.0.0.1:{port}/0"
        return asyncio.run(run_history(url, quick))
    finally:
        redis.kill()
        redis.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run in a few seconds")
    parser.add_argument("--url", help="Redis URL; default: start a redis-server")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(server(*args.serve))
    else:
        if args.url:
            rows = asyncio.run(run_history(args.url, args.quick))
        else:
            rows = main(args.quick)
        print(machine())
        print_table(rows)
