"""Tests for the test client, websockets_routes.testing, and its pytest plugin.

The client is tested as users use it: on real servers, through real
handshakes. The plugin is tested in a pytest run of its own, in a
subprocess, on a test file that imports nothing of the plugin.

"""

from __future__ import annotations

import asyncio
import http
import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from websockets_routes import Endpoint, Protocol, RoutedPath, Router
from websockets_routes.testing import (
    DEFAULT_TIMEOUT,
    TestConnection,
    connect,
    serve,
)


def make_router() -> Router:
    """A router with a route for each behaviour of the client under test."""
    router = Router()

    @router.route("/echo")
    async def echo(ws: Any, path: RoutedPath) -> None:
        async for message in ws:
            await ws.send(message)

    @router.route("/thing/{id}", name="thing")
    async def thing(ws: Any, path: RoutedPath) -> None:
        await ws.send(path.params["id"])

    router.redirect("/old/{id}", "/thing/{id}")

    @router.route("/whoami", subprotocols=["chat"], origins=["https://good.example"])
    async def whoami(ws: Any, path: RoutedPath) -> None:
        headers = ws.request.headers
        await ws.send(f"{headers['X-Token']} {ws.subprotocol} {headers['Origin']}")

    @router.route("/private")
    class Private:
        def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            if headers.get("Authorization") != "Bearer s3cr3t":
                return (401, [("WWW-Authenticate", "Bearer")], b"who are you?\n")
            return None

        async def handle(self, ws: Any, path: RoutedPath) -> None:
            await ws.send("welcome")

    @router.route("/divide")
    async def divide(ws: Any, path: RoutedPath) -> None:
        await ws.send(str(1 / int(await ws.recv())))

    @router.route("/hook-fails")
    class HookFails:
        def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            raise RuntimeError("hook bug")

    @router.route("/endpoint")
    class Failing(Endpoint):
        async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> None:
            raise KeyError(message)

    @router.route("/silent")
    async def silent(ws: Any, path: RoutedPath) -> None:
        await ws.wait_closed()

    @router.route("/stuck")
    async def stuck(ws: Any, path: RoutedPath) -> None:
        await asyncio.sleep(3600)

    return router


async def test_connect_exchanges_messages() -> None:
    """connect() yields websockets' client connection to the route's handler."""
    async with connect(make_router(), "/echo") as ws:
        assert isinstance(ws, ClientConnection)
        assert isinstance(ws, TestConnection)
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00")
        assert await ws.recv() == b"\x00"


async def test_connect_sends_headers_subprotocols_and_origin() -> None:
    """connect() sends the headers, subprotocols and Origin it is given."""
    async with connect(
        make_router(),
        "/whoami",
        headers={"X-Token": "t0k3n"},
        subprotocols=["chat"],
        origin="https://good.example",
    ) as ws:
        assert ws.subprotocol == "chat"
        assert await ws.recv() == "t0k3n chat https://good.example"


async def test_not_found_raises_invalid_status() -> None:
    """A path no route matches raises InvalidStatus with the real HTTP 404."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(make_router(), "/nowhere"):
            pass  # pragma: no cover
    response = info.value.response
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.body == b"No route for this path.\n"


async def test_hook_refusal_raises_invalid_status() -> None:
    """A hook's 401 raises InvalidStatus with its status, headers and body."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(make_router(), "/private"):
            pass  # pragma: no cover
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.body == b"who are you?\n"
    headers = {"Authorization": "Bearer s3cr3t"}
    async with connect(make_router(), "/private", headers=headers) as ws:
        assert await ws.recv() == "welcome"


async def test_forbidden_origin_raises_invalid_status() -> None:
    """An Origin the route does not allow raises InvalidStatus with HTTP 403."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(
            make_router(),
            "/whoami",
            subprotocols=["chat"],
            origin="https://evil.example",
        ):
            pass  # pragma: no cover
    assert info.value.response.status_code == 403


async def test_redirect_is_not_followed() -> None:
    """A redirect raises InvalidStatus with its status, Location and body."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(make_router(), "/old/7?tab=x"):
            pass  # pragma: no cover
    response = info.value.response
    assert response.status_code == http.HTTPStatus.PERMANENT_REDIRECT
    assert response.headers["Location"] == "/thing/7?tab=x"
    assert response.body == b"Redirecting to /thing/7?tab=x\n"


async def test_redirect_followed_on_request() -> None:
    """With follow_redirects=True, connect() reaches the redirect's target."""
    async with connect(make_router(), "/old/7", follow_redirects=True) as ws:
        assert await ws.recv() == "7"


