"""Tests for the public API's exports."""

from __future__ import annotations

import websockets_routes
from websockets_routes import converters, exceptions, path, router, server, table


def test_all_names_exist() -> None:
    """Every name in __all__ is defined."""
    for name in websockets_routes.__all__:
        assert hasattr(websockets_routes, name), name


def test_import_does_not_import_redis() -> None:
    """import websockets_routes leaves redis-py unimported until a RedisHub is made."""
    import subprocess
    import sys

    code = "import sys, websockets_routes; assert 'redis' not in sys.modules"
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_submodule_exports_are_reexported() -> None:
    """The top-level __all__ re-exports the public classes of the submodules."""
    expected = set(exceptions.__all__) | set(path.__all__) | {"Router", "Dispatch"}
    expected |= {"Protocol", "NOT_FOUND", "BAD_REQUEST", "Route", "Converter"}
    expected |= {"Hub", "HubUnavailable"}
    assert expected <= set(websockets_routes.__all__)
    for module in (converters, exceptions, path, router, server, table):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
