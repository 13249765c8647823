"""Tests for Endpoint: the message loop as a class, against real servers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from websockets_routes import (
    Endpoint,
    Hub,
    InvalidRoute,
    MessageError,
    RoutedPath,
    Router,
    on,
)

from support import url_of


class Recorder:
    """What an endpoint saw, and a way to wait for its end."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.disconnected = asyncio.Event()

    def add(self, *event: Any) -> None:
        self.events.append(event)

    async def codes(self) -> list[int]:
        await asyncio.wait_for(self.disconnected.wait(), 5)
        await asyncio.sleep(0.05)  # a second on_disconnect would show now
        return [event[1] for event in self.events if event[0] == "disconnect"]


def recording(recorder: Recorder, base: type[Endpoint] = Endpoint) -> type[Endpoint]:
    """An Endpoint base class that records its lifecycle."""

    class Recording(base):  # type: ignore[valid-type,misc]
        async def on_connect(self, ws: Any, path: RoutedPath) -> None:
            recorder.add("connect", str(path))

        async def on_disconnect(self, ws: Any, path: RoutedPath, code: int) -> None:
            recorder.add("disconnect", code)
            recorder.disconnected.set()

    return Recording


async def closed(ws: Any) -> tuple[int | None, str | None]:
    """Wait for the server to close; the close code and reason it sent."""
    await asyncio.wait_for(ws.wait_closed(), 5)
    close = ws.protocol.close_rcvd
    return (None, None) if close is None else (close.code, close.reason)


def text_router(recorder: Recorder) -> Router:
    router = Router()

    @router.route("/echo")
    class Echo(recording(recorder)):  # type: ignore[misc]
        encoding = "text"

        async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
            if message == "fail":
                raise RuntimeError("boom")
            await ws.send(message.upper())

    return router


async def test_lifecycle_normal_close() -> None:
    """on_connect, on_message, then on_disconnect once with the client's code."""
    recorder = Recorder()
    async with text_router(recorder).serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/echo")) as ws:
            await ws.send("hi")
            assert await ws.recv() == "HI"
        assert await recorder.codes() == [1000]
    assert recorder.events[0] == ("connect", "/echo")


async def test_lifecycle_handler_error(caplog: pytest.LogCaptureFixture) -> None:
    """A failing handler is logged, closes with 1011, and on_disconnect runs once."""
    recorder = Recorder()
    async with text_router(recorder).serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/echo")) as ws:
            await ws.send("fail")
            assert await closed(ws) == (1011, "internal error")
        assert await recorder.codes() == [1011]
    assert "endpoint failed: /echo" in caplog.text
    assert "RuntimeError: boom" in caplog.text


async def test_lifecycle_tcp_reset() -> None:
    """An abrupt TCP reset ends the loop and on_disconnect gets 1006."""
    recorder = Recorder()
    async with text_router(recorder).serve("127.0.0.1", 0) as server:
        ws = await websockets.connect(url_of(server, "/echo"))
        await ws.send("hi")
        assert await ws.recv() == "HI"
        ws.transport.abort()
        assert await recorder.codes() == [1006]


async def test_lifecycle_server_shutdown() -> None:
    """Server shutdown closes with 1001, and on_disconnect gets 1001."""
    recorder = Recorder()
    async with text_router(recorder).serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/echo")) as ws:
            server.close()
            assert (await closed(ws))[0] == 1001
            await server.wait_closed()
    assert await recorder.codes() == [1001]


async def test_lifecycle_cancelled() -> None:
    """A handler task cancelled while open closes with 1001, on_disconnect once."""
    recorder = Recorder()
    router = Router()
    tasks: list[asyncio.Task[Any]] = []

    @router.route("/wait")
    class Wait(recording(recorder)):  # type: ignore[misc]
        async def on_connect(self, ws: Any, path: RoutedPath) -> None:
            tasks.append(asyncio.current_task())  # type: ignore[arg-type]

    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/wait")) as ws:
            while not tasks:
                await asyncio.sleep(0.01)
            tasks[0].cancel()
            assert (await closed(ws))[0] == 1001
        assert await recorder.codes() == [1001]


