"""Tests for reverse URLs (url_for) and redirects."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import websockets

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
        ("user", {"uid": "abc"}, "invalid literal for int"),
        ("thing", {"id": ""}, "value does not fit parameter 'id' of route 'thing': ''"),
        ("clock", {"tz": "CET"}, "unexpected parameter for route 'clock': 'tz'"),
    ],
)
def test_url_for_errors(name: str, params: dict[str, Any], message: str) -> None:
    """url_for names what it cannot build."""
    with pytest.raises((BuildError, ValueError), match=message):
        make_router().url_for(name, **params)


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
    route = router.redirect("/", "/thing/", status=302, name="home")
    assert router.routes == [route]
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
