"""The demo in real headless Chromium: chat, presence, rooms and a restart.

The demo runs as its users run it, ``python -m websockets_routes demo``, in
a subprocess, so that the test can kill it as a crash would and start it
again on the same port. Chromium is
``/usr/bin/chromium`` or the ``CHROMIUM`` environment variable, driven by
Playwright's Python client; without either, the test is skipped, except
when the ``CI`` environment variable is set: then it fails.

The test saves a screenshot of the page; ``DEMO_SCREENSHOT=docs/demo.png``
writes it where the README shows it.

"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import pathlib
import re
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import pytest

from support import CHROMIUM, CHROMIUM_ARGS, need

#: Seconds any one step may take: load a page, see a message, start a server.
TIMEOUT = 10
#: Seconds the pages may take to reconnect once the server is back: the
#: backoff reaches 5 s at most, with 25 % of jitter.
RECONNECT = 12

#: What the demo command prints once it listens.
LISTENING = re.compile(r"open http://127\.0\.0\.1:(\d+)/")


def playwright_api() -> ModuleType:
    """Playwright's async API, or skip (fail under CI) without it."""
    need(os.access(CHROMIUM, os.X_OK), f"Chromium is not installed at {CHROMIUM}")
    try:
        return importlib.import_module("playwright.async_api")
    except ImportError:
        need(False, "playwright is not installed")
        raise  # pragma: no cover - need() does not return here


class DemoServer:
    """The demo in a subprocess, which the test may kill and start again."""

    def __init__(self, *options: str) -> None:
        self.options = options
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the server, on the port it had before if any; wait until it listens."""
        self.process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "websockets_routes", "demo"),
            *("--host", "127.0.0.1", "--port", str(self.port), *self.options),
            stdout=asyncio.subprocess.PIPE,
        )
        self.port = int(await asyncio.wait_for(self.listening(), TIMEOUT))

    async def listening(self) -> str:
        """Read the command's output until it says where it listens; the port."""
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            match = LISTENING.search(line.decode())
            if match is not None:
                return match[1]
        pytest.fail("the demo exited before it listened")

    async def kill(self) -> None:
        """Kill the server, as a crash would."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def url(self, path: str = "/") -> str:
        """The http:// URL of a path."""
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def demo() -> AsyncIterator[DemoServer]:
    """The demo server, in a subprocess."""
    server = DemoServer()
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


@pytest.fixture
async def browser(tmp_path: pathlib.Path) -> AsyncIterator[Any]:
    """A Chromium context with a new, empty profile."""
    async_api = playwright_api()
    async with async_api.async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=TIMEOUT * 1000,
            viewport={"width": 900, "height": 600},
        )
        try:
            context.set_default_timeout(TIMEOUT * 1000)
            yield context
        finally:
            await context.close()


async def open_page(browser: Any, url: str) -> Any:
    """Open a page of the demo."""
    page = await browser.new_page()
    response = await page.goto(url)
    assert response is not None and response.status == 200
    return page


async def join(page: Any, name: str, room: str) -> None:
    """Join a room with the form; wait until connected."""
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Room", exact=True).fill(room)
    await page.get_by_role("button", name="Join").click()
    await connected(page)


async def connected(page: Any, timeout: float = TIMEOUT) -> None:
    """Wait until the page says it is connected."""
    await expect(page.locator("#status")).to_have_attribute(
        "data-state", "connected", timeout=timeout * 1000
    )


async def say(page: Any, text: str) -> None:
    """Type a message and send it with the form."""
    await page.get_by_label("Message", exact=True).fill(text)
    await page.get_by_role("button", name="Send").click()


def expect(locator: Any) -> Any:
    """Playwright's assertions on a locator, which retry until they time out."""
    return importlib.import_module("playwright.async_api").expect(locator)


async def members(page: Any) -> list[str]:
    """The names in the page's list of members."""
    names: list[str] = await page.locator("#members li").all_text_contents()
    return names


