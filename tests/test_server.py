"""Tests for the asyncio adapter: Router.serve(), Protocol and Router.handle."""

from __future__ import annotations

import asyncio
import dataclasses
import http
import inspect
import logging
import pathlib
import tempfile
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect, unix_connect
from websockets.asyncio.server import ServerConnection, basic_auth
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.protocol import State

from websockets_routes import Converter, Protocol, RoutedPath, Router

from support import closed_with, status_of, url_of


def make_router() -> Router:
    """A router with the routes of the README's examples."""
    router = Router()
    items = {"1": "first item"}

    @router.route("/thing/{id}", name="thing")
    async def thing_detail(ws: Any, path: RoutedPath) -> None:
        await ws.send(path)
        await ws.send(path.params["id"])
        await ws.send(path.name or "")

    @router.route("/item/{id}")
    class ItemDetail:
        async def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            item = items.get(path.params["id"])
            if item is None:
                return (http.HTTPStatus.NOT_FOUND, [], b"no such item\n")
            path.context["item"] = item
            path.context["view"] = id(self)
            return None

        async def handle(self, ws: Any, path: RoutedPath) -> None:
            assert path.context["view"] == id(self)
            await ws.send(path.context["item"])

    @router.route("/status/{code:int}")
    class Status:
        def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            return (path.params["code"], [("X-Code", "yes")], "refused\n")

    @router.route("/response")
    class Refuse:
        async def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            return Response(418, "I'm a teapot", Headers(), b"tea\n")

    @router.route("/silent")
    class Silent:
        pass

    @router.route("/hook-fails")
    class HookFails:
        async def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            raise RuntimeError("hook bug")

    @router.route("/handler-fails")
    async def handler_fails(ws: Any, path: RoutedPath) -> None:
        raise RuntimeError("handler bug")

    @router.route("/echo")
    async def echo(ws: Any, path: RoutedPath) -> None:
        async for message in ws:
            await ws.send(message)

    return router


async def test_serve_function_handler() -> None:
    """A coroutine handler gets the raw path, decoded params and route name."""
    async with make_router().serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, "/thing/caf%C3%A9?x=1")) as ws:
            assert await ws.recv() == "/thing/caf%C3%A9?x=1"
            assert await ws.recv() == "café"
            assert await ws.recv() == "thing"


async def test_serve_not_found() -> None:
    """router.serve() answers an unmatched path with HTTP 404 at the handshake."""
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/nothing/here"))
    assert refusal.response.status_code == 404
    assert refusal.response.body == b"No route for this path.\n"


async def test_serve_bad_path() -> None:
    """router.serve() answers a path that is not valid UTF-8 with HTTP 400."""
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/thing/%ff"))
    assert refusal.response.status_code == 400
    assert b"invalid UTF-8 in request path" in refusal.response.body


async def test_serve_view_hook_and_context() -> None:
    """process_request fills path.context for handle(), on the same instance."""
    async with make_router().serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, "/item/1")) as ws:
            assert await ws.recv() == "first item"


async def test_serve_view_hook_refuses() -> None:
    """A (HTTPStatus, headers, body) answer from the hook is sent to the client."""
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/item/2"))
    assert refusal.response.status_code == 404
    assert refusal.response.body == b"no such item\n"


async def test_serve_view_hook_int_status_and_sync_hook() -> None:
    """A sync hook may answer with an int status, headers and a str body."""
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/status/403"))
    assert refusal.response.status_code == 403
    assert refusal.response.headers["X-Code"] == "yes"
    assert refusal.response.body == b"refused\n"


async def test_serve_view_hook_response() -> None:
    """A websockets Response from the hook is sent as it is."""
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/response"))
    assert refusal.response.status_code == 418
    assert refusal.response.body == b"tea\n"


async def test_serve_view_without_handle() -> None:
    """A view without handle() accepts the connection and closes it normally."""
    async with make_router().serve("127.0.0.1", 0) as server:
        assert await closed_with(url_of(server, "/silent")) == (1000, "")


