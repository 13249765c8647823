"""Tests for reading the opening handshake: every request gets an answer."""

from __future__ import annotations

import asyncio
import base64
import gc
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

from websockets_routes import RoutedPath, Router
from websockets_routes.handshake import (
    WRAP_ACCEPT,
    RequestError,
    install,
    read_request,
    read_whole_request,
)

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


async def test_head_gets_get_headers_without_body() -> None:
    """HEAD on an HTTP endpoint gets the headers of GET and no body."""
    status, headers, body = await answer(request("HEAD", "/healthz"))
    assert status == 200 and body == b""
    assert headers["Content-Length"] == str(len(b"OK HEAD\n"))
    assert headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_other_method_on_http_endpoint_gets_405() -> None:
    """A method an HTTP endpoint does not serve gets 405 with an Allow header."""
    status, headers, body = await answer(request("DELETE", "/healthz"))
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert_error(headers, body)


async def test_declared_method_is_served_and_readable() -> None:
    """An endpoint that declares POST serves it and reads path.method."""
    status, _, body = await answer(request("POST", "/submit", "Content-Length: 0"))
    assert (status, body) == (200, b"got POST\n")
    status, headers, _ = await answer(request("GET", "/submit"))
    assert status == 405 and headers["Allow"] == "POST"


async def test_non_get_on_websocket_route_gets_405() -> None:
    """HEAD or POST on a WebSocket route gets 405, Allow: GET."""
    for method in ("HEAD", "POST"):
        status, headers, body = await answer(request(method, "/thing/1"))
        assert status == 405 and headers["Allow"] == "GET"
        if method != "HEAD":
            assert_error(headers, body)


async def test_body_with_wrong_method_gets_405() -> None:
    """A POST with a body on a GET route is answered 405, not dropped."""
    status, headers, _ = await answer(
        request("POST", "/healthz", "Content-Length: 5") + b"hello"
    )
    assert status == 405 and headers["Allow"] == "GET, HEAD"


async def test_body_with_allowed_method_gets_400() -> None:
    """A request body that no route reads is answered 400, not dropped."""
    status, headers, body = await answer(
        request("POST", "/submit", "Content-Length: 5") + b"hello"
    )
    assert status == 400 and b"request bodies are not supported" in body
    assert_error(headers, body)


async def test_chunked_body_gets_an_answer() -> None:
    """A chunked request body is answered 405 or 400, not dropped."""
    chunked = "Transfer-Encoding: chunked"
    status, _, _ = await answer(request("POST", "/thing/1", chunked) + b"0\r\n\r\n")
    assert status == 405
    status, _, body = await answer(
        request("POST", "/submit", chunked) + b"5\r\nhello\r\n0\r\n\r\n"
    )
    assert status == 400 and b"request bodies are not supported" in body


async def test_pipelined_requests_get_an_answer() -> None:
    """Pipelined requests get an answer to the first one, then the server closes."""
    status, _, body = await answer(request("GET", "/healthz") * 2)
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
        (b"GET /healthz\r\n\r\n", 400),
        (b"GET  /healthz HTTP/1.1\r\n\r\n", 400),
        (b"get /healthz HTTP/1.1\r\n\r\n", 400),
        (b"GET /healthz HTTP/2.0\r\n\r\n", 505),
        (b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400),
        (b"GET /a\x01b HTTP/1.1\r\n\r\n", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\nno colon\r\n\r\n", 400),
    ],
    ids=[
        "no-version",
        "double-space",
        "lowercase-method",
        "http2",
        "non-ascii",
        "control-character",
        "target-too-long",
        "header-too-long",
        "bad-header",
    ],
)
async def test_unreadable_requests_get_a_4xx(data: bytes, status: int) -> None:
    """A request that cannot be read gets a 4xx or 505 answer, never silence."""
    got, headers, body = await answer(data)
    assert got == status
    assert_error(headers, body)


async def test_http_10_is_read() -> None:
    """An HTTP/1.0 request is read and answered."""
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


def test_install_makes_no_reference_cycle() -> None:
    """install() refers to the protocol only weakly: no cycle for the collector."""
    protocol = ServerProtocol()
    install(protocol)
    if not WRAP_ACCEPT:
        # websockets 17 and later: escape_refusal() escapes, in a hook.
        assert "accept" not in vars(protocol)
        return
    near = gc.get_referents(protocol.accept)
    reachable = [*near, *(item for ref in near for item in gc.get_referents(ref))]
    assert all(item is not protocol for item in reachable)


