"""The router: registration, matching and dispatch, with no I/O.

Data flows one way: a request path is matched in the :class:`RouteTable`,
the match becomes a :class:`RoutedPath` and a :class:`Dispatch` (the route's
view for this connection), and a server adapter (:mod:`.server`,
:mod:`.legacy`) runs the dispatch's hook during the handshake and its
handler once the connection is open.

This module knows nothing of the adapters: :class:`BaseRouter` holds
registration, matching and dispatch, and :class:`websockets_routes.Router`
(in :mod:`.server`) adds ``serve()`` and ``handle()`` on top of it.

"""

from __future__ import annotations

import dataclasses
import http
import inspect
import logging
import re
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from types import CoroutineType
from typing import Any, TypeVar

from websockets.datastructures import Headers
from websockets.http11 import Response

from . import asyncapi, options, urls
from .converters import DEFAULT_CONVERTERS, Converter
from .exceptions import (
    BuildError,
    DuplicateRouteName,
    InvalidPath,
    InvalidRoute,
    RouteNotFound,
    ViewFailed,
)
from .options import UNSET
from .path import RoutedPath
from .table import Route, RouteTable
from .views import (
    FunctionView,
    RedirectView,
    as_response,
    check_http_endpoint,
    error_response,
    make_view,
)

__all__ = ["BaseRouter", "Dispatch"]

T = TypeVar("T")

logger = logging.getLogger("websockets_routes")

REDIRECT_STATUSES = (301, 302, 303, 307, 308)

_TARGET_PLACEHOLDER = re.compile(r"\{[^{}]*\}")

_new_str = str.__new__


class Dispatch:
    """One connection's route: its path, and the view that serves it.

    Attributes:
        route: The matched route.
        path: The request path with the route's parameters.
        view: The view instance for this connection.

    """

    __slots__ = ("negotiated", "path", "route", "view")

    def __init__(self, route: Route, path: RoutedPath, view: Any) -> None:
        self.route = route
        self.path = path
        self.view = view
        #: Whether the route's options were applied during the handshake.
        self.negotiated = False

    def check_request(
        self, method: str, headers: Headers, *, secure: bool = False
    ) -> Response | None:
        """Check the request's method and body, and note them in the path.

        Server adapters that see the method call it before
        :meth:`process_request`.

        Returns:
            HTTP 405, with an ``Allow`` header, for a method the route does
            not serve; HTTP 400 for a request with a body, which no route
            reads; else :obj:`None`.

        Example::

            refused = dispatch.check_request("GET", request.headers)

        """
        methods = self.route.methods
        if method not in methods:
            return error_response(
                http.HTTPStatus.METHOD_NOT_ALLOWED,
                f"method not allowed; this route serves {', '.join(methods)}",
                Headers(Allow=", ".join(methods)),
            )
        if method != "GET":
            self.path.__dict__["method"] = method
        if secure:
            self.path.__dict__["secure"] = True
        lengths = headers.get_all("Content-Length")
        if "Transfer-Encoding" in headers or (
            lengths and any(length != "0" for length in lengths)
        ):
            return error_response(
                http.HTTPStatus.BAD_REQUEST, "request bodies are not supported"
            )
        return None

    def run_hook(
        self, headers: Headers
    ) -> Response | Awaitable[Response | None] | None:
        """Run the view's ``process_request`` hook, with no coroutine if it needs none.

        A view without a hook, or with a plain function as its hook, is
        answered at once; only a coroutine function's hook gives an
        awaitable. Server adapters that take either call it during the
        handshake, so that a plain function view costs no coroutine.

        Returns:
            :obj:`None` to go on with the handshake, the response to send
            instead, or an awaitable of either.

        Raises:
            ViewFailed: If the hook raised or returned no response; the error
                is logged. The awaitable raises it too.

        Example::

            answer = dispatch.run_hook(request.headers)
            if inspect.isawaitable(answer):
                answer = await answer

        """
        hook = getattr(self.view, "process_request", None)
        if hook is None:
            return None
        try:
            answer = hook(self.path, headers)
            if inspect.isawaitable(answer):
                return self._await_hook(answer)
            return as_response(answer)
        except Exception as exc:
            raise self._hook_failed() from exc

    async def _await_hook(self, answer: Awaitable[Any]) -> Response | None:
        try:
            return as_response(await answer)
        except Exception as exc:
            raise self._hook_failed() from exc

    def _hook_failed(self) -> ViewFailed:
        """Log the error being handled; return what to raise instead."""
        logger.error("process_request failed: %s", self.path, exc_info=True)
        return ViewFailed(f"process_request failed: {self.path}")

    async def process_request(self, headers: Headers) -> Response | None:
        """Run the view's ``process_request`` hook, if it has one.

        Returns:
            The response to send instead of opening the connection, or
            :obj:`None` to go on with the handshake.

        Raises:
            ViewFailed: If the hook raised or returned no response; the error
                is logged.

        """
        answer = self.run_hook(headers)
        if answer is None or isinstance(answer, Response):
            return answer
        return await answer

    def handle(self, ws: Any) -> Coroutine[Any, Any, None] | None:
        """Start the view's handler; :obj:`None` for a view without one.

        It returns the handler's coroutine rather than awaiting it, so that an
        open connection holds one suspended coroutine less.

        """
        view = self.view
        if view.__class__ is FunctionView:  # no attribute lookup that may fail
            handler = view.handle(ws, self.path)
        else:
            handle = getattr(view, "handle", None)
            if handle is None:
                return None
            handler = handle(ws, self.path)
        if handler.__class__ is not CoroutineType:
            # A handle() of a view's own that gives another awaitable.
            return _await(handler)
        return handler