async def test_serve_failing_hook(caplog: pytest.LogCaptureFixture) -> None:
    """A hook that raises gives HTTP 500, is logged, and the server goes on."""
    caplog.set_level(logging.ERROR, logger="websockets_routes")
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/hook-fails"))
        async with connect(url_of(server, "/item/1")) as ws:
            assert await ws.recv() == "first item"
    assert refusal.response.status_code == 500
    [record] = [r for r in caplog.records if r.name == "websockets_routes"]
    assert record.getMessage() == "process_request failed: /hook-fails"
    assert record.exc_info is not None and "hook bug" in str(record.exc_info[1])


async def test_serve_failing_handler(caplog: pytest.LogCaptureFixture) -> None:
    """A handler that raises closes with 1011, is logged, others go on."""
    caplog.set_level(logging.ERROR, logger="websockets_routes")
    async with make_router().serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, "/echo")) as other:
            code, _ = await closed_with(url_of(server, "/handler-fails"))
            await other.send("still here")
            assert await other.recv() == "still here"
    assert code == CloseCode.INTERNAL_ERROR
    [record] = [r for r in caplog.records if r.name == "websockets_routes"]
    assert record.getMessage() == "handler failed: /handler-fails"


async def test_serve_failing_handler_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler's error is logged once, by the router, not also by websockets."""
    caplog.set_level(logging.ERROR)
    async with make_router().serve("127.0.0.1", 0) as server:
        assert await closed_with(url_of(server, "/handler-fails")) == (
            CloseCode.INTERNAL_ERROR,
            "internal error",
        )
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert messages == ["handler failed: /handler-fails"]


async def test_handler_own_async_with_is_websockets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler's own ``async with ws`` closes as websockets does; errors logged."""
    caplog.set_level(logging.ERROR, logger="websockets_routes")
    router = Router()
    inside: list[bool] = []

    @router.route("/nested")
    async def nested(ws: Any, path: RoutedPath) -> None:
        try:
            async with ws:
                raise RuntimeError("inside")
        finally:
            # websockets' __aexit__() closed the connection before this.
            inside.append(ws.state is State.CLOSED)

    async with router.serve("127.0.0.1", 0) as server:
        assert await closed_with(url_of(server, "/nested")) == (1011, "")
    assert inside == [True]
    [record] = caplog.records
    assert record.getMessage() == "handler failed: /nested"


async def test_view_handle_that_raises_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A view's handle() that raises before giving a coroutine closes with 1011."""
    caplog.set_level(logging.ERROR, logger="websockets_routes")
    router = Router()

    @router.route("/at-once")
    class AtOnce:
        def __init__(self) -> None:
            setattr(self, "handle", self.fail)  # noqa: B010 - per instance

        def fail(self, ws: Any, path: RoutedPath) -> None:
            raise RuntimeError("no coroutine")

        async def handle(self, ws: Any, path: RoutedPath) -> None:
            raise AssertionError("replaced per instance")

    async with router.serve("127.0.0.1", 0) as server:
        assert await closed_with(url_of(server, "/at-once")) == (1011, "internal error")
    [record] = caplog.records
    assert record.getMessage() == "handler failed: /at-once"
    assert record.exc_info is not None and "no coroutine" in str(record.exc_info[1])


async def test_view_handle_that_gives_an_awaitable() -> None:
    """A view's handle() that gives an awaitable, not a coroutine, is awaited."""
    router = Router()

    @router.route("/future")
    class Future:
        def __init__(self) -> None:
            setattr(self, "handle", self.start)  # noqa: B010 - per instance

        def start(self, ws: Any, path: RoutedPath) -> asyncio.Task[None]:
            return asyncio.ensure_future(ws.send("from a task"))

        async def handle(self, ws: Any, path: RoutedPath) -> None:
            raise AssertionError("replaced per instance")

    async with router.serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, "/future")) as ws:
            assert await ws.recv() == "from a task"
            await ws.wait_closed()
            close = ws.protocol.close_rcvd
        assert close is not None and close.code == 1000


async def test_serve_with_await() -> None:
    """router.serve() also works with await, returning websockets' Server."""
    server = await make_router().serve("127.0.0.1", 0)
    try:
        assert isinstance(server, websockets.asyncio.server.Server)
        async with connect(url_of(server, "/thing/1")) as ws:
            assert await ws.recv() == "/thing/1"
    finally:
        server.close()
        await server.wait_closed()


