"""A test client for routers: :func:`connect` and :func:`serve`.

Tests connect to a real server on an ephemeral port of 127.0.0.1, through
the real opening handshake, in the test's own event loop, with websockets'
own client:

* :func:`connect` starts a server for one connection and yields the client
  connection; a refused handshake raises websockets'
  :exc:`~websockets.exceptions.InvalidStatus`, whose ``response`` carries
  the real status, headers and body. Redirects are not followed, so that a
  test sees the 3xx and its ``Location``.
* :func:`serve` starts a server for several connections and yields a
  :class:`TestClient`, whose :meth:`~TestClient.connect` opens them.
* An exception that a handler, a hook or a converter raises on the server
  while the block runs (anything the server logs with a traceback on the
  ``websockets_routes`` or ``websockets`` loggers) is raised again in the
  test when the block exits, rather than showing only as close code 1011
  or HTTP 500. The first one is raised as is, so that ``pytest.raises()``
  catches it by its own type, with a note saying that the server raised it
  (Python 3.11 and later); ``raise_server_errors=False`` turns this off.
* Receiving times out: :meth:`TestConnection.recv` and ``async for`` raise
  :exc:`TimeoutError` after ``timeout`` seconds (:data:`DEFAULT_TIMEOUT`, 5
  seconds) without a message, rather than hanging the test.

The pytest plugin (:mod:`websockets_routes.pytest_plugin`, registered as an
entry point) offers :func:`connect` as the ``routes_client`` fixture.

Example::

    from websockets_routes.testing import connect

    async def test_thing():
        async with connect(router, "/thing/1") as ws:
            assert await ws.recv() == "1"

"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TYPE_CHECKING, Any, cast

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websockets_connect
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import HeadersLike
from websockets.http11 import Request, Response
from websockets.typing import Origin, Subprotocol

from .options import UNSET
from .server import ProcessRequest, Router

if TYPE_CHECKING:
    from websockets.asyncio.server import Server

__all__ = [
    "DEFAULT_TIMEOUT",
    "LOGGERS",
    "TestClient",
    "TestConnection",
    "connect",
    "serve",
]

#: Seconds that opening a connection, receiving a message and stopping the
#: server's handlers may take in a test, unless ``timeout=`` says otherwise.
DEFAULT_TIMEOUT = 5.0

#: Loggers whose errors are raised again in the test: the router's (handlers,
#: hooks, converters, endpoints) and websockets' (the ``process_request`` and
#: ``process_response`` passed to ``serve()``, handshake failures).
LOGGERS = ("websockets_routes", "websockets")

# The list that collects the errors of the server that runs this connection.
# It is set in the task that handles the connection, and only there: errors
# of other servers, and of the test itself, are not collected.
_errors: contextvars.ContextVar[list[BaseException]] = contextvars.ContextVar(
    "websockets_routes_testing_errors"
)


class TestConnection(ClientConnection):
    """websockets' client connection, whose receives time out.

    :meth:`recv` and ``async for message in ws`` raise :exc:`TimeoutError`
    when no message comes within :attr:`timeout` seconds. Everything else is
    websockets' :class:`~websockets.asyncio.client.ClientConnection`.

    Attributes:
        timeout: Seconds a receive waits for a message; :obj:`None` waits
            forever. Change it during a test to wait longer.

    Example::

        async with connect(router, "/slow") as ws:
            ws.timeout = 30
            await ws.recv()

    """

    # pytest would take the class for a test class in modules importing it.
    __test__ = False

    timeout: float | None = DEFAULT_TIMEOUT

    async def _recv(self, *args: Any, **kwargs: Any) -> Any:
        """Receive the next message, as ``recv()``, within :attr:`timeout`."""
        try:
            return await asyncio.wait_for(super().recv(*args, **kwargs), self.timeout)
        except TimeoutError:
            # websockets' recv() is safe to cancel: no message is lost.
            raise TimeoutError(
                f"no message received within timeout: {self.timeout} seconds"
            ) from None

    # websockets' own recv() (async iteration calls it) with its overloads
    # for type checkers, which would not accept a signature that forwards
    # the arguments of every supported websockets.
    if not TYPE_CHECKING:  # pragma: no branch
        recv = _recv


class TestClient:
    """A running test server for a router, and a client for it.

    :func:`serve` yields it.

    Attributes:
        server: websockets' ``Server``, listening on 127.0.0.1.
        errors: The exceptions the server logged so far, first first.
        timeout: The default ``timeout`` of :meth:`connect`.

    Example::

        async with serve(router) as client:
            async with client.connect("/rooms/1") as alice:
                async with client.connect("/rooms/1") as bob:
                    await alice.send("hi")
                    assert await bob.recv() == "hi"

    """

    # pytest would take the class for a test class in modules importing it.
    __test__ = False

    def __init__(
        self, server: Server, errors: list[BaseException], timeout: float | None
    ) -> None:
        self.server = server
        self.errors = errors
        self.timeout = timeout

    def url(self, path: str) -> str:
        """The ``ws://`` URL of a path on the server.

        Raises:
            ValueError: If the path does not start with ``/``.

        Example::

            url = client.url("/thing/1")    # 'ws://127.0.0.1:54321/thing/1'

        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with /: {path!r}")
        # websockets 14 types sockets as an Iterable, not a list.
        host, port = next(iter(self.server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}{path}"

    @contextlib.asynccontextmanager
    async def connect(
        self,
        path: str,
        *,
        headers: HeadersLike | None = None,
        subprotocols: Sequence[str] | None = None,
        origin: str | None = None,
        follow_redirects: bool = False,
        timeout: float | None = UNSET,
        **kwargs: Any,
    ) -> AsyncIterator[TestConnection]:
        """Connect to a path of the server; yield the client connection.

        Args:
            path: The request path, query string included.
            headers: Headers added to the request.
            subprotocols: Subprotocols offered, in order of preference.
            origin: The ``Origin`` header.
            follow_redirects: Follow redirects, as websockets' client does; by
                default a redirect raises :exc:`InvalidStatus`.
            timeout: Seconds for the handshake and each receive; the
                client's :attr:`timeout` by default; :obj:`None` for none.
            kwargs: Other arguments of websockets' ``connect()``.

        Raises:
            InvalidStatus: If the server refuses the handshake.
            TimeoutError: If the handshake takes longer than ``timeout``.

        Example::

            async with client.connect("/thing/1", headers={"X-Me": "1"}) as ws:
                assert await ws.recv() == "1"

        """
        if timeout is UNSET:
            timeout = self.timeout
        connection_class = kwargs.pop("create_connection", None)
        cls = websockets_connect if follow_redirects else _NoRedirects
        async with cls(
            self.url(path),
            additional_headers=headers,
            subprotocols=cast("Sequence[Subprotocol] | None", subprotocols),
            origin=cast("Origin | None", origin),
            open_timeout=timeout,
            create_connection=_timing_out(connection_class),
            **kwargs,
        ) as ws:
            connection = cast(TestConnection, ws)
            connection.timeout = timeout
            yield connection


@contextlib.asynccontextmanager
async def serve(
    router: Router,
    *,
    raise_server_errors: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    **kwargs: Any,
) -> AsyncIterator[TestClient]:
    """Run a server for a router on 127.0.0.1 for the duration of a block.

    When the block exits, the server closes its connections and waits up to
    ``timeout`` seconds for their handlers to return; handlers still running
    then are cancelled, and a :exc:`TimeoutError` that says so counts as a
    server error. Then the first exception the server logged, if any, is
    raised, even if the block raised: the block's exception is then its
    ``__context__``.

    Args:
        router: The router to serve.
        raise_server_errors: Raise the server's first error when the block
            exits; with :obj:`False`, errors are only logged, and listed in
            :attr:`TestClient.errors`.
        timeout: The default timeout of :meth:`TestClient.connect`, and how
            long the handlers may take to return once the block exits;
            :obj:`None` for none.
        kwargs: Other arguments of :meth:`Router.serve`.

    Example::

        async with serve(router, origins=["https://example.com"]) as client:
            async with client.connect("/thing/1") as ws:
                ...

    """
    errors: list[BaseException] = []
    tasks: set[asyncio.Task[Any]] = set()
    kwargs["process_request"] = _capturing(kwargs.get("process_request"), errors, tasks)
    collector = _Collector(errors)
    for name in LOGGERS:
        logging.getLogger(name).addHandler(collector)
    try:
        async with router.serve("127.0.0.1", 0, **kwargs) as server:
            try:
                yield TestClient(server, errors, timeout)
            except Exception:
                await _stop(server, tasks, errors, timeout)
                if raise_server_errors:
                    _raise_first(errors, collector)
                raise
            except BaseException:
                # Cancelled or interrupted: that is what the test must see.
                await _stop(server, tasks, errors, timeout)
                raise
            await _stop(server, tasks, errors, timeout)
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(collector)
    if raise_server_errors:
        _raise_first(errors, collector)


@contextlib.asynccontextmanager
async def connect(
    router: Router,
    path: str,
    *,
    headers: HeadersLike | None = None,
    subprotocols: Sequence[str] | None = None,
    origin: str | None = None,
    follow_redirects: bool = False,
    raise_server_errors: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    **kwargs: Any,
) -> AsyncIterator[TestConnection]:
    """Serve a router, connect to a path; yield the client connection.

    It is :func:`serve` and :meth:`TestClient.connect` in one block, for a
    test that needs one connection: the server starts on an ephemeral port
    of 127.0.0.1 and stops when the block exits.

    Args:
        router: The router to serve.
        path: The request path, query string included.
        headers: Headers added to the request.
        subprotocols: Subprotocols offered, in order of preference.
        origin: The ``Origin`` header.
        follow_redirects: Follow redirects, as websockets' client does; by
            default a redirect raises :exc:`InvalidStatus`.
        raise_server_errors: Raise the first exception the server logged when
            the block exits (see :func:`serve`).
        timeout: Seconds for the handshake, each receive and the handlers'
            return once the block exits; :obj:`None` for none.
        kwargs: Other arguments of :meth:`Router.serve`.

    Raises:
        InvalidStatus: If the server refuses the handshake: its ``response``
            has the status, headers and body.
        TimeoutError: If a receive waits longer than ``timeout``.

    Example::

        async with connect(router, "/thing/1", headers={"X-Me": "1"}) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello, 1"

    """
    async with (
        serve(
            router, raise_server_errors=raise_server_errors, timeout=timeout, **kwargs
        ) as client,
        client.connect(
            path,
            headers=headers,
            subprotocols=subprotocols,
            origin=origin,
            follow_redirects=follow_redirects,
        ) as ws,
    ):
        yield ws


class _NoRedirects(websockets_connect):
    """websockets' ``connect()``, which raises a redirect as it gets it."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


def _timing_out(cls: type[ClientConnection] | None) -> type[TestConnection]:
    """The client connection class: :class:`TestConnection`, or one made of it."""
    if cls is None or issubclass(TestConnection, cls):
        return TestConnection
    return type(cls.__name__, (TestConnection, cls), {"__module__": cls.__module__})


def _capturing(
    process_request: ProcessRequest | None,
    errors: list[BaseException],
    tasks: set[asyncio.Task[Any]],
) -> ProcessRequest:
    """A ``process_request`` that notes the connection's task, then runs the given one.

    websockets runs the handshake, then the handler, in one task per
    connection: the context variable set here holds for both, and for the
    handler's own task, which copies the context.

    """

    def capture(
        connection: ServerConnection, request: Request
    ) -> Awaitable[Response | None] | Response | None:
        _errors.set(errors)
        tasks.add(cast("asyncio.Task[Any]", asyncio.current_task()))
        if process_request is None:
            return None
        return process_request(connection, request)

    return capture


class _Collector(logging.Handler):
    """Collect the exceptions logged by the connections of one server."""

    def __init__(self, errors: list[BaseException]) -> None:
        super().__init__(logging.ERROR)
        self.errors = errors
        # What the server logged with each error, by the error's id().
        self.messages: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if _errors.get(None) is not self.errors or not record.exc_info:
            return
        exc = record.exc_info[1]
        if exc is not None and id(exc) not in self.messages:
            self.errors.append(exc)
            self.messages[id(exc)] = record.getMessage()


async def _stop(
    server: Server,
    tasks: set[asyncio.Task[Any]],
    errors: list[BaseException],
    timeout: float | None,
) -> None:
    """Close the server; wait for its handlers, cancel them after ``timeout``."""
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), timeout)
    except TimeoutError:
        for task in tasks:
            task.cancel()
        await server.wait_closed()
        errors.append(
            TimeoutError(
                "handler still running after the server closed its connection, "
                f"cancelled after timeout: {timeout} seconds"
            )
        )


def _raise_first(errors: list[BaseException], collector: _Collector) -> None:
    """Raise the first error of the server, noting what the server logged."""
    if not errors:
        return
    error = errors[0]
    message = collector.messages.get(id(error))
    if message is not None:
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        error.add_note(f"raised on the server{more}, which logged: {message}")
    raise error
