"""The adapter to websockets' asyncio server: :class:`Protocol`, serve(), handle().

Under :meth:`Router.serve`, each connection is a :class:`Protocol`, which
routes the request during the handshake, in this order:

1. the ``process_request`` passed to ``serve()``, if any (``basic_auth()``
   for one): a response it returns is final;
2. routing: no route gives HTTP 404 (:meth:`Protocol.not_found`), a path
   whose escapes are not valid UTF-8 gives HTTP 400
   (:meth:`Protocol.bad_request`);
3. the view's ``process_request`` hook: a response it returns is sent, an
   exception is logged and answered with HTTP 500
   (:meth:`Protocol.server_error`);
4. websockets' own checks (origins, subprotocols), then the
   ``process_response`` passed to ``serve()``, if any.

Under a plain ``websockets.serve(router.handle)``, routing runs once the
connection is open, and closes it with a code instead:

* 4040: no route matches;
* 4000: the path's escapes are not valid UTF-8;
* 4000 + status (4403, 4404, ...): the view's ``process_request`` returned
  an HTTP response, whose reason phrase is the close reason;
* 1011: a converter, the view's class, its hook or its handler raised; the
  error is logged.

"""

from __future__ import annotations

import http
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.asyncio.server import unix_serve as websockets_unix_serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from . import options
from .exceptions import InvalidPath, RouteNotFound, ViewFailed

if TYPE_CHECKING:
    from websockets.asyncio.server import Server

    from .router import Dispatch, Router

__all__ = [
    "BAD_REQUEST",
    "NOT_FOUND",
    "Protocol",
    "handle",
    "serve",
    "unix_serve",
]

logger = logging.getLogger("websockets_routes")

#: Close code for a path that no route matches, under ``router.handle``.
NOT_FOUND = 4040
#: Close code for a path that cannot be decoded, under ``router.handle``.
BAD_REQUEST = 4000

ProcessRequest = Callable[
    [ServerConnection, Request], Awaitable[Response | None] | Response | None
]


class Protocol(ServerConnection):
    """A server connection that routes the request during the handshake.

    :meth:`Router.serve` creates one per connection. Subclass it to change
    how requests are answered, and pass the subclass with
    ``create_connection=``; these methods are meant to be overridden:
    :meth:`not_found`, :meth:`bad_request` and :meth:`server_error`.

    Attributes:
        router: The router that serves this connection.
        dispatch: The route and view of this connection, once routed.

    Example::

        class MyProtocol(websockets_routes.Protocol):
            def not_found(self, request):
                return self.respond(http.HTTPStatus.NOT_FOUND, "nothing here\\n")

        async with router.serve("127.0.0.1", 8765, create_connection=MyProtocol):
            ...

    """

    router: Router
    dispatch: Dispatch | None = None

    async def route_request(self, request: Request) -> Response | None:
        """Route the request; return a response to refuse the connection."""
        try:
            self.dispatch = dispatch = self.router.dispatch(request.path)
            if dispatch.route.options:
                problem = options.apply(
                    self.protocol, request.headers, dispatch.route.options
                )
                if problem is not None:
                    return self.respond(http.HTTPStatus.FORBIDDEN, f"{problem}\n")
                dispatch.negotiated = True
            return await dispatch.process_request(request.headers)
        except RouteNotFound:
            return self.not_found(request)
        except InvalidPath as exc:
            return self.bad_request(request, exc)
        except ViewFailed as exc:
            return self.server_error(request, exc)

    def not_found(self, request: Request) -> Response:
        """Answer a request that no route matches: HTTP 404."""
        return self.respond(http.HTTPStatus.NOT_FOUND, "No route for this path.\n")

    def bad_request(self, request: Request, exc: InvalidPath) -> Response:
        """Answer a request whose path cannot be decoded: HTTP 400."""
        return self.respond(http.HTTPStatus.BAD_REQUEST, f"{exc}\n")

    def server_error(self, request: Request, exc: ViewFailed) -> Response:
        """Answer a request whose converter, view class or hook raised: HTTP 500."""
        return self.respond(
            http.HTTPStatus.INTERNAL_SERVER_ERROR,
            "Failed to open a WebSocket connection.\n"
            "See server log for more information.\n",
        )


