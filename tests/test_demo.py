"""The demo's application: its pages and its rooms, with real servers and clients.

The browser's side is in ``test_demo_browser.py``.

"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server

import websockets_routes.hub
from websockets_routes import Hub, HubUnavailable
from websockets_routes.demo import create_app
from websockets_routes.demo.app import app_hub

from support import http_get, status_of, url_of

#: Seconds a client waits for a message that must come.
TIMEOUT = 5


@pytest.fixture
def hub() -> Hub:
    """The in-process hub of the rooms."""
    return Hub()


@pytest.fixture
async def server(hub: Hub) -> AsyncIterator[Server]:
    """The demo, served on a free port of 127.0.0.1."""
    async with create_app(hub).serve("127.0.0.1", 0) as server:
        yield server


def room_url(server: Server, room: str, name: str) -> str:
    """The WebSocket URL of a room, for a name."""
    return url_of(server, f"/rooms/{quote(room, safe='')}?name={quote(name)}")


async def receive_frame(ws: ClientConnection) -> dict[str, Any]:
    """The next frame, decoded; fail if none comes in time."""
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return frame


async def receive(ws: ClientConnection) -> dict[str, Any]:
    """The next message, unwrapped from the room's history frame if it is one."""
    frame = await receive_frame(ws)
    if frame["type"] == "message":
        said: dict[str, Any] = json.loads(frame["data"])
        return said
    return frame


async def nothing_more(ws: ClientConnection, wait: float = 0.2) -> None:
    """Fail if a message comes within ``wait`` seconds."""
    with pytest.raises(asyncio.TimeoutError):
        message = await asyncio.wait_for(ws.recv(), wait)
        pytest.fail(f"unexpected message: {message!r}")  # pragma: no cover


def presence(event: str, sid: str, name: str, room: str = "kitchen") -> dict[str, Any]:
    """A presence event, as the hub sends it."""
    return {
        "type": "presence",
        "room": "room:" + room,
        "event": event,
        "user": sid,
        "meta": {"name": name},
    }


@contextlib.asynccontextmanager
async def joined(
    server: Server, room: str, name: str, since: str | None = None
) -> AsyncIterator[tuple[ClientConnection, str]]:
    """Join a room; yield the connection and its session id, once it joined.

    Its own presence event may come before or after ``welcome``: both are
    read. Frames of a replay, before ``welcome``, are in ``ws.replayed``.

    """
    url = room_url(server, room, name)
    if since is not None:
        url += f"&since={quote(since)}"
    async with connect(url) as ws:
        early = []
        while (frame := await receive_frame(ws))["type"] != "welcome":
            early.append(frame)
        assert (frame["name"], frame["room"]) == (name, room)
        sid = frame["sid"]
        assert {"sid": sid, "name": name} in frame["members"]
        own = presence("join", sid, name, room)
        if own in early:
            early.remove(own)
        else:
            assert await receive_frame(ws) == own
        ws.replayed = early  # type: ignore[attr-defined]
        yield ws, sid


async def say(ws: ClientConnection, text: Any, id: int = 1) -> None:
    """Send a ``say`` message."""
    await ws.send(json.dumps({"type": "say", "id": id, "text": text}))


# The page.


async def test_page(server: Server) -> None:
    """The page is HTML with a viewport, labelled inputs and a favicon."""
    status, headers, body = await http_get(server, "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert (
        '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    )
    assert '<label for="name">Name</label>' in page
    assert '<label for="room">Room</label>' in page
    assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in page


async def test_page_loads_nothing_from_elsewhere(server: Server) -> None:
    """The page refers to no other origin, and its policy forbids it."""
    _, headers, body = await http_get(server, "/")
    assert "//" not in body.decode().replace("<!doctype html>", "")
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "content_type", "start"),
    [
        ("/app.js", "text/javascript; charset=utf-8", b"// The chat page"),
        ("/style.css", "text/css; charset=utf-8", b"* {"),
        ("/favicon.svg", "image/svg+xml", b"<svg "),
        ("/favicon.ico", "image/svg+xml", b"<svg "),
    ],
)
async def test_static_files(
    server: Server, path: str, content_type: str, start: bytes
) -> None:
    """The script, the style sheet and the favicon come with their types."""
    status, headers, body = await http_get(server, path)
    assert status == 200
    assert headers["Content-Type"] == content_type
    assert body.startswith(start)


