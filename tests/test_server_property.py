"""Property tests: any request target and headers get a documented answer, never 500."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from websockets_routes import RoutedPath, Router

#: What router.serve() may answer: the handshake's statuses in the README.
SERVE_STATUSES = {101, 400, 403, 404, 405, 414, 426, 431, 505}
#: What websockets.serve(router.handle) may answer: routing runs after a 101,
#: and websockets' own parser may also close without an answer.
HANDLE_STATUSES = {101, 400, 405, 414, 426, 431, 505}
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MARK = "<zq'\">"


def make_router() -> Router:
    """Routes with converters, a path parameter and an Origin check."""
    router = Router()

    async def answer(ws: Any, path: RoutedPath) -> None:
        await ws.send(repr(path.params))

    router.route("/echo")(answer)
    router.route("/thing/{id:int}")(answer)
    router.route("/files/{rest:path}")(answer)
    router.route("/private", origins=["https://ok.example"])(answer)
    return router


class Servers:
    """router.serve() and websockets.serve(router.handle) in a thread of their own."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self.run(),)
        )

    async def run(self) -> None:
        router = make_router()
        self.stop = asyncio.Event()
        async with router.serve("127.0.0.1", 0, open_timeout=2) as routed:
            async with websockets.serve(router.handle, "127.0.0.1", 0) as plain:
                self.ports = {
                    "serve": routed.sockets[0].getsockname()[1],
                    "handle": plain.sockets[0].getsockname()[1],
                }
                self.ready.set()
                await self.stop.wait()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """The two servers, for every example of the module."""
    servers = Servers()
    servers.thread.start()
    assert servers.ready.wait(10)
    yield servers
    servers.close()


def exchange(port: int, request: bytes) -> bytes:
    """Send a request; return the answer's head and what follows, up to 64 KiB."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


targets = st.one_of(
    st.sampled_from(["/echo", "/thing/12", "/files/a/b", "/private", "/nope"]),
    st.builds(
        lambda prefix, tail: prefix + "".join(tail),
        st.sampled_from(["/", "/thing/", "/files/", "/echo?", "http://h/", "*"]),
        st.lists(
            st.one_of(
                st.sampled_from([*"./%?#~;=&+ 09azAZ\\", "%00", "%2e%2e", "%ff", MARK]),
                st.characters(codec="utf-8"),
            ),
            max_size=30,
        ),
    ),
)
header_names = st.sampled_from(
    ["Origin", "Sec-WebSocket-Protocol", "Host", "Upgrade", "Connection", MARK]
) | st.text(st.characters(codec="ascii"), min_size=1, max_size=12)
header_values = st.text(st.characters(codec="latin-1"), max_size=40) | st.just(MARK)


def request_bytes(
    method: str, target: str, headers: list[tuple[str, str]], upgrade: bool
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    if upgrade:
        lines += [
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {KEY}",
            "Sec-WebSocket-Version: 13",
        ]
    lines += [f"{name}: {value}" for name, value in headers]
    text = "\r\n".join(lines) + "\r\n\r\n"
    return text.encode("utf-8", "surrogateescape")


requests = st.builds(
    request_bytes,
    st.sampled_from(["GET", "GET", "POST", "HEAD", "get"]),
    targets,
    st.lists(st.tuples(header_names, header_values), max_size=4),
    st.booleans(),
)


def status_of(answer: bytes) -> int:
    """The status code of an HTTP answer."""
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer[9:12])


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(request=requests)
def test_serve_answers_every_request(servers: Servers, request: bytes) -> None:
    """router.serve() answers any request with a documented status, never 500.

    Bytes after the request make websockets' parser close the connection,
    which it may do before any answer.

    """
    answer = exchange(servers.ports["serve"], request + MARK.encode())
    assert answer == b"" or status_of(answer) in SERVE_STATUSES
    # Error answers don't echo what the client sent.
    assert b"<zq" not in answer


tokens = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"),
    min_size=1,
    max_size=12,
)
well_formed = st.builds(
    request_bytes,
    st.just("GET"),
    st.sampled_from(["/echo", "/thing/12", "/thing/x", "/files/a/b", "/private", "/"]),
    st.lists(
        st.tuples(
            tokens.filter(lambda name: name.lower() not in ("host", "content-length")),
            st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
        ),
        max_size=4,
    ),
    st.booleans(),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(request=well_formed)
def test_serve_answers_every_well_formed_request(
    servers: Servers, request: bytes
) -> None:
    """router.serve() answers every well-formed request, with a documented status."""
    assert status_of(exchange(servers.ports["serve"], request)) in SERVE_STATUSES


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(request=requests)
def test_handle_answers_every_request(servers: Servers, request: bytes) -> None:
    """websockets.serve(router.handle) answers any request, never with 500."""
    answer = exchange(servers.ports["handle"], request)
    assert answer == b"" or status_of(answer) in HANDLE_STATUSES


def test_servers_alive_afterwards(servers: Servers) -> None:
    """After the examples, both servers still open a routed connection."""
    for port in servers.ports.values():
        request = request_bytes("GET", "/thing/7", [], upgrade=True)
        assert status_of(exchange(port, request)) == 101
