"""Tests for typed receives in plain handlers: receive, expect and pair."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import websockets

from websockets_routes import MessageError, RoutedPath, Router, expect, pair, receive
from websockets_routes.payloads import FrameKindError, PayloadError

from support import url_of


@dataclasses.dataclass
class Order:
    item: str
    count: int


def make_router(errors: list[BaseException]) -> Router:
    router = Router()

    @router.route("/as/{kind}")
    async def typed(ws: Any, path: RoutedPath) -> None:
        kinds: dict[str, Any] = {
            "str": str,
            "bytes": bytes,
            "int": int,
            "float": float,
            "bool": bool,
            "dict": dict,
            "order": Order,
        }
        try:
            value = await receive(ws, kinds[path.params["kind"]])
        except Exception as exc:
            errors.append(exc)
            raise
        await ws.send(repr(value))

    @router.route("/quiz")
    async def quiz(ws: Any, path: RoutedPath) -> None:
        try:
            await expect(ws, "ready")
        except MessageError as exc:
            errors.append(exc)
            raise
        answer = await pair(ws, "6 x 7?", int)
        await ws.send("right" if answer == 42 else "wrong")

    @router.route("/ask")
    async def ask(ws: Any, path: RoutedPath) -> None:
        order = await pair(ws, {"type": "order?"}, Order)
        await ws.send(f"{order.count} x {order.item}")

    return router


async def raised(errors: list[BaseException]) -> None:
    """Wait until the handler recorded its error: it raises after it closes."""
    for _ in range(100):
        if errors:
            return
        await asyncio.sleep(0.01)


async def roundtrip(kind: str, message: str | bytes) -> Any:
    errors: list[BaseException] = []
    async with make_router(errors).serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, f"/as/{kind}")) as ws:
            await ws.send(message)
            try:
                return await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed:
                close = ws.protocol.close_rcvd
                await raised(errors)
                return (close.code, close.reason, errors)


@pytest.mark.parametrize(
    ("kind", "message", "reply"),
    [
        ("str", "hi", "'hi'"),
        ("bytes", b"\x00\x01", "b'\\x00\\x01'"),
        ("int", "42", "42"),
        ("float", "1.5", "1.5"),
        ("float", "2", "2.0"),
        ("bool", "true", "True"),
        ("dict", '{"a": 1}', "{'a': 1}"),
    ],
)
async def test_receive_converts(kind: str, message: str | bytes, reply: str) -> None:
    """receive() returns the next message converted to the type."""
    assert await roundtrip(kind, message) == reply


async def test_receive_validates_payload_types() -> None:
    """receive() validates a dataclass with the installed library."""
    if not (_importable("msgspec") or _importable("pydantic")):
        pytest.skip("neither msgspec nor pydantic is installed")
    assert await roundtrip("order", '{"item": "tea", "count": 2}') == (
        "Order(item='tea', count=2)"
    )
    code, reason, errors = await roundtrip("order", '{"item": "tea"}')
    assert code == 1007 and "count" in reason
    assert isinstance(errors[0], PayloadError)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.mark.parametrize(
    ("kind", "message", "code"),
    [
        ("int", "4.2", 1007),
        ("int", "forty-two", 1007),
        ("bool", "1", 1007),
        ("dict", "[1]", 1007),
        ("str", b"bytes", 1003),
        ("bytes", "text", 1003),
        ("int", b"42", 1003),
    ],
)
async def test_receive_refuses(kind: str, message: str | bytes, code: int) -> None:
    """A message that does not convert closes with 1007, a wrong frame with 1003."""
    got, reason, errors = await roundtrip(kind, message)
    assert got == code and reason
    assert isinstance(errors[0], FrameKindError if code == 1003 else PayloadError)


async def test_expect_and_pair() -> None:
    """expect() checks the next message; pair() sends and receives typed."""
    errors: list[BaseException] = []
    async with make_router(errors).serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/quiz")) as ws:
            await ws.send("ready")
            assert await ws.recv() == "6 x 7?"
            await ws.send("42")
            assert await ws.recv() == "right"
        async with websockets.connect(url_of(server, "/quiz")) as ws:
            await ws.send("not ready")
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.protocol.close_rcvd.code == 1008
        await raised(errors)
        assert isinstance(errors[0], MessageError)
        assert "expected 'ready': 'not ready'" in str(errors[0])


async def test_pair_sends_json_objects() -> None:
    """pair() sends a mapping as a JSON object."""
    if not (_importable("msgspec") or _importable("pydantic")):
        pytest.skip("neither msgspec nor pydantic is installed")
    async with make_router([]).serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/ask")) as ws:
            assert await ws.recv() == '{"type": "order?"}'
            await ws.send('{"item": "tea", "count": 3}')
            assert await ws.recv() == "3 x tea"