def read_line_by_line(data: bytes) -> tuple[Any, bytes]:
    """What read_request() makes of ``data`` one line at a time, and what is left."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    reading = read_request(reader.read_line)
    try:
        while True:
            next(reading)
    except StopIteration as stop:
        return outcome(stop.value), bytes(reader.buffer)
    except RequestError as exc:
        return (exc.status, str(exc)), bytes(reader.buffer)
    except EOFError:
        return "EOFError", bytes(reader.buffer)


def outcome(request: Request) -> tuple[str, str, list[tuple[str, str]]]:
    """What routing reads of a request."""
    method = getattr(request, "method", None)
    return request.path, str(method), list(request.headers.raw_items())


WHOLE_LINES = st.sampled_from(
    [b"GET /r1/abc HTTP/1.1"] * 6
    + [
        b"GET /caf\xc3\xa9 HTTP/1.1",
        b"GET /a\x01b HTTP/1.1",
        b"get / HTTP/1.1",
        b"GET http://host/x?y=1 HTTP/1.1",
        b"POST /r HTTP/1.0",
        b"GET / HTTP/2.0",
        b"GET /",
        b"GET  / HTTP/1.1",
    ]
)
HEADER_PARTS = st.sampled_from(
    [b"Host", b"X-A", b"Upgrade", b"Sec-WebSocket-Key", b"Content-Length"] * 3
    + [b"bad name", b"", b"\xff", b"Te:st"]
)
VALUE_PARTS = st.sampled_from(
    [b" websocket ", b"\tUpgrade", b"caf\xe9", b"", b"0", b"x" * 40] * 2
    + [b"a\rb", b"a\x00"]
) | st.binary(max_size=12)


@settings(max_examples=400, deadline=None)
@given(
    line=WHOLE_LINES,
    headers=st.lists(
        st.tuples(HEADER_PARTS, st.sampled_from([b":", b": ", b""]), VALUE_PARTS),
        max_size=6,
    ),
    # Mostly CRLF: a line that ends in LF alone sends the request line by line.
    ends=st.lists(st.sampled_from([b"\r\n"] * 9 + [b"\n"]), min_size=8, max_size=8),
    rest=st.sampled_from([b"", b"\x81\x82abcdef", b"GET / HTTP/1.1\r\n\r\n"]),
)
def test_whole_request_reads_as_line_by_line(
    line: bytes,
    headers: list[tuple[bytes, bytes, bytes]],
    ends: list[bytes],
    rest: bytes,
) -> None:
    """A request read at once gives what reading it line by line gives."""
    lines = [line] + [name + colon + value for name, colon, value in headers]
    pairs = zip(lines, ends[: len(lines)], strict=True)
    data = b"".join(text + end for text, end in pairs) + b"\r\n" + rest
    expected = read_line_by_line(data)
    buffer = bytearray(data)
    try:
        request = read_whole_request(buffer)
    except RequestError as exc:
        assert expected[0] == (exc.status, str(exc))
        return
    if request is None:  # left to read line by line
        assert buffer == data
        return
    assert (outcome(request), bytes(buffer)) == expected


def test_whole_request_leaves_what_follows() -> None:
    """A request read at once is taken out of the buffer; what follows stays."""
    buffer = bytearray(request("GET", "/echo", *upgrade_headers()) + b"\x81\x00")
    found = read_whole_request(buffer)
    assert found is not None and found.path == "/echo"
    assert found.headers["Upgrade"] == "websocket"
    assert buffer == b"\x81\x00"


@pytest.mark.parametrize(
    "data",
    [
        b"GET /echo HTTP/1.1\r\nHost: x\r\n",
        b"GET /echo HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
        b"GET /echo HTTP/1.1\r\n" + b"X: a\r\n" * 200 + b"\r\n",
    ],
    ids=["incomplete", "line-too-long", "too-many-headers"],
)
def test_whole_request_leaves_the_rest_to_line_by_line(data: bytes) -> None:
    """An incomplete request, or one past a limit, is left to be read line by line."""
    buffer = bytearray(data)
    assert read_whole_request(buffer) is None
    assert buffer == data


def test_read_request_reads_a_whole_buffer_at_once() -> None:
    """read_request() with the reader's buffer reads a whole request without waiting."""
    reader = StreamReader()
    reader.feed_data(request("GET", "/echo", *upgrade_headers()) + b"\x81\x00")
    reading = read_request(reader.read_line, reader.buffer)
    with pytest.raises(StopIteration) as stop:
        next(reading)
    assert stop.value.value.path == "/echo"
    assert reader.buffer == b"\x81\x00"
