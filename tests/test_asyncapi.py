"""Tests for AsyncAPI documents: shape, schemas, and both official validators."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import pytest
import websockets

from websockets_routes import Endpoint, InvalidRoute, RoutedPath, Router, on
from websockets_routes.asyncapi import schema_of

from asyncapi_validators import validate_with_parser, validate_with_schema
from support import http_get

pydantic = pytest.importorskip("pydantic", reason="pydantic makes the schemas here")
msgspec = pytest.importorskip("msgspec", reason="msgspec makes the schemas here")


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Author:
    name: str
    email: str | None = None


@dataclasses.dataclass
class Post:
    title: str
    author: Author
    tags: list[str]
    color: Color = Color.RED
    pair: tuple[int, str] = (1, "a")


class Cat(pydantic.BaseModel):
    kind: Literal["cat"]
    lives: int = 9


class Dog(pydantic.BaseModel):
    kind: Literal["dog"]
    good: bool = True


class Adopt(pydantic.BaseModel):
    """Adopt a pet."""

    pet: Annotated[Cat | Dog, pydantic.Field(discriminator="kind")]
    owner: Author | None = None
    scores: dict[str, float] = pydantic.Field(default_factory=dict)


class Adopted(pydantic.BaseModel):
    type: Literal["adopted"] = "adopted"
    count: int


class Move(msgspec.Struct):
    x: int
    y: int
    label: str | None = None


class Moved(msgspec.Struct):
    x: int
    y: int


class Tick(msgspec.Struct):
    n: int


class Blog(Endpoint):
    encoding = "json"

    @on("post.create")
    async def create(self, ws: Any, path: RoutedPath, message: Post) -> dict[str, Any]:
        """Create a post."""
        return {"type": "post.created"}

    @on("post.ping")
    async def ping(self, ws: Any, path: RoutedPath, message: dict[str, Any]) -> None:
        pass  # pragma: no cover


class Shelter(Endpoint):
    encoding = "json"

    @on("adopt")
    async def adopt(self, ws: Any, path: RoutedPath, message: Adopt) -> Adopted:
        return Adopted(count=1)  # pragma: no cover

    async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
        pass  # pragma: no cover


class Board(Endpoint):
    encoding = "json"

    @on("move")
    async def move(self, ws: Any, path: RoutedPath, message: Move) -> Moved:
        return Moved(x=message.x, y=message.y)  # pragma: no cover

    async def producer(self, ws: Any, path: RoutedPath) -> AsyncIterator[Tick]:
        yield Tick(n=1)  # pragma: no cover


class Raw(Endpoint):
    encoding = "bytes"

    async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
        pass  # pragma: no cover


async def plain(ws: Any, path: RoutedPath) -> None:
    pass  # pragma: no cover


def make_router() -> Router:
    router = Router()
    router.route("/blogs/{blog:int}/live", name="blog")(Blog)
    router.route("/shelters/{shelter:uuid}")(Shelter)
    router.route(r"/boards/{board:\d{3}}/{rest:path}", name="board")(Board)
    router.route("/raw")(Raw)
    router.route("/plain/{x}.{ext}")(plain)

    @router.http("/healthz")
    async def healthz(path: RoutedPath, headers: Any) -> str:
        return "OK\n"  # pragma: no cover

    api = Router()
    api.route("/v1/blog/{blog:int}", name="api_blog")(Blog)
    router.include(api, prefix="/api")
    return router


def make_document() -> dict[str, Any]:
    return make_router().asyncapi(
        title="Test app",
        version="1.2.3",
        servers={"local": "ws://127.0.0.1:8765", "tls": "wss://example.test/ws"},
        description="Every kind of route.",
    )


def test_document_passes_the_official_json_schema() -> None:
    """The document validates against AsyncAPI 3.0.0's JSON Schema."""
    validate_with_schema(make_document())


def test_document_passes_the_official_parser() -> None:
    """The document parses with @asyncapi/parser with zero errors."""
    validate_with_parser(make_document())


def test_channels_and_parameters() -> None:
    """Each WebSocket route is a channel with its parameters; HTTP routes are not."""
    document = make_document()
    channels = document["channels"]
    assert channels["blog"]["address"] == "/blogs/{blog}/live"
    assert channels["blog"]["parameters"] == {
        "blog": {"description": "int: matches \\d+"}
    }
    assert channels["board"]["address"] == "/boards/{board}/{rest}"
    assert channels["board"]["parameters"]["board"] == {"description": "matches \\d{3}"}
    assert channels["api_blog"]["address"] == "/api/v1/blog/{blog}"
    addresses = {channel["address"] for channel in channels.values()}
    assert "/healthz" not in addresses
    assert "/plain/{x}.{ext}" in addresses
    assert document["servers"]["tls"] == {
        "host": "example.test",
        "protocol": "wss",
        "pathname": "/ws",
    }
    assert document["info"] == {
        "title": "Test app",
        "version": "1.2.3",
        "description": "Every kind of route.",
    }


