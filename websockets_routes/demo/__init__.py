"""The demo: chat rooms in the browser, built on the package's public API.

``python -m websockets_routes demo`` serves it; :func:`create_app` returns
its router, for the command line and the tests. :mod:`.app` documents the
routes, the protocol and how the pages keep the list of who is in a room.

Example::

    import asyncio

    from websockets_routes import Hub
    from websockets_routes.demo import create_app

    async def main():
        hub = Hub()
        async with hub, create_app(hub).serve("127.0.0.1", 8765) as server:
            await server.serve_forever()

    asyncio.run(main())

"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
