"""Tests for what Router.serve() costs: a synchronous handshake, nothing per message."""

from __future__ import annotations

import inspect
import sys
from types import CodeType
from typing import Any

import websockets.asyncio.server
from websockets.asyncio.client import connect
from websockets.datastructures import Headers

import websockets_routes
from websockets_routes import Protocol, RoutedPath, Router
from websockets_routes import server as server_module

from support import url_of

PACKAGE = websockets_routes.__file__.rpartition("/")[0]


def calling_code() -> list[CodeType]:
    """The code objects of the frames that run the caller, the caller's first."""
    frame = sys._getframe(1)
    chain: list[CodeType] = []
    while frame is not None:
        chain.append(frame.f_code)
        frame = frame.f_back  # type: ignore[assignment]
    return chain


def ours(codes: list[CodeType]) -> list[str]:
    """The names of the codes that belong to the package."""
    return [code.co_name for code in codes if code.co_filename.startswith(PACKAGE)]


async def test_handler_task_runs_no_package_frame() -> None:
    """A handler wakes up for each message with no frame of the package above it."""
    router = Router()
    seen: dict[str, Any] = {}

    @router.route("/echo/{id}")
    async def echo(ws: Any, path: RoutedPath) -> None:
        async for message in ws:
            seen["chain"] = calling_code()
            seen["parser"] = ws.protocol.parser.gi_code
            await ws.send(message)

    async with router.serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, "/echo/1")) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
    # websockets' own connection handler may await it, or a task of its own.
    assert seen["chain"][0] is echo.__code__
    assert ours(seen["chain"]) == []
    assert not seen["parser"].co_filename.startswith(PACKAGE)


async def test_handler_error_still_closes_with_1011() -> None:
    """A handler that raises in its own task still closes the connection with 1011."""
    router = Router()

    @router.route("/fails")
    async def fails(ws: Any, path: RoutedPath) -> None:
        await ws.recv()
        raise RuntimeError("handler bug")

    async with router.serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, "/fails")) as ws:
            await ws.send("go")
            await ws.wait_closed()
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == 1011


async def test_route_request_is_synchronous_without_async_hook() -> None:
    """route_request() answers at once unless the view's hook is a coroutine."""
    router = Router()
    answers: dict[str, Any] = {}

    async def record(ws: Protocol, path: RoutedPath) -> None:
        request = ws.request
        assert request is not None
        answer = ws.route_request(path, request.headers)
        answers[path.params["kind"]] = answer
        if inspect.isawaitable(answer):
            answers["awaited"] = await answer

    router.route("/plain/{kind}")(record)

    @router.route("/sync/{kind}")
    class SyncHook:
        def process_request(self, path: RoutedPath, headers: Headers) -> None:
            return None

        handle = staticmethod(record)

    @router.route("/async/{kind}")
    class AsyncHook:
        async def process_request(self, path: RoutedPath, headers: Headers) -> None:
            return None

        handle = staticmethod(record)

    async with router.serve("127.0.0.1", 0) as server:
        for path in ("/plain/function", "/sync/sync", "/async/async"):
            async with connect(url_of(server, path)) as ws:
                await ws.wait_closed()
    assert answers["function"] is None
    assert answers["sync"] is None
    assert inspect.isawaitable(answers["async"])
    assert answers["awaited"] is None


def test_serve_passes_a_plain_function_as_process_request() -> None:
    """Router.serve() gives websockets a plain function, not a coroutine function."""
    options = server_module._options(Router(), None, None, {})
    assert callable(options["process_request"])
    assert not inspect.iscoroutinefunction(options["process_request"])


def test_function_view_is_its_own_factory() -> None:
    """A function view is shared by every connection: dispatch() calls no factory."""
    router = Router()

    async def handler(ws: Any, path: RoutedPath) -> None:
        pass  # pragma: no cover

    route = router.add_route("/f/{id}", handler)
    one, two = router.dispatch("/f/1"), router.dispatch("/f/2")
    assert one.view is two.view is route.view
    assert one.path.params == {"id": "1"} and two.path.params == {"id": "2"}


async def test_connection_adds_no_attribute_to_websockets_own() -> None:
    """A routed connection's instance dict holds websockets' attributes, no more.

    On CPython 3.11 to 3.13, an object with more than 29 attributes loses its compact
    attribute storage: every attribute access of websockets' code on the
    connection, per message too, gets slower.
    """
    seen: dict[str, set[str]] = {}

    async def bare(ws: Any) -> None:
        seen["bare"] = set(vars(ws))

    router = Router()

    @router.route("/routed")
    async def routed(ws: Any, path: RoutedPath) -> None:
        seen["routed"] = set(vars(ws))

    async with websockets.asyncio.server.serve(bare, "127.0.0.1", 0) as server:
        async with connect(url_of(server, "/")) as ws:
            await ws.wait_closed()
    async with router.serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, "/routed")) as ws:
            await ws.wait_closed()
    assert seen["routed"] - seen["bare"] == set()
