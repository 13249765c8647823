"""README.rst's quickstart, run against an installed websockets-routes.

``.ci/check_package.py`` runs it in a fresh virtualenv that holds only the
wheel and its dependencies, from a directory outside the source tree, so the
import below finds the installed package, never the clone.

It registers a route, serves on a free port, connects with websockets' client
and checks what the client receives. It exits with status 0 when everything
matches, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import websockets

import websockets_routes

TIMEOUT = 10

router = websockets_routes.Router()


@router.route("/thing/{id}")
async def thing_detail(ws: Any, path: websockets_routes.RoutedPath) -> None:
    """Send the path and its parameter, then echo every message."""
    await ws.send(path)
    await ws.send(path.params["id"])
    async for message in ws:
        await ws.send(message)


async def quickstart() -> list[str]:
    """Serve the router on a free port and return what a client receives."""
    async with router.serve("127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/thing/123") as ws:
            received = [await ws.recv(), await ws.recv()]
            await ws.send("hello")
            received.append(await ws.recv())
    return [str(message) for message in received]


def main() -> int:
    """Run the quickstart within TIMEOUT seconds; report on stdout or stderr."""
    received = asyncio.run(asyncio.wait_for(quickstart(), TIMEOUT))
    expected = ["/thing/123", "123", "hello"]
    if received != expected:
        print(f"quickstart: expected {expected}, got {received}", file=sys.stderr)
        return 1
    print(f"quickstart: ok, websockets_routes from {websockets_routes.__file__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
