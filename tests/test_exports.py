"""Tests for the public API's exports."""

from __future__ import annotations

import websockets_routes
from websockets_routes import converters, exceptions, path, router, server, table


def test_all_names_exist() -> None:
    """Every name in __all__ is defined."""
    for name in websockets_routes.__all__:
        assert hasattr(websockets_routes, name), name


def test_submodule_exports_are_reexported() -> None:
    """The top-level __all__ re-exports the public classes of the submodules."""
    expected = set(exceptions.__all__) | set(path.__all__) | {"Router", "Dispatch"}
    expected |= {"Protocol", "NOT_FOUND", "BAD_REQUEST", "Route", "Converter"}
    assert expected <= set(websockets_routes.__all__)
    for module in (converters, exceptions, path, router, server, table):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
