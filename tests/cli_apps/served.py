"""Applications that ``tests/test_cli_serve.py`` serves with the command line.

The tests run ``python -m websockets_routes serve served:router`` (or
``served:create_app``, ...) with this directory as ``--app-dir``.

"""

from __future__ import annotations

import asyncio
import os

from websockets.asyncio.server import ServerConnection

from websockets_routes import BaseRouter, Endpoint, RoutedPath, Router
from websockets_routes.hub import app_hub

router = Router()


@router.route("/echo", name="echo")
async def echo(ws: ServerConnection, path: RoutedPath) -> None:
    """Send back each message."""
    async for message in ws:
        await ws.send(message)


@router.route("/rooms/{room}", name="room")
async def room(ws: ServerConnection, path: RoutedPath) -> None:
    """Join a room of the hub, say which process serves, publish what arrives."""
    hub = app_hub()
    async with hub.join(ws, path.params["room"]):
        await ws.send(f"joined {os.getpid()}")
        async for message in ws:
            await hub.publish(path.params["room"], message)


@router.route("/goodbye", name="goodbye")
class Goodbye(Endpoint):
    """Take 0.3 s to clean up in ``on_disconnect``, then say so on stdout."""

    async def on_connect(self, ws: ServerConnection, path: RoutedPath) -> None:
        await ws.send("ready")

    async def on_disconnect(
        self, ws: ServerConnection, path: RoutedPath, code: int
    ) -> None:
        await asyncio.sleep(0.3)
        print(f"cleaned up after {code}", flush=True)


@router.route("/stubborn", name="stubborn")
async def stubborn(ws: ServerConnection, path: RoutedPath) -> None:
    """Swallow every cancellation: never return."""
    await ws.send("ready")
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass


@router.route("/flood", name="flood")
async def flood(ws: ServerConnection, path: RoutedPath) -> None:
    """Send until the client's buffers are full, then wait to send more."""
    chunk = b"x" * 65536
    while True:
        await ws.send(chunk)


def create_app() -> Router:
    """An application factory, which finds the hub when it is called."""
    hub = app_hub()
    app = Router()

    @app.route("/hub", name="hub")
    async def hub_kind(ws: ServerConnection, path: RoutedPath) -> None:
        await ws.send(type(hub).__name__)

    return app


not_a_router = 42

base_router = BaseRouter()
