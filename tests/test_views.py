"""Tests for views: HTTP endpoints and what hooks may return."""

from __future__ import annotations

import http
import logging
from typing import Any

import pytest
import websockets
from websockets.datastructures import Headers
from websockets.http11 import Response

from websockets_routes import InvalidRoute, RoutedPath, Router
from websockets_routes.views import as_response

from support import closed_with, http_get, status_of, url_of


def make_router() -> Router:
    router = Router()

    @router.http("/healthz", name="health")
    async def healthz(path: RoutedPath, headers: Headers) -> str:
        return "OK\n"

    @router.http("/blob/{n:int}")
    async def blob(path: RoutedPath, headers: Headers) -> bytes:
        return bytes(range(path.params["n"]))

    @router.http("/page")
    async def page(path: RoutedPath, headers: Headers) -> Any:
        body = f"<p>{path.query.get('who', ['nobody'])[0]}</p>"
        return (
            http.HTTPStatus.OK,
            [("Content-Type", "text/html; charset=utf-8")],
            body,
        )

    @router.http("/teapot")
    async def teapot(path: RoutedPath, headers: Headers) -> Response:
        return Response(418, "I'm a teapot", Headers([("X-Tea", "yes")]), b"short\n")

    @router.http("/broken")
    async def broken(path: RoutedPath, headers: Headers) -> None:
        return None

    @router.route("/ws")
    async def ws_route(ws: Any, path: RoutedPath) -> None:
        await ws.send("ws")

    return router


async def test_http_endpoints() -> None:
    """A plain HTTP GET on an HTTP endpoint gets its answer."""
    async with make_router().serve("127.0.0.1", 0) as server:
        status, headers, body = await http_get(server, "/healthz")
        assert (status, body) == (200, b"OK\n")
        assert headers["Content-Type"] == "text/plain; charset=utf-8"
        status, headers, body = await http_get(server, "/blob/3")
        assert (status, body) == (200, b"\x00\x01\x02")
        assert headers["Content-Type"] == "application/octet-stream"
        status, headers, body = await http_get(server, "/page?who=me")
        assert (status, body) == (200, b"<p>me</p>")
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        status, headers, body = await http_get(server, "/teapot")
        assert (status, headers["X-Tea"], body) == (418, "yes", b"short\n")


async def test_http_get_on_websocket_and_unknown_routes() -> None:
    """A plain GET on a WebSocket route gets 426; on no route, 404."""
    async with make_router().serve("127.0.0.1", 0) as server:
        assert (await http_get(server, "/ws"))[0] == 426
        assert (await http_get(server, "/nothing"))[0] == 404


async def test_http_endpoint_returning_none(caplog: pytest.LogCaptureFixture) -> None:
    """An endpoint that returns None is logged and answered with HTTP 500."""
    caplog.set_level(logging.ERROR, logger="websockets_routes")
    async with make_router().serve("127.0.0.1", 0) as server:
        assert (await http_get(server, "/broken"))[0] == 500
        assert (await http_get(server, "/healthz"))[0] == 200
    assert "http endpoint returned None" in caplog.text


async def test_websocket_client_on_http_endpoint() -> None:
    """A WebSocket client on an HTTP endpoint gets its answer as a refusal."""
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/healthz"))
    assert refusal.response.status_code == 200
    assert refusal.response.body == b"OK\n"


async def test_http_endpoint_under_handle() -> None:
    """Under router.handle, an HTTP endpoint is no WebSocket route: 4040."""
    async with websockets.serve(make_router().handle, "127.0.0.1", 0) as server:
        assert await closed_with(url_of(server, "/healthz")) == (
            4040,
            "not a WebSocket route",
        )


def test_http_endpoint_must_be_coroutine_function() -> None:
    """An HTTP endpoint that is not a coroutine function is rejected."""

    def sync(path: Any, headers: Any) -> str:
        return ""  # pragma: no cover

    with pytest.raises(
        InvalidRoute, match="http endpoint must be a coroutine function"
    ):
        Router().http("/h")(sync)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ((999, [], b""), ValueError),
        ((200, []), TypeError),
        ("text", TypeError),
    ],
)
def test_invalid_hook_answers(value: Any, error: type[Exception]) -> None:
    """What is not a response is an error (logged and answered with 500)."""
    with pytest.raises(error):
        as_response(value)


def test_routes_kinds() -> None:
    """router.routes tells WebSocket routes, HTTP endpoints and redirects apart."""
    router = make_router()
    router.redirect("/old", "/ws")
    kinds = {route.pattern: route.kind for route in router.routes}
    assert kinds["/healthz"] == "http"
    assert kinds["/ws"] == "websocket"
    assert kinds["/old"] == "redirect"