async def test_serve_routes_added_while_serving() -> None:
    """Routes registered while the server runs are matched."""
    router = make_router()
    async with router.serve("127.0.0.1", 0) as server:
        assert (await status_of(url_of(server, "/late"))).response.status_code == 404

        @router.route("/late")
        async def late(ws: Any, path: RoutedPath) -> None:
            await ws.send("late")

        async with connect(url_of(server, "/late")) as ws:
            assert await ws.recv() == "late"


async def test_serve_user_process_request_runs_first() -> None:
    """A process_request given to serve() (basic_auth) runs before routing."""
    auth = basic_auth(credentials=("user", "secret"))
    async with make_router().serve("127.0.0.1", 0, process_request=auth) as server:
        assert (await status_of(url_of(server, "/nothing"))).response.status_code == 401
        assert (await status_of(url_of(server, "/thing/1"))).response.status_code == 401
        port = server.sockets[0].getsockname()[1]
        authed = f"ws://user:secret@127.0.0.1:{port}"
        refusal = await status_of(authed + "/nothing")
        assert refusal.response.status_code == 404
        async with connect(authed + "/thing/1") as ws:
            assert await ws.recv() == "/thing/1"


async def test_serve_sync_user_process_request_passes() -> None:
    """A sync process_request that returns None lets routing go on."""
    seen: list[str] = []

    def record(connection: ServerConnection, request: Request) -> None:
        seen.append(request.path)

    async with make_router().serve("127.0.0.1", 0, process_request=record) as server:
        async with connect(url_of(server, "/thing/1")) as ws:
            await ws.recv()
    assert seen == ["/thing/1"]


async def test_serve_user_process_response() -> None:
    """A process_response given to serve() runs after routing."""

    def stamp(
        connection: ServerConnection, request: Request, response: Response
    ) -> None:
        response.headers["X-Routed"] = str(
            getattr(connection, "dispatch", None) is not None
        )

    async with make_router().serve("127.0.0.1", 0, process_response=stamp) as server:
        async with connect(url_of(server, "/thing/1")) as ws:
            assert ws.response is not None
            assert ws.response.headers["X-Routed"] == "True"
        refusal = await status_of(url_of(server, "/nothing"))
        assert refusal.response.headers["X-Routed"] == "False"


