"""The demo's router, examples/server.py, tested in-process with the test client.

``test_examples.py`` runs the demo as a program; these tests import its
router and test it as users test theirs, with ``websockets_routes.testing``.

"""

from __future__ import annotations

import importlib.util
import pathlib
from types import ModuleType

import pytest
from websockets.exceptions import InvalidStatus

from websockets_routes.testing import connect, serve

DEMO = pathlib.Path(__file__).parent.parent / "examples" / "server.py"


def load_demo() -> ModuleType:
    """Import examples/server.py, which is no module of a package."""
    spec = importlib.util.spec_from_file_location("demo_server", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = load_demo()


async def test_demo_echo() -> None:
    """The demo's /echo route sends every message back."""
    async with connect(demo.router, "/echo") as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"


async def test_demo_chat_redirects_to_lobby() -> None:
    """The demo's /chat answers 302 to /rooms/lobby, which a client may follow."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(demo.router, "/chat"):
            pass  # pragma: no cover
    assert info.value.response.status_code == 302
    assert info.value.response.headers["Location"] == "/rooms/lobby"
    async with connect(demo.router, "/chat", follow_redirects=True) as ws:
        assert await ws.recv() == "guest joined"


async def test_demo_room_relays_messages() -> None:
    """Messages in a demo room reach everyone in it."""
    async with serve(demo.router) as client:
        async with client.connect("/rooms/kitchen?user=alice") as alice:
            assert await alice.recv() == "alice joined"
            async with client.connect("/rooms/kitchen?user=bob") as bob:
                assert await alice.recv() == "bob joined"
                assert await bob.recv() == "bob joined"
                await bob.send("hi")
                assert await alice.recv() == "bob: hi"
                assert await bob.recv() == "bob: hi"
            assert await alice.recv() == "bob left"
