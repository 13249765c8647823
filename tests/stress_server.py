"""A routed server in its own process, for the stress tests: its memory is its own.

It prints its port, serves until its standard input closes, and answers
``/stats`` with what it holds: handlers, tasks, hub entries and its RSS.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import json
import sys
from typing import Any

from websockets_routes import RoutedPath, Router
from websockets_routes.hub import Hub

hub = Hub()
router = Router()
server: Any = None


@router.route("/echo")
async def echo(ws: Any, path: RoutedPath) -> None:
    async for message in ws:
        await ws.send(message)


@router.route("/sum/{a:int}/{b:int}")
async def add(ws: Any, path: RoutedPath) -> None:
    await ws.send(str(path.params["a"] + path.params["b"]))
    await ws.wait_closed()


@router.route("/room/{name}")
async def room(ws: Any, path: RoutedPath) -> None:
    async with hub.join(ws, path.params["name"]):
        async for message in ws:
            await hub.publish(path.params["name"], message)


LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform == "linux" else None


@router.route("/stats")
async def stats(ws: Any, path: RoutedPath) -> None:
    gc.collect()
    # What the server holds, not what the C allocator keeps for later: give
    # its free pages back first (glibc; the test runs Python's objects on it).
    if LIBC is not None:
        LIBC.malloc_trim(0)
    tasks = getattr(server, "handler_tasks", None)
    handlers = len(tasks if tasks is not None else server.handlers)
    with open("/proc/self/statm") as statm:
        rss = int(statm.read().split()[1]) * 4096
    numbers = {
        # This connection is one of them.
        "handlers": handlers - 1,
        "tasks": len(asyncio.all_tasks()),
        "entries": len(hub._registry.entries),
        "groups": len(hub._registry.groups),
        "rss": rss,
    }
    await ws.send(json.dumps(numbers))


async def main() -> None:
    global server
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    async with hub, router.serve("127.0.0.1", 0, open_timeout=5) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await reader.read()


if __name__ == "__main__":
    asyncio.run(main())