async def test_script_inserts_text_only(server: Server) -> None:
    """The script never parses text as HTML: user text can't become markup."""
    _, _, body = await http_get(server, "/app.js")
    script = body.decode()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in script
    assert "textContent" in script


async def test_healthz(server: Server) -> None:
    """/healthz answers OK."""
    status, headers, body = await http_get(server, "/healthz")
    assert (status, headers["Content-Type"], body) == (
        200,
        "text/plain; charset=utf-8",
        b"OK\n",
    )


async def test_asyncapi(server: Server) -> None:
    """/asyncapi.json describes the room and the messages it takes."""
    status, _, body = await http_get(server, "/asyncapi.json")
    assert status == 200
    document = json.loads(body)
    assert document["channels"]["room"]["address"] == "/rooms/{room}"
    assert "say" in body.decode()


# Rooms.


async def greet(alice: Any, bob_sid: str) -> None:
    """Alice, in the room, sees Bob join."""
    assert await receive(alice) == presence("join", bob_sid, "bob")


async def test_two_clients_chat(server: Server) -> None:
    """Two clients in a room see each other arrive, talk and leave."""
    async with joined(server, "kitchen", "alice") as (alice, _):
        async with joined(server, "kitchen", "bob") as (bob, bob_sid):
            await greet(alice, bob_sid)
            await say(bob, "hi <b>alice</b> & all")
            for ws in (alice, bob):
                said = await receive(ws)
                assert said.pop("at").endswith("+00:00")
                assert said == {
                    "type": "said",
                    "sid": bob_sid,
                    "name": "bob",
                    "text": "hi <b>alice</b> & all",
                }
        assert await receive(alice) == presence("leave", bob_sid, "bob")
        await nothing_more(alice)


async def test_welcome_lists_who_is_here(server: Server) -> None:
    """welcome lists every connection in the room, from the hub's presence."""
    async with joined(server, "kitchen", "alice") as (_, alice_sid):
        async with joined(server, "kitchen", "bob") as (_, bob_sid):
            async with connect(room_url(server, "kitchen", "carol")) as carol:
                while (frame := await receive_frame(carol))["type"] != "welcome":
                    pass
                assert sorted(frame["members"], key=lambda m: m["name"]) == [
                    {"sid": alice_sid, "name": "alice"},
                    {"sid": bob_sid, "name": "bob"},
                    {"sid": frame["sid"], "name": "carol"},
                ]


async def test_other_room_sees_nothing(server: Server) -> None:
    """A client in another room sees neither the messages nor the presence."""
    async with joined(server, "cellar", "carol") as (carol, _):
        async with joined(server, "kitchen", "alice") as (alice, _):
            async with joined(server, "kitchen", "bob") as (bob, _):
                await say(alice, "secret")
                assert (await receive(bob))["text"] == "secret"
        await nothing_more(carol)


async def test_reconnection_resumes_from_the_last_message(server: Server) -> None:
    """A client reconnecting with since gets what was said meanwhile, once."""
    async with joined(server, "kitchen", "alice") as (alice, _):
        async with joined(server, "kitchen", "bob") as (bob, _):
            await say(alice, "before")
            last = (await receive_frame(bob))["id"]
        await say(alice, "while away", id=2)
        async with joined(server, "kitchen", "bob", since=last) as (bob, _):
            missed = [json.loads(f["data"])["text"] for f in bob.replayed]
            assert missed == ["while away"]
            await say(alice, "after", id=3)
            assert (await receive(bob))["text"] == "after"


