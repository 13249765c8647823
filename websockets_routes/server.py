"""The adapter to websockets' asyncio server: :class:`Router`, :class:`Protocol`.

Under :meth:`Router.serve`, routing runs in websockets' ``process_request``
hook and the view's handler in the server's handler, as websockets' own
``route()`` does; under ``websockets.serve(router.handle)`` it runs once the
connection is open, and refusals are close codes. See the docs' design page
for the order of the checks and why.

"""

from __future__ import annotations

import asyncio
import http
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from time import monotonic
from types import TracebackType
from typing import TYPE_CHECKING, Any
from typing import Protocol as TypingProtocol

from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.asyncio.server import unix_serve as websockets_unix_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.protocol import State

from . import _compat, compat, handshake, options
from .closing import WriteDeadlines, close_code, close_within
from .exceptions import InvalidPath, RouteNotFound, ViewFailed
from .router import BaseRouter, Dispatch
from .views import FunctionView, ResponseLike, as_response

if TYPE_CHECKING:
    from websockets.asyncio.server import Server

__all__ = [
    "BAD_REQUEST",
    "DEFAULT_WRITE_TIMEOUT",
    "HOOK_SHARE",
    "NOT_FOUND",
    "Protocol",
    "Router",
    "Serving",
]

logger = logging.getLogger("websockets_routes")
access_logger = logging.getLogger("websockets_routes.access")

#: Close code for a path that no route matches, under ``router.handle``.
NOT_FOUND = 4040
#: Close code for a path that cannot be decoded, under ``router.handle``.
BAD_REQUEST = 4000
#: Seconds a client may leave what is written to it unread before the
#: connection is aborted, under :meth:`Router.serve`; ``write_timeout=``
#: changes it.
DEFAULT_WRITE_TIMEOUT = 20.0
#: Share of ``open_timeout`` that ``process_request`` hooks may take before
#: the request is answered with HTTP 503.
HOOK_SHARE = 0.9

ProcessRequest = Callable[
    [ServerConnection, Request], Awaitable[Response | None] | Response | None
]
ProcessResponse = Callable[
    [ServerConnection, Request, Response], Awaitable[Response | None] | Response | None
]


class Serving(TypingProtocol):
    """What :meth:`Router.serve` returns: use it with ``await`` or ``async with``.

    websockets 15 and later return their :class:`~websockets.asyncio.server.Server`
    itself; websockets 14 returned an object that gives the ``Server``.

    """

    def __await__(self) -> Generator[Any, None, Server]: ...  # pragma: no cover

    async def __aenter__(self) -> Server: ...  # pragma: no cover

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...  # pragma: no cover