async def _await(handler: Awaitable[None]) -> None:
    """Await a view's handler that is an awaitable but no coroutine."""
    await handler


class BaseRouter:
    """A table of routes for a websockets server, with no I/O.

    :class:`websockets_routes.Router` is this class with ``serve()`` and
    ``handle()``; use that one. A server adapter of your own can take a
    ``BaseRouter`` and call :meth:`dispatch`.

    Args:
        converters: Converters for typed parameters, added to the built-in
            ``int``, ``float``, ``uuid`` and ``path``.

    Example::

        router = BaseRouter()
        router.add_route("/thing/{id}", thing_detail)
        dispatch = router.dispatch("/thing/42")

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
        subprotocols: Sequence[str] | None = None,
        require_subprotocol: bool = False,
        origins: Sequence[str | re.Pattern[str] | None] | None = None,
        max_size: int | None = UNSET,
        allow_unmatched_subprotocols: bool = False,
    ) -> Callable[[T], T]:
        """Register a WebSocket route; use it as a decorator.

        Args:
            pattern: A Routes pattern: ``/thing/{id}``, ``/thing/{id:\\d+}``,
                ``/user/{uid:int}``.
            name: The route's name, unique in the router, for :meth:`url_for`.
            defaults: Parameters added to those the pattern captures.
            subprotocols: Subprotocols this route negotiates, in order of
                preference; a client that offers none of them gets none.
            require_subprotocol: Refuse clients that offer none of
                ``subprotocols`` (HTTP 400).
            allow_unmatched_subprotocols: Accept clients whose offer of
                subprotocols matches none of this route's, and answer them
                with no subprotocol. By default they get HTTP 400 listing
                the route's subprotocols: browsers, node's ``ws`` and
                websocket-client fail a connection whose answer selects
                none of those they offered.
            origins: Acceptable ``Origin`` headers (``str``, compiled
                regexes, or :obj:`None` for no header); others get HTTP 403.
            max_size: The largest message accepted on this route's
                connections, in bytes (:obj:`None`: no limit); a larger one
                closes the connection with 1009.

        Returns:
            A decorator that registers its argument and returns it unchanged.

        Raises:
            InvalidRoute: If the pattern, the name, an option or the view is
                rejected.

        Example::

            @router.route("/thing/{id}", name="thing")
            async def thing_detail(ws, path):
                await ws.send(path.params["id"])

        """

        _check_pattern(pattern, "route")

        def decorator(endpoint: T) -> T:
            self.add_route(
                pattern,
                endpoint,
                name=name,
                defaults=defaults,
                subprotocols=subprotocols,
                require_subprotocol=require_subprotocol,
                origins=origins,
                max_size=max_size,
                allow_unmatched_subprotocols=allow_unmatched_subprotocols,
            )
            return endpoint

        return decorator

    def add_route(
        self,
        pattern: str,
        endpoint: Any,
        *,
        name: str | None = None,
        defaults: Mapping[str, Any] | None = None,
        subprotocols: Sequence[str] | None = None,
        require_subprotocol: bool = False,
        origins: Sequence[str | re.Pattern[str] | None] | None = None,
        max_size: int | None = UNSET,
        allow_unmatched_subprotocols: bool = False,
    ) -> Route:
        """Register a WebSocket route; :meth:`route` without the decorator.

        Example::

            router.add_route("/thing/{id}", thing_detail, name="thing")

        """
        route_options = options.check(
            subprotocols=subprotocols,
            require_subprotocol=require_subprotocol,
            origins=origins,
            max_size=max_size,
            allow_unmatched_subprotocols=allow_unmatched_subprotocols,
        )
        view = make_view(endpoint)
        return self._add(
            pattern, "websocket", endpoint, name, defaults, route_options, view
        )

    def http(
        self,
        pattern: str,
        *,
        name: str | None = None,
        defaults: Mapping[str, Any] | None = None,
        methods: Sequence[str] = ("GET", "HEAD"),
    ) -> Callable[[T], T]:
        """Register an HTTP endpoint, for health checks and small pages.

        The endpoint is a coroutine function that receives ``(path, headers)``
        and returns a ``(status, headers, body)`` tuple, a websockets
        ``Response``, a ``str`` (200, ``text/plain``) or ``bytes`` (200,
        ``application/octet-stream``). Under :meth:`serve`, a plain HTTP
        request on its path gets that answer; ``path.method`` is the
        request's method. ``HEAD`` gets the headers of ``GET`` and no body;
        a method not in ``methods`` gets HTTP 405 with an ``Allow`` header.
        No endpoint reads a request body: one gets HTTP 400.

        Raises:
            InvalidRoute: If the pattern, the name, the methods or the
                endpoint are rejected.

        Example::

            @router.http("/healthz")
            async def healthz(path, headers):
                return "OK\\n"

        """

        _check_pattern(pattern, "http")
        allowed = _check_methods(methods)

        def decorator(endpoint: T) -> T:
            view = check_http_endpoint(endpoint)
            self._add(
                pattern, "http", endpoint, name, defaults, {}, view, methods=allowed
            )
            return endpoint

        return decorator

    def redirect(
        self,
        pattern: str,
        target: str,
        *,
        status: int = 308,
        name: str | None = None,
        absolute: bool = False,
    ) -> Route:
        """Answer requests for a pattern with a redirect to a target.

        ``{name}`` placeholders in the target take the parameters the
        pattern captures; the query string is kept. websockets' client
        follows redirects. Register the target's route first: a target
        that no route serves is an error.

        Args:
            pattern: The pattern to redirect from.
            target: The path to redirect to, with ``{name}`` placeholders.
            status: 301, 302, 303, 307 or 308.
            name: The route's name.
            absolute: Send an absolute URL built from the request's ``Host``
                header (``ws://host/path``, ``wss://`` over TLS, ``http://``
                or ``https://`` for a plain HTTP request), for clients that
                cannot follow a relative ``Location``, such as
                websocket-client.

        Raises:
            InvalidRoute: If the status is not a redirect's, the target
                needs a parameter the pattern does not capture, or no route
                serves the target.

        Example::

            router.redirect("/old/{id}", "/thing/{id}", status=301)

        """
        _check_pattern(pattern, "redirect")
        if not isinstance(target, str):
            raise TypeError(f"redirect target must be str: {target!r}")
        if status not in REDIRECT_STATUSES:
            raise InvalidRoute(
                f"redirect status must be 301, 302, 303, 307 or 308: {status!r}"
            )
        route = Route(
            pattern,
            name=name,
            kind="redirect",
            endpoint=target,
            options={"status": status},
            methods=("GET", "HEAD"),
            available=self.converters,
        )
        location = urls.redirect_target(route, target)
        self._check_target(target)
        view = RedirectView(location, status, absolute)
        route.view = lambda: view
        self._register([route])
        return route

    def _check_target(self, target: str) -> None:
        """Refuse a redirect target that no route serves, whatever its parameters."""
        for probe in ("1", "x"):
            path = _TARGET_PLACEHOLDER.sub(probe, target)
            try:
                if self._table.match(path) is not None:
                    return
            except InvalidPath:  # pragma: no cover - probes are ASCII
                pass
        raise InvalidRoute(f"redirect target matches no route: {target!r}")

    def include(self, other: BaseRouter, *, prefix: str = "") -> None:
        """Mount every route of another router under a prefix.

        Names stay as they are (:meth:`url_for` gives the prefixed path);
        hooks, converters and options come along. The routes are copied:
        routes added to ``other`` later are not included.

        Raises:
            InvalidRoute: If the prefix is malformed, or a name or pattern
                clashes with a route of this router.

        Example::

            api = Router()
            router.include(api, prefix="/api")

        """
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise InvalidRoute(
                f"prefix must start with / and not end with /: {prefix!r}"
            )
        self._register(
            [
                dataclasses.replace(
                    route, pattern=prefix + route.pattern, available=other.converters
                )
                for route in other._table.registered()
            ]
        )

    def _add(
        self,
        pattern: str,
        kind: str,
        endpoint: Any,
        name: str | None,
        defaults: Mapping[str, Any] | None,
        route_options: dict[str, Any],
        view: Callable[[], Any],
        methods: tuple[str, ...] = ("GET",),
    ) -> Route:
        route = Route(
            pattern,
            name=name,
            kind=kind,
            endpoint=endpoint,
            options=route_options,
            defaults=dict(defaults or {}),
            methods=methods,
            view=view,
            available=self.converters,
        )
        self._register([route])
        return route

    def _register(self, new: list[Route]) -> None:
        """Add routes, all or none: names and patterns must be new."""
        # Only the batch's own names and patterns are collected: copying the
        # router's sets for every route made registration quadratic.
        names: set[str] = set()
        patterns: set[str] = set()
        for route in new:
            name, pattern = route.name, route.pattern
            if name is not None and (name in self._names or name in names):
                raise DuplicateRouteName(f"duplicate route name: {name!r}")
            if pattern in self._patterns or pattern in patterns:
                raise InvalidRoute(f"duplicate route pattern: {pattern!r}")
            if name is not None:
                names.add(name)
            patterns.add(pattern)
        for route in new:
            self._table.add(route)
            if route.name is not None:
                self._names[route.name] = route
        self._patterns |= patterns

    def url_for(self, name: str, /, _query: Any = None, **params: Any) -> str:
        """Build the path of a named route.

        Values are converted and percent-encoded (a ``/`` inside a value is
        encoded, but for ``{name:path}`` parameters); ``_query`` (a mapping
        or a list of pairs) becomes the query string.

        Raises:
            BuildError: If the name is unknown, or a parameter is missing,
                unexpected, or breaks the route's requirement.

        Example::

            >>> router.url_for("thing", id="a/b", _query={"tab": "info"})
            '/thing/a%2Fb?tab=info'

        """
        route = self._names.get(name)
        if route is None:
            raise BuildError(f"unknown route name: {name!r}")
        return urls.build(route, params, _query)

    def match(self, path: str) -> RoutedPath | None:
        """Match a request path, with no I/O.

        Returns:
            The :class:`RoutedPath`, or :obj:`None` if no route matches.

        Raises:
            InvalidPath: If the parameters' escapes are not valid UTF-8.
            TypeError: If the path is not a :class:`str`.

        Example::

            >>> router.match("/thing/123").params
            {'id': '123'}

        """
        if not isinstance(path, str):
            raise TypeError(f"path must be str, not {type(path).__name__}: {path!r}")
        found = self._table.match(path)
        if found is None:
            return None
        route, params = found
        # RoutedPath(), inlined: a call is a tenth of this method's time.
        routed = _new_str(RoutedPath, path)
        routed.params = params
        routed.name = route.name
        return routed

    def resolve(self, path: str) -> Dispatch | None:
        """Match a request path and open its view for one connection.

        Server adapters call it once per connection; a class view is
        instantiated here.

        Returns:
            The :class:`Dispatch`, or :obj:`None` if no route matches.

        Raises:
            InvalidPath: If the parameters' escapes are not valid UTF-8.

        Example::

            >>> dispatch = router.resolve("/item/42")
            >>> dispatch.route.pattern, type(dispatch.view).__name__
            ('/item/{id}', 'ItemDetail')

        """
        if not isinstance(path, str):
            raise TypeError(f"path must be str, not {type(path).__name__}: {path!r}")
        found = self._table.match(path)
        if found is None:
            return None
        route, params = found
        view = route.view()
        return Dispatch(route, RoutedPath(path, params, route.name), view)

    def dispatch(self, path: str) -> Dispatch:
        """:meth:`resolve`, with every way it can fail raised, for server adapters.

        Raises:
            RouteNotFound: If no route matches.
            InvalidPath: If the parameters' escapes are not valid UTF-8.
            ViewFailed: If a converter or the view's class raised; the error
                is logged.

        Example::

            try:
                dispatch = router.dispatch(request.path)
            except RouteNotFound:
                ...

        """
        # resolve(), inlined: every handshake comes through here.
        try:
            found = self._table.match(path)
            if found is not None:
                route, params = found
                view = route.view
                if view.__class__ is not FunctionView:  # a factory to call
                    view = view()
                # RoutedPath(), inlined as in match(): a call is a frame, on
                # every handshake.
                routed = _new_str(RoutedPath, path)
                routed.params = params
                routed.name = route.name
                return Dispatch(route, routed, view)
        except InvalidPath:
            raise
        except Exception as exc:
            logger.error("routing failed: %s", path, exc_info=True)
            raise ViewFailed(f"routing failed: {path}") from exc
        raise RouteNotFound(f"no route for path: {path}")

    def asyncapi(
        self,
        *,
        title: str,
        version: str,
        servers: Mapping[str, str | Mapping[str, Any]] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Describe the WebSocket routes as an AsyncAPI 3.0.0 document.

        See :func:`websockets_routes.asyncapi.document`.

        Example::

            doc = router.asyncapi(
                title="Chat", version="1.0.0", servers={"dev": "ws://127.0.0.1:8765"}
            )

        """
        return asyncapi.document(
            self, title=title, version=version, servers=servers, description=description
        )

    def asyncapi_route(
        self,
        pattern: str = "/asyncapi.json",
        *,
        title: str,
        version: str,
        servers: Mapping[str, str | Mapping[str, Any]] | None = None,
        description: str | None = None,
        name: str | None = "asyncapi",
    ) -> Route:
        """Serve the AsyncAPI document of this router as an HTTP endpoint.

        The document is made when the route is registered, so that a payload
        without a schema fails then, and made again once routes are added.

        Example::

            router.asyncapi_route("/asyncapi.json", title="Chat", version="1.0.0")

        """
        options = {"title": title, "version": version}
        made: list[tuple[int, bytes]] = []

        def body() -> bytes:
            if not made or made[0][0] != len(self._table):
                doc = self.asyncapi(**options, servers=servers, description=description)
                made[:] = [(len(self._table), asyncapi.dumps(doc).encode())]
            return made[0][1]

        body()

        async def asyncapi_document(path: RoutedPath, headers: Headers) -> Any:
            return 200, [("Content-Type", "application/json")], body()

        _check_pattern(pattern, "asyncapi_route")
        view = check_http_endpoint(asyncapi_document)
        return self._add(
            pattern,
            "http",
            asyncapi_document,
            name,
            None,
            {},
            view,
            methods=("GET", "HEAD"),
        )


def _check_pattern(pattern: object, method: str) -> None:
    """Refuse what is no pattern: a decorator used without its parentheses, bytes."""
    if isinstance(pattern, str):
        return
    if callable(pattern):
        raise TypeError(
            f"{method}() takes a pattern first: write @router.{method}('/path'), "
            f"not @router.{method}: {pattern!r}"
        )
    raise TypeError(f"pattern must be str, not {type(pattern).__name__}: {pattern!r}")


def _check_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """Validate an HTTP endpoint's methods; ``HEAD`` comes with ``GET``."""
    if isinstance(methods, str) or not all(
        isinstance(method, str) and method.isalpha() and method.isupper()
        for method in methods
    ):
        raise InvalidRoute(
            f"methods must be a list of upper-case HTTP methods: {methods!r}"
        )
    if not methods:
        raise InvalidRoute("methods must not be empty")
    allowed = tuple(dict.fromkeys(methods))
    if "GET" in allowed and "HEAD" not in allowed:
        allowed += ("HEAD",)
    return allowed