async def test_reconnection_after_lost_history(server: Server) -> None:
    """A since the room no longer keeps brings a history_gap notice first."""
    async with joined(server, "kitchen", "alice") as (alice, _):
        await say(alice, "kept")
        async with joined(server, "kitchen", "bob", since="12345") as (bob, _):
            gap, kept = bob.replayed
            assert gap == {
                "type": "history_gap",
                "room": "room:kitchen",
                "since": "12345",
            }
            assert json.loads(kept["data"])["text"] == "kept"


async def test_names_with_any_text(server: Server) -> None:
    """Names and rooms are text: markup, spaces and other scripts come back as is."""
    async with joined(server, "café / 1", "<img src=x onerror=alert(1)>") as (ws, _):
        await say(ws, "ok")
        said = await receive(ws)
        assert said["name"] == "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize(
    ("query", "room", "error"),
    [
        ("", "kitchen", "name is missing: add ?name=... to the URL"),
        ("?name=", "kitchen", "name must not be blank"),
        ("?name=%20%20", "kitchen", "name must not be blank"),
        ("?name=" + "a" * 33, "kitchen", "name must be at most 32 characters"),
        ("?name=a%07b", "kitchen", "name must be printable characters"),
        ("?name=a%E2%80%AEb", "kitchen", "name must be printable characters"),
        ("?name=alice", "%20", "room must not be blank"),
        ("?name=alice", "r" * 33, "room must be at most 32 characters"),
        ("?name=alice", "a%0Ab", "room must be printable characters"),
    ],
)
async def test_bad_name_or_room(
    server: Server, query: str, room: str, error: str
) -> None:
    """A missing, blank, long or unprintable name or room gets HTTP 400."""
    refusal = await status_of(url_of(server, f"/rooms/{room}{query}"))
    assert refusal.response.status_code == 400
    assert refusal.response.body == (error + "\n").encode()


async def test_longest_name(server: Server) -> None:
    """A name of 32 characters is fine."""
    async with joined(server, "r" * 32, "é" * 32):
        pass


async def test_binary_frame_closes_and_relays_nothing(server: Server) -> None:
    """A binary frame closes its connection with 1003; the room sees only a leave."""
    async with joined(server, "kitchen", "bob") as (bob, _):
        async with joined(server, "kitchen", "alice") as (alice, alice_sid):
            await receive(bob)
            await alice.send(b"hi")
            await asyncio.wait_for(alice.wait_closed(), TIMEOUT)
            close = alice.protocol.close_rcvd
            assert close is not None
            assert (close.code, close.reason) == (1003, "expected a text frame")
        assert await receive(bob) == presence("leave", alice_sid, "alice")
        await nothing_more(bob)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "say", "id": 7, "text": 5}, "invalid payload at 'text'"),
        ({"type": "say", "id": 7}, "invalid payload"),
        ({"type": "say", "id": 7, "text": " \n "}, "text must not be blank"),
        ({"type": "say", "id": 7, "text": "x" * 501}, "text must be at most 500"),
        ({"type": "shout", "id": 7}, "unknown message type: 'shout'"),
    ],
)
async def test_invalid_message(
    server: Server, message: dict[str, Any], error: str
) -> None:
    """An invalid message gets an error reply with its id; the room sees nothing."""
    async with joined(server, "kitchen", "bob") as (bob, _):
        async with joined(server, "kitchen", "alice") as (alice, _):
            await receive(bob)
            await alice.send(json.dumps(message))
            reply = await receive(alice)
            assert reply["type"] == "error"
            assert reply["id"] == 7
            assert reply["message"].startswith(error)
            await nothing_more(bob, wait=0.1)
            # The connection stays open.
            await say(alice, "still here")
            assert (await receive(bob))["text"] == "still here"


async def test_longest_text(server: Server) -> None:
    """A message of 500 characters, even outside the BMP, goes through."""
    async with joined(server, "kitchen", "alice") as (alice, _):
        await say(alice, "🙂" * 500)
        assert (await receive(alice))["text"] == "🙂" * 500


class UnreachableHub(Hub):
    """A hub whose broker can't be reached once ``down`` is set."""

    down = False

    async def publish(self, group: str, message: str | bytes) -> None:
        if self.down:
            raise HubUnavailable("redis is down")
        await super().publish(group, message)

    async def presence(self, group: str) -> dict[str, list[dict[str, Any]]]:
        if self.down:
            raise HubUnavailable("redis is down")
        return await super().presence(group)


