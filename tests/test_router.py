"""Tests for the router: registration and matching, with no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from websockets_routes import (
    Converter,
    DuplicateRouteName,
    InvalidPath,
    InvalidRoute,
    RoutedPath,
    RouteNotFound,
    Router,
    ViewFailed,
)


async def handler(ws: Any, path: RoutedPath) -> None:
    pass  # pragma: no cover


class View:
    async def handle(self, ws: Any, path: RoutedPath) -> None:
        pass  # pragma: no cover


def test_route_returns_endpoint_unchanged() -> None:
    """The decorator returns the function or class it registers."""
    router = Router()
    assert router.route("/f")(handler) is handler
    assert router.route("/c")(View) is View


def test_match() -> None:
    """match() returns a RoutedPath with params and name, or None."""
    router = Router()
    router.route("/thing/{id}", name="thing")(handler)
    path = router.match("/thing/123?x=1")
    assert isinstance(path, RoutedPath)
    assert path == "/thing/123?x=1"
    assert path.params == {"id": "123"}
    assert path.name == "thing"
    assert dict(path.query) == {"x": ["1"]}
    assert router.match("/other") is None


def test_match_invalid_path() -> None:
    """match() raises InvalidPath for escapes that are not valid UTF-8."""
    router = Router()
    router.route("/thing/{id}")(handler)
    with pytest.raises(InvalidPath):
        router.match("/thing/%ff")


def test_resolve_opens_a_view_per_connection() -> None:
    """A class view is instantiated once per resolve; a function view is shared."""
    router = Router()
    router.route("/c")(View)
    router.route("/f")(handler)
    one, two = router.resolve("/c"), router.resolve("/c")
    assert one is not None and two is not None
    assert isinstance(one.view, View) and one.view is not two.view
    assert one.path.context is not two.path.context
    f = router.resolve("/f")
    assert f is not None and f.view.handle is handler
    assert router.resolve("/nothing") is None


def test_routes_in_match_order() -> None:
    """router.routes lists the routes in the order they are tried."""
    router = Router()
    router.route("/{x}")(handler)
    router.route("/a/b", name="ab")(handler)
    assert [(r.pattern, r.name, r.kind) for r in router.routes] == [
        ("/a/b", "ab", "websocket"),
        ("/{x}", None, "websocket"),
    ]


def test_defaults() -> None:
    """Defaults are added to the parameters the pattern captures."""
    router = Router()
    router.route("/clock", defaults={"tz": "UTC"})(handler)
    path = router.match("/clock")
    assert path is not None and path.params == {"tz": "UTC"}


def test_pattern_must_start_with_slash() -> None:
    """A pattern that does not start with / is rejected at registration."""
    with pytest.raises(InvalidRoute, match="pattern must start with /: 'thing'"):
        Router().route("thing")(handler)


def test_duplicate_name() -> None:
    """A second route with the same name is rejected at registration."""
    router = Router()
    router.route("/a", name="thing_detail")(handler)
    with pytest.raises(
        DuplicateRouteName, match="duplicate route name: 'thing_detail'"
    ):
        router.route("/b", name="thing_detail")(handler)
    assert router.match("/b") is None


def test_duplicate_pattern() -> None:
    """A second route with the same pattern is rejected: it could never match."""
    router = Router()
    router.route("/a/{x}")(handler)
    with pytest.raises(InvalidRoute, match=r"duplicate route pattern: '/a/\{x\}'"):
        router.route("/a/{x}")(View)


def sync_function(ws: Any, path: Any) -> None:
    pass  # pragma: no cover


class SyncHandle:
    def handle(self, ws: Any, path: Any) -> None:
        pass  # pragma: no cover


class NeedsArguments:
    def __init__(self, db: Any) -> None:
        pass  # pragma: no cover


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (sync_function, "view must be a coroutine function or a class"),
        (View(), "view must be a coroutine function or a class"),
        ("handler", "view must be a coroutine function or a class"),
        (SyncHandle, "handle must be a coroutine function"),
        (NeedsArguments, "view class must take no arguments"),
    ],
)
def test_invalid_view(endpoint: Any, message: str) -> None:
    """What is neither a coroutine function nor a fit class is rejected."""
    with pytest.raises(InvalidRoute, match=message):
        Router().route("/x")(endpoint)


def test_class_without_handle_or_hook() -> None:
    """A class with neither handle nor process_request is a valid view."""

    class Empty:
        pass

    router = Router()
    router.route("/e")(Empty)
    assert router.resolve("/e") is not None


def test_custom_converter() -> None:
    """Router(converters=...) adds converters; classes are instantiated."""

    class Upper(Converter):
        regex = "[a-z]+"

        def to_python(self, value: str) -> str:
            return value.upper()

    router = Router(converters={"upper": Upper})
    router.route("/u/{name:upper}")(handler)
    path = router.match("/u/abc")
    assert path is not None and path.params == {"name": "ABC"}


@pytest.mark.parametrize(
    ("converters", "message"),
    [
        ({"not a name": Converter()}, "converter name must be an identifier"),
        ({"x": int}, "converter must be a Converter"),
    ],
)
def test_invalid_converter(converters: Any, message: str) -> None:
    """A bad converter is rejected when the router is created."""
    with pytest.raises(InvalidRoute, match=message):
        Router(converters=converters)


def make_api() -> Router:
    """A sub-router with a name, a converter and a hook."""
    api = Router(converters={"upper": type("Upper", (Converter,), {"regex": "[A-Z]+"})})

    @api.route("/items/{id:int}", name="item")
    class Item:
        async def process_request(self, path: RoutedPath, headers: Any) -> None:
            path.context["hooked"] = True

    api.route("/codes/{code:upper}", name="code")(handler)
    return api


def test_include() -> None:
    """include() mounts routes under a prefix; names and url_for follow."""
    router = Router()
    router.route("/items/{id}", name="top")(handler)
    router.include(make_api(), prefix="/api")
    found = router.match("/api/items/7")
    assert found is not None and (found.name, found.params) == ("item", {"id": 7})
    assert router.url_for("item", id=7) == "/api/items/7"
    assert router.url_for("code", code="AB") == "/api/codes/AB"
    assert router.match("/api/codes/ab") is None
    dispatch = router.resolve("/api/items/1")
    assert dispatch is not None and type(dispatch.view).__name__ == "Item"


def test_include_name_clash() -> None:
    """A name clash fails at include time, and nothing is included."""
    router = Router()
    router.route("/x", name="item")(handler)
    with pytest.raises(DuplicateRouteName, match="duplicate route name: 'item'"):
        router.include(make_api(), prefix="/api")
    assert router.match("/api/codes/AB") is None


@pytest.mark.parametrize("prefix", ["api", "/api/"])
def test_include_bad_prefix(prefix: str) -> None:
    """A prefix must start with / and not end with /."""
    with pytest.raises(
        InvalidRoute, match="prefix must start with / and not end with /"
    ):
        Router().include(make_api(), prefix=prefix)


def test_default_for_captured_parameter() -> None:
    """A default for a parameter the pattern captures is rejected."""
    with pytest.raises(InvalidRoute, match="default for a captured parameter: 'id'"):
        Router().route("/t/{id}", defaults={"id": "1"})(handler)


def test_unknown_converter() -> None:
    """An unknown converter is rejected at registration."""
    with pytest.raises(InvalidRoute, match=r"unknown converter in pattern"):
        Router().route("/d/{d:date}")(handler)


def test_dispatch_raises_each_refusal() -> None:
    """dispatch() raises RouteNotFound, InvalidPath or ViewFailed with its cause."""
    router = Router()
    router.route("/thing/{id}")(handler)

    @router.route("/broken")
    class Broken:
        def __init__(self) -> None:
            raise RuntimeError("init bug")

    assert router.dispatch("/thing/1").path.params == {"id": "1"}
    with pytest.raises(RouteNotFound, match="no route for path: /nothing"):
        router.dispatch("/nothing")
    with pytest.raises(InvalidPath):
        router.dispatch("/thing/%ff")
    with pytest.raises(ViewFailed, match="routing failed: /broken") as info:
        router.dispatch("/broken")
    assert isinstance(info.value.__cause__, RuntimeError)
