"""Helpers of the presence and history tests: a server that joins by query."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from websockets_routes.hub import Hub

__all__ = [
    "RoomServer",
    "frames_until",
    "room_member",
    "room_server",
]


class RoomServer:
    """A server on 127.0.0.1 whose handler joins as the query says.

    ``?group=a&user=alice&meta={"tab":1}&events=1&since=ID&history=N``
    joins, then sends ``joined``; replayed frames come before it. A text
    message ``leave`` makes the connection leave its groups.

    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.url = ""

    async def handler(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        query = parse_qs(urlsplit(websocket.request.path).query)
        options: dict[str, Any] = {
            "user": query.get("user", [None])[0],
            "presence_events": query.get("events") == ["1"],
            "since": query.get("since", [None])[0],
        }
        if "meta" in query:
            options["meta"] = json.loads(query["meta"][0])
        if "history" in query:
            options["history"] = int(query["history"][0])
        async with self.hub.join(websocket, *query.get("group", []), **options):
            await websocket.send("joined")
            async for message in websocket:
                if message == "leave":
                    await self.hub.leave(websocket)
                    await websocket.send("left")


@contextlib.asynccontextmanager
async def room_server(hub: Hub) -> AsyncIterator[RoomServer]:
    """Run a :class:`RoomServer` on 127.0.0.1, on a free port."""
    server = RoomServer(hub)
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}/"
        yield server


@contextlib.asynccontextmanager
async def room_member(
    server: RoomServer, *groups: str, before: list[Any] | None = None, **query: Any
) -> AsyncIterator[ClientConnection]:
    """Connect a client that joins; frames before ``joined`` go to ``before``."""
    pairs = [("group", group) for group in groups]
    for key, value in query.items():
        if key == "meta":
            value = json.dumps(value)
        pairs.append((key, str(value)))
    async with connect(f"{server.url}?{urlencode(pairs)}") as client:
        frames = await frames_until(client, "joined")
        if before is not None:
            before.extend(frames)
        yield client


async def frames_until(client: ClientConnection, last: str) -> list[Any]:
    """Receive frames until one equals ``last``; return the others, parsed."""
    frames = []
    while True:
        frame = await asyncio.wait_for(client.recv(), 10)
        if frame == last:
            return frames
        frames.append(json.loads(frame))
