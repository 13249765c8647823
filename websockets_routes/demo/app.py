"""The demo's application: chat rooms on one routed server.

Routes:

* ``GET /``: the chat page, with ``/app.js``, ``/style.css`` and the
  favicon (``/favicon.svg``, also at ``/favicon.ico``): HTTP endpoints;
* ``GET /healthz``: ``OK``, for load balancers;
* ``GET /asyncapi.json``: the AsyncAPI document of the room's messages;
* ``/rooms/{room}?name=NAME``: the room, an :class:`~websockets_routes.Endpoint`.

The protocol is JSON, one object per text frame. A client sends:

* ``{"type": "say", "id": 1, "text": "hi"}``: 1 to 500 characters, not
  blank; an error reply ``{"type": "error", "id": 1, "message": ...}``
  otherwise;
* ``{"type": "here", "to": "SID"}``: the answer to someone's ``joined``
  (see below).

The server sends ``welcome`` (``{"sid", "name", "room"}``) to the new
connection, then publishes to the room: ``joined`` and ``left`` (``{"sid",
"name"}``), ``said`` (``{"sid", "name", "text", "at"}``, ``at`` an ISO 8601
time in UTC), and sends ``here`` (``{"sid", "name"}``) to one connection.

Presence: the hub delivers across processes but has no list of members
yet, and a server never sees what the hub delivers to its connections. So
the pages keep the list of who is in the room: each connection is a hub
*user* named by its session id (``sid``); a newcomer's ``joined`` reaches
every page in the room, in every process, and each page answers ``here``,
which the server sends to the newcomer alone with
:meth:`~websockets_routes.Hub.send_to_user`. ``left`` removes a member.
That is one message per member when someone joins, and it holds across
workers sharing a Redis hub. A worker that dies without closing its
connections publishes no ``left``: its members stay listed until the pages
that list them reconnect.

The name and the room are checked during the handshake: 1 to 32 printable
characters, not blank; HTTP 400 says what is wrong otherwise. A binary
frame closes the connection with 1003 (``expected a text frame``), as any
JSON endpoint does: nothing reaches the room.

"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.resources
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any, ClassVar

from websockets.datastructures import Headers

import websockets_routes
from websockets_routes import (
    Endpoint,
    Hub,
    HubUnavailable,
    MessageError,
    RoutedPath,
    Router,
    on,
)

__all__ = [
    "MAX_NAME",
    "MAX_TEXT",
    "Here",
    "Room",
    "Say",
    "app_hub",
    "check_name",
    "create_app",
]

logger = logging.getLogger("websockets_routes.demo")

#: The longest name or room, in characters.
MAX_NAME = 32
#: The longest message, in characters.
MAX_TEXT = 500
#: The largest frame, in bytes: MAX_TEXT characters, each escaped as
#: ``\\uXXXX\\uXXXX`` in the worst case, and room to spare.
MAX_SIZE = 16 * 1024

# Each file's name, and its Content-Type.
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

# The page loads nothing from elsewhere and runs no inline script: the
# policy says so, and a bug that slips user text into markup runs nothing.
SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "img-src 'self'; connect-src 'self' ws: wss:; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
]


@dataclasses.dataclass
class Say:
    """Say something to the room."""

    text: str


@dataclasses.dataclass
class Here:
    """Tell a newcomer, named by its session id, that this connection is here."""

    to: str


def check_name(what: str, value: str | None) -> str | None:
    """Return why a name or a room is refused, or :obj:`None` if it is fine.

    Example::

        check_name("name", "alice")  # None
        check_name("name", "")  # 'name must not be blank'

    """
    if value is None:
        return f"{what} is missing: add ?{what}=... to the URL"
    if not value.strip():
        return f"{what} must not be blank"
    if len(value) > MAX_NAME:
        return f"{what} must be at most {MAX_NAME} characters"
    if not value.isprintable():
        return f"{what} must be printable characters"
    return None


def now() -> str:
    """The time, in UTC, as ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Room(Endpoint):
    """A chat room: say, and tell newcomers who is here.

    :func:`create_app` routes a subclass that sets :attr:`hub`.

    """

    encoding = "json"
    #: The hub that carries the rooms' messages.
    hub: ClassVar[Hub]

    sid = ""
    name = ""
    group = ""

    def process_request(self, path: RoutedPath, headers: Headers) -> Any:
        """Refuse a bad name or room with HTTP 400 before the handshake."""
        name = path.query.get("name", [None])[0]
        error = check_name("room", path.params["room"]) or check_name("name", name)
        if error is not None:
            return 400, [], error + "\n"
        path.context["name"] = name
        return None

    async def on_connect(self, ws: Any, path: RoutedPath) -> None:
        """Join the room as a new session, greet, and tell the room."""
        hub = self.hub
        sid = secrets.token_urlsafe(9)
        self.name = path.context["name"]
        self.group = "room:" + path.params["room"]
        # Each connection is a hub user of its own, so that "here" reaches
        # the newcomer alone, in whichever process it is.
        await self.join(hub, ws, self.group, user=sid)
        # Set once joined: on_disconnect announces a leave only then.
        self.sid = sid
        welcome = {"sid": self.sid, "name": self.name, "room": path.params["room"]}
        await ws.send(json.dumps({"type": "welcome", **welcome}))
        await self.tell_room(hub, {"type": "joined", **self.who()})

    @on("say")
    async def say(self, ws: Any, path: RoutedPath, message: Say) -> None:
        """Publish a message to the room."""
        if not message.text.strip():
            raise MessageError("text must not be blank")
        if len(message.text) > MAX_TEXT:
            raise MessageError(f"text must be at most {MAX_TEXT} characters")
        said = {"type": "said", **self.who(), "text": message.text, "at": now()}
        try:
            await self.hub.publish(self.group, json.dumps(said))
        except HubUnavailable:
            raise MessageError("the room is unavailable; try again") from None

    @on("here")
    async def here(self, ws: Any, path: RoutedPath, message: Here) -> None:
        """Tell a newcomer that this connection is in the room."""
        if not message.to or len(message.to) > 64:
            raise MessageError("to must be a session id")
        here = json.dumps({"type": "here", **self.who()})
        try:
            await self.hub.send_to_user(message.to, here)
        except HubUnavailable:
            raise MessageError("the room is unavailable; try again") from None

    async def on_disconnect(self, ws: Any, path: RoutedPath, code: int) -> None:
        """Tell the room, when this connection had joined it."""
        if self.sid:
            await self.tell_room(self.hub, {"type": "left", **self.who()})

    def who(self) -> dict[str, str]:
        """This connection's session id and name, as messages carry them."""
        return {"sid": self.sid, "name": self.name}

    async def tell_room(self, hub: Hub, message: dict[str, str]) -> None:
        """Publish presence; when Redis is unreachable, log it and go on."""
        try:
            await hub.publish(self.group, json.dumps(message))
        except HubUnavailable as exc:
            logger.warning(
                "cannot publish %s to %s: %s", message["type"], self.group, exc
            )


