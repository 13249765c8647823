"""Tests for per-route options: subprotocols, origins and max_size."""

from __future__ import annotations

import re
from typing import Any

import pytest
import websockets
from websockets.frames import CloseCode

from websockets_routes import InvalidRoute, RoutedPath, Router

from support import closed_with, status_of, url_of


async def negotiated(ws: Any, path: RoutedPath) -> None:
    await ws.send(str(ws.subprotocol))
    async for message in ws:
        await ws.send(message)


def make_router() -> Router:
    router = Router()
    router.route("/chat", subprotocols=["chat.v2", "chat.v1"])(negotiated)
    router.route("/strict", subprotocols=["v1"], require_subprotocol=True)(negotiated)
    router.route("/plain")(negotiated)
    router.route(
        "/origin",
        origins=["https://good.example", re.compile(r"https://\w+\.ok"), None],
    )(negotiated)
    router.route("/small", max_size=10)(negotiated)
    return router


async def test_subprotocol_negotiated_per_route() -> None:
    """A route picks its preferred subprotocol among those the client offers."""
    async with make_router().serve("127.0.0.1", 0) as server:
        async with websockets.connect(
            url_of(server, "/chat"), subprotocols=["chat.v1", "chat.v2"]
        ) as ws:
            assert ws.subprotocol == "chat.v2"
            assert await ws.recv() == "chat.v2"
        async with websockets.connect(url_of(server, "/chat")) as ws:
            assert await ws.recv() == "None"
        async with websockets.connect(url_of(server, "/plain")) as ws:
            assert await ws.recv() == "None"


async def test_required_subprotocol() -> None:
    """A route that requires a subprotocol refuses others with HTTP 400."""
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/strict"), subprotocols=["v9"])
        assert refusal.response.status_code == 400
        assert b"supported: v1" in refusal.response.body
        refusal = await status_of(url_of(server, "/strict"))
        assert refusal.response.status_code == 400
        assert b"missing subprotocol" in refusal.response.body
        async with websockets.connect(
            url_of(server, "/strict"), subprotocols=["v1"]
        ) as ws:
            assert await ws.recv() == "v1"


async def test_origins() -> None:
    """Origins other than the route's get HTTP 403."""
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(
            url_of(server, "/origin"), origin="https://evil.example"
        )
        assert refusal.response.status_code == 403
        for origin in ["https://good.example", "https://app.ok", None]:
            async with websockets.connect(
                url_of(server, "/origin"), origin=origin
            ) as ws:
                assert await ws.recv() == "None"
        async with websockets.connect(
            url_of(server, "/plain"), origin="https://x"
        ) as ws:
            assert await ws.recv() == "None"


async def test_max_size() -> None:
    """A message over the route's max_size closes its connection with 1009."""
    async with make_router().serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/small")) as ws:
            await ws.recv()
            await ws.send("x" * 10)
            assert await ws.recv() == "x" * 10
            await ws.send("x" * 11)
            await ws.wait_closed()
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == CloseCode.MESSAGE_TOO_BIG
        async with websockets.connect(url_of(server, "/plain")) as ws:
            await ws.recv()
            await ws.send("x" * 1000)
            assert await ws.recv() == "x" * 1000


async def test_options_under_handle() -> None:
    """Under router.handle, origins and required subprotocols close with 44xx."""
    router = make_router()
    async with websockets.serve(router.handle, "127.0.0.1", 0) as server:
        async with websockets.connect(
            url_of(server, "/origin"), origin="https://x"
        ) as ws:
            await ws.wait_closed()
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == 4403
        assert await closed_with(url_of(server, "/strict")) == (
            4400,
            "missing subprotocol: negotiation needs router.serve()",
        )
        async with websockets.connect(url_of(server, "/small")) as ws:
            await ws.recv()
            await ws.send("x" * 11)
            await ws.wait_closed()
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == CloseCode.MESSAGE_TOO_BIG


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_size": -1}, "max_size must be a non-negative int or None: -1"),
        ({"max_size": "big"}, "max_size must be a non-negative int or None: 'big'"),
        ({"subprotocols": "chat"}, "subprotocols must be a list of str: 'chat'"),
        ({"subprotocols": ["", "x"]}, "subprotocols must be a list of str"),
        ({"require_subprotocol": True}, "require_subprotocol needs subprotocols"),
        ({"origins": "https://x"}, "origins must be a list of str or None"),
    ],
)
def test_invalid_options(options: dict[str, Any], message: str) -> None:
    """Bad options fail when the route is registered."""
    with pytest.raises(InvalidRoute, match=message):
        Router().route("/x", **options)(negotiated)


