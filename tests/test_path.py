"""Tests for RoutedPath."""

from __future__ import annotations

import pytest

from websockets_routes import RoutedPath


def test_equals_raw_path() -> None:
    """A RoutedPath is a str equal to the raw request path, query included."""
    path = RoutedPath("/thing/caf%C3%A9?x=1", {"id": "café"}, "thing")
    assert path == "/thing/caf%C3%A9?x=1"
    assert isinstance(path, str)
    assert path.params == {"id": "café"}
    assert path.name == "thing"


def test_query() -> None:
    """The query maps each name to the list of its values, blank values kept."""
    path = RoutedPath("/t?a=1&b=&a=2&c&d=caf%C3%A9")
    assert dict(path.query) == {"a": ["1", "2"], "b": [""], "c": [""], "d": ["café"]}


def test_query_is_read_only() -> None:
    """The query mapping cannot be changed."""
    path = RoutedPath("/t?a=1")
    with pytest.raises(TypeError):
        path.query["a"] = ["2"]  # type: ignore[index]


def test_no_query() -> None:
    """A path without a query string has an empty query."""
    assert dict(RoutedPath("/t").query) == {}


def test_context_and_defaults() -> None:
    """A new RoutedPath has empty params and context of its own."""
    one, two = RoutedPath("/t"), RoutedPath("/t")
    one.context["x"] = 1
    assert one.params == {} and two.context == {} and one.name is None


def test_params_and_name_need_no_dict() -> None:
    """A RoutedPath holds params and name in slots, with no dict until one is used."""
    path = RoutedPath("/t?a=1", {"id": "1"}, "thing")
    assert path.params == {"id": "1"} and path.name == "thing"
    assert "__dict__" in RoutedPath.__slots__ and not vars(path)
    assert path.query["a"] == ["1"] and path.method == "GET"
    assert set(vars(path)) == {"query"}
