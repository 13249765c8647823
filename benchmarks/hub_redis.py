"""Cross-process throughput and latency of the Redis hubs, on loopback.

Usage: ``python benchmarks/hub_redis.py [--quick] [--url redis://...]``.

Without ``--url``, the script starts a redis-server on a free port and a Redis
Cluster of three masters and three replicas (see ``tests/hub/cluster.py``).
For each backend, a subprocess serves WebSocket connections; a client in
this process connects twice to it:

* ``/hub`` joins the group "bench" of the subprocess's hub, which this
  process publishes to with its own hub: :class:`RedisHub` on one server,
  :class:`ClusterHub` on the cluster;
* ``/plain`` subscribes the subprocess to a channel with redis-py alone and
  forwards each message to the client; this process publishes to it with
  redis-py: ``PUBLISH`` on one server, ``SPUBLISH`` on the cluster. That's
  the floor: what the hub costs is the difference.

Every message thus crosses Redis, a process boundary and a WebSocket
connection. The subjects alternate within each round, and rounds repeat;
the table shows the medians of each subject and the median of the per-round
ratios hub / plain (throughput; plain / hub for latency: higher is better).

* latency: one message at a time, from publishing to the client; p50, p99;
* throughput: messages published back to back, each publish awaited, until
  the client received the last one;
* CPU per message: the CPU time that this process and the server process
  spent during the throughput run (from ``/proc``, so Linux only), per
  message: the least noisy figure on a shared machine; then the server
  process's alone: the receiving side, from Redis to the WebSocket client;
* CPU per publish: the CPU time of this process per publish, awaited one
  after the other, to a channel that no process subscribes to: the
  publishing side alone, in one process.

"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from common import Row, machine, print_table
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from websockets_routes.hub import Hub

__all__ = ["main"]

Publish = Callable[[str], Awaitable[Any]]


def is_cluster(url: str) -> bool:
    """Whether a hub URL names a Redis Cluster."""
    return "+cluster://" in url


def plain_client(url: str) -> Any:
    """A redis-py client for the URL of a hub: cluster or not."""
    import redis.asyncio
    import redis.asyncio.cluster

    if is_cluster(url):
        return redis.asyncio.cluster.RedisCluster.from_url(
            url.replace("+cluster", "", 1)
        )
    return redis.asyncio.Redis.from_url(url)


async def forward(websocket: ServerConnection, url: str, channel: str) -> None:
    """Subscribe with redis-py alone; send every message to the client."""
    client = plain_client(url)
    pubsub = client.pubsub()
    if is_cluster(url):
        await client.initialize()
        await pubsub.ssubscribe(channel)
        get = pubsub.get_sharded_message
    else:
        await pubsub.subscribe(channel)
        get = pubsub.get_message
    try:
        while await get(timeout=None) is None:
            pass  # until the subscription is confirmed
        await websocket.send("joined")
        while True:
            message = await get(timeout=None)
            if message is not None:
                await websocket.send(message["data"].decode())
    finally:
        await pubsub.aclose()
        await client.aclose()


async def server(url: str, namespace: str) -> None:
    """Serve /hub and /plain; print the port; stop when stdin closes."""
    async with Hub.from_url(url, namespace=namespace) as hub:

        async def handler(websocket: ServerConnection) -> None:
            assert websocket.request is not None
            if websocket.request.path == "/plain":
                channel = f"{namespace}:plain"
                task = asyncio.create_task(forward(websocket, url, channel))
                closed = asyncio.create_task(websocket.wait_closed())
                await asyncio.wait([task, closed], return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    task.result()  # raises what failed
                task.cancel()
                return
            async with hub.join(websocket, "bench"):
                await websocket.send("joined")
                await websocket.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as ws_server:
            print(ws_server.sockets[0].getsockname()[1], flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def latency(
    publish: Publish, client: ClientConnection, count: int
) -> list[float]:
    """Time messages one at a time, from publishing to the client."""
    times = []
    for i in range(count):
        start = time.perf_counter()
        await publish(f"{i}")
        await client.recv()
        times.append(time.perf_counter() - start)
    return times


async def throughput(publish: Publish, client: ClientConnection, count: int) -> float:
    """Publish messages back to back; return messages per second."""

    async def publish_all() -> None:
        for i in range(count):
            await publish(f"{i}")

    start = time.perf_counter()
    publisher = asyncio.create_task(publish_all())
    for i in range(count):
        assert await client.recv() == f"{i}", "lost or reordered message"
    await publisher
    return count / (time.perf_counter() - start)


# Throughput, p50, p99, CPU per message of both processes, of the server's.
Figures = tuple[float, float, float, float, float]


def server_seconds(pid: int) -> float:
    """CPU time used so far by the server process's threads."""
    # schedstat counts nanoseconds; stat counts ticks of 10 ms, too coarse
    # for the server's share of a quick run.
    tasks = pathlib.Path(f"/proc/{pid}/task").glob("*/schedstat")
    return sum(int(task.read_text().split()[0]) for task in tasks) / 1e9


