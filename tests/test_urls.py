"""Tests for reverse URLs (url_for) and redirects."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import websockets
from websockets.datastructures import Headers

from websockets_routes import BuildError, InvalidRoute, RoutedPath, Router

from support import closed_with, http_get, url_of


async def handler(ws: Any, path: RoutedPath) -> None:
    await ws.send(f"{path.name} {path.params} {path}")


def make_router() -> Router:
    router = Router()
    router.route("/thing/{id}", name="thing")(handler)
    router.route(r"/n/{n:\d{2}}", name="two_digits")(handler)
    router.route("/user/{uid:int}", name="user")(handler)
    router.route("/obj/{oid:uuid}", name="obj")(handler)
    router.route("/files/{rest:path}", name="files")(handler)
    router.route("/café/{x}", name="cafe")(handler)
    router.route("/clock", name="clock", defaults={"tz": "UTC"})(handler)
    return router


def test_url_for() -> None:
    """url_for builds the path of a named route, percent-encoding values."""
    router = make_router()
    assert router.url_for("thing", id="123") == "/thing/123"
    assert router.url_for("thing", id="a/b c") == "/thing/a%2Fb%20c"
    assert router.url_for("thing", id="café") == "/thing/caf%C3%A9"
    assert router.url_for("user", uid=42) == "/user/42"
    oid = uuid.UUID(int=1)
    assert router.url_for("obj", oid=oid) == f"/obj/{oid}"
    assert router.url_for("files", rest="a/b c/d") == "/files/a/b%20c/d"
    assert router.url_for("cafe", x="1") == "/caf%C3%A9/1"
    assert router.url_for("clock") == "/clock"
    assert router.url_for("clock", tz="UTC") == "/clock"


def test_url_for_round_trips() -> None:
    """A built path matches its route with the same parameters."""
    router = make_router()
    for name, params in [
        ("thing", {"id": "a/b?c#d%e"}),
        ("user", {"uid": 7}),
        ("files", {"rest": "x/y"}),
    ]:
        found = router.match(router.url_for(name, **params))
        assert found is not None
        assert (found.name, found.params) == (name, params)


def test_url_for_query() -> None:
    """_query appends a query string."""
    router = make_router()
    built = router.url_for("thing", id="1", _query={"a": "x y", "b": ["1", "2"]})
    assert built == "/thing/1?a=x+y&b=1&b=2"
    found = router.match(built)
    assert found is not None and dict(found.query) == {"a": ["x y"], "b": ["1", "2"]}


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, "unknown route name: 'nope'"),
        ("thing", {}, "missing parameter for route 'thing': 'id'"),
        ("thing", {"id": "1", "x": 2}, "unexpected parameter for route 'thing': 'x'"),
        ("two_digits", {"n": "123"}, "value does not fit parameter 'n' of route"),
        ("user", {"uid": "abc"}, "value does not fit parameter 'uid' of route 'user'"),
        ("thing", {"id": ""}, "value does not fit parameter 'id' of route 'thing': ''"),
        ("clock", {"tz": "CET"}, "unexpected parameter for route 'clock': 'tz'"),
    ],
)
def test_url_for_errors(name: str, params: dict[str, Any], message: str) -> None:
    """url_for names what it cannot build."""
    with pytest.raises(BuildError, match=message):
        make_router().url_for(name, **params)


SURROGATE = "\ud800"


class Unprintable:
    """A value whose str() fails."""

    def __str__(self) -> str:
        raise RuntimeError("no text")


BAD_VALUES = [
    # A converter refuses the value.
    ("/i/{x:int}", {"x": 1.5}, "x", TypeError),
    ("/i/{x:int}", {"x": True}, "x", TypeError),
    ("/i/{x:int}", {"x": "abc"}, "x", ValueError),
    ("/i/{x:int}", {"x": "1.5"}, "x", ValueError),
    ("/i/{x:int}", {"x": -1}, "x", ValueError),
    ("/i/{x:int}", {"x": 10**5000}, "x", ValueError),
    ("/f/{x:float}", {"x": float("nan")}, "x", ValueError),
    ("/f/{x:float}", {"x": float("inf")}, "x", ValueError),
    ("/f/{x:float}", {"x": -1.5}, "x", ValueError),
    ("/f/{x:float}", {"x": 2**53 + 1}, "x", ValueError),
    ("/f/{x:float}", {"x": 10**400}, "x", OverflowError),
    ("/f/{x:float}", {"x": "1e5"}, "x", ValueError),
    ("/f/{x:float}", {"x": False}, "x", TypeError),
    ("/u/{x:uuid}", {"x": object()}, "x", TypeError),
    ("/u/{x:uuid}", {"x": "not-a-uuid"}, "x", ValueError),
    ("/s/{x}", {"x": Unprintable()}, "x", RuntimeError),
    # The value cannot be percent-encoded.
    ("/s/{x}", {"x": SURROGATE}, "x", UnicodeEncodeError),
    ("/p/{x:path}", {"x": "a/" + SURROGATE}, "x", UnicodeEncodeError),
    # There is no value.
    ("/s/{x}", {"x": None}, "x", None),
    ("/s/{x}", {"x": ""}, "x", None),
    # The value breaks the requirement.
    (r"/n/{x:\d{3}}", {"x": "1234"}, "x", None),
    # The value would not come back from the path.
    ("/{name}.{ext}", {"name": "report.final", "ext": "pdf"}, "name", None),
    ("/t/{a}-{b}", {"a": "x-y", "b": "z"}, "a", None),
    ("/d/{x}{.format}", {"x": "a.b"}, "x", None),
    ("/d/{x}{.format}", {"x": "a.b", "format": None}, "x", None),
    ("/d/{x}{.format}", {"x": "a", "format": "tar.gz"}, "format", None),
]


@pytest.mark.parametrize(("pattern", "params", "name", "cause"), BAD_VALUES)
def test_url_for_bad_value(
    pattern: str, params: dict[str, Any], name: str, cause: type[Exception] | None
) -> None:
    """A value that cannot be built raises BuildError naming route, parameter, value."""
    router = Router()
    router.route(pattern, name="r")(handler)
    with pytest.raises(BuildError) as raised:
        router.url_for("r", **params)
    message = f"value does not fit parameter {name!r} of route 'r': "
    if isinstance(params[name], int) and params[name] > 10**100:
        assert str(raised.value).startswith(message)  # the value is shortened
    else:
        assert str(raised.value) == message + repr(params[name])
    if cause is None:
        assert raised.value.__cause__ is None
    else:
        assert isinstance(raised.value.__cause__, cause)


@pytest.mark.parametrize(
    ("query", "cause"),
    [(5, TypeError), ("ab", TypeError), ({"a": SURROGATE}, UnicodeEncodeError)],
)
def test_url_for_bad_query(query: Any, cause: type[Exception]) -> None:
    """A query that cannot be encoded raises BuildError naming route and query."""
    with pytest.raises(BuildError) as raised:
        make_router().url_for("thing", id="1", _query=query)
    assert str(raised.value) == f"bad query for route 'thing': {query!r}"
    assert isinstance(raised.value.__cause__, cause)


def test_url_for_typed_values() -> None:
    """Typed parameters take their own type or text of it, and round-trip exactly."""
    router = Router()
    router.route("/i/{x:int}", name="int")(handler)
    router.route("/f/{x:float}", name="float")(handler)
    router.route("/u/{x:uuid}", name="uuid")(handler)
    oid = uuid.UUID(int=10)
    for name, value, built, param in [
        ("int", 42, "/i/42", 42),
        ("int", "007", "/i/7", 7),
        ("float", 1e20, "/f/100000000000000000000.0", 1e20),
        ("float", 1e-05, "/f/0.00001", 1e-05),
        ("float", 3, "/f/3.0", 3.0),
        ("float", -0.0, "/f/0.0", 0.0),
        ("float", "1.50", "/f/1.50", 1.5),
        ("uuid", oid, f"/u/{oid}", oid),
        ("uuid", oid.hex.upper(), f"/u/{oid}", oid),
    ]:
        assert router.url_for(name, x=value) == built
        found = router.match(built)
        assert found is not None and found.params == {"x": param}


def test_url_for_optional_format() -> None:
    """An optional {.format} is left out when missing or None."""
    router = Router()
    router.route("/d/{x}{.format}", name="doc")(handler)
    assert router.url_for("doc", x="a") == "/d/a"
    assert router.url_for("doc", x="a", format=None) == "/d/a"
    assert router.url_for("doc", x="a", format="json") == "/d/a.json"
    assert router.url_for("doc", x="a.b", format="json") == "/d/a.b.json"
    found = router.match("/d/a.b.json")
    assert found is not None and found.params == {"x": "a.b", "format": "json"}


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_is_followed(status: int) -> None:
    """websockets' client follows a redirect to the target route, query kept."""
    router = make_router()
    router.redirect("/old/{id}", "/thing/{id}", status=status)
    async with router.serve("127.0.0.1", 0) as server:
        code, headers, _ = await http_get(server, "/old/a%2Fb?q=1")
        assert code == status
        assert headers["Location"] == "/thing/a%2Fb?q=1"
        async with websockets.connect(url_of(server, "/old/caf%C3%A9?q=1")) as ws:
            assert await ws.recv() == "thing {'id': 'café'} /thing/caf%C3%A9?q=1"


