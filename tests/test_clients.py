"""Third-party clients against a real server: what each of them sees.

websockets' own client is forgiving: it follows any redirect and accepts an
answer that selects no subprotocol. Other clients are stricter, and each in
its own way; these tests pin down what websocket-client, aiohttp, node's
``ws`` and Chromium do with subprotocols, redirects, refusals and
``router.handle``.

A client that is not installed skips its tests, except when the ``CI``
environment variable is set: CI must run them all. Chromium is
``/usr/bin/chromium`` or the ``CHROMIUM`` environment variable; node's
``ws`` is installed by ``npm ci`` in ``tests/clients``.

"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import pathlib
import shutil
from collections.abc import AsyncIterator, Sequence
from types import ModuleType
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server
from websockets.asyncio.server import serve as websockets_serve
from websockets.datastructures import Headers

from websockets_routes import RoutedPath, Router

from support import CHROMIUM, CHROMIUM_ARGS, closed_with, need, url_of

CLIENTS = pathlib.Path(__file__).parent / "clients"
WS_CLIENT = CLIENTS / "ws_client.js"
#: Seconds any one client may take to connect, talk and close.
TIMEOUT = 10

CHAT_REFUSED = (
    "Failed to open a WebSocket connection: no subprotocol offered is "
    "supported by this route; supported: chat.v2, chat.v1.\n"
)
NONE_SUPPORTED = (
    "Failed to open a WebSocket connection: no subprotocol offered is "
    "supported by this route; supported: none.\n"
)
MISSING = "missing subprotocol: negotiation needs router.serve()"

# The page that Chromium loads from the router itself: Chromium refuses
# WebSocket connections to 127.0.0.1 from about:blank (Local Network Access
# checks), not from a page that 127.0.0.1 served.
PAGE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>websockets-routes clients</title></head>
<body>
<script>
// Connect, send a message once open, and resolve with every event.
function talk(url, protocols, message) {
  return new Promise((resolve) => {
    const events = [];
    const ws = new WebSocket(url, protocols);
    const timer = setTimeout(() => {
      events.push({event: "timeout"});
      ws.close();
      resolve(events);
    }, 5000);
    ws.onopen = () => {
      events.push({event: "open", protocol: ws.protocol});
      if (message !== null) ws.send(message);
    };
    ws.onmessage = (e) => events.push({event: "message", data: e.data});
    ws.onerror = () => events.push({event: "error"});
    ws.onclose = (e) => {
      clearTimeout(timer);
      events.push({event: "close", code: e.code, reason: e.reason});
      resolve(events);
    };
  });
}
const base = `ws://${location.host}`;
window.results = null;
Promise.all([
  talk(`${base}/chat`, ["chat.v1"], "hello chat"),
  talk(`${base}/echo`, [], "hello echo"),
]).then(([chat, echo]) => { window.results = {chat, echo}; });
</script>
</body>
</html>
"""


def make_router() -> Router:
    """A router with a route for each behaviour that clients see differently."""
    router = Router()

    @router.http("/")
    async def page(path: RoutedPath, headers: Headers) -> Any:
        return (200, [("Content-Type", "text/html; charset=utf-8")], PAGE)

    @router.route("/chat", subprotocols=["chat.v2", "chat.v1"])
    async def chat(ws: Any, path: RoutedPath) -> None:
        await ws.send(f"subprotocol: {ws.subprotocol}")
        await ws.send(await ws.recv())

    @router.route(
        "/loose", subprotocols=["chat.v2", "chat.v1"], allow_unmatched_subprotocols=True
    )
    async def loose(ws: Any, path: RoutedPath) -> None:
        await ws.send(f"subprotocol: {ws.subprotocol}")

    @router.route("/required", subprotocols=["v1"], require_subprotocol=True)
    async def required(ws: Any, path: RoutedPath) -> None:
        await ws.send(f"subprotocol: {ws.subprotocol}")

    @router.route("/echo")
    async def echo(ws: Any, path: RoutedPath) -> None:
        await ws.send(await ws.recv())

    @router.route("/new")
    async def new(ws: Any, path: RoutedPath) -> None:
        await ws.send("this is /new")

    router.redirect("/old", "/new", absolute=True)
    router.redirect("/moved", "/new")

    @router.route("/item/{id}")
    class Item:
        def process_request(self, path: RoutedPath, headers: Headers) -> Any:
            return (404, [], "no such item\n")

    return router