async def test_handler_error_raised_when_block_exits() -> None:
    """A handler's exception is raised in the test when the block exits."""
    with pytest.raises(ZeroDivisionError) as info:
        async with connect(make_router(), "/divide") as ws:
            await ws.send("0")
            await ws.wait_closed()
    assert info.value.__notes__ == [
        "raised on the server, which logged: handler failed: /divide"
    ]


async def test_handler_error_chained_to_block_error() -> None:
    """When the block raised too, the handler's exception has it as context."""
    with pytest.raises(ZeroDivisionError) as info:
        async with connect(make_router(), "/divide") as ws:
            await ws.send("0")
            await ws.recv()
    context = info.value.__context__
    assert isinstance(context, ConnectionClosedError)
    assert context.rcvd is not None
    assert context.rcvd.code == CloseCode.INTERNAL_ERROR


async def test_handler_error_not_raised_when_turned_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With raise_server_errors=False, the test sees close code 1011 only."""
    with pytest.raises(ConnectionClosedError) as info:
        async with connect(make_router(), "/divide", raise_server_errors=False) as ws:
            await ws.send("0")
            await ws.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == CloseCode.INTERNAL_ERROR
    [record] = [r for r in caplog.records if r.name == "websockets_routes"]
    assert record.getMessage() == "handler failed: /divide"


async def test_hook_error_raised() -> None:
    """A view hook's exception is raised, rather than only an HTTP 500."""
    with pytest.raises(RuntimeError, match="hook bug") as info:
        async with connect(make_router(), "/hook-fails"):
            pass  # pragma: no cover
    context = info.value.__context__
    assert isinstance(context, InvalidStatus)
    assert context.response.status_code == 500


async def test_error_collected_once() -> None:
    """An exception logged twice is raised once, noted with its first message."""
    router = Router()

    @router.route("/logs")
    async def logs(ws: Any, path: RoutedPath) -> None:
        logger = logging.getLogger("websockets_routes.app")
        logger.error("nothing raised", exc_info=True)
        try:
            raise ValueError("logged, then raised")
        except ValueError:
            logger.error("app failed", exc_info=True)
            raise

    async with serve(router, raise_server_errors=False) as client:
        async with client.connect("/logs", timeout=None) as ws:
            assert ws.timeout is None
            await ws.wait_closed()
    [error] = client.errors
    assert isinstance(error, ValueError)
    with pytest.raises(ValueError) as info:
        async with serve(router) as client:
            async with client.connect("/logs") as ws:
                await ws.wait_closed()
    assert info.value.__notes__ == ["raised on the server, which logged: app failed"]


async def test_endpoint_error_raised() -> None:
    """An Endpoint's exception is raised when the block exits."""
    with pytest.raises(KeyError, match="boom"):
        async with connect(make_router(), "/endpoint") as ws:
            await ws.send("boom")
            await ws.wait_closed()


async def test_serve_process_request_error_raised() -> None:
    """An exception of the process_request passed to serve() is raised."""

    def process_request(connection: ServerConnection, request: Request) -> None:
        raise LookupError("auth backend down")

    with pytest.raises(LookupError, match="auth backend down"):
        async with connect(make_router(), "/echo", process_request=process_request):
            pass  # pragma: no cover


async def test_base_exception_of_block_wins() -> None:
    """An exception that is no Exception, such as a cancellation, propagates."""

    class Interrupted(BaseException):
        pass

    with pytest.raises(Interrupted):
        async with connect(make_router(), "/divide") as ws:
            await ws.send("0")
            await ws.wait_closed()
            raise Interrupted


async def test_recv_times_out() -> None:
    """A receive with no message raises TimeoutError after the timeout."""
    started = time.monotonic()
    async with connect(make_router(), "/silent", timeout=0.2) as ws:
        with pytest.raises(TimeoutError, match=r"^no message .*: 0\.2 seconds$"):
            await ws.recv()
        with pytest.raises(TimeoutError):
            async for _ in ws:
                pass  # pragma: no cover
        ws.timeout = 0.1
        with pytest.raises(TimeoutError, match=r": 0\.1 seconds$"):
            await ws.recv()
        await ws.send("still open")
    assert 0.5 <= time.monotonic() - started < 3


async def test_default_timeout() -> None:
    """Receives time out after DEFAULT_TIMEOUT, 5 seconds, by default."""
    assert DEFAULT_TIMEOUT == 5.0
    async with connect(make_router(), "/echo") as ws:
        assert ws.timeout == DEFAULT_TIMEOUT


async def test_stuck_handler_cancelled() -> None:
    """A handler still running after the block is cancelled, and it's an error."""
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"cancelled after timeout: 0\.2 seconds$"):
        async with connect(make_router(), "/stuck", timeout=0.2):
            pass
    assert time.monotonic() - started < 3


