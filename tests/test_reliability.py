"""Reliability: stalled readers, errors from other connections, hooks, header limits."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from websockets_routes import Converter, RoutedPath, Router

from support import closed_with, status_of, url_of

# Random bytes: permessage-deflate would shrink anything else to nothing.
CHUNK = os.urandom(65536)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages logged at ERROR or above."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def stalled(server: Server, path: str) -> ClientConnection:
    """A client that connects, then never reads again."""
    ws = await connect(url_of(server, path), close_timeout=0.5)
    ws.transport.pause_reading()
    return ws


async def fill(ws: Any, stuck: asyncio.Event) -> None:
    """Send until a send waits for the client to read; then keep sending."""
    while True:
        send = asyncio.ensure_future(ws.send(CHUNK))
        done, _ = await asyncio.wait({send}, timeout=0.5)
        if not done:
            stuck.set()
        await send


async def test_shutdown_with_a_stalled_reader() -> None:
    """server.close() finishes in about close_timeout when a client never reads."""
    router = Router()
    stuck = asyncio.Event()

    @router.route("/flood")
    async def flood(ws: Any, path: RoutedPath) -> None:
        await fill(ws, stuck)

    server = await router.serve("127.0.0.1", 0, close_timeout=1)
    client = await stalled(server, "/flood")
    try:
        await asyncio.wait_for(stuck.wait(), 20)
        started = asyncio.get_running_loop().time()
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        client.transport.abort()


async def test_send_to_a_stalled_reader_is_bounded() -> None:
    """A handler's send to a client that never reads fails after write_timeout."""
    router = Router()
    stuck = asyncio.Event()
    outcome: asyncio.Future[tuple[BaseException, int]] = asyncio.Future()

    @router.route("/flood")
    async def flood(ws: ServerConnection, path: RoutedPath) -> None:
        peak = 0
        try:
            while True:
                await ws.send(CHUNK)
                stuck.set()
                peak = max(peak, ws.transport.get_write_buffer_size())
        except ConnectionClosed as exc:
            outcome.set_result((exc, peak))
            raise

    async with router.serve("127.0.0.1", 0, write_timeout=0.5) as server:
        client = await stalled(server, "/flood")
        try:
            exc, peak = await asyncio.wait_for(outcome, 15)
        finally:
            client.transport.abort()
    assert isinstance(exc, ConnectionClosedError)
    # websockets' write_limit (32 KiB) plus the message being written.
    assert peak <= 2**15 + len(CHUNK) + 64


async def test_keepalive_closes_a_stalled_reader() -> None:
    """Keepalive ends a client that never reads, even with writes that never wait."""
    router = Router()
    ended = asyncio.Event()

    @router.route("/unbounded")
    async def unbounded(ws: ServerConnection, path: RoutedPath) -> None:
        # broadcast() doesn't wait for the client, like Hub(max_buffer=None).
        for _ in range(200):
            broadcast([ws], CHUNK)
        await ws.wait_closed()
        ended.set()

    options = {"ping_interval": 0.2, "ping_timeout": 0.5, "write_timeout": 0.5}
    async with router.serve("127.0.0.1", 0, **options) as server:
        client = await stalled(server, "/unbounded")
        try:
            await asyncio.wait_for(ended.wait(), 10)
        finally:
            client.transport.abort()


async def test_upstream_connection_closed_is_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A ConnectionClosed from a handler's upstream closes the client with 1011."""

    async def upstream(ws: ServerConnection) -> None:
        await ws.close()

    router = Router()
    urls: list[str] = []

    @router.route("/proxy")
    async def proxy(ws: Any, path: RoutedPath) -> None:
        async with connect(urls[0]) as other:
            await other.recv()

    async with websockets.serve(upstream, "127.0.0.1", 0) as up:
        urls.append(url_of(up))
        async with router.serve("127.0.0.1", 0) as server:
            code = await closed_with(url_of(server, "/proxy"))
    assert code == (1011, "internal error")
    assert "handler failed: /proxy" in errors(caplog)


async def test_client_disconnect_stays_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """The client's own disconnect raising in a handler's send logs no error."""
    router = Router()
    done = asyncio.Event()

    @router.route("/send")
    async def send(ws: Any, path: RoutedPath) -> None:
        try:
            await ws.wait_closed()
            await ws.send("too late")
        finally:
            done.set()

    async with router.serve("127.0.0.1", 0) as server:
        async with connect(url_of(server, "/send")):
            pass
        await asyncio.wait_for(done.wait(), 5)
    assert errors(caplog) == []


