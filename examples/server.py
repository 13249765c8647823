"""The demo: chat rooms in the browser, on one routed WebSocket server.

Run ``python examples/server.py`` and open http://127.0.0.1:8765/ (add
``?room=kitchen&user=alice`` to pick a room and a name). Routes:

* ``GET /``: the chat page (an HTTP endpoint);
* ``GET /healthz``: a health check;
* ``/rooms/{room}?user=NAME``: the room's WebSocket; every message goes to
  everyone in the room, through the hub;
* ``/echo``: sends every message back;
* ``/chat``: redirects to ``/rooms/lobby``;
* ``GET /asyncapi.json``: the AsyncAPI document of the WebSocket routes.

With ``--redis redis://127.0.0.1:6379/0``, rooms span every process started
that way (run several on different ports); it needs the ``[redis]`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import pathlib
import sys
from typing import Any

from websockets.datastructures import Headers

import websockets_routes
from websockets_routes.hub import Hub

PAGE = (pathlib.Path(__file__).parent / "chat.html").read_bytes()

# The package index serves the unrelated 0.2 until this version is released.
REDIS_MISSING = (
    "error: --redis requires the [redis] extra: pip install -e '.[redis]' in the clone"
)

router = websockets_routes.Router()
hub = Hub()


@router.http("/", name="page")
async def page(path: websockets_routes.RoutedPath, headers: Headers) -> Any:
    """Serve the chat page."""
    return 200, [("Content-Type", "text/html; charset=utf-8")], PAGE


@router.http("/healthz", name="health")
async def health(path: websockets_routes.RoutedPath, headers: Headers) -> str:
    """Answer load balancers."""
    return "OK\n"


@router.route("/rooms/{room}", name="room", max_size=4096)
async def room(ws: Any, path: websockets_routes.RoutedPath) -> None:
    """Relay every message to everyone in the room."""
    group = "room:" + path.params["room"]
    user = path.query.get("user", ["guest"])[0]
    async with hub.join(ws, group, user=user):
        await hub.publish(group, f"{user} joined")
        try:
            async for message in ws:
                await hub.publish(group, f"{user}: {message}")
        finally:
            await hub.publish(group, f"{user} left")


@router.route("/echo", name="echo")
async def echo(ws: Any, path: websockets_routes.RoutedPath) -> None:
    """Send every message back."""
    async for message in ws:
        await ws.send(message)


router.redirect("/chat", "/rooms/lobby", status=302)
router.asyncapi_route(
    "/asyncapi.json",
    title="websockets-routes demo",
    version=websockets_routes.__version__,
)


def redis_missing(exc: BaseException | None) -> bool:
    """Tell whether exc, or an error that caused it, is redis-py not installed."""
    while exc is not None:
        name = exc.name if isinstance(exc, ModuleNotFoundError) else None
        if name is not None and name.partition(".")[0] == "redis":
            return True
        exc = exc.__cause__
    return False


async def main(host: str, port: int, redis: str | None) -> None:
    global hub
    if redis is not None:
        try:
            hub = Hub.from_url(redis, namespace="demo")
        except ImportError as exc:
            if not redis_missing(exc):
                raise
            print(REDIS_MISSING, file=sys.stderr)
            sys.exit(2)
    async with hub, router.serve(host, port) as server:
        # websockets 14 types sockets as an Iterable, not a list.
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"open http://{host}:{bound}/ in a browser", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--redis", help="a Redis URL, to share rooms across processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    try:
        asyncio.run(main(args.host, args.port, args.redis))
    except KeyboardInterrupt:
        pass
