"""A server process for the multi-process tests of the Redis hub.

Usage: ``python server_process.py REDIS_URL NAMESPACE [HISTORY]``. It
serves on 127.0.0.1, on a free port, prints the port, then serves until
killed. With ``HISTORY``, every room keeps that many messages.

A client connects to ``/?group=room&user=alice``, receives ``joined``, then
sends commands: ``publish GROUP TEXT``, ``user USER TEXT``, ``broadcast
TEXT``, ``count GROUP`` (answered with ``count N``); a binary message is
published to the client's first group.

"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve

from websockets_routes.hub import Hub

__all__ = ["main"]


async def command(hub: Hub, websocket: ServerConnection, message: str) -> None:
    """Run one command sent by a client."""
    verb, _, rest = message.partition(" ")
    target, _, text = rest.partition(" ")
    if verb == "publish":
        await hub.publish(target, text)
    elif verb == "user":
        await hub.send_to_user(target, text)
    elif verb == "broadcast":
        await hub.broadcast(rest)
    elif verb == "count":
        await websocket.send(f"count {await hub.count(target)}")


async def main(url: str, namespace: str, history: int | None = None) -> None:
    """Serve until killed."""

    async def handler(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        query = parse_qs(urlsplit(websocket.request.path).query)
        groups, user = query.get("group", []), query.get("user", [None])[0]
        async with hub.join(websocket, *groups, user=user):
            await websocket.send("joined")
            async for message in websocket:
                if isinstance(message, bytes):
                    await hub.publish(groups[0], message)
                else:
                    await command(hub, websocket, message)

    hub = Hub.from_url(url, namespace=namespace, heartbeat=0.2, history=history)
    async with hub:
        async with serve(handler, "127.0.0.1", 0) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()


if __name__ == "__main__":
    history = int(sys.argv[3]) if len(sys.argv) > 3 else None
    asyncio.run(main(sys.argv[1], sys.argv[2], history))