def need_module(name: str, package: str) -> ModuleType:
    """Import a client's module, or skip (fail under CI) without it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        need(False, f"{package} is not installed")
        raise  # pragma: no cover - need() does not return here


@pytest.fixture
def websocket_client() -> ModuleType:
    """websocket-client's ``websocket`` module."""
    return need_module("websocket", "websocket-client")


@pytest.fixture
def aiohttp() -> ModuleType:
    """The ``aiohttp`` module."""
    return need_module("aiohttp", "aiohttp")


@pytest.fixture
def node() -> str:
    """The ``node`` executable, with ``ws`` installed in tests/clients."""
    executable = shutil.which("node")
    need(executable is not None, "node is not on PATH")
    need(
        (CLIENTS / "node_modules" / "ws" / "package.json").is_file(),
        "ws is not installed: run npm ci in tests/clients",
    )
    assert executable is not None
    return executable


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """The router under router.serve(), on a free port of 127.0.0.1."""
    async with make_router().serve("127.0.0.1", 0) as server:
        yield server


@pytest.fixture
async def handle_server() -> AsyncIterator[Server]:
    """The router under a plain websockets serve(router.handle)."""
    async with websockets_serve(make_router().handle, "127.0.0.1", 0) as server:
        yield server


@pytest.fixture
async def page(server: Server, tmp_path: pathlib.Path) -> AsyncIterator[Any]:
    """A Chromium page loaded from the server's ``/``, driven by Playwright."""
    need(os.access(CHROMIUM, os.X_OK), f"Chromium is not installed at {CHROMIUM}")
    async_api = need_module("playwright.async_api", "playwright")
    async with async_api.async_playwright() as playwright:
        # A new, empty profile: no state leaks from one test to the next.
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=TIMEOUT * 1000,
        )
        try:
            context.set_default_timeout(TIMEOUT * 1000)
            page = await context.new_page()
            response = await page.goto(url_of(server, "/").replace("ws:", "http:"))
            assert response is not None and response.status == 200
            yield page
        finally:
            await context.close()


# websocket-client is synchronous: it runs in a thread while the server runs
# in the event loop.


def websocket_client_talk(
    websocket: ModuleType, url: str, send: Sequence[str] = (), **kwargs: Any
) -> tuple[str | None, list[str], tuple[int, str]]:
    """Connect with websocket-client, send; return subprotocol, messages, close."""
    ws = websocket.create_connection(url, timeout=TIMEOUT, **kwargs)
    try:
        for message in send:
            ws.send(message)
        messages = []
        for _ in range(10):  # bounded: no route here sends more
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big")
                return ws.getsubprotocol(), messages, (code, data[2:].decode())
            messages.append(data.decode())
        raise AssertionError(f"no close after {messages}")  # pragma: no cover
    finally:
        # Having answered the server's close, websocket-client's close()
        # returns at once and leaves the socket open: shutdown() closes it,
        # else the server waits close_timeout for the TCP connection to end.
        ws.close()
        ws.shutdown()


async def websocket_client_refusal(
    websocket: ModuleType, url: str, **kwargs: Any
) -> Any:
    """Connect with websocket-client to a URL that refuses; return the error."""

    def refused() -> Any:
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            websocket.create_connection(url, timeout=TIMEOUT, **kwargs)
        return info.value

    return await asyncio.to_thread(refused)


async def run_node(
    node: str,
    url: str,
    subprotocols: Sequence[str] = (),
    send: Sequence[str] = (),
    follow_redirects: bool = False,
) -> list[dict[str, Any]]:
    """Run tests/clients/ws_client.js; return the events it printed."""
    arguments = [*subprotocols]
    for message in send:
        arguments += ["--send", message]
    env = {
        **os.environ,
        "WS_CLIENT_TIMEOUT_MS": str(TIMEOUT * 1000),
        "WS_CLIENT_FOLLOW_REDIRECTS": "1" if follow_redirects else "0",
    }
    process = await asyncio.create_subprocess_exec(
        node,
        str(WS_CLIENT),
        url,
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT + 5)
    except TimeoutError:  # pragma: no cover - the script times out first
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, (stdout + stderr).decode()
    return [json.loads(line) for line in stdout.decode().splitlines()]


