"""Rooms, users and broadcast, in one process or across many through Redis.

* :class:`Hub`: the in-process hub, and the API of every hub;
  ``Hub.from_url("redis://...")`` returns a :class:`RedisHub`.
* :class:`RedisHub`: the Redis hub; importing it doesn't import redis-py,
  creating one does.
* :class:`ClusterHub`: the Redis Cluster hub, on sharded publish/subscribe;
  ``Hub.from_url("redis+cluster://...")`` returns one.
* :class:`Membership`: what :meth:`Hub.join` returns.
* :exc:`HubUnavailable`: Redis cannot be reached: a message wasn't sent.
* :exc:`HubDeliveryUnknown`: Redis didn't answer: a message may be delivered.
* :mod:`~websockets_routes.hub.presence`: who is in a room, in every
  process (:meth:`Hub.presence`), and presence events;
  :mod:`~websockets_routes.hub.history`: rooms that keep their messages,
  with ids, and members that resume with ``since``. Each documents the
  frames that members receive and the Redis keys they use.
* :func:`app_hub`: the hub of the application that the command line serves;
  :func:`serving_hub` provides one elsewhere.

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

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .backends import register_backends
from .envelope import Message
from .exceptions import HubDeliveryUnknown, HubUnavailable, InvalidEnvelope
from .memory import Hub, Membership

if TYPE_CHECKING:
    from .cluster import ClusterHub
    from .redis import RedisHub

__all__ = [
    "ClusterHub",
    "Hub",
    "HubDeliveryUnknown",
    "HubUnavailable",
    "InvalidEnvelope",
    "Membership",
    "Message",
    "RedisHub",
    "app_hub",
    "serving_hub",
]

register_backends()

# The hub of the application being served; set by serving_hub(). A global,
# not a context variable: websockets runs handlers in tasks that the event
# loop creates, whose context isn't the one that started the server.
_app_hub: Hub | None = None


def app_hub() -> Hub:
    """The hub of the application that ``python -m websockets_routes`` serves.

    ``serve`` and ``demo`` start the hub, an in-process :class:`Hub`, or a
    :class:`RedisHub` with ``--redis URL``, before they import the
    application's module and call its factory, and close it after the last
    handler returned: call this function in a factory, in a handler, or at
    import time, in each worker process.

    Raises:
        RuntimeError: If no hub is being served: the application runs outside
            the command line and outside :func:`serving_hub`.

    Example::

        from websockets_routes import Router
        from websockets_routes.hub import app_hub

        def create_app() -> Router:
            hub = app_hub()
            router = Router()

            @router.route("/rooms/{room}")
            async def room(ws, path):
                async with hub.join(ws, path.params["room"]):
                    async for message in ws:
                        await hub.publish(path.params["room"], message)

            return router

    """
    if _app_hub is None:
        raise RuntimeError(
            "no hub is served: run the application with "
            "python -m websockets_routes serve, or within serving_hub(hub)"
        )
    return _app_hub


@contextlib.contextmanager
def serving_hub(hub: Hub) -> Iterator[Hub]:
    """Make :func:`app_hub` return ``hub`` within the block.

    The command line uses it; so may tests and programs that serve an
    application written for the command line. Blocks may nest: leaving one
    restores the hub before it. Starting and closing the hub stay the
    caller's job.

    Example::

        async with Hub() as hub:
            with serving_hub(hub):
                router = create_app()
                async with router.serve("127.0.0.1", 8765) as server:
                    await server.serve_forever()

    """
    global _app_hub
    previous, _app_hub = _app_hub, hub
    try:
        yield hub
    finally:
        _app_hub = previous


def __getattr__(name: str) -> Any:
    # Importing the Redis backend lazily keeps "import websockets_routes" fast
    # and lets the package load where the [redis] extra isn't installed.
    if name == "RedisHub":
        from .redis import RedisHub

        return RedisHub
    if name == "ClusterHub":
        from .cluster import ClusterHub

        return ClusterHub
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