async def test_on_disconnect_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An on_disconnect that raises is logged and the server goes on."""
    router = Router()

    @router.route("/x")
    class X(Endpoint):
        async def on_disconnect(self, ws: Any, path: RoutedPath, code: int) -> None:
            raise RuntimeError("cleanup failed")

    async with router.serve("127.0.0.1", 0) as server:
        for _ in range(2):
            async with websockets.connect(url_of(server, "/x")):
                pass
        for _ in range(100):
            if caplog.text.count("on_disconnect failed: /x") == 2:
                break
            await asyncio.sleep(0.01)
    assert caplog.text.count("on_disconnect failed: /x") == 2


@pytest.mark.parametrize(
    ("encoding", "message", "code", "reason"),
    [
        ("text", b"\x00", 1003, "expected a text frame"),
        ("json", b"{}", 1003, "expected a text frame"),
        ("bytes", "text", 1003, "expected a binary frame"),
        ("json", "{not json", 1007, "invalid JSON"),
    ],
)
async def test_encoding_refusals(
    encoding: str, message: str | bytes, code: int, reason: str
) -> None:
    """A frame of the wrong kind closes with 1003, invalid JSON with 1007."""
    recorder = Recorder()
    router = Router()

    class E(recording(recorder)):  # type: ignore[misc]
        async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
            await ws.send(repr(message))

    E.encoding = encoding
    router.route("/e")(E)
    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/e")) as ws:
            await ws.send(message)
            assert await closed(ws) == (code, reason)
        assert await recorder.codes() == [code]
        # The server goes on serving.
        async with websockets.connect(url_of(server, "/e")) as ws:
            good = b"ok" if encoding == "bytes" else '"ok"'
            await ws.send(good)
            expected = {"bytes": "b'ok'", "text": "'\"ok\"'", "json": "'ok'"}
            assert await ws.recv() == expected[encoding]


@dataclasses.dataclass
class Send:
    text: str
    count: int = 1


def chat_router(errors: int = 3) -> Router:
    router = Router()

    @router.route("/chat")
    class Chat(Endpoint):
        encoding = "json"
        max_errors = errors

        @on("plain")
        async def plain(
            self, ws: Any, path: RoutedPath, message: dict[str, Any]
        ) -> Any:
            return {"type": "plain.ok", "got": message}

        @on("silent")
        async def silent(self, ws: Any, path: RoutedPath, message: Any) -> None:
            await ws.send("side effect")

        @on("refuse")
        async def refuse(self, ws: Any, path: RoutedPath, message: Any) -> None:
            raise MessageError("refused: nope")

        @on("crash")
        async def crash(self, ws: Any, path: RoutedPath, message: Any) -> None:
            raise KeyError("crash")

    return router


async def exchange(ws: Any, message: Any) -> Any:
    await ws.send(json.dumps(message))
    return json.loads(await ws.recv())


async def test_dispatch_by_type_with_reply_id() -> None:
    """A message goes to its @on method; the reply carries the request's id."""
    async with chat_router().serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/chat")) as ws:
            message = {"type": "plain", "id": 7, "text": "hi"}
            assert await exchange(ws, message) == {
                "type": "plain.ok",
                "got": message,
                "id": 7,
            }
            reply = await exchange(ws, {"type": "plain", "text": "no id"})
            assert "id" not in reply
            await ws.send(json.dumps({"type": "silent"}))
            assert await ws.recv() == "side effect"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "nope", "id": 1}, "unknown message type: 'nope'"),
        ([1, 2], "message must be a JSON object"),
        ({"id": 2, "text": "x"}, "message must have a string type"),
        ({"type": 5, "id": 3}, "message must have a string type"),
        ({"type": "refuse", "id": 4}, "refused: nope"),
    ],
)
async def test_error_replies_keep_the_connection(message: Any, error: str) -> None:
    """Unknown types, malformed messages and MessageError get an error reply."""
    async with chat_router().serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/chat")) as ws:
            reply = await exchange(ws, message)
            expected = {"type": "error", "message": error}
            if isinstance(message, dict) and "id" in message:
                expected["id"] = message["id"]
            assert reply == expected
            assert (await exchange(ws, {"type": "plain"}))["type"] == "plain.ok"


async def test_max_errors_in_a_row_closes_with_1008() -> None:
    """max_errors error replies in a row close the connection with 1008."""
    async with chat_router(errors=3).serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/chat")) as ws:
            for _ in range(2):
                assert (await exchange(ws, {"type": "nope"}))["type"] == "error"
            # A success resets the count.
            assert (await exchange(ws, {"type": "plain"}))["type"] == "plain.ok"
            for _ in range(3):
                assert (await exchange(ws, {"type": "nope"}))["type"] == "error"
            assert await closed(ws) == (1008, "too many errors")