def test_redirect_in_routes() -> None:
    """A redirect is listed as a route of kind 'redirect'."""
    router = Router()
    target = router.add_route("/thing/", handler)
    route = router.redirect("/", "/thing/", status=302, name="home")
    assert router.routes == [target, route]
    assert (route.kind, route.endpoint, route.options) == (
        "redirect",
        "/thing/",
        {"status": 302},
    )


async def test_redirect_under_handle() -> None:
    """Under router.handle, a redirect closes with 4000 + its status."""
    router = make_router()
    router.redirect("/old/{id}", "/thing/{id}", status=301)
    async with websockets.serve(router.handle, "127.0.0.1", 0) as server:
        assert await closed_with(url_of(server, "/old/1")) == (
            4301,
            "Moved Permanently",
        )


@pytest.mark.parametrize(
    ("source", "target", "status", "message"),
    [
        ("/old/{id}", "/thing/{other}", 301, "does not capture: 'other'"),
        ("/old", "/new", 200, "redirect status must be 301, 302, 303, 307 or 308: 200"),
        ("old", "/new", 301, "pattern must start with /"),
    ],
)
def test_redirect_errors(source: str, target: str, status: int, message: str) -> None:
    """A bad redirect fails when it is registered."""
    with pytest.raises(InvalidRoute, match=message):
        Router().redirect(source, target, status=status)