async def test_handler_task_from_loop_task_factory() -> None:
    """The handler runs in a task made by the event loop's task factory, if set."""
    loop = asyncio.get_running_loop()
    made: list[asyncio.Task[Any]] = []

    def factory(loop: Any, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    router = Router()

    @router.route("/traced")
    async def traced(ws: Any, path: RoutedPath) -> None:
        await ws.send(str(asyncio.current_task() in made))

    loop.set_task_factory(factory)
    try:
        async with router.serve("127.0.0.1", 0) as server:
            async with connect(url_of(server, "/traced")) as ws:
                assert await ws.recv() == "True"
    finally:
        loop.set_task_factory(None)


async def test_not_found_may_answer_a_response_subclass() -> None:
    """An answer of a Response subclass, from a Protocol override, is sent."""

    class Answer(Response):
        pass

    class MyProtocol(Protocol):
        def not_found(self, request: Request) -> Response:
            response = self.respond(http.HTTPStatus.NOT_FOUND, "nothing here\n")
            return Answer(*dataclasses.astuple(response))

    router = make_router()
    async with router.serve("127.0.0.1", 0, create_connection=MyProtocol) as server:
        refusal = await status_of(url_of(server, "/nothing"))
    assert refusal.response.status_code == 404
    assert refusal.response.body == b"nothing here\n"


async def test_serve_protocol_subclass() -> None:
    """A Protocol subclass passed with create_connection customises answers."""

    class MyProtocol(Protocol):
        def not_found(self, request: Request) -> Response:
            return self.respond(http.HTTPStatus.NOT_FOUND, f"no {request.path}\n")

    router = make_router()
    async with router.serve("127.0.0.1", 0, create_connection=MyProtocol) as server:
        refusal = await status_of(url_of(server, "/missing"))
        async with connect(url_of(server, "/thing/1")) as ws:
            assert await ws.recv() == "/thing/1"
    assert refusal.response.body == b"no /missing\n"


async def test_serve_rejects_other_connection_class() -> None:
    """create_connection must be a Protocol subclass."""
    with pytest.raises(
        TypeError, match="create_connection must be a subclass of Protocol"
    ):
        make_router().serve("127.0.0.1", 0, create_connection=ServerConnection)


async def test_unix_serve() -> None:
    """router.unix_serve() routes on a Unix socket."""
    with tempfile.TemporaryDirectory() as directory:
        socket_path = str(pathlib.Path(directory) / "ws.sock")
        async with make_router().unix_serve(socket_path):
            async with unix_connect(socket_path, "ws://localhost/thing/1") as ws:
                assert await ws.recv() == "/thing/1"
            with pytest.raises(InvalidStatus) as info:
                async with unix_connect(socket_path, "ws://localhost/nothing"):
                    pass  # pragma: no cover
            assert info.value.response.status_code == 404


async def test_handle_matches() -> None:
    """router.handle works as the handler of websockets.serve."""
    async with websockets.serve(make_router().handle, "127.0.0.1", 0) as server:
        async with connect(url_of(server, "/thing/a%2Fb")) as ws:
            assert await ws.recv() == "/thing/a%2Fb"
            assert await ws.recv() == "a/b"


async def test_router_is_callable() -> None:
    """The Router itself is a handler, as in 0.2."""
    async with websockets.serve(make_router(), "127.0.0.1", 0) as server:
        async with connect(url_of(server, "/item/1")) as ws:
            assert await ws.recv() == "first item"


@pytest.mark.parametrize(
    ("path", "code", "reason"),
    [
        ("/nothing", 4040, "no route for this path"),
        ("/thing/%ff", 4000, "bad request path"),
        ("/item/2", 4404, "Not Found"),
        ("/status/403", 4403, "Forbidden"),
        ("/hook-fails", 1011, "internal error"),
        ("/handler-fails", 1011, "internal error"),
        ("/silent", 1000, ""),
    ],
)
async def test_handle_close_codes(path: str, code: int, reason: str) -> None:
    """Under router.handle, refusals close the connection with documented codes."""
    logging.getLogger("websockets_routes").disabled = True
    try:
        async with websockets.serve(make_router().handle, "127.0.0.1", 0) as server:
            assert await closed_with(url_of(server, path)) == (code, reason)
    finally:
        logging.getLogger("websockets_routes").disabled = False


async def test_handle_with_explicit_path() -> None:
    """handle(ws, path) routes the path it is given, not the request's."""
    router = make_router()

    async def handler(ws: ServerConnection) -> None:
        await router.handle(ws, "/thing/given")

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        async with connect(url_of(server, "/whatever")) as ws:
            assert await ws.recv() == "/thing/given"
            assert await ws.recv() == "given"


async def test_client_disconnect_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that leaves while the handler reads is not logged as an error."""
    router = Router()
    done = asyncio.Event()

    @router.route("/wait")
    async def wait(ws: Any, path: RoutedPath) -> None:
        try:
            await ws.recv()
        finally:
            done.set()

    async with router.serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, "/wait")) as ws:
            await ws.send("x")  # consumed by recv()
        await asyncio.wait_for(done.wait(), 5)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def failing_router() -> Router:
    """A router whose view class and converter raise."""

    class Broken(Converter):
        regex = "[a-z]+"

        def to_python(self, value: str) -> str:
            raise RuntimeError("converter bug")

    router = Router(converters={"broken": Broken})

    @router.route("/init")
    class InitFails:
        def __init__(self) -> None:
            raise RuntimeError("init bug")

    @router.route("/conv/{x:broken}")
    async def never_reached(ws: Any, path: RoutedPath) -> None:
        raise AssertionError("the converter fails first")  # pragma: no cover

    return router


async def test_serve_failing_view_class_or_converter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A view class or converter that raises gives HTTP 500 and is logged."""
    caplog.set_level(logging.ERROR, logger="websockets_routes")
    async with failing_router().serve("127.0.0.1", 0) as server:
        for path in ["/init", "/conv/abc"]:
            refusal = await status_of(url_of(server, path))
            assert refusal.response.status_code == 500
    messages = [r.getMessage() for r in caplog.records if r.name == "websockets_routes"]
    assert messages == ["routing failed: /init", "routing failed: /conv/abc"]


async def test_handle_failing_view_class(caplog: pytest.LogCaptureFixture) -> None:
    """Under router.handle, a view class that raises closes with 1011."""
    caplog.set_level(logging.ERROR, logger="websockets_routes")
    async with websockets.serve(failing_router().handle, "127.0.0.1", 0) as server:
        assert await closed_with(url_of(server, "/init")) == (1011, "internal error")
    assert "routing failed: /init" in caplog.text


async def test_serve_handler_delegates_to_another_path() -> None:
    """Under serve(), handle(ws, path) routes the path it is given."""
    router = make_router()

    @router.route("/alias/{id}")
    async def alias(ws: Any, path: RoutedPath) -> None:
        await router.handle(ws, "/thing/" + path.params["id"])

    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/alias/7")) as ws:
            assert await ws.recv() == "/thing/7"
            assert await ws.recv() == "7"


@pytest.mark.skipif(
    not hasattr(inspect, "markcoroutinefunction"),
    reason="inspect.markcoroutinefunction() appeared in Python 3.12",
)
async def test_marked_function_view_that_gives_an_awaitable() -> None:
    """A marked function's awaitable is awaited, and its error ends with 1011."""
    router = Router()

    async def fail(ws: Any) -> None:
        await ws.send("from a marked function")
        raise RuntimeError("marked bug")

    def start(ws: Any, path: RoutedPath) -> asyncio.Task[None]:
        return asyncio.ensure_future(fail(ws))

    router.add_route("/marked", inspect.markcoroutinefunction(start))
    async with router.serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, "/marked")) as ws:
            assert await ws.recv() == "from a marked function"
            await ws.wait_closed()
            close = ws.protocol.close_rcvd
    assert close is not None and (close.code, close.reason) == (1011, "internal error")


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The access log's lines."""
    return [
        r.getMessage() for r in caplog.records if r.name == "websockets_routes.access"
    ]


