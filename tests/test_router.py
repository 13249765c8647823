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


async def one_argument(ws: Any) -> None:
    pass  # pragma: no cover


async def with_extras(ws: Any, path: Any, *args: Any, flag: bool = False) -> None:
    pass  # pragma: no cover


async def star_args(*args: Any) -> None:
    pass  # pragma: no cover


class BoundHandler:
    async def handler(self, ws: Any, path: Any) -> None:
        pass  # pragma: no cover


class OneArgumentHandle:
    async def handle(self, ws: Any) -> None:
        pass  # pragma: no cover


class OneArgumentHook:
    def process_request(self, path: Any) -> None:
        pass  # pragma: no cover


class KeywordOnlyHook:
    def process_request(self, path: Any, *, headers: Any) -> None:
        pass  # pragma: no cover


class StaticAndClassMethods:
    @staticmethod
    async def handle(ws: Any, path: Any) -> None:
        pass  # pragma: no cover

    @classmethod
    def process_request(cls, path: Any, headers: Any) -> None:
        pass  # pragma: no cover


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (one_argument, r"handler must take \(ws, path\): <function one_argument"),
        (OneArgumentHandle, r"handle must take \(ws, path\): <class"),
        (OneArgumentHook, r"process_request must take \(path, headers\): <class"),
        (KeywordOnlyHook, r"process_request must take \(path, headers\): <class"),
    ],
)
def test_handler_signature_is_checked(endpoint: Any, message: str) -> None:
    """A handler or hook that cannot take its arguments fails at registration."""
    with pytest.raises(InvalidRoute, match=message):
        Router().route("/x")(endpoint)


@pytest.mark.parametrize(
    "endpoint",
    [with_extras, star_args, BoundHandler().handler, StaticAndClassMethods],
    ids=["extras", "star-args", "bound-method", "static-and-class-methods"],
)
def test_handler_signature_allows_extras(endpoint: Any) -> None:
    """*args, defaults, bound methods and static or class methods are accepted."""
    assert Router().route("/x")(endpoint) is endpoint


def test_http_endpoint_signature_is_checked() -> None:
    """An HTTP endpoint that cannot take (path, headers) fails at registration."""
    with pytest.raises(
        InvalidRoute, match=r"http endpoint must take \(path, headers\)"
    ):
        Router().http("/x")(one_argument)


def test_route_without_parentheses() -> None:
    """@router.route without parentheses fails and says how to write it."""
    router = Router()
    with pytest.raises(TypeError, match=r"write @router\.route\('/path'\)"):
        router.route(with_extras)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"write @router\.http\('/path'\)"):
        router.http(with_extras)  # type: ignore[arg-type]
    assert router.routes == []


@pytest.mark.parametrize("pattern", ["/a?b=1", "/a#top", "/{x}/?"])
def test_pattern_with_query_or_fragment(pattern: str) -> None:
    """A pattern with ? or # in its text, which never matches, fails."""
    with pytest.raises(InvalidRoute, match="pattern must not contain"):
        Router().route(pattern)(with_extras)


def test_question_mark_inside_requirement_is_fine() -> None:
    """A ? inside a parameter's regex is no query string."""
    router = Router()
    router.route(r"/n/{n:\d+?}")(with_extras)
    found = router.match("/n/12")
    assert found is not None and found.params == {"n": "12"}


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        (5, TypeError, "route name must be str, not int: 5"),
        (b"x", TypeError, "route name must be str, not bytes: b'x'"),
        ("", InvalidRoute, "route name must not be empty"),
    ],
)
def test_bad_route_name(name: Any, error: type[Exception], message: str) -> None:
    """A route name that is not a non-empty str fails at registration."""
    with pytest.raises(error, match=message):
        Router().route("/x", name=name)(with_extras)


def test_bytes_pattern_and_path() -> None:
    """bytes patterns and paths fail with a TypeError that says so."""
    router = Router()
    with pytest.raises(TypeError, match="pattern must be str, not bytes: b'/x'"):
        router.route(b"/x")(with_extras)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pattern must be str, not bytes: b'/y'"):
        router.add_route(b"/y", with_extras)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path must be str, not bytes: b'/x'"):
        router.match(b"/x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path must be str, not bytes: b'/x'"):
        router.resolve(b"/x")  # type: ignore[arg-type]


def test_redirect_target_must_be_served() -> None:
    """A redirect to a path that no route serves fails at registration."""
    router = Router()
    with pytest.raises(InvalidRoute, match="redirect target matches no route: '/new'"):
        router.redirect("/old", "/new")
    router.route("/new/{id:int}")(with_extras)
    router.redirect("/old/{id}", "/new/{id}")
    with pytest.raises(InvalidRoute, match="redirect target matches no route"):
        router.redirect("/older/{id}", "/newer/{id}")
    with pytest.raises(TypeError, match="redirect target must be str: b'/new'"):
        router.redirect("/o", b"/new")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "methods", ["GET", ["get"], [], ["GET", 1], ["G E T"]], ids=repr
)
def test_bad_http_methods(methods: Any) -> None:
    """HTTP methods must be a non-empty list of upper-case method names."""
    with pytest.raises(InvalidRoute, match="methods must"):
        Router().http("/x", methods=methods)


def test_http_methods_add_head_to_get() -> None:
    """An endpoint that serves GET serves HEAD too."""
    router = Router()

    @router.http("/a", methods=["GET", "POST"])
    async def a(path: Any, headers: Any) -> str:
        return ""  # pragma: no cover

    assert router.routes[0].methods == ("GET", "POST", "HEAD")


def test_allow_unmatched_subprotocols_contradicts_require() -> None:
    """allow_unmatched_subprotocols and require_subprotocol exclude each other."""
    with pytest.raises(InvalidRoute, match="contradicts require_subprotocol"):
        Router().route(
            "/x",
            subprotocols=["v1"],
            require_subprotocol=True,
            allow_unmatched_subprotocols=True,
        )(with_extras)