async def test_redirect_stays_on_this_server() -> None:
    """A parameter that starts with a slash cannot make the target //host."""
    router = Router()
    router.route("/{rest:path}", name="any")(handler)
    router.redirect("/legacy/{rest:path}", "/{rest}")
    async with router.serve("127.0.0.1", 0) as server:
        status, headers, _ = await http_get(server, "/legacy//evil.example/")
        assert status == 308
        assert headers["Location"] == "/%2Fevil.example/"
        async with websockets.connect(url_of(server, "/legacy//evil.example/")) as ws:
            assert await ws.recv() == "any {'rest': '/evil.example/'} /%2Fevil.example/"
        _, headers, _ = await http_get(server, "/legacy/%5Cevil.example")
        assert headers["Location"] == "/%5Cevil.example"


@pytest.mark.parametrize(
    ("query", "encoded"),
    [
        ("a=b\x7fc", "a=b%7Fc"),
        ("a=b\rSet-Cookie:x", "a=b%0DSet-Cookie:x"),
        ("a=\x00", "a=%00"),
        ("q=caf\u00e9 x", "q=caf%C3%A9%20x"),
        ("q=1&r=%41/?", "q=1&r=%41/?"),
    ],
)
async def test_redirect_encodes_the_query(query: str, encoded: str) -> None:
    """The query copied into Location is percent-encoded where it must be."""
    router = Router()
    router.route("/new", name="new")(handler)
    router.redirect("/old", "/new")
    dispatch = router.dispatch("/old?" + query)
    response = await dispatch.process_request(Headers())
    assert response is not None
    assert response.headers["Location"] == "/new?" + encoded