async def measure(
    publish: Publish, client: ClientConnection, pid: int, quick: bool
) -> Figures:
    """One round of one subject: throughput, p50, p99, CPU per message."""
    count = 500 if quick else 3_000
    times = await latency(publish, client, 200 if quick else 1_000)
    start, server_start = time.process_time(), server_seconds(pid)
    rate = await throughput(publish, client, count)
    server = (server_seconds(pid) - server_start) / count
    cpu = (time.process_time() - start) / count + server
    p50, p99 = (statistics.quantiles(times, n=100)[i] for i in (49, 98))
    return rate, p50, p99, cpu, server


async def pubsub_rows(url: str, name: str, quick: bool) -> list[Row]:
    """The hub against plain redis-py on one backend, interleaved, as rows."""
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
        plain = plain_client(url)
        send = plain.spublish if is_cluster(url) else plain.publish
        channel = f"{namespace}:plain"
        async with (
            Hub.from_url(url, namespace=namespace) as hub,
            connect(f"ws://127.0.0.1:{port}/hub") as hub_client,
            connect(f"ws://127.0.0.1:{port}/plain") as plain_client_ws,
        ):
            assert await hub_client.recv() == "joined"
            assert await plain_client_ws.recv() == "joined"
            subjects: dict[str, tuple[Publish, ClientConnection]] = {
                "redis-py": (lambda text: send(channel, text), plain_client_ws),
                "hub": (lambda text: hub.publish("bench", text), hub_client),
            }
            results = await rounds(subjects, process.pid, quick)
        await plain.aclose()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait()
    return table(results, name, type(hub).__name__)


async def rounds(
    subjects: dict[str, tuple[Publish, ClientConnection]], pid: int, quick: bool
) -> dict[str, list[Figures]]:
    """Measure every subject in each round, alternating their order."""
    results: dict[str, list[Figures]] = {name: [] for name in subjects}
    for publish, client in subjects.values():
        await latency(publish, client, 50 if quick else 500)  # warm up
    for index in range(1 if quick else 11):
        order = list(subjects) if index % 2 == 0 else list(reversed(subjects))
        for name in order:
            results[name].append(await measure(*subjects[name], pid, quick))
    return results


async def publish_rows(url: str, name: str, quick: bool) -> list[Row]:
    """CPU time per publish in this process, the hub against redis-py, as rows."""
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    plain = plain_client(url)
    send = plain.spublish if is_cluster(url) else plain.publish
    channel = f"{namespace}:nobody"
    async with Hub.from_url(url, namespace=namespace) as hub:
        subjects: dict[str, Callable[[], Awaitable[Any]]] = {
            "redis-py": lambda: send(channel, "0"),
            "hub": lambda: hub.publish("nobody", "0"),
        }
        runs = await cpu_rounds(subjects, 200 if quick else 2_000, quick)
    await plain.aclose()
    ratios = [p / h for h, p in zip(runs["hub"], runs["redis-py"], strict=True)]
    case = f"{name}, publishing side, CPU per publish"
    note = "median of per-round ratios to redis-py"
    return [
        Row("hub redis", case, "redis-py publish", median_us(runs["redis-py"]), "µs"),
        Row(
            "hub redis",
            case,
            f"{type(hub).__name__}.publish()",
            median_us(runs["hub"]),
            "µs",
            statistics.median(ratios),
            note,
        ),
    ]


