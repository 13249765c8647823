"""The router: registration, matching and dispatch, with no I/O.

Data flows one way: a request path is matched in the :class:`RouteTable`,
the match becomes a :class:`RoutedPath` and a :class:`Dispatch` (the route's
view for this connection), and a server adapter (:mod:`.server`,
:mod:`.legacy`) runs the dispatch's hook during the handshake and its
handler once the connection is open.

"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from websockets.datastructures import Headers
from websockets.http11 import Response

from . import server
from .converters import DEFAULT_CONVERTERS, Converter
from .exceptions import DuplicateRouteName, InvalidRoute
from .path import RoutedPath
from .table import Route, RouteTable
from .views import as_response, make_view

if TYPE_CHECKING:
    from websockets.asyncio.server import Server

__all__ = ["Dispatch", "Router"]

T = TypeVar("T")


class Dispatch:
    """One connection's route: its path, and the view that serves it.

    Attributes:
        route: The matched route.
        path: The request path with the route's parameters.
        view: The view instance for this connection.

    """

    __slots__ = ("path", "route", "view")

    def __init__(self, route: Route, path: RoutedPath, view: Any) -> None:
        self.route = route
        self.path = path
        self.view = view

    async def process_request(self, headers: Headers) -> Response | None:
        """Run the view's ``process_request`` hook, if it has one.

        Returns:
            The response to send instead of opening the connection, or
            :obj:`None` to go on with the handshake.

        """
        hook = getattr(self.view, "process_request", None)
        if hook is None:
            return None
        result = hook(self.path, headers)
        if inspect.isawaitable(result):
            result = await result
        return as_response(result)

    async def handle(self, ws: Any) -> None:
        """Run the view's handler; a view without one lets the connection close."""
        handle = getattr(self.view, "handle", None)
        if handle is not None:
            await handle(ws, self.path)


class Router:
    """A table of routes for a websockets server.

    Args:
        converters: Converters for typed parameters, added to the built-in
            ``int``, ``float``, ``uuid`` and ``path``.

    Example::

        router = Router()

        @router.route("/thing/{id}")
        async def thing_detail(ws, path):
            await ws.send(path.params["id"])

        async with router.serve("127.0.0.1", 8765) as server:
            await server.serve_forever()

    """

    def __init__(self, *, converters: Mapping[str, Converter] | None = None) -> None:
        self._table = RouteTable()
        self._names: dict[str, Route] = {}
        self._patterns: set[str] = set()
        self.converters: dict[str, Converter] = dict(DEFAULT_CONVERTERS)
        for key, converter in (converters or {}).items():
            if not key.isidentifier():
                raise InvalidRoute(f"converter name must be an identifier: {key!r}")
            if isinstance(converter, type) and issubclass(converter, Converter):
                converter = converter()
            if not isinstance(converter, Converter):
                raise InvalidRoute(f"converter must be a Converter: {converter!r}")
            self.converters[key] = converter

    @property
    def routes(self) -> list[Route]:
        """Every route, in the order they are tried."""
        return list(self._table)

    def route(
        self,
        pattern: str,
        *,
        name: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> Callable[[T], T]:
        """Register a WebSocket route; use it as a decorator.

        Args:
            pattern: A Routes pattern: ``/thing/{id}``, ``/thing/{id:\\d+}``,
                ``/user/{uid:int}``.
            name: The route's name, unique in the router.
            defaults: Parameters added to those the pattern captures.

        Returns:
            A decorator that registers its argument and returns it unchanged.

        Raises:
            InvalidRoute: If the pattern, the name or the view is rejected.

        Example::

            @router.route("/thing/{id}", name="thing")
            async def thing_detail(ws, path):
                await ws.send(path.params["id"])

        """

        def decorator(endpoint: T) -> T:
            self.add_route(pattern, endpoint, name=name, defaults=defaults)
            return endpoint

        return decorator

    def add_route(
        self,
        pattern: str,
        endpoint: Any,
        *,
        name: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> Route:
        """Register a WebSocket route; :meth:`route` without the decorator.

        Example::

            router.add_route("/thing/{id}", thing_detail, name="thing")

        """
        factory = make_view(endpoint)
        route = Route(
            pattern,
            name=name,
            kind="websocket",
            endpoint=endpoint,
            options={"view": factory},
            defaults=dict(defaults or {}),
            available=self.converters,
        )
        self._add(route)
        return route

    def _add(self, route: Route) -> None:
        if route.name is not None and route.name in self._names:
            raise DuplicateRouteName(f"duplicate route name: {route.name!r}")
        if route.pattern in self._patterns:
            raise InvalidRoute(f"duplicate route pattern: {route.pattern!r}")
        self._table.add(route)
        self._patterns.add(route.pattern)
        if route.name is not None:
            self._names[route.name] = route

    def match(self, path: str) -> RoutedPath | None:
        """Match a request path, with no I/O.

        Returns:
            The :class:`RoutedPath`, or :obj:`None` if no route matches.

        Raises:
            InvalidPath: If the parameters' escapes are not valid UTF-8.

        Example::

            >>> router.match("/thing/123").params
            {'id': '123'}

        """
        found = self._table.match(path)
        if found is None:
            return None
        route, params = found
        return RoutedPath(path, params, route.name)

    def resolve(self, path: str) -> Dispatch | None:
        """Match a request path and open its view for one connection.

        Raises:
            InvalidPath: If the parameters' escapes are not valid UTF-8.

        """
        found = self._table.match(path)
        if found is None:
            return None
        route, params = found
        view = route.options["view"]()
        return Dispatch(route, RoutedPath(path, params, route.name), view)

    async def handle(self, ws: Any, path: str | None = None) -> None:
        """Handle a connection: a handler for :func:`websockets.asyncio.server.serve`.

        It routes the connection after the handshake: when no route matches,
        it closes the connection with code 4040; when the path cannot be
        decoded, with code 4000. Use :meth:`serve` to answer those during
        the handshake with HTTP 404 and 400 instead.

        Example::

            async with websockets.serve(router.handle, "127.0.0.1", 8765):
                ...

        """
        await server.handle(self, ws, path)

    __call__ = handle

    def serve(
        self, host: str | None = None, port: int | None = None, **kwargs: Any
    ) -> Server:
        """Start a server that routes during the handshake.

        It takes the arguments of :func:`websockets.asyncio.server.serve`
        but the handler, and returns its :class:`~websockets.asyncio.server.Server`,
        which works with ``async with`` and with ``await``. A request that no
        route matches gets HTTP 404 during the handshake.

        Example::

            async with router.serve("127.0.0.1", 8765) as server:
                await server.serve_forever()

        """
        return server.serve(self, host, port, **kwargs)

    def unix_serve(self, path: str | None = None, **kwargs: Any) -> Server:
        """Like :meth:`serve`, on a Unix socket.

        Example::

            async with router.unix_serve("/run/app.sock"):
                ...

        """
        return server.unix_serve(self, path, **kwargs)