async def test_access_log_has_open_close_and_refusals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The access log has a line per opened, closed and refused handshake."""
    with caplog.at_level(logging.INFO, "websockets_routes.access"):
        async with make_router().serve("127.0.0.1", 0) as server:
            async with connect(url_of(server, "/thing/1")) as ws:
                port = ws.local_address[1]
                await ws.recv()
            await status_of(url_of(server, "/nothing"))
            await status_of(url_of(server, "/status/401"))
    peer = f"127.0.0.1:{port}"
    lines = access_lines(caplog)
    assert lines[:2] == [
        f"open thing from {peer}",
        f"close thing from {peer} with code 1000",
    ]
    assert lines[2].startswith("refused 404 GET /nothing from 127.0.0.1:")
    assert lines[3].startswith("refused 401 GET /status/401 from 127.0.0.1:")
    assert len(lines) == 4


@pytest.mark.parametrize(
    ("path", "message", "code"),
    [("/echo", "x" * 100, 1009), ("/handler-fails", None, 1011)],
    ids=["too-big", "handler-failed"],
)
async def test_access_log_has_the_code_the_server_sent(
    path: str, message: str | None, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A close the server started is logged with its code, though the client is gone."""
    with caplog.at_level(logging.INFO, "websockets_routes.access"):
        async with make_router().serve(
            "127.0.0.1", 0, max_size=10, close_timeout=0.2
        ) as server:
            async with connect(url_of(server, path)) as ws:
                # The client reads nothing more, and never answers a close.
                ws.transport.pause_reading()
                if message is not None:
                    await ws.send(message)
                await asyncio.sleep(1)
                ws.transport.abort()
    closes = [line for line in access_lines(caplog) if line.startswith("close")]
    assert len(closes) == 1 and closes[0].endswith(f"with code {code}"), closes


async def test_access_log_closes_a_connection_its_handler_left_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the access log on, a handler that returns still closes its connection."""
    router = Router()

    @router.route("/quick")
    async def quick(ws: Any, path: RoutedPath) -> None:
        await ws.send("bye")

    with caplog.at_level(logging.INFO, "websockets_routes.access"):
        async with router.serve("127.0.0.1", 0) as server:
            async with connect(url_of(server, "/quick")) as ws:
                assert await ws.recv() == "bye"
                await asyncio.wait_for(ws.wait_closed(), 5)
    closes = [line for line in access_lines(caplog) if line.startswith("close")]
    assert len(closes) == 1 and closes[0].endswith("with code 1000"), closes
