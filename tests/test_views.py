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


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("no such item\n", "text/plain; charset=utf-8"),
        (b"no such item\n", "text/plain; charset=utf-8"),
        (b"\xff\xfe", "application/octet-stream"),
    ],
    ids=["str", "utf-8-bytes", "binary"],
)
async def test_tuple_answer_gets_a_content_type(
    body: str | bytes, content_type: str
) -> None:
    """A hook's tuple answer without Content-Type gets one, and its length."""
    router = Router()

    @router.route("/item")
    class Item:
        def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            return 404, [], body

    async with router.serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/item"))
    response = refusal.response
    assert response.status_code == 404
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Length"] == str(len(response.body))


async def test_tuple_answer_keeps_its_content_type() -> None:
    """A hook's own Content-Type is kept."""
    router = Router()

    @router.route("/item")
    class Item:
        def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            return 403, [("Content-Type", "application/json")], '{"error": 1}'

    async with router.serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/item"))
    assert refusal.response.headers["Content-Type"] == "application/json"


async def test_bad_path_is_not_echoed() -> None:
    """A path that cannot be decoded gets HTTP 400 without the path's text."""
    router = Router()

    @router.route("/thing/{id}")
    async def thing(ws: Any, path: RoutedPath) -> None:
        pass  # pragma: no cover

    async with router.serve("127.0.0.1", 0) as server:
        status, headers, body = await http_get(server, "/thing/%FF%3Cscript%3E<b>")
    assert status == 400
    assert b"script" not in body and b"<b>" not in body
    assert headers["Content-Type"] == "text/plain; charset=utf-8"


def absolute_router() -> Router:
    router = Router()

    @router.route("/new/{id}")
    async def new(ws: Any, path: RoutedPath) -> None:
        await ws.send(f"new {path.params['id']}")

    @router.http("/page")
    async def page(path: RoutedPath, headers: Headers) -> str:
        return "page\n"

    router.redirect("/old/{id}", "/new/{id}", absolute=True)
    router.redirect("/old-page", "/page", absolute=True, status=302)
    return router


async def test_absolute_redirect() -> None:
    """An absolute redirect builds ws:// (or http://) from the Host header."""
    async with absolute_router().serve("127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        _, headers, _ = await http_get(server, "/old/7?x=1", {"Upgrade": "websocket"})
        assert headers["Location"] == f"ws://127.0.0.1:{port}/new/7?x=1"
        async with websockets.connect(url_of(server, "/old/8")) as ws:
            assert await ws.recv() == "new 8"
        status, headers, _ = await http_get(server, "/old-page")
        assert status == 302
        assert headers["Location"] == f"http://127.0.0.1:{port}/page"


@pytest.mark.parametrize("host", ["", "evil.example/path", "a b", "user@host"])
async def test_absolute_redirect_refuses_bad_host(host: str) -> None:
    """An absolute redirect answers 400 to a missing or malformed Host header."""
    async with absolute_router().serve("127.0.0.1", 0) as server:
        status, headers, body = await http_get(server, "/old-page", {"Host": host})
    assert status == 400 and b"invalid Host header" in body
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