async def test_handler_exception_closes_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another exception in a handler is logged and closes with 1011."""
    async with chat_router().serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/chat")) as ws:
            await ws.send(json.dumps({"type": "crash"}))
            assert await closed(ws) == (1011, "internal error")
    assert "KeyError: 'crash'" in caplog.text


async def test_on_message_fallback() -> None:
    """Types without an @on method go to on_message when the class overrides it."""
    router = Router()

    @router.route("/f")
    class F(Endpoint):
        encoding = "json"

        @on("a")
        async def a(self, ws: Any, path: RoutedPath, message: Any) -> Any:
            return {"type": "a"}

        async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
            return {"type": "fallback", "for": message["type"]}

    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/f")) as ws:
            assert await exchange(ws, {"type": "b", "id": 1}) == {
                "type": "fallback",
                "for": "b",
                "id": 1,
            }


def payload_router(annotation: Any, validation: str | None = None) -> Router:
    router = Router()

    async def send(self: Any, ws: Any, path: RoutedPath, message: Any) -> Any:
        return {"type": "sent", "payload": repr(message)}

    send.__annotations__["message"] = annotation
    namespace = {"encoding": "json", "validation": validation, "send": on("s")(send)}
    router.route("/p")(type("P", (Endpoint,), namespace))
    return router


@pytest.mark.parametrize("validation", ["msgspec", "pydantic"])
async def test_dataclass_payload_is_validated(validation: str) -> None:
    """A dataclass payload is validated, without type and id, by each backend."""
    pytest.importorskip(validation, reason=f"{validation} is not installed")
    async with payload_router(Send, validation).serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/p")) as ws:
            reply = await exchange(ws, {"type": "s", "id": 1, "text": "hi"})
            assert reply == {
                "type": "sent",
                "payload": "Send(text='hi', count=1)",
                "id": 1,
            }
            reply = await exchange(ws, {"type": "s", "id": 2, "text": 5})
            assert reply["type"] == "error" and reply["id"] == 2
            assert "text" in reply["message"]
            reply = await exchange(ws, {"type": "s", "id": 3})
            assert reply["type"] == "error" and "text" in reply["message"]


try:
    import pydantic
except ImportError:  # the tests that need it say so
    pydantic = None
else:

    class Move(pydantic.BaseModel):
        x: int
        y: int


try:
    import msgspec
except ImportError:
    msgspec = None
else:

    class Point(msgspec.Struct):
        x: int


async def test_pydantic_model_payload_and_reply() -> None:
    """A pydantic model is validated, and a model returned is the reply."""
    if pydantic is None:
        pytest.skip("pydantic is not installed")
    router = Router()

    @router.route("/m")
    class M(Endpoint):
        encoding = "json"

        @on("move")
        async def move(self, ws: Any, path: RoutedPath, message: Move) -> Any:
            return Move(x=message.y, y=message.x)

    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/m")) as ws:
            reply = await exchange(ws, {"type": "move", "id": 9, "x": 1, "y": 2})
            assert reply == {"x": 2, "y": 1, "id": 9}
            reply = await exchange(ws, {"type": "move", "x": "one", "y": 2})
            assert reply["type"] == "error" and "x" in reply["message"]


async def test_msgspec_struct_payload() -> None:
    """A msgspec Struct payload is validated."""
    if msgspec is None:
        pytest.skip("msgspec is not installed")
    async with payload_router(Point).serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/p")) as ws:
            reply = await exchange(ws, {"type": "s", "x": 3})
            assert reply == {"type": "sent", "payload": "Point(x=3)"}
            reply = await exchange(ws, {"type": "s", "x": "3"})
            assert reply["type"] == "error" and "x" in reply["message"]


async def test_producer_generator_and_finish() -> None:
    """A producer's values are sent; when it finishes the connection closes 1000."""
    recorder = Recorder()
    router = Router()

    @router.route("/feed")
    class Feed(recording(recorder)):  # type: ignore[misc]
        encoding = "json"

        async def producer(self, ws: Any, path: RoutedPath) -> AsyncIterator[Any]:
            for i in range(3):
                yield {"n": i}

    async with router.serve("127.0.0.1", 0) as server:
        before = len(asyncio.all_tasks())
        async with websockets.connect(url_of(server, "/feed")) as ws:
            assert [json.loads(await ws.recv()) for _ in range(3)] == [
                {"n": 0},
                {"n": 1},
                {"n": 2},
            ]
            assert (await closed(ws))[0] == 1000
        assert await recorder.codes() == [1000]
        await asyncio.sleep(0.05)
        assert len(asyncio.all_tasks()) <= before