class Protocol(ServerConnection):
    """A server connection that routes the request during the handshake.

    :meth:`Router.serve` creates one per connection. Subclass it to change
    how requests are answered, and pass the subclass to :meth:`Router.serve`
    with ``create_connection=``. These methods are meant to be overridden:

    * :meth:`process_request`, 0.2's hook: it routes the request; an
      override runs before routing when it calls ``super()`` first, and may
      refuse the handshake, as in 0.2;
    * :meth:`not_found`, :meth:`bad_request`, :meth:`server_error` and
      :meth:`timed_out`: the answers to a path that no route matches, that
      cannot be decoded, whose converter, view class or hook raised, or
      whose hook did not return in time.

    Overrides of the legacy protocol's other hooks (``process_origin``,
    ``select_subprotocol``, ...), which websockets' asyncio connection never
    calls, make :meth:`Router.serve` raise :exc:`TypeError` naming what to do
    instead. Under ``websockets.serve()`` rather than :meth:`Router.serve`,
    nothing routes during the handshake: :meth:`Router.handle` then logs a
    :exc:`TypeError` that says so and closes the connection with 1011.

    Attributes:
        router: The router that serves this connection, once its request
            arrived.
        dispatch: The route and view of this connection, once routed.
        secure: Whether the server speaks TLS.

    Example::

        class MyProtocol(websockets_routes.Protocol):
            async def process_request(self, path, headers):
                if headers.get("Authorization") != "Bearer s3cr3t":
                    return http.HTTPStatus.UNAUTHORIZED, [], b"who are you?\\n"
                return await super().process_request(path, headers)

        async with router.serve("127.0.0.1", 8765, create_connection=MyProtocol):
            ...

    """

    dispatch: Dispatch | None = None
    # The server's adapter, set when the request arrives. Connections hold
    # few attributes of their own: each one costs memory per connection.
    _adapter: Adapter | None = None
    # When process_request hooks must have answered (time.monotonic()).
    _hook_deadline: float | None = None
    _method = "GET"
    # Whether a hook of ours or the user's answered the request.
    _answered = False

    @property
    def router(self) -> BaseRouter | None:
        """The router that serves this connection, once its request arrived."""
        return None if self._adapter is None else self._adapter.router

    @property
    def secure(self) -> bool:
        """Whether the server speaks TLS."""
        return self._adapter is not None and self._adapter.secure

    async def process_request(
        self, path: str, headers: Headers
    ) -> Response | ResponseLike | None:
        """Route the request; return a response to refuse the connection.

        It is 0.2's hook, with 0.2's arguments: the request path (query
        included) and headers. An override may return :obj:`None` to go on,
        a ``(status, headers, body)`` tuple or a websockets ``Response``; an
        override that does not call ``super()`` leaves routing to
        :meth:`Router.handle`, after the handshake.

        """
        answer = self.route_request(path, headers)
        if answer is None or isinstance(answer, Response):
            return answer
        return await answer

    def route_request(
        self, path: str, headers: Headers
    ) -> Response | Awaitable[Response | None] | None:
        """Route the request: :meth:`process_request`, with no coroutine if it can.

        :meth:`Router.serve` calls it during the handshake when
        :meth:`process_request` is not overridden.

        Returns:
            :obj:`None` to go on with the handshake, the response to send
            instead, or an awaitable of either when the view's hook is a
            coroutine function.

        Example::

            answer = connection.route_request(request.path, request.headers)
            if inspect.isawaitable(answer):
                answer = await answer

        """
        adapter = self._adapter
        if adapter is None:
            raise TypeError(_NOT_ROUTED.format(type(self).__qualname__))
        if path[:1] != "/":
            path = handshake.origin_form(path)
        try:
            self.dispatch = dispatch = adapter.router.dispatch(path)
            method = self._method
            # websockets refuses a request body before any hook: a plain GET
            # to a route that serves it has nothing more to check.
            refused = (
                dispatch.check_request(method, headers, secure=adapter.secure)
                if method != "GET"
                or adapter.secure
                or "GET" not in dispatch.route.methods
                else None
            )
            route_options = dispatch.route.options
            if refused is None and route_options:
                refused = options.check_handshake(headers, route_options)
            if refused is not None:
                return refused
            dispatch.negotiated = True
            if "max_size" in route_options:
                _compat.set_max_size(self, route_options["max_size"])
            view = dispatch.view
            if view.__class__ is FunctionView or (
                getattr(view, "process_request", None) is None
            ):
                return None
            answer = dispatch.run_hook(headers)
        except RouteNotFound:
            return self.not_found(self._request())
        except InvalidPath as exc:
            return self.bad_request(self._request(), exc)
        except ViewFailed as exc:
            return self.server_error(self._request(), exc)
        if answer is None or isinstance(answer, Response):
            return answer
        return self._await_hook(answer)

    def _request(self) -> Request:
        request = self.request
        assert request is not None  # routing runs once the request arrived
        return request

    async def _await_hook(self, answer: Awaitable[Response | None]) -> Response | None:
        try:
            response: Response | None = await self._run_hook(answer)
        except ViewFailed as exc:
            return self.server_error(self._request(), exc)
        return response

    async def _run_hook(self, hook: Awaitable[Any]) -> Any:
        """Await a ``process_request`` hook; HTTP 503 if it outlives its deadline."""
        if self._hook_deadline is None:
            # The first hook that waits starts the clock.
            hook_time = None if self._adapter is None else self._adapter.hook_time
            if hook_time is None:
                return await hook
            self._hook_deadline = monotonic() + hook_time
        try:
            return await asyncio.wait_for(
                hook, max(self._hook_deadline - monotonic(), 0)
            )
        except TimeoutError:
            request = self._request()
            logger.error(
                "process_request timed out: %s", handshake.printable(request.path)
            )
            return self.timed_out(request)

    def not_found(self, request: Request) -> Response:
        """Answer a request that no route matches: HTTP 404."""
        return self.respond(http.HTTPStatus.NOT_FOUND, "No route for this path.\n")

    def bad_request(self, request: Request, exc: InvalidPath) -> Response:
        """Answer a request whose path cannot be decoded: HTTP 400.

        The answer does not echo the path: request text never goes back
        to the client.

        """
        return self.respond(
            http.HTTPStatus.BAD_REQUEST,
            "Failed to open a WebSocket connection: invalid UTF-8 in request path.\n",
        )

    def timed_out(self, request: Request) -> Response:
        """Answer a request whose ``process_request`` hook didn't return: HTTP 503.

        A hook still running when :data:`HOOK_SHARE` of ``open_timeout`` has
        passed since the request arrived is cancelled, and logged.

        """
        return self.respond(
            http.HTTPStatus.SERVICE_UNAVAILABLE,
            "Failed to open a WebSocket connection: timed out.\n",
        )

    def server_error(self, request: Request, exc: ViewFailed) -> Response:
        """Answer a request whose converter, view class or hook raised: HTTP 500."""
        return self.respond(
            http.HTTPStatus.INTERNAL_SERVER_ERROR,
            "Failed to open a WebSocket connection.\n"
            "See server log for more information.\n",
        )