def response_of(events: list[dict[str, Any]]) -> tuple[int, str, str | None]:
    """The status, body and Location of node's only event, an unexpected response."""
    [event] = events
    assert event["event"] == "unexpected-response"
    return event["status"], event["body"], event["headers"].get("location")


async def chromium_talk(
    page: Any, url: str, protocols: Sequence[str], message: str | None = None
) -> list[dict[str, Any]]:
    """Open a WebSocket from the page; return the events the page saw."""
    events: list[dict[str, Any]] = await page.evaluate(
        "([url, protocols, message]) => talk(url, protocols, message)",
        [url, list(protocols), message],
    )
    return events


async def chromium_failure(
    page: Any, url: str, protocols: Sequence[str]
) -> tuple[list[dict[str, Any]], str]:
    """Open a WebSocket that fails; return the page's events and Chromium's reason.

    A page learns nothing of why a WebSocket failed; Chromium writes the
    reason to the console.

    """

    def failed(message: Any) -> bool:
        return bool(message.type == "error" and "WebSocket connection" in message.text)

    async with page.expect_console_message(failed) as console:
        events = await chromium_talk(page, url, protocols)
    return events, (await console.value).text


FAILED = [{"event": "error"}, {"event": "close", "code": 1006, "reason": ""}]


# Subprotocols under router.serve().


def session_of(aiohttp: ModuleType) -> Any:
    """An aiohttp client session whose requests end within the timeout."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))


def ws_timeout(aiohttp: ModuleType) -> Any:
    """aiohttp's WebSocket timeouts: closing ends within the timeout."""
    return aiohttp.ClientWSTimeout(ws_receive=TIMEOUT, ws_close=TIMEOUT)


async def test_websocket_client_subprotocol(
    websocket_client: ModuleType, server: Server
) -> None:
    """websocket-client offering chat.v1 gets chat.v1 and talks on it."""
    subprotocol, messages, close = await asyncio.to_thread(
        websocket_client_talk,
        websocket_client,
        url_of(server, "/chat"),
        send=["hello chat"],
        subprotocols=["chat.v1"],
    )
    assert subprotocol == "chat.v1"
    assert messages == ["subprotocol: chat.v1", "hello chat"]
    assert close == (1000, "")


async def test_websocket_client_unmatched_subprotocol(
    websocket_client: ModuleType, server: Server
) -> None:
    """websocket-client offering another subprotocol gets HTTP 400 listing ours."""
    error = await websocket_client_refusal(
        websocket_client, url_of(server, "/chat"), subprotocols=["other"]
    )
    assert error.status_code == 400
    assert error.resp_body == CHAT_REFUSED.encode()


async def test_websocket_client_subprotocol_on_route_without_any(
    websocket_client: ModuleType, server: Server
) -> None:
    """websocket-client offering a subprotocol to a route with none gets HTTP 400."""
    error = await websocket_client_refusal(
        websocket_client, url_of(server, "/echo"), subprotocols=["other"]
    )
    assert error.status_code == 400
    assert error.resp_body == NONE_SUPPORTED.encode()


async def test_aiohttp_subprotocol(aiohttp: ModuleType, server: Server) -> None:
    """aiohttp offering chat.v1 gets chat.v1 and talks on it."""
    async with session_of(aiohttp) as session:
        async with session.ws_connect(
            url_of(server, "/chat"), protocols=["chat.v1"], timeout=ws_timeout(aiohttp)
        ) as ws:
            assert ws.protocol == "chat.v1"
            assert await ws.receive_str(timeout=TIMEOUT) == "subprotocol: chat.v1"
            await ws.send_str("hello chat")
            assert await ws.receive_str(timeout=TIMEOUT) == "hello chat"
            message = await ws.receive(timeout=TIMEOUT)
    assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 1000)


