"""Tests for the opening handshake: what HTTP requires, and the answers to it."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from typing import Any

import pytest
from websockets.datastructures import Headers

from websockets_routes import RoutedPath, Router, _compat, handshake

from support import url_of


def make_router() -> Router:
    router = Router()

    @router.route("/thing/{id}")
    async def thing(ws: Any, path: RoutedPath) -> None:
        await ws.send(path.params["id"])

    @router.http("/healthz")
    async def healthz(path: RoutedPath, headers: Headers) -> str:
        return f"OK {path.method}\n"

    @router.http("/submit", methods=["POST"])
    async def submit(path: RoutedPath, headers: Headers) -> str:
        return f"got {path.method}\n"

    return router


async def exchange(port: int, data: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes, read until the server closes, return what it sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """Split an HTTP answer into status, headers and body."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


def request(method: str, target: str, *extra: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def upgrade_headers() -> list[str]:
    key = base64.b64encode(os.urandom(16)).decode()
    return [
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]


def port_of(server: Any) -> int:
    return int(url_of(server).rsplit(":", 1)[1].split("/")[0])


async def answer(target_request: bytes) -> tuple[int, dict[str, str], bytes]:
    async with make_router().serve("127.0.0.1", 0) as server:
        return parse(await exchange(port_of(server), target_request))


def assert_error(headers: dict[str, str], body: bytes) -> None:
    """An error answer states its type and exact length."""
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert int(headers["Content-Length"]) == len(body)


#: Before websockets 17, its parser closes the connection of a request whose
#: method is not GET without an answer, before any hook runs.
needs_any_method = pytest.mark.skipif(
    not _compat.ANY_METHOD, reason="websockets < 17 answers other methods itself"
)


@needs_any_method
async def test_head_gets_get_headers_without_body() -> None:
    """HEAD on an HTTP endpoint gets the headers of GET and no body."""
    status, headers, body = await answer(request("HEAD", "/healthz"))
    assert status == 200 and body == b""
    assert headers["Content-Length"] == str(len(b"OK HEAD\n"))
    assert headers["Content-Type"] == "text/plain; charset=utf-8"


@needs_any_method
async def test_head_gets_error_headers_without_body() -> None:
    """HEAD to no route gets the 404 headers of GET and no body."""
    _, get_headers, get_body = await answer(request("GET", "/nowhere"))
    status, headers, body = await answer(request("HEAD", "/nowhere"))
    assert status == 404 and body == b""
    assert headers["Content-Length"] == str(len(get_body)) != "0"
    assert headers["Content-Type"] == get_headers["Content-Type"]


@needs_any_method
async def test_other_method_on_http_endpoint_gets_405() -> None:
    """A method an HTTP endpoint does not serve gets 405 with an Allow header."""
    status, headers, body = await answer(request("DELETE", "/healthz"))
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert_error(headers, body)


@needs_any_method
async def test_declared_method_is_served_and_readable() -> None:
    """An endpoint that declares POST serves it and reads path.method."""
    status, _, body = await answer(request("POST", "/submit", "Content-Length: 0"))
    assert (status, body) == (200, b"got POST\n")
    status, headers, _ = await answer(request("GET", "/submit"))
    assert status == 405 and headers["Allow"] == "POST"


@needs_any_method
async def test_non_get_on_websocket_route_gets_405() -> None:
    """HEAD or POST on a WebSocket route gets 405, Allow: GET."""
    for method in ("HEAD", "POST"):
        status, headers, body = await answer(request(method, "/thing/1"))
        assert status == 405 and headers["Allow"] == "GET"
        if method != "HEAD":
            assert_error(headers, body)


async def test_pipelined_requests_end_the_connection() -> None:
    """Pipelined requests end the connection, and the server goes on serving.

    websockets reads what follows a request as WebSocket frames: it closes
    the connection, with or without the first answer (see the README's
    version notes).

    """
    async with make_router().serve("127.0.0.1", 0) as server:
        port = port_of(server)
        answer = await exchange(port, request("GET", "/healthz") * 2)
        assert answer == b"" or parse(answer)[::2] == (200, b"OK GET\n")
        status, _, body = parse(await exchange(port, request("GET", "/healthz")))
        assert (status, body) == (200, b"OK GET\n")


async def test_absolute_form_target_is_routed_by_its_path() -> None:
    """An absolute-form request target is routed by its path."""
    async with make_router().serve("127.0.0.1", 0) as server:
        port = port_of(server)
        target = f"http://127.0.0.1:{port}/thing/42?x=1"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request("GET", target, *upgrade_headers()))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101 ")
            frame = await asyncio.wait_for(reader.readexactly(4), 5)
            assert frame == b"\x81\x0242"  # a text frame: "42"
        finally:
            writer.close()
        status, _, body = parse(
            await exchange(port, request("GET", "http://example/healthz"))
        )
        assert (status, body) == (200, b"OK GET\n")


