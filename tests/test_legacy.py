"""Tests for the legacy adapter, for code written for websockets-routes 0.2."""

from __future__ import annotations

import http
import subprocess
import sys
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.datastructures import Headers

from websockets_routes import RoutedPath, Router

from support import closed_with, status_of, url_of

with pytest.warns(DeprecationWarning, match="websockets.legacy is deprecated"):
    import websockets.legacy.server

    import websockets_routes.legacy


def make_router() -> Router:
    """The 0.2 README's routes."""
    router = Router()

    @router.route("/thing/{id}")
    async def thing_detail(ws: Any, path: RoutedPath) -> None:
        await ws.send(path)
        await ws.send(path.params["id"])

    @router.route("/item/{id}")
    class ThingDetail:
        async def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            if path.params["id"] != "1":
                message = f"thing {path.params['id']!r} not found\n"
                return (http.HTTPStatus.NOT_FOUND, [], message.encode())
            path.context["thing"] = "the thing"
            return None

        async def handle(self, ws: Any, path: RoutedPath) -> None:
            await ws.send(path.context["thing"])

    @router.route("/fails")
    class Fails:
        async def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            raise RuntimeError("hook bug")

    return router


def legacy_serve(handler: Any, **kwargs: Any) -> Any:
    return websockets.legacy.server.serve(
        handler,
        "127.0.0.1",
        0,
        create_protocol=websockets_routes.legacy.Protocol,
        **kwargs,
    )


async def test_legacy_handler_gets_routed_path() -> None:
    """Handlers are called with (ws, path) as in 0.2."""
    async with legacy_serve(make_router()) as server:
        async with connect(url_of(server, "/thing/caf%C3%A9")) as ws:
            assert await ws.recv() == "/thing/caf%C3%A9"
            assert await ws.recv() == "café"


async def test_legacy_handle_method_as_handler() -> None:
    """router.handle works as the legacy handler too."""
    async with legacy_serve(make_router().handle) as server:
        async with connect(url_of(server, "/item/1")) as ws:
            assert await ws.recv() == "the thing"


async def test_legacy_not_found() -> None:
    """An unmatched path gets HTTP 404 at the handshake."""
    async with legacy_serve(make_router()) as server:
        refusal = await status_of(url_of(server, "/nothing"))
    assert refusal.response.status_code == 404


async def test_legacy_bad_path() -> None:
    """A path that is not valid UTF-8 gets HTTP 400."""
    async with legacy_serve(make_router()) as server:
        refusal = await status_of(url_of(server, "/thing/%ff"))
    assert refusal.response.status_code == 400


async def test_legacy_view_hook() -> None:
    """The per-view process_request hook answers during the handshake."""
    async with legacy_serve(make_router()) as server:
        refusal = await status_of(url_of(server, "/item/2"))
    assert refusal.response.status_code == 404
    assert refusal.response.body == b"thing '2' not found\n"


async def test_legacy_failing_hook(caplog: pytest.LogCaptureFixture) -> None:
    """A hook that raises gives HTTP 500 and is logged."""
    async with legacy_serve(make_router()) as server:
        refusal = await status_of(url_of(server, "/fails"))
    assert refusal.response.status_code == 500
    assert any(r.name == "websockets_routes" for r in caplog.records)


async def test_legacy_user_process_request_runs_first() -> None:
    """A process_request given to the legacy serve() runs before routing."""

    async def deny(path: str, headers: Any) -> Any:
        return (http.HTTPStatus.FORBIDDEN, [], b"denied\n")

    async with legacy_serve(make_router(), process_request=deny) as server:
        refusal = await status_of(url_of(server, "/nothing"))
    assert refusal.response.status_code == 403


async def test_legacy_without_protocol_closes_with_4040() -> None:
    """With the stock legacy protocol, unmatched paths close with 4040."""
    async with websockets.legacy.server.serve(make_router(), "127.0.0.1", 0) as server:
        assert await closed_with(url_of(server, "/nothing")) == (
            4040,
            "no route for this path",
        )
        async with connect(url_of(server, "/item/1")) as ws:
            assert await ws.recv() == "the thing"


def test_import_does_not_import_legacy() -> None:
    """import websockets_routes neither imports websockets.legacy nor warns."""
    code = (
        "import sys, websockets_routes; "
        "assert 'websockets.legacy' not in sys.modules, 'legacy imported'"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


async def test_legacy_route_options_after_handshake() -> None:
    """On the legacy server, a forbidden origin closes with 4403 after the handshake."""
    router = make_router()

    @router.route("/guarded", origins=["https://good.example"])
    async def guarded(ws: Any, path: RoutedPath) -> None:
        await ws.send(path)

    async with legacy_serve(router) as server:
        url = url_of(server, "/guarded")
        async with connect(url, origin="https://evil.example") as ws:
            await ws.wait_closed()
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == 4403
        async with connect(url, origin="https://good.example") as ws:
            assert await ws.recv() == "/guarded"