async def test_aiohttp_unmatched_subprotocol(
    aiohttp: ModuleType, server: Server
) -> None:
    """aiohttp offering another subprotocol gets HTTP 400."""
    async with session_of(aiohttp) as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(
                url_of(server, "/chat"),
                protocols=["other"],
                timeout=ws_timeout(aiohttp),
            )
    assert info.value.status == 400
    assert info.value.headers["Content-Length"] == str(len(CHAT_REFUSED))


async def test_aiohttp_subprotocol_on_route_without_any(
    aiohttp: ModuleType, server: Server
) -> None:
    """aiohttp offering a subprotocol to a route with none gets HTTP 400."""
    async with session_of(aiohttp) as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(
                url_of(server, "/echo"),
                protocols=["other"],
                timeout=ws_timeout(aiohttp),
            )
    assert info.value.status == 400
    assert info.value.headers["Content-Length"] == str(len(NONE_SUPPORTED))


async def test_node_ws_subprotocol(node: str, server: Server) -> None:
    """node's ws offering chat.v1 gets chat.v1 and talks on it."""
    events = await run_node(
        node, url_of(server, "/chat"), ["chat.v1"], send=["hello chat"]
    )
    assert events == [
        {"event": "open", "protocol": "chat.v1"},
        {"event": "message", "data": "subprotocol: chat.v1", "binary": False},
        {"event": "message", "data": "hello chat", "binary": False},
        {"event": "close", "code": 1000, "reason": ""},
    ]


async def test_node_ws_unmatched_subprotocol(node: str, server: Server) -> None:
    """node's ws offering another subprotocol gets HTTP 400 listing ours."""
    events = await run_node(node, url_of(server, "/chat"), ["other"])
    assert response_of(events) == (400, CHAT_REFUSED, None)


async def test_node_ws_subprotocol_on_route_without_any(
    node: str, server: Server
) -> None:
    """node's ws offering a subprotocol to a route with none gets HTTP 400."""
    events = await run_node(node, url_of(server, "/echo"), ["other"])
    assert response_of(events) == (400, NONE_SUPPORTED, None)


async def test_chromium_subprotocol_and_plain_route(page: Any) -> None:
    """Chromium's page talks on /chat with chat.v1 and on /echo with none."""
    await page.wait_for_function("() => window.results !== null")
    results = await page.evaluate("() => window.results")
    assert results["chat"] == [
        {"event": "open", "protocol": "chat.v1"},
        {"event": "message", "data": "subprotocol: chat.v1"},
        {"event": "message", "data": "hello chat"},
        {"event": "close", "code": 1000, "reason": ""},
    ]
    assert results["echo"] == [
        {"event": "open", "protocol": ""},
        {"event": "message", "data": "hello echo"},
        {"event": "close", "code": 1000, "reason": ""},
    ]


async def test_chromium_unmatched_subprotocol(page: Any, server: Server) -> None:
    """Chromium offering another subprotocol fails on our HTTP 400 with 1006."""
    events, reason = await chromium_failure(page, url_of(server, "/chat"), ["other"])
    assert events == FAILED
    assert reason.endswith("Unexpected response code: 400")


async def test_chromium_subprotocol_on_route_without_any(
    page: Any, server: Server
) -> None:
    """Chromium offering a subprotocol to a route with none fails on HTTP 400."""
    events, reason = await chromium_failure(page, url_of(server, "/echo"), ["other"])
    assert events == FAILED
    assert reason.endswith("Unexpected response code: 400")