_NOT_ROUTED = (
    "{} routes only under router.serve(): "
    "replace websockets.serve(router, ..., create_connection=...) with "
    "router.serve(..., create_connection=...)"
)


class Router(BaseRouter):
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

    def handle(self, ws: Any, path: str | None = None) -> Coroutine[Any, Any, None]:
        """Handle a connection: a handler for :func:`websockets.asyncio.server.serve`.

        It routes the connection after the handshake: when no route matches,
        it closes the connection with code 4040; when the path cannot be
        decoded, with code 4000. Use :meth:`serve` to answer those during
        the handshake with HTTP 404 and 400 instead.

        Example::

            async with websockets.serve(router.handle, "127.0.0.1", 8765):
                ...

        """
        return handle(self, ws, path)

    __call__ = handle

    def serve(
        self, host: str | None = None, port: int | None = None, **kwargs: Any
    ) -> Serving:
        """Start a server that routes during the handshake.

        It takes the arguments of :func:`websockets.asyncio.server.serve`
        but the handler, plus ``write_timeout=``, and returns what it
        returns: use it with ``async with`` or ``await``. A request that no
        route matches gets HTTP 404 during the handshake.

        Raises:
            TypeError: If ``create_protocol=`` is given, or the class given
                with ``create_connection=`` is no :class:`Protocol` or
                overrides a legacy hook that would never be called.

        Example::

            async with router.serve("127.0.0.1", 8765) as server:
                await server.serve_forever()

        """
        return Adapter(self, kwargs).serve(host, port)

    def unix_serve(self, path: str | None = None, **kwargs: Any) -> Serving:
        """Like :meth:`serve`, on a Unix socket.

        Example::

            async with router.unix_serve("/run/app.sock"):
                ...

        """
        return Adapter(self, kwargs).unix_serve(path)