async def test_data_sent_with_the_request_is_read_after_the_handshake() -> None:
    """A frame that arrives with the request is read once the handshake is done."""
    router = Router()

    @router.route("/echo")
    async def echo(ws: Any, path: RoutedPath) -> None:
        await ws.send(await ws.recv())

    # A masked text frame "hi", sent before the 101 arrives.
    mask = b"\x01\x02\x03\x04"
    payload = bytes(c ^ mask[i % 4] for i, c in enumerate(b"hi"))
    frame = b"\x81\x82" + mask + payload
    async with router.serve("127.0.0.1", 0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
        try:
            writer.write(request("GET", "/echo", *upgrade_headers()) + frame)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101 ")
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"\x81\x02hi"
        finally:
            writer.close()


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
    ],
    ids=["target-too-long", "header-too-long"],
)
async def test_oversized_requests_get_a_4xx(data: bytes, status: int) -> None:
    """A request line or header over websockets' limits gets its 414 or 431.

    websockets answers these itself, before any hook; before websockets 17,
    by closing the connection without an answer.

    """
    async with make_router().serve("127.0.0.1", 0) as server:
        got = await exchange(port_of(server), data)
    if _compat.ANY_METHOD:
        assert parse(got)[0] == status
    else:
        assert got == b""


async def test_headers_over_max_header_size_get_431() -> None:
    """Headers larger than MAX_HEADER_SIZE together get HTTP 431."""
    lines = [f"X-{i}: {'a' * 1000}" for i in range(17)]
    status, headers, body = await answer(request("GET", "/healthz", *lines))
    assert status == 431 and b"headers larger than 16384 bytes" in body
    assert_error(headers, body)
    status, _, _ = await answer(request("GET", "/healthz", *lines[:15]))
    assert status == 200


@pytest.mark.parametrize(
    "data",
    [
        b"GET /healthz HTTP/1.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    ],
    ids=["no-host", "two-hosts", "host-twice"],
)
async def test_host_header_is_required_once(data: bytes) -> None:
    """HTTP/1.1 without a Host header, or with two, gets HTTP 400."""
    status, headers, body = await answer(data)
    assert status == 400 and b"Host header" in body
    assert_error(headers, body)


async def test_websocket_route_refuses_two_hosts() -> None:
    """A WebSocket upgrade with two Host headers is refused with HTTP 400."""
    data = request("GET", "/thing/1", "Host: evil.example", *upgrade_headers())
    status, _, _ = await answer(data)
    assert status == 400


@needs_any_method
async def test_http_10_is_read() -> None:
    """An HTTP/1.0 request, which needs no Host header, is read and answered."""
    status, _, body = await answer(b"GET /healthz HTTP/1.0\r\n\r\n")
    assert (status, body) == (200, b"OK GET\n")


async def test_client_gone_mid_request_gets_no_answer() -> None:
    """A client that closes before its request is complete gets nothing."""
    async with make_router().serve("127.0.0.1", 0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_browser_on_a_websocket_route_gets_426() -> None:
    """A plain GET on a WebSocket route gets 426 with Upgrade: websocket."""
    status, headers, body = await answer(request("GET", "/thing/1"))
    assert status == 426 and headers["Upgrade"] == "websocket"
    assert_error(headers, body)


async def test_refusals_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """The access log has a line per refused handshake: status, method, path, peer."""
    with caplog.at_level(logging.INFO, "websockets_routes.access"):
        await answer(request("GET", "/nowhere"))
        await answer(request("GET", "/thing/1"))
    lines = [r.getMessage() for r in caplog.records if r.name.endswith(".access")]
    assert len(lines) == 2, lines
    assert lines[0].startswith("refused 404 GET /nowhere from 127.0.0.1:")
    assert lines[1].startswith("refused 426 GET /thing/1 from 127.0.0.1:")


def test_origin_form() -> None:
    """An absolute-form target becomes its path and query; others stay as they are."""
    assert handshake.origin_form("http://h:1/a/b?x=1") == "/a/b?x=1"
    assert handshake.origin_form("wss://h") == "/"
    assert handshake.origin_form("/a") == "/a"
    assert handshake.origin_form("*") == "*"


def test_printable() -> None:
    """Text from a client is escaped for a log line where it isn't printable."""
    assert handshake.printable("/a b") == "/a b"
    assert handshake.printable("/a\x01\n\u2028") == "/a\\x01\\x0a\\u2028"