_fallback: Hub | None = None


def app_hub() -> Hub:
    """The hub that the command line serves, else a hub of this process.

    ``python -m websockets_routes demo`` starts a hub (in-process, or Redis
    with ``--redis``) and makes ``websockets_routes.hub.app_hub()`` return
    it before it calls :func:`create_app`. Elsewhere, with no hub served,
    every call returns the same in-process :class:`Hub`.

    """
    global _fallback
    accessor = getattr(websockets_routes.hub, "app_hub", None)
    if accessor is not None:
        try:
            hub: Hub = accessor()
        except RuntimeError:  # No hub is served: run on one process's own.
            pass
        else:
            return hub
    if _fallback is None:
        _fallback = Hub()
    return _fallback


def read_static(name: str) -> bytes:
    """The bytes of a file of the demo's ``static`` directory."""
    return (importlib.resources.files(__package__) / "static" / name).read_bytes()


def static_endpoint(name: str) -> Callable[[RoutedPath, Headers], Any]:
    """An HTTP endpoint that serves a static file, read once, now."""
    body = read_static(name)
    headers = [("Content-Type", STATIC[name]), *SECURITY_HEADERS]

    async def serve_file(path: RoutedPath, headers_: Headers) -> Any:
        return 200, headers, body

    serve_file.__name__ = serve_file.__qualname__ = "serve_" + name.replace(".", "_")
    return serve_file


async def healthz(path: RoutedPath, headers: Headers) -> str:
    """Answer load balancers."""
    return "OK\n"


def create_app(hub: Hub | None = None) -> Router:
    """Create the demo's router: the page, ``/healthz`` and the rooms.

    Args:
        hub: The hub that carries the rooms' messages. By default, the one
            that ``websockets_routes.hub.app_hub()`` returns (the command
            line's), or, with no hub served, a hub of this process. Start
            it (``async with hub:``) before serving.

    Returns:
        A router; serve it with ``router.serve(host, port)``.

    Raises:
        InvalidRoute: If neither msgspec nor pydantic is installed: the
            rooms validate their messages (``pip install
            'websockets-routes[msgspec]'``).

    Example::

        hub = Hub()
        async with hub, create_app(hub).serve("127.0.0.1", 8765) as server:
            await server.serve_forever()

    """

    rooms_hub = app_hub() if hub is None else hub

    class BoundRoom(Room):
        hub = rooms_hub

    BoundRoom.__name__ = BoundRoom.__qualname__ = "Room"
    router = Router()
    router.http("/", name="page")(static_endpoint("index.html"))
    for name in ("app.js", "style.css", "favicon.svg"):
        router.http("/" + name)(static_endpoint(name))
    router.http("/favicon.ico")(static_endpoint("favicon.svg"))
    router.http("/healthz", name="health")(healthz)
    router.route("/rooms/{room}", name="room", max_size=MAX_SIZE)(BoundRoom)
    router.asyncapi_route(
        title="websockets-routes demo", version=websockets_routes.__version__
    )
    return router