async def test_producer_failure_closes_1011(caplog: pytest.LogCaptureFixture) -> None:
    """A producer that raises is logged and closes with 1011."""
    recorder = Recorder()
    router = Router()

    @router.route("/feed")
    class Feed(recording(recorder)):  # type: ignore[misc]
        async def producer(self, ws: Any, path: RoutedPath) -> None:
            await ws.send("one")
            raise ValueError("producer broke")

    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/feed")) as ws:
            assert await ws.recv() == "one"
            assert await closed(ws) == (1011, "internal error")
        assert await recorder.codes() == [1011]
    assert "ValueError: producer broke" in caplog.text


async def test_client_close_cancels_producer() -> None:
    """When the client leaves, the producer is cancelled and no task is left."""
    recorder = Recorder()
    cancelled = asyncio.Event()
    router = Router()

    @router.route("/feed")
    class Feed(recording(recorder)):  # type: ignore[misc]
        async def producer(self, ws: Any, path: RoutedPath) -> None:
            try:
                await asyncio.sleep(60)
            finally:
                cancelled.set()

    async with router.serve("127.0.0.1", 0) as server:
        before = len(asyncio.all_tasks())
        async with websockets.connect(url_of(server, "/feed")):
            await asyncio.sleep(0.05)
        assert await recorder.codes() == [1000]
        assert cancelled.is_set()
        await asyncio.sleep(0.05)
        assert len(asyncio.all_tasks()) <= before


async def test_messages_in_order_by_default() -> None:
    """Messages are handled one at a time, in order, by default."""
    router = Router()

    @router.route("/o")
    class Ordered(Endpoint):
        encoding = "text"

        async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
            await asyncio.sleep(0.02 if message == "0" else 0)
            await ws.send(message)

    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/o")) as ws:
            for i in range(5):
                await ws.send(str(i))
            assert [await ws.recv() for _ in range(5)] == ["0", "1", "2", "3", "4"]


async def test_concurrency_bounds_running_handlers() -> None:
    """concurrency = N runs up to N handlers at once and reads no further."""
    router = Router()
    running: list[int] = [0, 0]  # now, most
    release = asyncio.Event()

    @router.route("/c")
    class C(Endpoint):
        encoding = "text"
        concurrency = 3

        async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
            running[0] += 1
            running[1] = max(running)
            await release.wait()
            running[0] -= 1
            await ws.send(message)

    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/c")) as ws:
            for i in range(10):
                await ws.send(str(i))
            await asyncio.sleep(0.1)
            assert running == [3, 3]
            release.set()
            assert sorted([await ws.recv() for _ in range(10)], key=int) == [
                str(i) for i in range(10)
            ]
    assert running[1] == 3


async def test_join_ends_with_the_connection() -> None:
    """Hub rooms joined in on_connect are left when the connection ends."""
    hub = Hub()
    router = Router()
    left = asyncio.Event()

    @router.route("/rooms/{room}")
    class Room(Endpoint):
        encoding = "text"

        async def on_connect(self, ws: Any, path: RoutedPath) -> None:
            await self.join(hub, ws, path.params["room"], user="u")

        async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
            await hub.publish(path.params["room"], message)

        async def on_disconnect(self, ws: Any, path: RoutedPath, code: int) -> None:
            left.set()

    async with hub, router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/rooms/a")) as a:
            async with websockets.connect(url_of(server, "/rooms/a")) as b:
                await a.send("hello")
                assert await b.recv() == "hello"
                assert len(hub.members("a")) == 2
        await asyncio.wait_for(left.wait(), 5)
        for _ in range(100):
            if not hub.members("a"):
                break
            await asyncio.sleep(0.01)
        assert len(hub.members("a")) == 0


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"encoding": "xml"}, "encoding must be 'text', 'bytes', 'json' or None"),
        ({"max_errors": 0}, "max_errors must be a positive int: 0"),
        ({"concurrency": True}, "concurrency must be a positive int: True"),
        (
            {"on_message": lambda self, ws, path, message: None},
            "on_message must be a coroutine function",
        ),
        ({"encoding": "text", "x": on("x")(lambda *a: None)}, "coroutine function"),
    ],
)
def test_bad_endpoint_fails_at_registration(
    attributes: dict[str, Any], message: str
) -> None:
    """An Endpoint that cannot work fails when it is routed."""
    cls = type("Bad", (Endpoint,), attributes)
    with pytest.raises(InvalidRoute, match=message):
        Router().route("/x")(cls)


