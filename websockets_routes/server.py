"""The adapter to websockets' asyncio server: :class:`Router`, :class:`Protocol`.

:class:`Router` is the core :class:`~websockets_routes.router.BaseRouter`
with ``serve()`` and ``handle()``. Under :meth:`Router.serve`, each
connection is a :class:`Protocol`, which reads the request with
:mod:`.handshake` and routes it during the handshake, in this order:

1. the ``process_request`` passed to ``serve()``, if any (``basic_auth()``
   for one): a response it returns is final;
2. :meth:`Protocol.process_request` (0.2's hook, which subclasses may
   override), which routes: no route gives HTTP 404
   (:meth:`Protocol.not_found`), a path whose escapes are not valid UTF-8
   gives HTTP 400 (:meth:`Protocol.bad_request`);
3. the route's checks: a method it does not serve gives HTTP 405, a request
   body HTTP 400, a forbidden ``Origin`` HTTP 403, an offer of subprotocols
   that it does not speak HTTP 400;
4. the view's ``process_request`` hook: a response it returns is sent, an
   exception is logged and answered with HTTP 500
   (:meth:`Protocol.server_error`);
5. websockets' own checks, then the ``process_response`` passed to
   ``serve()``, if any.

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

import asyncio
import http
import inspect
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine, Generator
from time import monotonic
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, cast
from typing import Protocol as TypingProtocol

from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.asyncio.server import unix_serve as websockets_unix_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.frames import CloseCode
from websockets.http11 import SERVER, Request, Response
from websockets.protocol import CLOSED, CONNECTING, OPEN
from websockets.version import version as websockets_version

from . import compat, handshake, options
from .closing import close_within
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
    "handle",
    "serve",
    "unix_serve",
]

logger = logging.getLogger("websockets_routes")

#: Close code for a path that no route matches, under ``router.handle``.
NOT_FOUND = 4040
#: Close code for a path that cannot be decoded, under ``router.handle``.
BAD_REQUEST = 4000
#: Seconds a write waits for a client that doesn't read before the connection
#: is aborted, under :meth:`Router.serve`; ``write_timeout=`` changes it.
DEFAULT_WRITE_TIMEOUT = 20.0
#: Share of ``open_timeout`` that ``process_request`` hooks may take before
#: the request is answered with HTTP 503.
HOOK_SHARE = 0.9

# Python 3.12 and later start tasks eagerly when asked.
_EAGER = sys.version_info >= (3, 12)

# websockets < 17 raises from handshake() the refusals that it answered.
_HANDSHAKE_RAISES = int(websockets_version.split(".")[0]) < 17

# websockets' Headers keeps its values in a dict by lower-case name.
_HEADERS_BY_NAME = isinstance(getattr(Headers(), "_dict", None), dict)

# websockets 17 and later run the handler inside ``async with connection``,
# whose __aexit__() sees what the handler raised: under Router.serve(), the
# view's handler is then websockets' handler itself, with no task of ours.
_HANDLER_IN_CONTEXT = not _HANDSHAKE_RAISES

ProcessRequest = Callable[
    [ServerConnection, Request], Awaitable[Response | None] | Response | None
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
    * :meth:`not_found`, :meth:`bad_request` and :meth:`server_error`: the
      answers to a path that no route matches, that cannot be decoded, or
      whose converter, view class or hook raised.

    Overrides of the legacy protocol's other hooks (``process_origin``,
    ``select_subprotocol``, ...), which websockets' asyncio connection never
    calls, make :meth:`Router.serve` raise :exc:`TypeError` naming what to do
    instead. Passing this class to ``websockets.serve()`` rather than to
    :meth:`Router.serve` routes nothing during the handshake: each request is
    then answered with HTTP 500 and a logged :exc:`TypeError` that says so.

    Attributes:
        router: The router that serves this connection.
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

    # Slots, not entries of the instance's dict: on CPython 3.11 to 3.13,
    # an object with more than 29 attributes loses its compact attribute
    # storage, and every attribute access of websockets' code on the
    # connection, per message too, gets slower. websockets sets 27.
    __slots__ = ("dispatch", "opened_at")

    # None until Router.serve() makes a subclass per server that sets it.
    router: ClassVar[BaseRouter] = None  # type: ignore[assignment]
    #: Whether the server speaks TLS, set by :meth:`Router.serve`.
    secure: ClassVar[bool] = False
    dispatch: Dispatch | None
    opened_at: float
    #: Seconds a write waits for the client to read; :obj:`None`: no limit.
    write_timeout: ClassVar[float | None] = DEFAULT_WRITE_TIMEOUT
    _write_timer: asyncio.TimerHandle | None = None
    #: The server's ``open_timeout``, which bounds ``process_request`` hooks.
    open_timeout: ClassVar[float | None] = 10.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Read the request with :mod:`.handshake`; start the hooks' clock."""
        # Here rather than in __init__(): websockets passes __init__() seven
        # arguments, which an override would pack and unpack again.
        super().connection_made(transport)
        self.dispatch = None
        handshake.install(self.protocol)
        # The clock itself, not loop.time(): no frame per handshake, and the
        # hook deadline only needs durations.
        self.opened_at = monotonic()

    def pause_writing(self) -> None:
        """Start the write deadline: the client stopped reading what was written.

        websockets waits without a limit, so a client that stops reading
        would keep a handler's ``send()``, a keepalive ``ping()`` or a
        ``close()`` waiting forever. The deadline is :attr:`write_timeout`
        while the connection is open, and what is left of ``close_timeout``
        once it closes; past it, a write that still waits fails, websockets
        aborts the transport and raises
        :exc:`~websockets.exceptions.ConnectionClosedError` (code 1006).

        """
        # A timer between pause and resume, rather than an override of
        # drain(): websockets drains after each send, and no function of
        # ours may run per message.
        super().pause_writing()
        self._arm_write_timer()

    def resume_writing(self) -> None:
        """Cancel the write deadline: the client reads again."""
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().resume_writing()

    def close(
        self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = ""
    ) -> Coroutine[Any, Any, None]:
        """Close the connection; a write that waits has ``close_timeout`` left."""
        timer, timeout = self._write_timer, self.close_timeout
        if timer is not None and timeout is not None:
            if timer.when() > self.loop.time() + timeout:
                timer.cancel()
                self._write_timer = self.loop.call_later(
                    timeout, self._write_timed_out, timeout
                )
        # websockets' coroutine, returned: no coroutine of ours per close.
        return super().close(code, reason)

    def __aexit__(  # type: ignore[override]
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Coroutine[Any, Any, bool | None]:
        """Close the connection; log what the view's handler raised, if anything.

        On websockets 17 and later, :meth:`Router.serve` has websockets
        await the view's handler itself, inside ``async with connection``:
        this is where its errors end, as :meth:`Router.handle` ends them.
        An ``async with`` of the handler's own is websockets' as before.

        """
        # The view's handler, when websockets awaits it itself (see _open).
        if exc_value is not None:
            handler = getattr(self.dispatch, "handler", None)
            # Not a connection that Router.handle() runs, nor an "async with"
            # inside the handler, which has not returned yet.
            if handler is not None and handler.cr_frame is None:
                return self._handler_failed(exc_value)
        # websockets' own coroutine, returned: none of ours per connection.
        return super().__aexit__(exc_type, exc_value, traceback)

    async def _handler_failed(self, exc: BaseException) -> bool:
        """End the error of a view's handler as handle() does; True: it ended."""
        dispatch = cast(Dispatch, self.dispatch)
        message = _failure(self, exc)
        if message is not None:
            await _failed(self, dispatch, message, exc)
            return True
        if isinstance(exc, ConnectionClosed):  # the client's own disconnect
            logger.debug("connection closed in handler: %s", dispatch.path)
            await super().__aexit__(None, None, None)
            return True
        # A shutdown's cancellation, KeyboardInterrupt, ...: websockets' own.
        await super().__aexit__(type(exc), exc, exc.__traceback__)
        return False

    def _arm_write_timer(self) -> None:
        timeout = self._drain_timeout()
        if timeout is not None:
            self._write_timer = self.loop.call_later(
                max(timeout, 0), self._write_timed_out, timeout
            )

    def _write_timed_out(self, timeout: float) -> None:
        self._write_timer = None
        if not self.paused:  # pragma: no cover - the connection was lost since
            return
        if not self.drain_waiters:
            # Nothing waits (broadcast() doesn't): only a write that waits
            # has a deadline.
            self._arm_write_timer()
            return
        logger.info("client doesn't read: aborting after %.1f seconds", timeout)
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_exception(TimeoutError("client doesn't read"))
        # websockets 14 then calls transport.close(), which waits for the
        # buffer to drain, forever: abort first.
        self.transport.abort()

    def _drain_timeout(self) -> float | None:
        if self.protocol.state in (CONNECTING, OPEN):
            return self.write_timeout
        if self.close_deadline is not None:
            return float(self.close_deadline - self.loop.time())
        return self.close_timeout

    async def _run_hook(self, hook: Awaitable[Any]) -> Any:
        """Await a ``process_request`` hook; HTTP 503 if it outlives its deadline."""
        if self.open_timeout is None:
            return await hook
        timeout = HOOK_SHARE * self.open_timeout - (monotonic() - self.opened_at)
        try:
            return await asyncio.wait_for(hook, max(timeout, 0))
        except TimeoutError:
            request = cast(Request, self.request)
            logger.error("process_request timed out: %s", request.path)
            return self.timed_out(request)

    def handshake(
        self,
        process_request: ProcessRequest | None = None,
        process_response: Any = None,
        server_header: str | None = SERVER,
    ) -> Coroutine[Any, Any, None]:
        """Perform the opening handshake; see websockets' ``ServerConnection``."""
        # Returning websockets' coroutine, not awaiting it, saves a coroutine
        # per handshake.
        if self.router is None:
            process_request = _not_routed
        if _HANDSHAKE_RAISES:
            return self._quiet_handshake(
                process_request, process_response, server_header
            )
        return super().handshake(process_request, process_response, server_header)

    async def _quiet_handshake(
        self,
        process_request: ProcessRequest | None,
        process_response: Any,
        server_header: str | None,
    ) -> None:
        # websockets < 17 raises from handshake() what it answered already,
        # and logs it as an error with a traceback: a client must not fill
        # the error log.
        try:
            await super().handshake(process_request, process_response, server_header)
        except ConnectionClosed:
            # The client went away before the answer (see .handshake).
            if self.protocol.state is not CLOSED:
                raise
        except InvalidHandshake:
            if self.response is None:
                raise
            logger.debug("refused: %s", self.response.status_code, exc_info=True)

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
        :meth:`process_request` is not overridden: a view without a
        coroutine function as its hook is routed and answered at once.

        Returns:
            :obj:`None` to go on with the handshake, the response to send
            instead, or an awaitable of either when the view's hook is a
            coroutine function.

        Example::

            answer = connection.route_request(request.path, request.headers)
            if inspect.isawaitable(answer):
                answer = await answer

        """
        request = self.request
        try:
            self.dispatch = dispatch = self.router.dispatch(path)
            # The parser sets the method, which websockets 14 does not read.
            method = request.method  # type: ignore[union-attr, attr-defined, unused-ignore]
            # Lower-case names, which Headers keeps: no set to make.
            names = headers._dict.keys() if _HEADERS_BY_NAME else set(headers)
            refused = dispatch.check_request(
                method, headers, secure=self.secure, names=names
            )
            route_options = dispatch.route.options
            # options.apply() also refuses an offer of subprotocols to a
            # route that has no options.
            if refused is None and (route_options or "sec-websocket-protocol" in names):
                refused = options.apply(self.protocol, headers, route_options)
            if refused is not None:
                return refused
            dispatch.negotiated = True
            view = dispatch.view
            # A function view has no hook: no attribute lookup to find none.
            if view.__class__ is FunctionView or (
                getattr(view, "process_request", None) is None
            ):
                return None
            answer = dispatch.run_hook(headers)
        except RouteNotFound:
            return self.not_found(cast(Request, request))
        except InvalidPath as exc:
            return self.bad_request(cast(Request, request), exc)
        except ViewFailed as exc:
            return self.server_error(cast(Request, request), exc)
        if answer is None or isinstance(answer, Response):
            return answer
        return self._await_hook(answer)

    async def _await_hook(self, answer: Awaitable[Response | None]) -> Response | None:
        try:
            return cast("Response | None", await self._run_hook(answer))
        except ViewFailed as exc:
            return self.server_error(cast(Request, self.request), exc)

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
        passed since the connection was accepted is cancelled, and logged.

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


def _not_routed(connection: ServerConnection, request: Request) -> None:
    raise TypeError(
        f"{type(connection).__qualname__} routes only under router.serve(): "
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
        # Returning the coroutine, not awaiting it, saves a suspended frame
        # per open connection.
        return handle(self, ws, path)

    __call__ = handle

    def serve(
        self, host: str | None = None, port: int | None = None, **kwargs: Any
    ) -> Serving:
        """Start a server that routes during the handshake.

        It takes the arguments of :func:`websockets.asyncio.server.serve`
        but the handler, and returns what it returns: use it with ``async
        with`` or ``await``. A request that no route matches gets HTTP 404
        during the handshake.

        Raises:
            TypeError: If ``create_protocol=`` is given, or the class given
                with ``create_connection=`` is no :class:`Protocol` or
                overrides a legacy hook that would never be called.

        Example::

            async with router.serve("127.0.0.1", 8765) as server:
                await server.serve_forever()

        """
        return serve(self, host, port, **kwargs)

    def unix_serve(self, path: str | None = None, **kwargs: Any) -> Serving:
        """Like :meth:`serve`, on a Unix socket.

        Example::

            async with router.unix_serve("/run/app.sock"):
                ...

        """
        return unix_serve(self, path, **kwargs)


def serve(
    router: Router,
    host: str | None = None,
    port: int | None = None,
    *,
    process_request: ProcessRequest | None = None,
    create_connection: type[ServerConnection] | None = None,
    **kwargs: Any,
) -> Serving:
    """Implement :meth:`Router.serve`."""
    options = _options(router, process_request, create_connection, kwargs)
    return websockets_serve(_open, host, port, **options, **kwargs)


def unix_serve(
    router: Router,
    path: str | None = None,
    *,
    process_request: ProcessRequest | None = None,
    create_connection: type[ServerConnection] | None = None,
    **kwargs: Any,
) -> Serving:
    """Implement :meth:`Router.unix_serve`."""
    options = _options(router, process_request, create_connection, kwargs)
    # websockets 14 types unix_serve() as an Awaitable[Server] although it
    # returns what serve() returns.
    return cast(Serving, websockets_unix_serve(_open, path, **options, **kwargs))


def _options(
    router: Router,
    user_process_request: ProcessRequest | None,
    create_connection: type[ServerConnection] | None,
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """The ``process_request`` and ``create_connection`` arguments for websockets."""
    compat.check_serve_arguments(kwargs)
    cls = Protocol if create_connection is None else create_connection
    if not (isinstance(cls, type) and issubclass(cls, Protocol)):
        raise TypeError(f"create_connection must be a subclass of Protocol: {cls!r}")
    compat.check_connection_class(cls, Protocol)
    # A subclass per server carries the router as a class attribute: no
    # per-connection attribute, and no wrapper call per handshake.
    # The server's TLS and timeouts are known now: no lookup per handshake.
    namespace = {
        "router": router,
        "secure": kwargs.get("ssl") is not None,
        "open_timeout": kwargs.get("open_timeout", 10.0),
        "write_timeout": kwargs.pop("write_timeout", cls.write_timeout),
        "__module__": cls.__module__,
    }
    if cls.handshake is Protocol.handshake:
        # Protocol.handshake() only checks for a router, which this class
        # has: websockets' own, with no call of ours per handshake.
        namespace["handshake"] = (
            Protocol._quiet_handshake
            if _HANDSHAKE_RAISES
            else ServerConnection.handshake
        )
    routed = type(cls.__name__, (cls,), namespace)
    # websockets takes a plain function or a coroutine function: routing
    # needs no coroutine unless 0.2's hook is overridden or a view's hook is one.
    overridden = routed.process_request is not Protocol.process_request  # type: ignore[attr-defined]
    route: ProcessRequest = _handshake_hook if overridden else _handshake_route
    if user_process_request is not None:
        route = _after(user_process_request, route)
    return {"process_request": route, "create_connection": routed}


def _open(connection: Any) -> Awaitable[None]:
    """The handler under :meth:`Router.serve`: :meth:`Router.handle`, once open."""
    # The parser holds back what the client sent after its request until
    # the handshake is answered (see .handshake); read it now.
    if connection.protocol.reader.buffer:
        connection.data_received(b"")
    dispatch = connection.dispatch
    if _HANDLER_IN_CONTEXT and dispatch is not None and dispatch.negotiated:
        # websockets awaits the view's handler itself, and the connection's
        # __aexit__() ends its errors: no task and no frame of ours, which
        # handle() would cost on every connection.
        handler: Coroutine[Any, Any, None] | None
        try:
            handler = dispatch.handle(connection)
        except Exception as exc:
            handler = _raise(exc)
        if handler is not None:  # None: a view without a handler
            # On the dispatch: no attribute more on the connection (see
            # Protocol.__slots__).
            dispatch.handler = handler
            return handler
    return connection.router.handle(connection)  # type: ignore[no-any-return]


async def _raise(exc: Exception) -> None:
    """Raise what starting a view's handler raised, where its errors end."""
    raise exc


def _handshake_route(connection: Any, request: Request) -> Any:
    """Route during the handshake: :meth:`Protocol.route_request`, then accept."""
    # connection is a Protocol, typed Any: websockets types the argument as
    # a ServerConnection, and a cast() would cost a call per handshake.
    answer = connection.route_request(request.path, request.headers)
    if answer is None:
        # websockets' accept(), run here rather than by websockets after
        # this hook: its refusals quote the request, which this escapes
        # without a process_response hook on every handshake.
        return handshake.accept(connection.protocol, request)
    if isinstance(answer, Response):
        return answer
    return _accept_after(connection.protocol, request, answer)


async def _accept_after(
    protocol: Any, request: Request, answer: Awaitable[Response | None]
) -> Response:
    """Await the answer of a view's hook; accept if it gives None."""
    response = await answer
    return handshake.accept(protocol, request) if response is None else response


async def _handshake_hook(connection: Any, request: Request) -> Response:
    """Route through an override of :meth:`Protocol.process_request`, 0.2's hook."""
    answer = connection.process_request(request.path, request.headers)
    if inspect.isawaitable(answer):
        answer = await connection._run_hook(answer)
    response = as_response(answer)
    if response is None:
        return handshake.accept(connection.protocol, request)
    return response


def _after(first: ProcessRequest, route: ProcessRequest) -> ProcessRequest:
    """Run the ``process_request`` given to ``serve()``; route if it gives None."""

    def process_request(
        connection: ServerConnection, request: Request
    ) -> Awaitable[Response | None] | Response | None:
        response = first(connection, request)
        if response is None:
            return route(connection, request)
        if isinstance(response, Awaitable):
            return _then(response, route, connection, request)
        return response

    return process_request


async def _then(
    response: Awaitable[Response | None],
    route: ProcessRequest,
    connection: ServerConnection,
    request: Request,
) -> Response | None:
    """Await the answer of the ``process_request`` given to ``serve()``, then route."""
    first = await cast(Protocol, connection)._run_hook(response)
    if first is not None:
        return cast(Response, first)
    answer = route(connection, request)
    return await answer if isinstance(answer, Awaitable) else answer


async def handle(router: BaseRouter, ws: Any, path: str | None = None) -> None:
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
            # The handler runs in a task of its own, so that this frame, which
            # only catches its errors, wakes up once at its end rather than
            # each time the handler does: no frame of ours runs per message.
            # The connection's loop: on Python 3.11, get_running_loop() costs
            # a system call (getpid) per handshake.
            loop = getattr(ws, "loop", None) or asyncio.get_running_loop()
            if _EAGER and loop.get_task_factory() is None:
                # Started at once: the handler runs up to its first wait now,
                # rather than in the event loop's next turn, and one that
                # never waits costs the loop no turn at all.
                await asyncio.Task(handler, loop=loop, eager_start=True)  # type: ignore[call-arg, unused-ignore]  # pragma: no cover - 3.12+; coverage runs 3.11
            else:
                await loop.create_task(handler)
    except BaseException as exc:
        message = _failure(ws, exc)
        if message is None:
            if isinstance(exc, ConnectionClosed):
                logger.debug("connection closed in handler: %s", dispatch.path)
                return
            raise
        await _failed(ws, dispatch, message, exc)


def _failure(ws: Any, exc: BaseException) -> str | None:
    """What to log of a handler's error; None: the handler did not fail.

    The client's own disconnect is a quiet end: a ConnectionClosed while the
    client's connection is open came from another one, like an upstream
    WebSocket that the handler opened. A CancelledError is the handler's own
    unless the task is being cancelled, by a shutdown for one.

    """
    if isinstance(exc, ConnectionClosed):
        return None if ws.state is not OPEN else "handler failed"
    if isinstance(exc, asyncio.CancelledError):
        return None if _cancelled(ws) else "handler raised CancelledError"
    return "handler failed" if isinstance(exc, Exception) else None


async def _failed(
    ws: Any, dispatch: Dispatch, message: str, exc: BaseException
) -> None:
    """Log a handler's error with its traceback; close the connection with 1011."""
    logger.error("%s: %s", message, dispatch.path, exc_info=exc)
    await close_within(ws, CloseCode.INTERNAL_ERROR, "internal error")


def _cancelled(ws: Any) -> bool:
    """Whether the current task is being cancelled, by a shutdown for one."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    if cancelling is not None:
        return bool(cancelling() > 0)
    # Python 3.10 doesn't count cancellations. A shutdown closes connections
    # before it cancels their handlers: while the connection is open, the
    # CancelledError is the handler's own.
    return bool(ws.state is not OPEN)  # pragma: no cover - Python 3.10


async def _route(
    router: BaseRouter, ws: Any, path: str | None, dispatch: Dispatch | None
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
