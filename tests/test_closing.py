"""Tests for deadlines: write deadlines, bounded closes, how a connection ended."""

from __future__ import annotations

import asyncio
import os

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosedError

from websockets_routes import RoutedPath, Router
from websockets_routes.closing import WriteDeadlines, close_code, close_within

from support import url_of

# Random bytes: permessage-deflate would shrink anything else to nothing.
CHUNK = os.urandom(65536)


async def stalled(url: str) -> ClientConnection:
    """A client that connects, then never reads again."""
    ws = await connect(url, close_timeout=0.5)
    ws.transport.pause_reading()
    return ws


async def test_stalled_reader_is_aborted_within_the_deadline() -> None:
    """A client that reads nothing is aborted after write_timeout, not much later."""
    router = Router()
    timeline: dict[str, float] = {}
    failed: asyncio.Future[BaseException] = asyncio.Future()

    @router.route("/flood")
    async def flood(ws: ServerConnection, path: RoutedPath) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                send = asyncio.ensure_future(ws.send(CHUNK))
                done, _ = await asyncio.wait({send}, timeout=0.05)
                if not done:
                    timeline.setdefault("stuck", loop.time())
                await send
        except BaseException as exc:
            timeline["aborted"] = loop.time()
            failed.set_result(exc)
            raise

    async with router.serve("127.0.0.1", 0, write_timeout=0.8) as server:
        client = await stalled(url_of(server, "/flood"))
        try:
            exc = await asyncio.wait_for(failed, 10)
        finally:
            client.transport.abort()
    assert isinstance(exc, ConnectionClosedError)
    waited = timeline["aborted"] - timeline["stuck"]
    # The deadline, less the 50 ms it took to see the send waiting, plus the
    # checks' period: a quarter of the deadline.
    assert 0.8 - 0.1 <= waited <= 0.8 + 0.2 + 0.1, waited


async def test_slow_reader_is_not_aborted() -> None:
    """A client that reads, however slowly, keeps its connection."""
    router = Router()

    @router.route("/stream")
    async def stream(ws: ServerConnection, path: RoutedPath) -> None:
        for _ in range(12):
            await ws.send(CHUNK)
        await ws.send("done")
        await ws.recv()  # the client has read everything

    async with router.serve("127.0.0.1", 0, write_timeout=0.3) as server:
        async with connect(url_of(server, "/stream"), max_size=None) as ws:
            received = 0
            while True:
                # Each read takes less than the deadline; all of them more.
                await asyncio.sleep(0.1)
                message = await ws.recv()
                if message == "done":
                    await ws.send("thanks")
                    break
                received += 1
    assert received == 12


async def test_deadlines_stop_checking_when_connections_close() -> None:
    """The deadlines' timer stops once the server has no connection left."""
    deadlines = WriteDeadlines(0.2, 0.2, 2**15)
    opened = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        deadlines.add(ws)
        opened.set()
        await ws.wait_closed()

    async with websockets_serve(handler, "127.0.0.1", 0) as server:
        async with connect(url_of(server)):
            await opened.wait()
            assert deadlines._timer is not None
        await asyncio.sleep(0.2)
    assert deadlines._timer is None and deadlines._connections == {}


def test_deadlines_period() -> None:
    """Connections are checked four times per deadline, at most once a second."""
    assert WriteDeadlines(20.0, 10.0, 2**15).period == 1.0
    assert WriteDeadlines(2.0, 10.0, (2**16, 2**14)).period == 0.5
    assert WriteDeadlines(None, None, 2**15).enabled is False


async def test_close_within_aborts_a_client_that_does_not_read() -> None:
    """close_within() aborts the connection when its close can't finish in time."""
    aborted: asyncio.Future[tuple[bool, int]] = asyncio.Future()

    async def handler(ws: ServerConnection) -> None:
        while ws.transport.get_write_buffer_size() <= 2**16:
            ws.transport.write(CHUNK)  # fill the buffer without waiting
        closed = await close_within(ws, 1001, timeout=0.3)
        aborted.set_result((closed, await close_code(ws)))

    async with websockets_serve(handler, "127.0.0.1", 0) as server:
        client = await stalled(url_of(server))
        try:
            closed, code = await asyncio.wait_for(aborted, 5)
        finally:
            client.transport.abort()
    assert (closed, code) == (False, 1001)


async def test_close_code_is_the_first_one() -> None:
    """close_code() gives the code of whoever closed first."""
    codes: asyncio.Queue[int] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/server":
            await ws.close(4001)
        await codes.put(await close_code(ws))

    async with websockets_serve(handler, "127.0.0.1", 0) as server:
        async with connect(url_of(server, "/server")) as ws:
            await ws.wait_closed()
        assert await asyncio.wait_for(codes.get(), 5) == 4001
        ws = await connect(url_of(server, "/client"))
        await ws.close(4002)
        assert await asyncio.wait_for(codes.get(), 5) == 4002
