"""A router with every kind of route, for ``routes`` in ``tests/test_cli_serve.py``."""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers

from websockets_routes import RoutedPath, Router

router = Router()


@router.route("/rooms/{room}", name="room", subprotocols=["chat"])
async def room(ws: ServerConnection, path: RoutedPath) -> None:
    """A named route with an option."""


@router.route("/items/{id:int}")
async def item(ws: ServerConnection, path: RoutedPath) -> None:
    """An unnamed route with a typed parameter."""


@router.route("/rooms/lobby", name="lobby")
async def lobby(ws: ServerConnection, path: RoutedPath) -> None:
    """A static route, tried before /rooms/{room}."""


@router.http("/healthz", name="healthz")
async def healthz(path: RoutedPath, headers: Headers) -> str:
    """An HTTP endpoint."""
    return "OK\n"


router.redirect("/old/{room}", "/rooms/{room}", name="old")