def test_messages_operations_and_replies() -> None:
    """@on types are received, replies and errors are sent, with reply links."""
    document = make_document()
    operations = document["operations"]
    create = operations["blog.receive.post.create"]
    assert create["action"] == "receive"
    assert create["channel"] == {"$ref": "#/channels/blog"}
    assert create["messages"] == [{"$ref": "#/channels/blog/messages/Blog.post.create"}]
    assert create["reply"]["messages"] == [
        {"$ref": "#/channels/blog/messages/Blog.post.create.reply"},
        {"$ref": "#/channels/blog/messages/error"},
    ]
    assert operations["blog.send.error"]["action"] == "send"
    ping = operations["blog.receive.post.ping"]
    assert ping["reply"]["messages"] == [{"$ref": "#/channels/blog/messages/error"}]
    message = document["components"]["messages"]["Blog.post.create"]
    assert message["summary"] == "Create a post."
    assert message["payload"]["allOf"][0] == {"$ref": "#/components/schemas/Post"}
    assert message["payload"]["allOf"][1]["properties"]["type"] == {
        "const": "post.create"
    }
    error = document["components"]["messages"]["error"]["payload"]
    assert error["required"] == ["type", "message"]
    assert "Board.produced" in document["components"]["messages"]
    assert operations["board.send.produced"]["action"] == "send"
    assert "shelters_shelter.receive.message" in operations


def test_schemas_are_fixed_up_for_asyncapi() -> None:
    """$defs move to components, tuples and discriminators become AsyncAPI's."""
    document = make_document()
    schemas = document["components"]["schemas"]
    text = json.dumps(document)
    assert "$defs" not in text and "prefixItems" not in text
    assert {"Post", "Author", "Color", "Adopt", "Cat", "Dog", "Move"} <= set(schemas)
    pair = schemas["Post"]["properties"]["pair"]
    assert pair["items"] == [{"type": "integer"}, {"type": "string"}]
    assert schemas["Adopt"]["properties"]["pet"]["discriminator"] == "kind"
    for ref in _refs(document):
        assert ref.startswith("#/"), ref
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part]


def test_schema_of_keeps_definitions_together() -> None:
    """schema_of() gives a type's schema with its definitions under $defs."""
    schema = schema_of(Post)
    assert schema["$ref"] == "#/components/schemas/Post"
    assert set(schema["$defs"]) == {"Post", "Author", "Color"}


def test_same_name_different_types_get_two_components() -> None:
    """Two types that share a name get two schema components."""

    other_author = dataclasses.make_dataclass("Author", [("handle", int)])

    async def x(self: Any, ws: Any, path: RoutedPath, message: Any) -> None: ...

    x.__annotations__["message"] = other_author
    Other = type("Other", (Endpoint,), {"encoding": "json", "x": on("x")(x)})

    router = make_router()
    router.route("/other")(Other)
    document = router.asyncapi(title="t", version="1")
    schemas = document["components"]["schemas"]
    assert schemas["Author"]["properties"]["name"] == {"type": "string"}
    others = [
        key for key, value in schemas.items() if "handle" in value.get("properties", {})
    ]
    assert len(others) == 1 and others[0].startswith("Author") and others[0] != "Author"
    validate_with_schema(document)


def test_bad_server_url() -> None:
    """A server URL that is not ws:// or wss:// is refused."""
    with pytest.raises(ValueError, match="server URL must be ws:// or wss://"):
        make_router().asyncapi(title="t", version="1", servers={"x": "http://h"})


def test_unresolvable_annotation_fails() -> None:
    """An annotation that cannot be resolved fails when the route is registered."""

    class Broken(Endpoint):
        encoding = "json"

        @on("x")
        async def x(self, ws: Any, path: RoutedPath, message: Missing) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(InvalidRoute, match="cannot resolve the annotations"):
        Router().route("/x")(Broken)


async def test_asyncapi_route_serves_the_document() -> None:
    """asyncapi_route() serves the document over HTTP, with routes added later."""
    router = make_router()
    route = router.asyncapi_route("/asyncapi.json", title="Test app", version="1")
    assert (route.kind, route.name, route.pattern) == (
        "http",
        "asyncapi",
        "/asyncapi.json",
    )
    async with router.serve("127.0.0.1", 0) as server:
        status, headers, body = await http_get(server, "/asyncapi.json")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == router.asyncapi(title="Test app", version="1")
        router.route("/late")(plain)
        _, _, body = await http_get(server, "/asyncapi.json")
        assert "late" in json.loads(body)["channels"]
        async with websockets.connect(
            f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/raw"
        ):
            pass


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


class Echo(Endpoint):
    encoding = "text"

    async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
        pass  # pragma: no cover

    async def producer(self, ws: Any, path: RoutedPath) -> None:
        pass  # pragma: no cover


class Untyped(Endpoint):
    encoding = "json"

    @on("note")
    async def note(self, ws: Any, path: RoutedPath, message) -> None:  # type: ignore[no-untyped-def]
        pass  # pragma: no cover

    async def producer(self, ws: Any, path: RoutedPath) -> AsyncIterator[Any]:
        yield {}  # pragma: no cover


def test_text_endpoints_formats_and_server_objects() -> None:
    """Text endpoints, untyped producers, {.format} and Server Objects are described."""
    router = Router()
    router.route("/echo")(Echo)
    router.route("/notes{.format}")(Untyped)
    router.route("/again")(Echo)
    server = {"host": "example.test", "protocol": "wss"}
    document = router.asyncapi(title="t", version="1", servers={"prod": server})
    assert document["servers"]["prod"] == server
    messages = document["components"]["messages"]
    assert messages["Echo.message"]["payload"] == {"type": "string"}
    assert messages["Echo.produced"]["contentType"] == "text/plain"
    assert messages["Untyped.produced"]["contentType"] == "application/json"
    channel = document["channels"]["notesformat"]
    assert channel["address"] == "/notes{format}"
    assert channel["parameters"]["format"]["description"].endswith(
        "optional, after a dot"
    )
    assert set(document["channels"]) == {"echo", "notesformat", "again"}
    validate_with_schema(document)
    validate_with_parser(document)
