"""Helpers for the tests: real servers on 127.0.0.1, real clients."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server
from websockets.exceptions import InvalidStatus


def url_of(server: Server, path: str = "/") -> str:
    """The ws:// URL of a path on a server listening on 127.0.0.1."""
    port = server.sockets[0].getsockname()[1]
    return f"ws://127.0.0.1:{port}{path}"


async def status_of(url: str, **kwargs: Any) -> InvalidStatus:
    """Connect to a URL that must refuse the handshake; return the refusal."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, **kwargs):
            pass  # pragma: no cover
    return info.value


async def closed_with(url: str) -> tuple[int | None, str | None]:
    """Connect, wait for the server to close, return the close code and reason."""
    async with connect(url) as ws:
        await ws.wait_closed()
        # close_code and close_reason appeared after websockets 14.
        close = ws.protocol.close_rcvd
        return (None, None) if close is None else (close.code, close.reason)


@contextlib.asynccontextmanager
async def serving(cm: Any) -> AsyncIterator[Server]:
    """Run a server from ``serve()`` for the duration of a block."""
    async with cm as server:
        yield server


async def http_get(
    server: Server | int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP GET to a server (or a port) with the standard library's client."""
    port = server if isinstance(server, int) else server.sockets[0].getsockname()[1]

    def get() -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    return await asyncio.to_thread(get)


#: Debian's Chromium, driven by Playwright's Python client in the tests.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: Chromium's flags here: headless, as root, and no calls to the outside.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def need(available: bool, reason: str) -> None:
    """Skip the test when something it needs is missing; fail it under CI.

    CI installs everything the tests need, so there a missing piece is an
    error, never a reason to skip.

    """
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run this test")
    pytest.skip(reason)