class Adapter:
    """One server's hooks and handler for websockets: what :meth:`Router.serve` runs.

    It takes the arguments of :meth:`Router.serve` and hands websockets its
    documented hooks (``process_request``, ``process_response``,
    ``select_subprotocol``) and a handler. It keeps the server's open
    connections' handler tasks in :attr:`tasks` with ``track_tasks``, for a
    shutdown.

    """

    def __init__(
        self, router: Router, kwargs: dict[str, Any], *, track_tasks: bool = False
    ) -> None:
        compat.check_serve_arguments(kwargs)
        cls = kwargs.pop("create_connection", None) or Protocol
        if not (isinstance(cls, type) and issubclass(cls, Protocol)):
            raise TypeError(
                f"create_connection must be a subclass of Protocol: {cls!r}"
            )
        compat.check_connection_class(cls, Protocol)
        self.router = router
        #: The handlers' tasks while they run, with ``track_tasks``.
        self.tasks: set[asyncio.Task[None]] | None = set() if track_tasks else None
        self.user_process_request: ProcessRequest | None = kwargs.pop(
            "process_request", None
        )
        self.user_process_response: ProcessResponse | None = kwargs.pop(
            "process_response", None
        )
        self.server_options = options.ServerOptions(
            origins=kwargs.pop("origins", None),
            subprotocols=kwargs.pop("subprotocols", None),
            select_subprotocol=kwargs.pop("select_subprotocol", None),
        )
        self.secure = kwargs.get("ssl") is not None
        open_timeout = kwargs.get("open_timeout", 10.0)
        self.hook_time = None if open_timeout is None else HOOK_SHARE * open_timeout
        self.deadlines = WriteDeadlines(
            kwargs.pop("write_timeout", DEFAULT_WRITE_TIMEOUT),
            kwargs.get("close_timeout", 10.0),
            kwargs.get("write_limit", 2**15),
        )
        self.overridden = cls.process_request is not Protocol.process_request
        kwargs["logger"] = _compat.server_logger(kwargs.get("logger"))
        self.kwargs = {
            **kwargs,
            "create_connection": cls,
            "process_request": self.process_request,
            "process_response": self.process_response,
        }
        # websockets' select_subprotocol= costs every connection a reference
        # cycle: only a server whose routes or options speak subprotocols
        # pays for it.
        self.check_upgrade = handshake.check_upgrade if _compat.QUOTES_FAIL else None
        #: Whether serve() was given no options that the router applies.
        self.plain = self.server_options == options.ServerOptions()
        self.selects = self.server_options.negotiates() or any(
            "subprotocols" in route.options for route in router.routes
        )
        if self.selects:
            self.kwargs["select_subprotocol"] = self.select_subprotocol

    def serve(self, host: str | None, port: int | None) -> Serving:
        """Start the server with :func:`websockets.asyncio.server.serve`."""
        return websockets_serve(self.handler, host, port, **self.kwargs)

    def unix_serve(self, path: str | None) -> Serving:
        """Start the server with :func:`websockets.asyncio.server.unix_serve`."""
        # websockets 14 types unix_serve() as an Awaitable[Server] although it
        # returns what serve() returns.
        serving: Serving = websockets_unix_serve(self.handler, path, **self.kwargs)  # type: ignore[assignment, unused-ignore]
        return serving

    # websockets' hooks, in the order it calls them.

    def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Awaitable[Response | None] | Response | None:
        """Check the request, run the hook given to ``serve()``, then route."""
        assert isinstance(connection, Protocol)  # create_connection is one
        connection._adapter = self
        method = _compat.request_method(request)
        if method != "GET":
            connection._method = method
        refused = handshake.check_request(request)
        if refused is not None:
            return self._answer(connection, refused)
        if self.user_process_request is not None:
            answer = self.user_process_request(connection, request)
            if isinstance(answer, Awaitable):
                return self._after_user_hook(connection, request, answer)
            if answer is not None:
                return self._answer(connection, answer)
        return self._route(connection, request)

    def select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[str]
    ) -> str | None:
        """Pick the subprotocol of the route, or of the server."""
        dispatch = getattr(connection, "dispatch", None)
        route_options = {} if dispatch is None else dispatch.route.options
        try:
            return self.server_options.select(connection, route_options, offered)
        except NegotiationError:
            raise
        except Exception:
            logger.error("select_subprotocol failed", exc_info=True)
            # Not from the error: websockets would quote it to the client.
            raise NegotiationError("cannot select a subprotocol") from None

    def process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> Awaitable[Response | None] | Response | None:
        """Escape websockets' refusals, answer HEAD, log, then the user's hook."""
        assert isinstance(connection, Protocol)
        if response.status_code != 101:
            if not connection._answered:
                # websockets' own refusal, which may quote the request.
                response = handshake.escaped(response)
            if connection._method == "HEAD":
                response = handshake.without_body(response)
        if access_logger.isEnabledFor(logging.INFO):
            _log_handshake(connection, request, response)
        if self.user_process_response is None:
            return response
        answer = self.user_process_response(connection, request, response)
        if answer is None:
            return response
        if isinstance(answer, Awaitable):
            return _awaited_or(answer, response)
        return answer

    def handler(self, connection: ServerConnection) -> Coroutine[Any, Any, None]:
        """The server's handler: the view's handler, under a write deadline."""
        return handle(self.router, connection, None, self.tasks, self.deadlines)

    # Routing, inside process_request.

    def _route(
        self, connection: Protocol, request: Request
    ) -> Awaitable[Response | None] | Response | None:
        if self.overridden:
            return self._route_by_hook(connection, request)
        answer = connection.route_request(request.path, request.headers)
        if answer is None:
            if (
                self.check_upgrade is None
                and self.plain
                and not connection.dispatch.route.options  # type: ignore[union-attr]
                and "Sec-WebSocket-Protocol" not in request.headers
            ):
                return None  # nothing more to check: websockets accepts
            return self._open(connection, request)
        if isinstance(answer, Response):
            return self._answer(connection, answer)
        return self._after_view_hook(connection, request, answer)

    def _open(self, connection: Protocol, request: Request) -> Response | None:
        """Check the server's options; :obj:`None` lets websockets accept."""
        dispatch = connection.dispatch
        route_options = {} if dispatch is None else dispatch.route.options
        if "subprotocols" in route_options and not self.selects:
            assert dispatch is not None  # the options are its route's
            logger.error(
                "route registered with subprotocols after router.serve() started, "
                "which cannot negotiate them: %s",
                dispatch.route.pattern,
            )
            failed = ViewFailed("subprotocols cannot be negotiated")
            return self._answer(connection, connection.server_error(request, failed))
        refused = (
            None if self.check_upgrade is None else self.check_upgrade(request.headers)
        )
        if refused is None:
            refused = self.server_options.check(request.headers, route_options)
        return None if refused is None else self._answer(connection, refused)

    def _answer(self, connection: Protocol, response: Response) -> Response:
        connection._answered = True
        return response

    async def _after_user_hook(
        self,
        connection: Protocol,
        request: Request,
        answer: Awaitable[Response | None],
    ) -> Response | None:
        response = await connection._run_hook(answer)
        if response is not None:
            return self._answer(connection, response)
        routed = self._route(connection, request)
        return await routed if isinstance(routed, Awaitable) else routed

    async def _after_view_hook(
        self,
        connection: Protocol,
        request: Request,
        answer: Awaitable[Response | None],
    ) -> Response | None:
        response = await answer
        if response is None:
            return self._open(connection, request)
        return self._answer(connection, response)

    async def _route_by_hook(
        self, connection: Protocol, request: Request
    ) -> Response | None:
        """Route through an override of :meth:`Protocol.process_request`, 0.2's hook."""
        try:
            answer: Any = connection.process_request(request.path, request.headers)
            if inspect.isawaitable(answer):
                answer = await connection._run_hook(answer)
            response = as_response(answer)
        except Exception as exc:
            logger.error(
                "process_request failed: %s",
                handshake.printable(request.path),
                exc_info=True,
            )
            failed = ViewFailed(f"process_request failed: {request.path}")
            failed.__cause__ = exc
            response = connection.server_error(request, failed)
        if response is None:
            return self._open(connection, request)
        return self._answer(connection, response)


