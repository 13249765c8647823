"""Tests for connection classes written for 0.2 or websockets' legacy server."""

from __future__ import annotations

import http
import logging
import warnings
from typing import Any

import pytest
import websockets
from websockets.datastructures import Headers

from websockets_routes import Protocol, RoutedPath, Router
from websockets_routes.compat import LEGACY_HOOKS

from support import closed_with, serving, status_of, url_of


def make_router() -> Router:
    router = Router()

    @router.route("/thing/{id}")
    async def thing(ws: Any, path: RoutedPath) -> None:
        await ws.send(path.params["id"])

    return router


class AuthProtocol(Protocol):
    """0.2's way to authenticate: override process_request and call super()."""

    async def process_request(self, path: str, headers: Headers) -> Any:
        if headers.get("Authorization") != "Bearer s3cr3t":
            return http.HTTPStatus.UNAUTHORIZED, [], b"who are you?\n"
        return await super().process_request(path, headers)


async def test_legacy_process_request_override_refuses() -> None:
    """A 0.2-style process_request override refuses the handshake it answers."""
    async with make_router().serve(
        "127.0.0.1", 0, create_connection=AuthProtocol
    ) as server:
        refusal = await status_of(url_of(server, "/thing/1"))
        assert refusal.response.status_code == 401
        assert refusal.response.body == b"who are you?\n"


async def test_legacy_process_request_override_routes_through_super() -> None:
    """A 0.2-style override that calls super() gets routing: a match, or 404."""
    headers = {"Authorization": "Bearer s3cr3t"}
    async with make_router().serve(
        "127.0.0.1", 0, create_connection=AuthProtocol
    ) as server:
        async with websockets.connect(
            url_of(server, "/thing/7"), additional_headers=headers
        ) as ws:
            assert await ws.recv() == "7"
        refusal = await status_of(url_of(server, "/nope"), additional_headers=headers)
        assert refusal.response.status_code == 404


async def test_sync_override_without_super_routes_after_handshake() -> None:
    """A sync override that skips super() leaves routing to after the handshake."""

    class Lax(Protocol):
        def process_request(self, path: str, headers: Headers) -> None:  # type: ignore[override]
            return None

    async with make_router().serve("127.0.0.1", 0, create_connection=Lax) as server:
        async with websockets.connect(url_of(server, "/thing/3")) as ws:
            assert await ws.recv() == "3"
        assert await closed_with(url_of(server, "/nope")) == (
            4040,
            "no route for this path",
        )


@pytest.mark.parametrize("name", sorted(LEGACY_HOOKS))
def test_legacy_hook_override_is_refused(name: str) -> None:
    """Overriding a hook that nothing calls anymore fails when the server starts."""
    cls = type("Legacy", (Protocol,), {name: lambda self, *args: None})
    with pytest.raises(TypeError, match=rf"Legacy\.{name}\(\) would never be called"):
        make_router().serve("127.0.0.1", 0, create_connection=cls)


def test_legacy_hook_in_a_base_class_is_refused() -> None:
    """An override inherited from an intermediate class is refused too."""

    class Base(Protocol):
        def process_origin(self, headers: Any, origins: Any) -> None:
            pass

    class Leaf(Base):
        pass

    with pytest.raises(TypeError, match=r"pass origins= to router\.serve"):
        make_router().serve("127.0.0.1", 0, create_connection=Leaf)


def test_legacy_handshake_override_is_refused() -> None:
    """An override of handshake() with the legacy signature is refused."""

    class Legacy(Protocol):
        async def handshake(  # type: ignore[override]
            self,
            origins: Any = None,
            available_extensions: Any = None,
            available_subprotocols: Any = None,
            extra_headers: Any = None,
        ) -> Any:
            pass

    with pytest.raises(TypeError, match=r"override process_request\(path, headers\)"):
        make_router().serve("127.0.0.1", 0, create_connection=Legacy)


async def test_asyncio_handshake_override_is_accepted() -> None:
    """An override of handshake() with websockets' asyncio signature is accepted."""
    calls = []

    class Counting(Protocol):
        async def handshake(self, *args: Any, **kwargs: Any) -> None:
            calls.append(1)
            await super().handshake(*args, **kwargs)

    async with make_router().serve(
        "127.0.0.1", 0, create_connection=Counting
    ) as server:
        async with websockets.connect(url_of(server, "/thing/1")) as ws:
            assert await ws.recv() == "1"
    assert calls == [1]


def test_create_protocol_names_create_connection() -> None:
    """router.serve(create_protocol=...) names create_connection= instead."""
    with pytest.raises(
        TypeError, match="takes create_connection=, not create_protocol="
    ):
        make_router().serve("127.0.0.1", 0, create_protocol=AuthProtocol)


def test_create_protocol_with_legacy_class_names_the_legacy_server() -> None:
    """A legacy protocol class passed to router.serve() names the legacy server."""
    with warnings.catch_warnings():
        # websockets.legacy warns on its first import only.
        warnings.simplefilter("ignore", DeprecationWarning)
        from websockets.legacy.server import WebSocketServerProtocol

    class Legacy(WebSocketServerProtocol):
        pass

    with pytest.raises(TypeError, match=r"websockets\.legacy\.server\.serve\(router"):
        make_router().serve("127.0.0.1", 0, create_protocol=Legacy)


async def test_protocol_under_plain_serve_says_to_use_router_serve(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Protocol under websockets.serve() runs no handler: 1011 and the call to make."""
    router = make_router()
    with caplog.at_level(logging.ERROR):
        async with serving(
            websockets.serve(router, "127.0.0.1", 0, create_connection=AuthProtocol)
        ) as server:
            assert await closed_with(url_of(server, "/thing/1")) == (
                1011,
                "internal error",
            )
    messages = [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    assert any(
        "replace websockets.serve(router, ..., create_connection=...) with "
        "router.serve(..., create_connection=...)" in message
        for message in messages
    ), messages


async def test_legacy_process_request_override_that_raises_gets_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 0.2-style override that raises is logged and answered with HTTP 500."""

    class Broken(Protocol):
        async def process_request(self, path: str, headers: Headers) -> Any:
            raise RuntimeError("hook bug")

    async with make_router().serve("127.0.0.1", 0, create_connection=Broken) as server:
        refusal = await status_of(url_of(server, "/thing/1"))
    assert refusal.response.status_code == 500
    assert any(
        r.message == "process_request failed: /thing/1" and r.exc_info
        for r in caplog.records
    )
