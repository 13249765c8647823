"""A small routed WebSocket server: python examples/server.py [--port 8765]."""

from __future__ import annotations

import argparse
import asyncio
import http
import logging
from typing import Any

from websockets.datastructures import Headers

import websockets_routes

router = websockets_routes.Router()

THINGS = {"1": "a first thing", "2": "a second thing"}


@router.route("/echo")
async def echo(ws: Any, path: websockets_routes.RoutedPath) -> None:
    """Send every message back."""
    async for message in ws:
        await ws.send(message)


@router.route("/thing/{id}", name="thing")
class ThingDetail:
    """Refuse unknown things during the handshake, then describe the thing."""

    async def process_request(
        self, path: websockets_routes.RoutedPath, headers: Headers
    ) -> Any:
        thing = THINGS.get(path.params["id"])
        if thing is None:
            return http.HTTPStatus.NOT_FOUND, [], b"no such thing\n"
        path.context["thing"] = thing
        return None

    async def handle(self, ws: Any, path: websockets_routes.RoutedPath) -> None:
        await ws.send(path.context["thing"])


async def main(host: str, port: int) -> None:
    async with router.serve(host, port) as server:
        print(f"serving on ws://{host}:{port}/ (routes: /echo, /thing/{{id}})")
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    try:
        asyncio.run(main(args.host, args.port))
    except KeyboardInterrupt:
        pass