def serve(
    router: Router,
    host: str | None = None,
    port: int | None = None,
    *,
    process_request: ProcessRequest | None = None,
    create_connection: type[ServerConnection] | None = None,
    **kwargs: Any,
) -> Server:
    """Implement :meth:`Router.serve`."""
    options = _options(router, process_request, create_connection)
    return websockets_serve(router.handle, host, port, **options, **kwargs)


def unix_serve(
    router: Router,
    path: str | None = None,
    *,
    process_request: ProcessRequest | None = None,
    create_connection: type[ServerConnection] | None = None,
    **kwargs: Any,
) -> Server:
    """Implement :meth:`Router.unix_serve`."""
    options = _options(router, process_request, create_connection)
    return websockets_unix_serve(router.handle, path, **options, **kwargs)


def _options(
    router: Router,
    user_process_request: ProcessRequest | None,
    create_connection: type[ServerConnection] | None,
) -> dict[str, Any]:
    """The ``process_request`` and ``create_connection`` arguments for websockets."""
    cls = Protocol if create_connection is None else create_connection
    if not (isinstance(cls, type) and issubclass(cls, Protocol)):
        raise TypeError(f"create_connection must be a subclass of Protocol: {cls!r}")
    # A subclass per server carries the router as a class attribute: no
    # per-connection attribute, and no wrapper call per handshake.
    routed = type(
        cls.__name__, (cls,), {"router": router, "__module__": cls.__module__}
    )

    async def process_request(
        connection: ServerConnection, request: Request
    ) -> Response | None:
        if user_process_request is not None:
            response = user_process_request(connection, request)
            if isinstance(response, Awaitable):
                response = await response
            if response is not None:
                return response
        return await cast(Protocol, connection).route_request(request)

    return {"process_request": process_request, "create_connection": routed}


async def handle(router: Router, ws: Any, path: str | None = None) -> None:
    """Implement :meth:`Router.handle`, for new and legacy connections alike."""
    # A path given explicitly is routed afresh, whatever the handshake found.
    dispatch = None if path is not None else getattr(ws, "dispatch", None)
    if dispatch is None or (dispatch.route.options and not dispatch.negotiated):
        dispatch = await _route(router, ws, path, dispatch)
        if dispatch is None:
            return
    try:
        handler = dispatch.handle(ws)
        if handler is not None:
            await handler
    except ConnectionClosed:
        logger.debug("connection closed in handler: %s", dispatch.path)
    except Exception:
        logger.error("handler failed: %s", dispatch.path, exc_info=True)
        await ws.close(CloseCode.INTERNAL_ERROR, "internal error")


async def _route(
    router: Router, ws: Any, path: str | None, dispatch: Dispatch | None
) -> Dispatch | None:
    """Route an open connection; close it and return :obj:`None` if refused.

    A ``dispatch`` routed during a handshake that could not apply the route's
    options (the legacy adapter's) only has its options checked.

    """
    request = getattr(ws, "request", None)
    if request is not None:
        path, headers = path or request.path, request.headers
    else:  # a legacy connection
        path, headers = path or ws.path, ws.request_headers
    if dispatch is not None:
        return await _check_options(ws, headers, dispatch)
    try:
        dispatch = router.dispatch(path)
        if dispatch.route.kind == "http":
            await ws.close(NOT_FOUND, "not a WebSocket route")
            return None
        if await _check_options(ws, headers, dispatch) is None:
            return None
        response = await dispatch.process_request(headers)
    except RouteNotFound:
        await ws.close(NOT_FOUND, "no route for this path")
        return None
    except InvalidPath:
        await ws.close(BAD_REQUEST, "bad request path")
        return None
    except ViewFailed:
        await ws.close(CloseCode.INTERNAL_ERROR, "internal error")
        return None
    if response is not None:
        await ws.close(4000 + response.status_code, response.reason_phrase[:100])
        return None
    return dispatch


async def _check_options(ws: Any, headers: Any, dispatch: Dispatch) -> Dispatch | None:
    refused = options.refusal(ws, headers, dispatch.route.options)
    if refused is not None:
        await ws.close(*refused)
        return None
    dispatch.negotiated = True
    return dispatch