async def test_serve_several_connections() -> None:
    """serve() yields a client that opens several connections to one server."""
    async with serve(make_router()) as client:
        async with client.connect("/echo") as one, client.connect("/echo") as two:
            await one.send("1")
            await two.send("2")
            assert await two.recv() == "2"
            assert await one.recv() == "1"
        assert client.url("/echo").startswith("ws://127.0.0.1:")
        assert client.url("/echo").endswith("/echo")
        with pytest.raises(ValueError, match=r"^path must start with /: 'echo'$"):
            client.url("echo")
    assert client.errors == []


async def test_serve_collects_only_its_own_errors() -> None:
    """Errors are collected by the server that ran the handler, not another one."""
    router = make_router()
    async with serve(router) as good:
        async with serve(router, raise_server_errors=False) as bad:
            async with bad.connect("/divide") as ws, good.connect("/echo") as ok:
                await ws.send("0")
                await ws.wait_closed()
                await ok.send("fine")
                assert await ok.recv() == "fine"
        [error] = bad.errors
        assert isinstance(error, ZeroDivisionError)
        assert good.errors == []


async def test_serve_counts_further_errors() -> None:
    """The first error is raised; its note counts the others."""
    with pytest.raises(ZeroDivisionError) as info:
        async with serve(make_router()) as client:
            for _ in range(2):
                async with client.connect("/divide") as ws:
                    await ws.send("0")
                    await ws.wait_closed()
    assert len(client.errors) == 2
    assert info.value.__notes__ == [
        "raised on the server (and 1 more errors), which logged: "
        "handler failed: /divide"
    ]


async def test_serve_keeps_connection_classes() -> None:
    """Connection classes passed to the server and to the client still apply."""

    class NotFound(Protocol):
        def not_found(self, request: Request) -> Response:
            return self.respond(http.HTTPStatus.NOT_FOUND, "Nothing here.\n")

    class Client(ClientConnection):
        greeting = "hi"

    async with serve(make_router(), create_connection=NotFound) as client:
        with pytest.raises(InvalidStatus) as info:
            async with client.connect("/nowhere"):
                pass  # pragma: no cover
        assert info.value.response.body == b"Nothing here.\n"
        async with client.connect("/echo", create_connection=Client) as ws:
            assert isinstance(ws, Client) and isinstance(ws, TestConnection)
            await ws.send(ws.greeting)
            assert await ws.recv() == "hi"


async def test_serve_refuses_other_connection_class() -> None:
    """A server connection class that is no Protocol gets router.serve()'s error."""
    with pytest.raises(TypeError, match="must be a subclass of Protocol"):
        async with serve(make_router(), create_connection=ServerConnection):
            pass  # pragma: no cover


async def test_fixture(
    routes_client: Callable[..., AbstractAsyncContextManager[TestConnection]],
) -> None:
    """The routes_client fixture is testing.connect, without an import."""
    assert routes_client is connect
    async with routes_client(make_router(), "/thing/42") as ws:
        assert await ws.recv() == "42"


PLUGIN_TESTS = """\
import pytest
from websockets.exceptions import InvalidStatus

from websockets_routes import Router

router = Router()


@router.route("/thing/{id}")
async def thing(ws, path):
    await ws.send(path.params["id"])


@router.route("/divide")
async def divide(ws, path):
    await ws.send(str(1 / int(await ws.recv())))


MARK
async def test_thing(routes_client):
    async with routes_client(router, "/thing/1") as ws:
        assert await ws.recv() == "1"


MARK
async def test_not_found(routes_client):
    with pytest.raises(InvalidStatus) as info:
        async with routes_client(router, "/nowhere"):
            pass
    assert info.value.response.status_code == 404


MARK
async def test_handler_error(routes_client):
    with pytest.raises(ZeroDivisionError):
        async with routes_client(router, "/divide") as ws:
            await ws.send("0")
            await ws.wait_closed()
"""


@pytest.mark.parametrize(
    ("mode", "mark"), [("auto", ""), ("strict", "@pytest.mark.asyncio")]
)
def test_plugin_entry_point(tmp_path: Path, mode: str, mark: str) -> None:
    """pytest finds the routes_client fixture through the plugin's entry point."""
    (tmp_path / "pytest.ini").write_text(
        textwrap.dedent(f"""\
            [pytest]
            asyncio_mode = {mode}
            asyncio_default_fixture_loop_scope = function
            filterwarnings = error
            """)
    )
    (tmp_path / "test_app.py").write_text(PLUGIN_TESTS.replace("MARK", mark))
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    command += ["-p", "no:websockets_routes"]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert "fixture 'routes_client' not found" in result.stdout
