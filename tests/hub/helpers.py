"""Helpers of the hub tests: a server whose handler joins a hub, and clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from websockets_routes.hub import Hub

__all__ = [
    "HubServer",
    "eventually",
    "hub_server",
    "member",
    "no_message",
]


class HubServer:
    """A server on 127.0.0.1 whose handler joins the groups in the query.

    ``?group=a&group=b&user=alice`` joins groups ``a`` and ``b`` as ``alice``
    and sends ``joined``; ``?join=no`` doesn't join. Then the handler reads
    messages: ``raise`` makes it fail, ``sleep`` makes it wait forever, other
    messages are ignored.

    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.url = ""
        self.tasks: list[asyncio.Task[Any]] = []

    async def handler(self, websocket: ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        assert websocket.request is not None
        query = parse_qs(urlsplit(websocket.request.path).query)
        if query.get("join") == ["no"]:
            await websocket.send("connected")
            await websocket.wait_closed()
            return
        groups, user = query.get("group", []), query.get("user", [None])[0]
        async with self.hub.join(websocket, *groups, user=user):
            await websocket.send("joined")
            async for message in websocket:
                if message == "raise":
                    raise RuntimeError("handler failed")
                if message == "sleep":
                    await asyncio.sleep(3600)


@contextlib.asynccontextmanager
async def hub_server(hub: Hub, **kwargs: Any) -> AsyncIterator[HubServer]:
    """Run a :class:`HubServer` on 127.0.0.1, on a free port."""
    server = HubServer(hub)
    async with serve(server.handler, "127.0.0.1", 0, **kwargs) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}/"
        yield server


@contextlib.asynccontextmanager
async def member(
    server: HubServer, *groups: str, user: str | None = None, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """Connect a client that joins groups; return once it has joined."""
    query = [("group", group) for group in groups]
    if user is not None:
        query.append(("user", user))
    async with connect(f"{server.url}?{urlencode(query)}", **kwargs) as client:
        assert await client.recv() == "joined"
        yield client


async def no_message(client: ClientConnection, timeout: float = 0.1) -> bool:
    """Tell whether a client receives nothing for a short while."""
    try:
        await asyncio.wait_for(client.recv(), timeout)
    except TimeoutError:
        return True
    return False


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until a condition holds; fail after a timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition didn't hold in time"
        await asyncio.sleep(0.01)
