"""Security: Origin per route, parameters as data, answers that echo nothing raw."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.http11 import Request, Response

from websockets_routes import Converter, Protocol, RoutedPath, Router

from support import status_of, url_of


class SafeName(Converter):
    """A file name: refuses ``..``, ``/``, ``\\`` and NUL, which the README shows."""

    def to_python(self, value: str) -> str:
        if value in (".", "..") or any(c in value for c in "/\\\x00"):
            raise ValueError(f"unsafe name: {value!r}")
        return value


def make_router() -> Router:
    router = Router(converters={"name": SafeName()})

    async def answer(ws: Any, path: RoutedPath) -> None:
        await ws.send(repr(path.params))

    router.route("/private", origins=["https://app.example"])(answer)
    router.route("/public")(answer)
    router.route("/files/{name:name}")(answer)
    router.route("/raw/{rest:path}")(answer)
    return router


async def test_forged_origin_refused_per_route() -> None:
    """A route with origins refuses any other Origin with 403; others accept it."""
    async with make_router().serve("127.0.0.1", 0) as server:
        for origin in ("https://evil.example", "https://app.example.evil", "null"):
            refusal = await status_of(url_of(server, "/private"), origin=origin)
            assert refusal.response.status_code == 403
        async with connect(url_of(server, "/private"), origin="https://app.example"):
            pass
        async with connect(url_of(server, "/public"), origin="https://evil.example"):
            pass


async def test_two_origin_headers_refused() -> None:
    """A request with two Origin headers, one of them allowed, gets 403."""
    request = (
        b"GET /private HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nOrigin: https://app.example\r\n"
        b"Origin: https://evil.example\r\n\r\n"
    )
    async with make_router().serve("127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        assert (await reader.readline()).startswith(b"HTTP/1.1 403")
        writer.close()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/raw/..%2F..%2Fetc%2Fpasswd", "{'rest': '../../etc/passwd'}"),
        ("/raw/a%00b", "{'rest': 'a\\x00b'}"),
        ("/raw/%7B__import__('os')%7D", "{'rest': \"{__import__('os')}\"}"),
    ],
)
async def test_parameters_are_data(path: str, expected: str) -> None:
    """Decoded parameters reach the handler as strings, never interpreted."""
    async with make_router().serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, path)) as ws:
            assert await ws.recv() == expected


@pytest.mark.parametrize(
    "name", ["..", ".", "a%2Fb", "a%00b", "a%5Cb", "%2E%2E", "..%2F..%2Fx"]
)
async def test_safe_converter_refuses(name: str) -> None:
    """A converter that refuses '..', '/', '\\' and NUL answers such names with 404."""
    async with make_router().serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, f"/files/{name}"))
        assert refusal.response.status_code == 404
        async with connect(url_of(server, "/files/report.txt")) as ws:
            assert await ws.recv() == "{'name': 'report.txt'}"


async def refusal_of(
    server: Any, header: bytes, path: bytes = b"/public", name: bytes = b"Connection"
) -> bytes:
    """Send an upgrade request with one header set to a value; return the answer."""
    port = server.sockets[0].getsockname()[1]
    headers = {
        b"Host": b"127.0.0.1",
        b"Upgrade": b"websocket",
        b"Connection": b"Upgrade",
        b"Sec-WebSocket-Key": b"dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version": b"13",
    }
    headers[name] = header
    lines = b"".join(key + b": " + value + b"\r\n" for key, value in headers.items())
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET " + path + b" HTTP/1.1\r\n" + lines + b"\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_process_response_sees_refusals_escaped(kind: str) -> None:
    """A process_response given to serve() gets websockets' own refusal escaped."""
    seen: list[bytes] = []

    def note(connection: Any, request: Request, response: Response) -> None:
        seen.append(response.body)
        response.headers["X-Seen"] = "yes"

    async def note_later(connection: Any, request: Any, response: Any) -> None:
        note(connection, request, response)

    hook = note if kind == "sync" else note_later
    async with make_router().serve("127.0.0.1", 0, process_response=hook) as server:
        # websockets' accept() refuses a malformed extension offer, quoting it.
        answer = await refusal_of(server, b"<script>", name=b"Sec-WebSocket-Extensions")
        async with connect(url_of(server, "/public")) as ws:
            assert await ws.recv() == "{}"
    assert answer.startswith(b"HTTP/1.1 400") and b"X-Seen: yes" in answer
    assert b"<" not in answer and b"\\x3cscript\\x3e" in answer
    head, _, body = answer.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert seen[0] == body
    assert len(seen) == 2  # and the accepted connection's response


async def test_process_response_answer_wins() -> None:
    """A response that the process_response given to serve() returns is sent."""

    def replace(connection: Any, request: Request, response: Response) -> Response:
        return connection.respond(418, "<teapot>\n")

    async with make_router().serve("127.0.0.1", 0, process_response=replace) as server:
        answer = await refusal_of(server, b"<script>")
    assert answer.startswith(b"HTTP/1.1 418") and answer.endswith(b"<teapot>\n")


class Hooked:
    """A view whose coroutine hook lets every request through."""

    async def process_request(self, path: RoutedPath, headers: Any) -> None:
        return None

    async def handle(self, ws: Any, path: RoutedPath) -> None:
        await ws.send("{}")


class Legacy(Protocol):
    """0.2's hook, overridden: it goes on to routing."""

    async def process_request(self, path: str, headers: Any) -> Any:
        return await super().process_request(path, headers)


@pytest.mark.parametrize("server", ["plain", "view hook", "0.2 hook"])
@pytest.mark.parametrize(
    "name", [b"Connection", b"Upgrade", b"Sec-WebSocket-Key", b"Sec-WebSocket-Version"]
)
async def test_refusals_never_echo_the_request(
    server: str, name: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad upgrade header is refused without echoing it, and logs no error."""
    router = make_router()
    router.route("/hooked")(Hooked)
    options = {"create_connection": Legacy} if server == "0.2 hook" else {}
    path = b"/hooked" if server == "view hook" else b"/public"
    async with router.serve("127.0.0.1", 0, **options) as serving:
        for value in (b"<script>", b"\xc2\x80", b"\xff"):
            answer = await refusal_of(serving, value, path, name)
            assert answer.startswith(b"HTTP/1.1 4"), answer[:40]
            assert value not in answer and b"<" not in answer
        async with connect(url_of(serving, path.decode())) as ws:
            assert await ws.recv() == "{}"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