async def test_chromium_fails_when_no_subprotocol_is_selected(
    page: Any, server: Server
) -> None:
    """With allow_unmatched_subprotocols, Chromium fails where websockets connects.

    The server accepts the offer of ``other`` and selects no subprotocol:
    Chromium fails such a connection (1006), which is why routes refuse an
    unmatched offer with HTTP 400 by default; websockets' own client accepts
    it and gets no subprotocol.

    """
    events, reason = await chromium_failure(page, url_of(server, "/loose"), ["other"])
    assert events == FAILED
    assert reason.endswith(
        "Sent non-empty 'Sec-WebSocket-Protocol' header but no response was received"
    )
    async with connect(url_of(server, "/loose"), subprotocols=["other"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol is None
        assert await ws.recv() == "subprotocol: None"


# Redirects.


async def test_websocket_client_follows_absolute_redirect(
    websocket_client: ModuleType, server: Server
) -> None:
    """websocket-client follows an absolute ws:// Location to the new route."""
    subprotocol, messages, close = await asyncio.to_thread(
        websocket_client_talk, websocket_client, url_of(server, "/old")
    )
    assert (subprotocol, messages, close) == (None, ["this is /new"], (1000, ""))


async def test_websocket_client_cannot_follow_relative_redirect(
    websocket_client: ModuleType, server: Server
) -> None:
    """websocket-client fails on a relative Location: it takes /new for a URL.

    create_connection() connects to the Location as it is, and ``/new`` is
    no ws:// URL: websocket-client 1.9.2 raises WebSocketException("Invalid
    redirect target '/new': url is invalid"), 1.9.0 and older a bare
    ValueError("url is invalid"). That is why redirect() has ``absolute=``.

    """

    def follow() -> Any:
        errors = (websocket_client.WebSocketException, ValueError)
        with pytest.raises(errors, match="url is invalid") as info:
            websocket_client.create_connection(
                url_of(server, "/moved"), timeout=TIMEOUT
            )
        return info.value

    error = await asyncio.to_thread(follow)
    assert not isinstance(error, websocket_client.WebSocketBadStatusException)


async def test_aiohttp_refuses_absolute_ws_redirect(
    aiohttp: ModuleType, server: Server
) -> None:
    """aiohttp refuses to follow an absolute ws:// Location: not an http URL.

    aiohttp connects over http:// and follows only http(s) or relative
    Locations, so ``absolute=True`` breaks it where it helps websocket-client.

    """
    location = url_of(server, "/new")
    async with session_of(aiohttp) as session:
        with pytest.raises(aiohttp.NonHttpUrlRedirectClientError) as info:
            await session.ws_connect(
                url_of(server, "/old"), timeout=ws_timeout(aiohttp)
            )
    assert str(info.value) == location


async def test_aiohttp_follows_relative_redirect(
    aiohttp: ModuleType, server: Server
) -> None:
    """aiohttp follows a relative Location to the new route."""
    async with session_of(aiohttp) as session:
        async with session.ws_connect(
            url_of(server, "/moved"), timeout=ws_timeout(aiohttp)
        ) as ws:
            assert await ws.receive_str(timeout=TIMEOUT) == "this is /new"


async def test_node_ws_redirects(node: str, server: Server) -> None:
    """node's ws reports a redirect by default, and follows either kind if asked."""
    events = await run_node(node, url_of(server, "/old"))
    assert response_of(events) == (
        308,
        f"Redirecting to {url_of(server, '/new')}\n",
        url_of(server, "/new"),
    )
    for path in ("/old", "/moved"):
        events = await run_node(node, url_of(server, path), follow_redirects=True)
        assert events == [
            {"event": "open", "protocol": ""},
            {"event": "message", "data": "this is /new", "binary": False},
            {"event": "close", "code": 1000, "reason": ""},
        ]


async def test_chromium_does_not_follow_redirects(page: Any, server: Server) -> None:
    """Chromium follows no WebSocket redirect, absolute or not: it fails with 1006."""
    for path in ("/old", "/moved"):
        events, reason = await chromium_failure(page, url_of(server, path), [])
        assert events == FAILED
        assert reason.endswith("Unexpected response code: 308")


# A str body from process_request.


async def test_aiohttp_sees_text_content_type(
    aiohttp: ModuleType, server: Server
) -> None:
    """A str body from process_request reaches aiohttp as UTF-8 text, with a length."""
    body = b"no such item\n"
    async with session_of(aiohttp) as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(
                url_of(server, "/item/1"), timeout=ws_timeout(aiohttp)
            )
        # The refusal carries no body: a plain GET reads it.
        http_url = url_of(server, "/item/1").replace("ws:", "http:")
        async with session.get(http_url) as response:
            assert response.status == 404
            assert await response.read() == body
    assert info.value.status == 404
    assert info.value.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert info.value.headers["Content-Length"] == str(len(body))


async def test_websocket_client_sees_text_content_type(
    websocket_client: ModuleType, server: Server
) -> None:
    """A str body from process_request reaches websocket-client with its type."""
    error = await websocket_client_refusal(websocket_client, url_of(server, "/item/1"))
    assert error.status_code == 404
    assert error.resp_body == b"no such item\n"
    assert error.resp_headers["content-type"] == "text/plain; charset=utf-8"
    assert error.resp_headers["content-length"] == str(len(error.resp_body))


# require_subprotocol under router.handle, which cannot negotiate.


async def test_websockets_required_subprotocol_under_handle(
    handle_server: Server,
) -> None:
    """websockets' client offering v1 under router.handle connects, then gets 4400."""
    url = url_of(handle_server, "/required")
    async with connect(url, subprotocols=["v1"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol is None
        await ws.wait_closed()
        close = ws.protocol.close_rcvd
    assert close is not None and (close.code, close.reason) == (4400, MISSING)
    assert await closed_with(url) == (4400, MISSING)


async def test_node_ws_required_subprotocol_under_handle(
    node: str, handle_server: Server
) -> None:
    """node's ws offering v1 under router.handle fails the handshake: none selected.

    The 101 answer selects no subprotocol, so ws fails the connection
    itself ("Server sent no subprotocol") before the server can close it
    with 4400; only a client that offers nothing sees the 4400.

    """
    url = url_of(handle_server, "/required")
    assert await run_node(node, url, ["v1"]) == [
        {"event": "error", "message": "Server sent no subprotocol"},
        {"event": "close", "code": 1006, "reason": ""},
    ]
    assert await run_node(node, url) == [
        {"event": "open", "protocol": ""},
        {"event": "close", "code": 4400, "reason": MISSING},
    ]


async def test_websocket_client_required_subprotocol_under_handle(
    websocket_client: ModuleType, handle_server: Server
) -> None:
    """websocket-client offering v1 under router.handle fails: none selected.

    The 101 answer selects no subprotocol, so websocket-client raises
    WebSocketException("Invalid WebSocket Header"); offering nothing, it
    connects and gets the 4400 close.

    """
    url = url_of(handle_server, "/required")

    def offer() -> Any:
        with pytest.raises(websocket_client.WebSocketException) as info:
            websocket_client.create_connection(
                url, timeout=TIMEOUT, subprotocols=["v1"]
            )
        return info.value

    error = await asyncio.to_thread(offer)
    assert str(error) == "Invalid WebSocket Header"
    talk = await asyncio.to_thread(websocket_client_talk, websocket_client, url)
    assert talk == (None, [], (4400, MISSING))


async def test_aiohttp_required_subprotocol_under_handle(
    aiohttp: ModuleType, handle_server: Server
) -> None:
    """aiohttp offering v1 under router.handle connects with none, then gets 4400."""
    async with session_of(aiohttp) as session:
        async with session.ws_connect(
            url_of(handle_server, "/required"),
            protocols=["v1"],
            timeout=ws_timeout(aiohttp),
        ) as ws:
            assert ws.protocol is None
            message = await ws.receive(timeout=TIMEOUT)
    assert (message.type, message.data, message.extra) == (
        aiohttp.WSMsgType.CLOSE,
        4400,
        MISSING,
    )


async def test_chromium_required_subprotocol_under_handle(
    page: Any, handle_server: Server
) -> None:
    """Chromium offering v1 under router.handle fails; offering none, gets 4400."""
    url = url_of(handle_server, "/required")
    events, reason = await chromium_failure(page, url, ["v1"])
    assert events == FAILED
    assert reason.endswith(
        "Sent non-empty 'Sec-WebSocket-Protocol' header but no response was received"
    )
    assert await chromium_talk(page, url, []) == [
        {"event": "open", "protocol": ""},
        {"event": "close", "code": 4400, "reason": MISSING},
    ]


def test_need_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing client fails its test under CI instead of skipping it."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run"):
        need(False, "nothing is installed")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="nothing is installed"):
        need(False, "nothing is installed")