def test_options_in_routes() -> None:
    """router.routes shows the options that are set."""
    router = make_router()
    options = {route.pattern: route.options for route in router.routes}
    assert options["/small"] == {"max_size": 10}
    assert options["/strict"] == {"subprotocols": ["v1"], "require_subprotocol": True}
    assert options["/plain"] == {}


async def test_included_routes_keep_options_and_hooks() -> None:
    """Options, hooks and converters of included routes work under the prefix."""
    api = Router()

    @api.route("/small/{n:int}", max_size=10, subprotocols=["v1"])
    class Small:
        async def process_request(self, path: RoutedPath, headers: Any) -> Any:
            if path.params["n"] == 0:
                return (403, [], b"zero\n")
            return None

        async def handle(self, ws: Any, path: RoutedPath) -> None:
            await negotiated(ws, path)

    router = Router()
    router.include(api, prefix="/api")
    async with router.serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/api/small/0"))
        assert refusal.response.status_code == 403
        async with websockets.connect(
            url_of(server, "/api/small/1"), subprotocols=["v1"]
        ) as ws:
            assert await ws.recv() == "v1"
            await ws.send("x" * 11)
            await ws.wait_closed()
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == CloseCode.MESSAGE_TOO_BIG


async def test_unmatched_subprotocol_offer_is_refused() -> None:
    """An offer of subprotocols that the route does not speak gets HTTP 400."""
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/chat"), subprotocols=["other"])
        response = refusal.response
        assert response.status_code == 400
        assert response.body == (
            b"Failed to open a WebSocket connection: no subprotocol offered is "
            b"supported by this route; supported: chat.v2, chat.v1.\n"
        )
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Content-Length"] == str(len(response.body))
        refusal = await status_of(url_of(server, "/plain"), subprotocols=["chat.v1"])
        assert refusal.response.status_code == 400
        assert refusal.response.body.endswith(b"supported: none.\n")


async def test_unmatched_subprotocol_offer_accepted_on_opt_in() -> None:
    """A route that opts in accepts an unmatched offer, with no subprotocol."""
    router = Router()
    router.route("/lax", subprotocols=["v1"], allow_unmatched_subprotocols=True)(
        negotiated
    )
    router.route("/any", allow_unmatched_subprotocols=True)(negotiated)
    async with router.serve("127.0.0.1", 0) as server:
        for path in ("/lax", "/any"):
            async with websockets.connect(
                url_of(server, path), subprotocols=["other"]
            ) as ws:
                assert ws.subprotocol is None
                assert await ws.recv() == "None"


async def test_server_select_subprotocol_decides_for_plain_routes() -> None:
    """A select_subprotocol given to serve() decides for routes without options."""
    router = Router()
    router.route("/plain")(negotiated)
    async with router.serve(
        "127.0.0.1", 0, select_subprotocol=lambda connection, offered: offered[0]
    ) as server:
        async with websockets.connect(
            url_of(server, "/plain"), subprotocols=["mine"]
        ) as ws:
            assert ws.subprotocol == "mine"


async def test_server_subprotocols_serve_plain_routes() -> None:
    """subprotocols given to serve() are those of routes that set none."""
    router = Router()
    router.route("/plain")(negotiated)
    async with router.serve("127.0.0.1", 0, subprotocols=["s1"]) as server:
        async with websockets.connect(
            url_of(server, "/plain"), subprotocols=["s1"]
        ) as ws:
            assert ws.subprotocol == "s1"
        refusal = await status_of(url_of(server, "/plain"), subprotocols=["s2"])
        assert refusal.response.body.endswith(b"supported: s1.\n")


async def test_route_with_subprotocols_added_while_serving_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A route with subprotocols added after serve() started gets 500, logged."""
    router = Router()
    router.route("/plain")(negotiated)
    async with router.serve("127.0.0.1", 0) as server:
        router.route("/late", subprotocols=["v1"])(negotiated)
        refusal = await status_of(url_of(server, "/late"), subprotocols=["v1"])
        assert refusal.response.status_code == 500
        async with websockets.connect(url_of(server, "/plain")) as ws:
            assert await ws.recv() == "None"
    assert any(
        "route registered with subprotocols after router.serve() started" in r.message
        for r in caplog.records
    )


async def test_failing_select_subprotocol_refuses_with_400(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A select_subprotocol given to serve() that raises: HTTP 400, logged."""

    def broken(connection: Any, offered: Any) -> str:
        raise RuntimeError("select bug")

    router = Router()
    router.route("/plain")(negotiated)
    async with router.serve("127.0.0.1", 0, select_subprotocol=broken) as server:
        refusal = await status_of(url_of(server, "/plain"), subprotocols=["x"])
    assert refusal.response.status_code == 400
    assert b"select bug" not in refusal.response.body
    assert any(r.message == "select_subprotocol failed" for r in caplog.records)