def test_on_needs_json_and_four_arguments() -> None:
    """@on needs encoding 'json' and methods that take (self, ws, path, message)."""

    class Text(Endpoint):
        encoding = "text"

        @on("a")
        async def a(self, ws: Any, path: RoutedPath, message: Any) -> None: ...

    with pytest.raises(InvalidRoute, match="@on needs encoding = 'json'"):
        Router().route("/x")(Text)

    class Short(Endpoint):
        encoding = "json"

        @on("a")
        async def a(self, ws: Any, path: RoutedPath) -> None: ...

    with pytest.raises(InvalidRoute, match=r"must take \(self, ws, path, message\)"):
        Router().route("/x")(Short)


def test_duplicate_message_type() -> None:
    """Two methods for one message type fail when the class is defined."""
    with pytest.raises(InvalidRoute, match="two methods handle message type 'a'"):

        class Twice(Endpoint):
            @on("a")
            async def one(self, ws: Any, path: RoutedPath, message: Any) -> None: ...

            @on("a")
            async def two(self, ws: Any, path: RoutedPath, message: Any) -> None: ...


def test_subclass_overrides_message_type() -> None:
    """A subclass may take over a message type of its base."""

    class Base(Endpoint):
        encoding = "json"

        @on("a")
        async def one(self, ws: Any, path: RoutedPath, message: Any) -> None: ...

    class Child(Base):
        @on("a")
        async def two(self, ws: Any, path: RoutedPath, message: Any) -> None: ...

    Router().route("/x")(Child)
    assert Child._handlers["a"].method is Child.two


@pytest.mark.parametrize("message_type", ["", 5, None])
def test_on_needs_a_type(message_type: Any) -> None:
    """@on needs a non-empty str."""
    with pytest.raises(InvalidRoute, match="message type must be a non-empty str"):
        on(message_type)


def test_missing_library_fails_at_registration() -> None:
    """A dataclass payload without msgspec or pydantic names the extras to install."""
    import subprocess
    import sys

    code = """
import dataclasses, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("msgspec", "pydantic"):
            raise ImportError(name)
sys.meta_path.insert(0, Block())
from websockets_routes import Endpoint, InvalidRoute, Router, on

@dataclasses.dataclass
class Send:
    text: str

class Chat(Endpoint):
    encoding = "json"

    @on("send")
    async def send(self, ws, path, message: Send): ...

try:
    Router().route("/chat")(Chat)
except InvalidRoute as exc:
    print(exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "websockets-routes[msgspec]" in result.stdout
    assert "websockets-routes[pydantic]" in result.stdout


async def test_endpoint_keeps_process_request_hook() -> None:
    """An Endpoint's process_request hook runs during the handshake."""
    router = Router()

    @router.route("/h/{id}")
    class H(Endpoint):
        def process_request(self, path: RoutedPath, headers: Any) -> Any:
            if path.params["id"] != "1":
                return 404, [], "no such thing\n"
            path.context["thing"] = "one"
            return None

        async def on_connect(self, ws: Any, path: RoutedPath) -> None:
            await ws.send(path.context["thing"])

    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/h/1")) as ws:
            assert await ws.recv() == "one"
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(url_of(server, "/h/2")):
                pass  # pragma: no cover


def test_logging_is_quiet_for_normal_closes(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing is logged at warning level or above for a normal lifecycle."""
    caplog.set_level(logging.WARNING)

    async def run() -> None:
        async with text_router(Recorder()).serve("127.0.0.1", 0) as server:
            async with websockets.connect(url_of(server, "/echo")) as ws:
                await ws.send("x")
                await ws.recv()

    asyncio.run(run())
    assert caplog.text == ""


async def test_closed_connection_raises_in_handlers() -> None:
    """ConnectionClosed inside a handler ends the loop quietly."""
    recorder = Recorder()
    router = Router()

    @router.route("/q")
    class Q(recording(recorder)):  # type: ignore[misc]
        encoding = "text"

        async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
            await ws.close()
            raise ConnectionClosed(None, None)

    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, "/q")) as ws:
            await ws.send("x")
            assert (await closed(ws))[0] == 1000
        assert await recorder.codes() == [1000]


@pytest.mark.parametrize("path", ["/chat", "/any"])
async def test_deeply_nested_json_closes_with_1007(path: str) -> None:
    """JSON nested too deep to decode closes with 1007, not 1011."""
    router = chat_router()

    @router.route("/any")
    class Any_(Endpoint):
        encoding = "json"

        async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
            return None  # pragma: no cover

    async with router.serve("127.0.0.1", 0) as server:
        async with websockets.connect(url_of(server, path)) as ws:
            await ws.send("[" * 100_000 + "]" * 100_000)
            assert await closed(ws) == (1007, "invalid JSON")