async def cpu_rounds(
    subjects: dict[str, Callable[[], Awaitable[Any]]], count: int, quick: bool
) -> dict[str, list[float]]:
    """CPU seconds per call of each subject, in alternating rounds."""
    results: dict[str, list[float]] = {name: [] for name in subjects}
    for index in range(-1, 1 if quick else 11):  # round -1 warms up
        order = list(subjects) if index % 2 == 0 else list(reversed(subjects))
        for name in order:
            start = time.process_time()
            for _ in range(count):
                await subjects[name]()
            if index >= 0:
                results[name].append((time.process_time() - start) / count)
    return results


def median_us(runs: list[float]) -> float:
    """The median of CPU seconds per call, in microseconds."""
    return statistics.median(runs) * 1e6


def table(results: dict[str, list[Figures]], backend: str, hub: str) -> list[Row]:
    """Rows of medians and of the medians of per-round ratios hub / plain."""
    floor, ours = results["redis-py"], results["hub"]
    rows = []
    for column, case, unit, scale, higher in (
        (0, "throughput", "msg/s", 1.0, True),
        (1, "latency p50", "ms", 1e3, False),
        (2, "latency p99", "ms", 1e3, False),
        (3, "CPU per message, both processes", "µs", 1e6, False),
        (4, "CPU per message, receiving process", "µs", 1e6, False),
    ):
        ratios = [
            h[column] / p[column] if higher else p[column] / h[column]
            for h, p in zip(ours, floor, strict=True)
        ]
        full_case = f"{backend}, across processes, {case}"
        for subject, runs, ratio in (
            ("redis-py pub/sub", floor, None),
            (f"{hub}.publish()", ours, statistics.median(ratios)),
        ):
            value = statistics.median(run[column] for run in runs) * scale
            note = "" if ratio is None else "median of per-round ratios to redis-py"
            rows.append(Row("hub redis", full_case, subject, value, unit, ratio, note))
    return rows


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def single_server(executable: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start a redis-server on a free port; return it and its URL."""
    port = free_port()
    command = [executable, "--port", str(port), "--bind", "127.0.0.1"]
    redis = subprocess.Popen(
        [*command, "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    for _ in range(500):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.01)
    return redis, f"redis://127.0.0.1:{port}/0"


def main(quick: bool = False) -> list[Row]:
    """Start a redis-server and a Redis Cluster for the duration of the benchmark."""
    executable, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if executable is None:
        print("hub_redis: redis-server isn't installed; skipped", file=sys.stderr)
        return []
    redis, url = single_server(executable)
    try:
        rows = asyncio.run(pubsub_rows(url, "one server", quick))
        rows += asyncio.run(publish_rows(url, "one server", quick))
    finally:
        redis.kill()
        redis.wait()
    if cli is None:
        print("hub_redis: redis-cli isn't installed; cluster skipped", file=sys.stderr)
        return rows
    sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "tests"))
    from hub.cluster import RedisCluster

    cluster = RedisCluster(executable, cli)
    try:
        cluster.start()
        rows += asyncio.run(pubsub_rows(cluster.url, "cluster", quick))
        rows += asyncio.run(publish_rows(cluster.url, "cluster", quick))
    finally:
        cluster.stop()
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run in a few seconds")
    parser.add_argument(
        "--url", help="hub URL; default: start redis-server and a cluster"
    )
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(server(*args.serve))
    else:
        if args.url:
            name = "cluster" if is_cluster(args.url) else "one server"
            rows = asyncio.run(pubsub_rows(args.url, name, args.quick))
            rows += asyncio.run(publish_rows(args.url, name, args.quick))
        else:
            rows = main(args.quick)
        print(machine())
        print_table(rows)