async def test_handler_cancelled_error_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler raising CancelledError outside shutdown is logged; 1011."""
    router = Router()

    @router.route("/cancel")
    async def cancel(ws: Any, path: RoutedPath) -> None:
        raise asyncio.CancelledError

    async with router.serve("127.0.0.1", 0) as server:
        assert await closed_with(url_of(server, "/cancel")) == (1011, "internal error")
    assert "handler raised CancelledError: /cancel" in errors(caplog)


async def test_view_hook_that_never_returns(caplog: pytest.LogCaptureFixture) -> None:
    """A view's process_request that never returns is answered with HTTP 503."""
    router = Router()

    @router.route("/hang")
    class Hang:
        async def process_request(self, path: str, headers: Any) -> None:
            await asyncio.Event().wait()

        async def handle(self, ws: Any, path: RoutedPath) -> None:
            pass  # pragma: no cover

    async with router.serve("127.0.0.1", 0, open_timeout=1) as server:
        refusal = await status_of(url_of(server, "/hang"))
    assert refusal.response.status_code == 503
    assert b"timed out" in refusal.response.body
    assert "process_request timed out: /hang" in errors(caplog)


async def test_user_hook_that_never_returns(caplog: pytest.LogCaptureFixture) -> None:
    """A process_request passed to serve() that never returns gets HTTP 503."""
    router = Router()

    @router.route("/")
    async def root(ws: Any, path: RoutedPath) -> None:
        pass  # pragma: no cover

    async def process_request(connection: Any, request: Any) -> None:
        await asyncio.Event().wait()

    serving = router.serve(
        "127.0.0.1", 0, open_timeout=1, process_request=process_request
    )
    async with serving as server:
        refusal = await status_of(url_of(server, "/"))
    assert refusal.response.status_code == 503
    assert "process_request timed out: /" in errors(caplog)


async def test_headers_are_capped() -> None:
    """Headers larger than 16 KiB in all are answered with HTTP 431."""
    router = Router()

    @router.route("/")
    async def root(ws: Any, path: RoutedPath) -> None:
        pass  # pragma: no cover

    # Twenty headers of 1 KiB each: every line and the count are within
    # websockets' own limits.
    headers = {f"X-Filler-{i}": "v" * 1024 for i in range(20)}
    async with router.serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/"), additional_headers=headers)
        assert refusal.response.status_code == 431
        async with connect(
            url_of(server, "/"), additional_headers=dict(list(headers.items())[:12])
        ):
            pass


@pytest.mark.parametrize("half", [True, False], ids=["half-close", "close"])
async def test_end_of_stream_right_after_the_request(
    half: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that closes right after its request leaves nothing behind."""
    router = Router()

    @router.route("/wait")
    async def wait(ws: Any, path: RoutedPath) -> None:
        async for _ in ws:
            pass  # pragma: no cover

    request = (
        b"GET /wait HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )

    async def run() -> None:
        async with router.serve("127.0.0.1", 0, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            if half:
                writer.write_eof()
                # The server ends the connection, with or without a 101 first.
                await asyncio.wait_for(reader.read(), 5)
            writer.close()
            for _ in range(100):
                if not handlers(server):
                    break
                await asyncio.sleep(0.05)
            assert handlers(server) == 0

    await asyncio.wait_for(run(), 15)
    assert errors(caplog) == []


def handlers(server: Server) -> int:
    """How many connection handlers run."""
    tasks = getattr(server, "handler_tasks", None)
    if tasks is None:  # websockets 14
        tasks = server.handlers
    return len(tasks)


class Boom(Exception):
    """The error that the faulty parts raise."""


def faulty_router() -> Router:
    """A route for each part that can fail: handler, hook, view class, converter."""

    class Refuser(Converter):
        def to_python(self, value: str) -> str:
            raise Boom(value)

    router = Router(converters={"boom": Refuser()})

    @router.route("/handler")
    async def handler(ws: Any, path: RoutedPath) -> None:
        raise Boom

    @router.route("/hook")
    class Hook:
        def process_request(self, path: str, headers: Any) -> None:
            raise Boom

        async def handle(self, ws: Any, path: RoutedPath) -> None:
            pass  # pragma: no cover

    @router.route("/class")
    class Broken:
        def __init__(self) -> None:
            raise Boom

    @router.route("/converter/{x:boom}")
    async def converted(ws: Any, path: RoutedPath) -> None:
        pass  # pragma: no cover

    return router


@pytest.mark.parametrize(
    ("path", "serve", "handle"),
    [
        ("/handler", ("close", 1011), ("close", 1011)),
        ("/hook", ("status", 500), ("close", 1011)),
        ("/class", ("status", 500), ("close", 1011)),
        ("/converter/x", ("status", 500), ("close", 1011)),
    ],
)
async def test_faults_end_with_documented_codes(
    path: str, serve: tuple[str, int], handle: tuple[str, int]
) -> None:
    """A failing part ends its connection with its documented code, within 5 s."""
    router = faulty_router()
    servers = [
        (serve, router.serve("127.0.0.1", 0)),
        (handle, websockets.serve(router.handle, "127.0.0.1", 0)),
    ]
    for (kind, code), serving in servers:
        async with serving as server:
            if kind == "status":
                refusal = await asyncio.wait_for(status_of(url_of(server, path)), 5)
                assert refusal.response.status_code == code
            else:
                closed = await asyncio.wait_for(closed_with(url_of(server, path)), 5)
                assert closed == (code, "internal error")