async def _awaited_or(
    answer: Awaitable[Response | None], response: Response
) -> Response:
    return (await answer) or response


def _peer(connection: ServerConnection) -> str:
    peer = connection.remote_address
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return "unix"


def _route_name(connection: Any) -> str:
    dispatch = getattr(connection, "dispatch", None)
    if dispatch is None:
        return "-"
    return dispatch.route.name or dispatch.route.pattern  # type: ignore[no-any-return]


def _log_handshake(connection: Protocol, request: Request, response: Response) -> None:
    if response.status_code == 101:
        access_logger.info(
            "open %s from %s", _route_name(connection), _peer(connection)
        )
        return
    access_logger.info(
        "refused %d %s %s from %s",
        response.status_code,
        connection._method,
        handshake.printable(request.path),
        _peer(connection),
    )


async def _log_close(connection: ServerConnection) -> None:
    """Close the connection as websockets would next, then log how it ended."""
    await close_within(connection, CloseCode.NORMAL_CLOSURE)
    access_logger.info(
        "close %s from %s with code %d",
        _route_name(connection),
        _peer(connection),
        await close_code(connection),
    )


async def handle(
    router: BaseRouter,
    ws: Any,
    path: str | None = None,
    tasks: set[asyncio.Task[None]] | None = None,
    deadlines: WriteDeadlines | None = None,
) -> None:
    """Implement :meth:`Router.handle`, for new and legacy connections alike.

    The view's handler runs in a task of its own, so that no frame of the
    package runs each time it wakes up. ``tasks``, if given, holds the task
    while it runs; ``deadlines``, if given, watch the connection (see
    :class:`~websockets_routes.closing.WriteDeadlines`), and the access log
    gets a line when it closes.

    """
    # A path given explicitly is routed afresh, whatever the handshake found.
    dispatch = None if path is not None else getattr(ws, "dispatch", None)
    if dispatch is None or (dispatch.route.options and not dispatch.negotiated):
        dispatch = await _route(router, ws, path, dispatch)
        if dispatch is None:
            return
    if deadlines is not None:
        deadlines.add(ws)
    task = None
    try:
        handler = dispatch.handle(ws)
        if handler is not None:
            task = _compat.start_task(handler)
            if tasks is not None:
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await task
    except BaseException as exc:
        await _ended(ws, dispatch, exc, task)
    finally:
        if deadlines is not None:
            deadlines.release(ws)
    if deadlines is not None and access_logger.isEnabledFor(logging.INFO):
        await _log_close(ws)


