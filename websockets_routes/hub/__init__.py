"""Rooms, users and broadcast, in one process or across many through Redis.

* :class:`Hub`: the in-process hub, and the API of every hub;
  ``Hub.from_url("redis://...")`` returns a :class:`RedisHub`.
* :class:`RedisHub`: the Redis hub; importing it doesn't import redis-py,
  creating one does.
* :class:`Membership`: what :meth:`Hub.join` returns.
* :exc:`HubUnavailable`: Redis cannot be reached.

Example::

    from websockets_routes.hub import Hub

    hub = Hub()

    async def handler(websocket):
        async with hub.join(websocket, "lobby"):
            async for message in websocket:
                await hub.publish("lobby", message)

This package wires its backends: it sits above
:mod:`~websockets_routes.hub.memory` and :mod:`~websockets_routes.hub.redis`,
so it registers the URL schemes of :meth:`Hub.from_url` (see
:mod:`~websockets_routes.hub.backends`) without the in-process hub importing
the Redis backend.

"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .backends import register_backends
from .envelope import Message
from .exceptions import HubUnavailable, InvalidEnvelope
from .memory import Hub, Membership

if TYPE_CHECKING:
    from .redis import RedisHub

__all__ = [
    "Hub",
    "HubUnavailable",
    "InvalidEnvelope",
    "Membership",
    "Message",
    "RedisHub",
]

register_backends()


def __getattr__(name: str) -> Any:
    # Importing the Redis backend lazily keeps "import websockets_routes" fast
    # and lets the package load where the [redis] extra isn't installed.
    if name == "RedisHub":
        from .redis import RedisHub

        return RedisHub
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
