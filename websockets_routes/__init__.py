"""websockets-routes: routing for websockets servers, backed by Routes.

Example::

    import websockets_routes

    router = websockets_routes.Router()

    @router.route("/thing/{id}")
    async def thing_detail(ws, path):
        await ws.send(path.params["id"])

"""

from __future__ import annotations

from .converters import Converter
from .endpoint import Endpoint, on
from .exceptions import (
    BuildError,
    DuplicateRouteName,
    InvalidPath,
    InvalidRoute,
    MessageError,
    RouteNotFound,
    RoutingError,
    ViewFailed,
)
from .hub import Hub, HubUnavailable
from .messages import expect, pair, receive
from .path import RoutedPath
from .router import BaseRouter, Dispatch
from .server import BAD_REQUEST, NOT_FOUND, Protocol, Router
from .table import Route

__version__ = "1.0.0.dev0"

__all__ = [
    "BAD_REQUEST",
    "NOT_FOUND",
    "BaseRouter",
    "BuildError",
    "Converter",
    "Dispatch",
    "DuplicateRouteName",
    "Endpoint",
    "Hub",
    "HubUnavailable",
    "InvalidPath",
    "InvalidRoute",
    "MessageError",
    "Protocol",
    "Route",
    "RouteNotFound",
    "RoutedPath",
    "Router",
    "RoutingError",
    "ViewFailed",
    "expect",
    "on",
    "pair",
    "receive",
]