async def _ended(
    ws: Any, dispatch: Dispatch, exc: BaseException, task: asyncio.Task[None] | None
) -> None:
    """End a handler's error: log it and close with 1011, or let it go on."""
    message = _failure(ws, exc, task)
    if message is None:
        if isinstance(exc, ConnectionClosed):
            logger.debug("connection closed in handler: %s", dispatch.path)
            return
        if isinstance(exc, asyncio.CancelledError) and not _cancelling():
            logger.debug("handler cancelled: %s", dispatch.path)
            return
        raise exc
    await _failed(ws, dispatch, message, exc)


def _failure(
    ws: Any, exc: BaseException, task: asyncio.Task[None] | None
) -> str | None:
    """What to log of a handler's error; None: the handler did not fail.

    The client's own disconnect is a quiet end: a ConnectionClosed while the
    client's connection is open came from another one, like an upstream
    WebSocket that the handler opened. A CancelledError is the handler's own
    unless its task or the connection's was cancelled, by a shutdown for one.

    """
    if isinstance(exc, ConnectionClosed):
        return None if ws.state is not State.OPEN else "handler failed"
    if isinstance(exc, asyncio.CancelledError):
        cancelled = _cancelling() or (task is not None and task.cancelling() > 0)
        return None if cancelled else "handler raised CancelledError"
    return "handler failed" if isinstance(exc, Exception) else None


def _cancelling() -> bool:
    """Whether the current task is being cancelled, by a shutdown for one."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _failed(
    ws: Any, dispatch: Dispatch, message: str, exc: BaseException
) -> None:
    """Log a handler's error with its traceback; close the connection with 1011."""
    logger.error("%s: %s", message, dispatch.path, exc_info=exc)
    await close_within(ws, CloseCode.INTERNAL_ERROR, "internal error")


async def _route(
    router: BaseRouter, ws: Any, path: str | None, dispatch: Dispatch | None
) -> Dispatch | None:
    """Route an open connection; close it and return :obj:`None` if refused.

    A ``dispatch`` routed during a handshake that could not apply the route's
    options (the legacy adapter's) only has its options checked.

    """
    if isinstance(ws, Protocol) and ws.router is None and path is None:
        # A Protocol under websockets.serve(): an override of its hooks, which
        # may check credentials, never ran. Nothing may run in its place.
        logger.error(
            "not routed", exc_info=TypeError(_NOT_ROUTED.format(type(ws).__qualname__))
        )
        await close_within(ws, CloseCode.INTERNAL_ERROR, "internal error")
        return None
    request = getattr(ws, "request", None)
    if request is not None:
        path, headers = path or request.path, request.headers
    else:  # a legacy connection
        path, headers = path or ws.path, ws.request_headers
    if dispatch is not None:
        return await _check_options(ws, headers, dispatch)
    try:
        dispatch = router.dispatch(handshake.origin_form(path))
        if dispatch.route.kind == "http":
            await close_within(ws, NOT_FOUND, "not a WebSocket route")
            return None
        if await _check_options(ws, headers, dispatch) is None:
            return None
        response = await dispatch.process_request(headers)
    except RouteNotFound:
        await close_within(ws, NOT_FOUND, "no route for this path")
        return None
    except InvalidPath:
        await close_within(ws, BAD_REQUEST, "bad request path")
        return None
    except ViewFailed:
        await close_within(ws, CloseCode.INTERNAL_ERROR, "internal error")
        return None
    if response is not None:
        code, reason = 4000 + response.status_code, response.reason_phrase[:100]
        await close_within(ws, code, reason)
        return None
    return dispatch


async def _check_options(ws: Any, headers: Any, dispatch: Dispatch) -> Dispatch | None:
    refused = options.refusal(ws, headers, dispatch.route.options)
    if refused is not None:
        await close_within(ws, *refused)
        return None
    dispatch.negotiated = True
    return dispatch
