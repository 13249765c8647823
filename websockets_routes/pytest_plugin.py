"""The pytest plugin: the ``routes_client`` fixture.

Installing websockets-routes registers this module as a pytest plugin (the
``pytest11`` entry point ``websockets_routes``): the fixture is available in
every test without a ``conftest.py``. ``-p no:websockets_routes`` turns it
off.

The fixture is :func:`websockets_routes.testing.connect`: a factory of async
context managers, which run in the test's own event loop. It needs no event
loop fixture and works with pytest-asyncio in ``auto`` and ``strict`` modes
(mark the test with ``@pytest.mark.asyncio`` in ``strict`` mode), and with
any runner of async tests.

Example::

    async def test_thing(routes_client):
        async with routes_client(router, "/thing/1") as ws:
            assert await ws.recv() == "1"

"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import TestConnection

__all__ = ["routes_client"]


@pytest.fixture
def routes_client() -> Callable[..., AbstractAsyncContextManager[TestConnection]]:
    """:func:`websockets_routes.testing.connect`, as a fixture.

    Example::

        async def test_refused(routes_client):
            with pytest.raises(InvalidStatus) as info:
                async with routes_client(router, "/nowhere"):
                    pass
            assert info.value.response.status_code == 404

    """
    # Imported here, not when pytest loads the plugin, so that pytest starts
    # without importing the package (and coverage sees its import).
    from . import testing

    return testing.connect
