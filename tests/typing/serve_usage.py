"""How users call ``Router.serve()``, checked by ``mypy --strict``, never run.

tox's ``typing`` and ``typing-lowest`` envs check this module against the
newest and the lowest supported websockets: ``serve()`` returns a server
that websockets 15 and later give directly and websockets 14 gave through
an object of its own, and both ways of using it must type-check on both.
"""

from __future__ import annotations

import socket

from websockets.asyncio.server import Server

import websockets_routes

router = websockets_routes.Router()


async def awaited() -> Server:
    """``await router.serve(...)`` gives the server."""
    server = await router.serve("127.0.0.1", 0)
    server.close()
    await server.wait_closed()
    return server


async def entered() -> list[socket.socket]:
    """``async with router.serve(...) as server`` gives the server."""
    async with router.serve("127.0.0.1", 0, compression=None) as server:
        return list(server.sockets)


async def forever() -> None:
    """The Quickstart's way: serve until cancelled."""
    async with router.serve("127.0.0.1", 0) as server:
        await server.serve_forever()


async def on_unix_socket(path: str) -> Server:
    """``router.unix_serve()`` gives the same server."""
    async with router.unix_serve(path) as server:
        return server