async def test_chat_in_chromium(
    demo: DemoServer, browser: Any, tmp_path: pathlib.Path
) -> None:
    """Pages in a room chat, other rooms see nothing, a restart is survived."""
    carol = await open_page(browser, demo.url())
    await join(carol, "<i>carol</i>", "cellar")
    alice = await open_page(browser, demo.url())
    await join(alice, "alice", "kitchen")
    # A link with a name and a room fills the form and joins.
    bob = await open_page(browser, demo.url("/?name=bob&room=kitchen"))
    await connected(bob)
    assert await bob.get_by_label("Name", exact=True).input_value() == "bob"

    await expect(alice.locator("#members li")).to_have_text(["alice (you)", "bob"])
    await expect(bob.locator("#members li")).to_have_text(["alice", "bob (you)"])
    await expect(alice.locator("#messages")).to_contain_text("bob joined")

    await say(alice, "hello <b>bob</b> & all")
    await say(bob, "hi alice")
    for page in (alice, bob):
        messages = page.locator("#messages li:not(.notice)")
        await expect(messages).to_contain_text(
            ["alice: hello <b>bob</b> & all", "bob: hi alice"]
        )
        # User text is text, never markup.
        assert await page.locator("#messages b").count() == 0

    # Carol, in another room, saw neither the messages nor the presence.
    assert await members(carol) == ["<i>carol</i> (you)"]
    assert await carol.locator("#messages li").all_text_contents() == []
    assert await carol.locator("#members i").count() == 0

    screenshot = pathlib.Path(os.environ.get("DEMO_SCREENSHOT", tmp_path / "demo.png"))
    await alice.screenshot(path=str(screenshot))

    # The server crashes and comes back on the same port: the pages reconnect.
    await demo.kill()
    await expect(alice.locator("#status")).to_have_attribute(
        "data-state", "reconnecting"
    )
    await expect(alice.get_by_role("button", name="Send")).to_be_disabled()
    await demo.start()
    for page in (alice, bob, carol):
        await connected(page, timeout=RECONNECT)
    await expect(alice.locator("#members li")).to_have_text(["alice (you)", "bob"])
    await expect(bob.locator("#members li")).to_have_text(["alice", "bob (you)"])
    await say(bob, "still here")
    await expect(alice.locator("#messages")).to_contain_text("bob: still here")
    assert await carol.locator("#messages li:not(.notice)").count() == 0


async def test_phone_screen_and_binary_frame(demo: DemoServer, browser: Any) -> None:
    """The page works 375 px wide; a binary frame is refused and shown as such."""
    page = await open_page(browser, demo.url())
    await page.set_viewport_size({"width": 375, "height": 667})
    await join(page, "dana", "lobby")
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375
    send = page.get_by_role("button", name="Send")
    await expect(send).to_be_in_viewport()
    await say(page, "from a phone")
    await expect(page.locator("#messages")).to_contain_text("dana: from a phone")

    # The page never sends binary frames; one sent anyway closes with 1003.
    await page.evaluate("() => state.ws.send(new Uint8Array([1, 2, 3]))")
    await expect(page.locator("#messages")).to_contain_text(
        "connection closed: 1003 expected a text frame"
    )
    await connected(page, timeout=RECONNECT)
    await expect(page.locator("#members li")).to_have_text(["dana (you)"])


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The URL of a redis-server started for the test."""
    from hub.conftest import RedisServer

    executable = shutil.which("redis-server")
    need(executable is not None, "redis-server is not installed")
    need(importlib.util.find_spec("redis") is not None, "redis is not installed")
    assert executable is not None
    redis = RedisServer(executable)
    redis.start()
    try:
        yield redis.url
    finally:
        redis.stop()


async def test_rooms_across_processes_in_chromium(browser: Any, redis_url: str) -> None:
    """Pages served by two processes sharing Redis chat, and resume after a crash."""
    servers = [DemoServer("--redis", redis_url) for _ in range(2)]
    try:
        await asyncio.gather(*(server.start() for server in servers))
        alice = await open_page(browser, servers[0].url("/?name=alice&room=attic"))
        await connected(alice)
        bob = await open_page(browser, servers[1].url("/?name=bob&room=attic"))
        await connected(bob)
        await expect(alice.locator("#members li")).to_have_text(["alice (you)", "bob"])
        await expect(bob.locator("#members li")).to_have_text(["alice", "bob (you)"])
        await say(bob, "hello from the other process")
        await expect(alice.locator("#messages")).to_contain_text(
            "bob: hello from the other process"
        )
        await bob.close()
        await expect(alice.locator("#members li")).to_have_text(["alice (you)"])
        await expect(alice.locator("#messages")).to_contain_text("bob left")

        # Alice's server crashes; what Bob says meanwhile reaches her page
        # when it reconnects, from the room's history in Redis.
        bob = await open_page(browser, servers[1].url("/?name=bob&room=attic"))
        await connected(bob)
        await servers[0].kill()
        await expect(alice.locator("#status")).to_have_attribute(
            "data-state", "reconnecting"
        )
        await say(bob, "while you were away")
        await expect(bob.locator("#messages")).to_contain_text("while you were away")
        await servers[0].start()
        await connected(alice, timeout=RECONNECT)
        await expect(alice.locator("#messages")).to_contain_text(
            "bob: while you were away"
        )
        shown = await alice.locator("#messages li:not(.notice)").all_text_contents()
        # Each once: the time, then the name and the text.
        assert [text[text.index("bob: ") :] for text in shown] == [
            "bob: hello from the other process",
            "bob: while you were away",
        ]
    finally:
        for server in servers:
            await server.kill()
