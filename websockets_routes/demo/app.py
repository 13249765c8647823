"""The demo's application: chat rooms on one routed server.

Routes:

* ``GET /``: the chat page, with ``/app.js``, ``/style.css`` and the
  favicon (``/favicon.svg``, also at ``/favicon.ico``): HTTP endpoints;
* ``GET /healthz``: ``OK``, for load balancers;
* ``GET /asyncapi.json``: the AsyncAPI document of the room's messages;
* ``/rooms/{room}?name=NAME``: the room, an :class:`~websockets_routes.Endpoint`.

The protocol is JSON, one object per text frame. A client connects to
``/rooms/{room}?name=NAME``, adding ``&since=ID`` when it reconnects, with
the id of the last message it saw. It sends
``{"type": "say", "id": 1, "text": "hi"}``: 1 to 500 characters, not blank;
an error reply ``{"type": "error", "id": 1, "message": ...}`` otherwise.

The server sends ``welcome`` (``{"sid", "name", "room", "members"}``,
``members`` a list of ``{"sid", "name"}``) to the new connection, once it
joined the room; what the hub sends follows, or may precede it:

* each ``said`` message (``{"sid", "name", "text", "at"}``, ``at`` an ISO
  8601 time in UTC) comes wrapped with its id, as the hub delivers the
  messages of a room with history: ``{"type": "message", "room": ...,
  "id": ..., "data": "<the said message, as JSON>"}``;
* presence events, ``{"type": "presence", "event": "join" or "leave",
  "user": SID, "meta": {"name": NAME}, ...}``;
* on a reconnection with ``since``, the messages said meanwhile first, or
  ``{"type": "history_gap", ...}`` then what the room still keeps, if some
  were lost (a room keeps its last :data:`HISTORY` messages).

Presence: each connection is a hub user named by its session id (``sid``),
with its name as metadata. The hub knows who is in the room in every
process; ``welcome`` lists them, and presence events keep the page's list
up to date. A worker that dies without closing its connections has them
leave presence within three hub heartbeats (15 seconds by default with
Redis).

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
    "HISTORY",
    "MAX_NAME",
    "MAX_TEXT",
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
#: Messages each room keeps for pages that reconnect.
HISTORY = 100
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
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class Room(Endpoint):
    """A chat room: say things; presence and history come from the hub.

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
        """Join the room, catching up from ``since``; welcome with who is here."""
        hub = self.hub
        self.sid = secrets.token_urlsafe(9)
        self.name = path.context["name"]
        self.group = "room:" + path.params["room"]
        since = path.query.get("since", [None])[0]
        await self.join(
            hub,
            ws,
            self.group,
            user=self.sid,
            meta={"name": self.name},
            presence_events=True,
            since=since,
            history=HISTORY,
        )
        welcome = {"sid": self.sid, "name": self.name, "room": path.params["room"]}
        members = await self.members(hub)
        await ws.send(json.dumps({"type": "welcome", **welcome, "members": members}))

    async def members(self, hub: Hub) -> list[dict[str, str]]:
        """Who is in the room, in every process; only this connection if unknown."""
        try:
            presence = await hub.presence(self.group)
        except HubUnavailable as exc:
            logger.warning("cannot read presence of %s: %s", self.group, exc)
            presence = {self.sid: [{"name": self.name}]}
        return [
            {"sid": sid, "name": str(meta.get("name", ""))}
            for sid, metas in presence.items()
            for meta in metas
        ]

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

    def who(self) -> dict[str, str]:
        """This connection's session id and name, as messages carry them."""
        return {"sid": self.sid, "name": self.name}


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