async def test_hub_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    """When the hub can't publish, messages get an error reply; presence is logged."""
    hub = UnreachableHub()
    async with create_app(hub).serve("127.0.0.1", 0) as server:
        async with joined(server, "kitchen", "alice") as (alice, _):
            hub.down = True
            await say(alice, "hello?")
            assert await receive(alice) == {
                "type": "error",
                "id": 1,
                "message": "the room is unavailable; try again",
            }
            async with connect(room_url(server, "kitchen", "bob")) as bob:
                while (frame := await receive_frame(bob))["type"] != "welcome":
                    pass
                # Only itself, as presence can't be read.
                assert frame["members"] == [{"sid": frame["sid"], "name": "bob"}]
    assert [record.getMessage() for record in caplog.records] == [
        "cannot read presence of room:kitchen: redis is down",
    ]


# The hub.


def test_create_app_without_hub_uses_served_hub() -> None:
    """create_app() takes the hub that the command line serves."""
    serving_hub = getattr(websockets_routes.hub, "serving_hub", None)
    if serving_hub is None:  # pragma: no cover
        pytest.skip("websockets_routes.hub.serving_hub() doesn't exist yet")
    hub = Hub()
    with serving_hub(hub):
        router = create_app()
    room = router.match("/rooms/kitchen?name=alice")
    assert room is not None


def test_app_hub_without_served_hub() -> None:
    """Without a served hub, the demo runs on one in-process hub per process."""
    assert app_hub() is app_hub()
    assert type(app_hub()) is Hub


async def test_create_app_joins_the_served_hub() -> None:
    """Connections of create_app() join the served hub's groups."""
    serving_hub = getattr(websockets_routes.hub, "serving_hub", None)
    if serving_hub is None:  # pragma: no cover
        pytest.skip("websockets_routes.hub.serving_hub() doesn't exist yet")
    hub = Hub()
    with serving_hub(hub):
        app = create_app()
    async with app.serve("127.0.0.1", 0) as server:
        async with joined(server, "kitchen", "alice"):
            assert len(hub.members("room:kitchen")) == 1


def test_create_app_without_validation_library() -> None:
    """Without msgspec nor pydantic, create_app() names the extras to install."""
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("msgspec", "pydantic"):
            raise ImportError(name)
sys.meta_path.insert(0, Block())
from websockets_routes import Hub, InvalidRoute
from websockets_routes.demo import create_app
try:
    create_app(Hub())
except InvalidRoute as exc:
    print(exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout == (
        "dataclass payloads need a validation library: install "
        "websockets-routes[msgspec] or websockets-routes[pydantic]: Room.say\n"
    )


# Across processes: two servers, each with its own Redis hub.


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The URL of a redis-server started for the test."""
    from hub.conftest import RedisServer

    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is required when CI is set; install it")
        pytest.skip("redis-server isn't installed; apt-get install redis-server")
    redis = RedisServer(executable)
    redis.start()
    try:
        yield redis.url
    finally:
        redis.stop()


async def test_rooms_across_redis_hubs(redis_url: str) -> None:
    """Clients of two servers sharing Redis see each other's presence and messages."""
    pytest.importorskip("redis")
    namespace = f"demo-{uuid.uuid4().hex[:8]}"
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for _ in range(2):
            hub = await stack.enter_async_context(
                Hub.from_url(redis_url, namespace=namespace)
            )
            app = create_app(hub)
            servers.append(await stack.enter_async_context(app.serve("127.0.0.1", 0)))
        one, two = servers
        async with joined(one, "kitchen", "alice") as (alice, _):
            async with joined(two, "kitchen", "bob") as (bob, bob_sid):
                await greet(alice, bob_sid)
                await say(bob, "hi from two")
                assert (await receive(alice))["text"] == "hi from two"
            assert await receive(alice) == presence("leave", bob_sid, "bob")
