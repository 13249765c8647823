"""AsyncAPI 3.0.0: the route table and typed messages as a contract.

:func:`document` describes a router the way AsyncAPI describes an
application, from the server's side:

* every WebSocket route is a channel, whose address is the route's pattern
  (``/rooms/{room}``), with a parameter per placeholder, described by its
  converter or requirement (AsyncAPI 3 parameters carry no schema);
* an :class:`~websockets_routes.Endpoint`'s ``@on`` types are messages the
  server ``receive``\\ s, with their payload schemas; what a method returns
  is its ``reply``, and the error reply (``{"type": "error", "id": ...,
  "message": ...}``) is a message the server ``send``\\ s; a producer's
  values are sent too;
* other routes (coroutine functions, class views) get untyped messages both
  ways.

Payload schemas come from the library that validates them, pydantic's
``json_schema()`` or ``msgspec.json.schema()``
(:func:`~websockets_routes.payloads.json_schema`), fixed up for AsyncAPI's
Schema Object, a superset of JSON Schema draft 07: definitions move from
``$defs`` to ``components/schemas`` and references follow them, tuples'
``prefixItems`` become draft 07's ``items`` list, and a discriminator object
becomes its property name.

"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Protocol

from . import payloads
from .endpoint import Endpoint
from .exceptions import InvalidRoute
from .table import Route

__all__ = ["Routes", "document", "dumps", "schema_of"]

VERSION = "3.0.0"

_KEY = re.compile(r"[^A-Za-z0-9._-]+")


#: The error reply of an Endpoint.
class Routes(Protocol):
    """What :func:`document` reads of a router: its routes, in match order."""

    @property
    def routes(self) -> list[Route]: ...  # pragma: no cover


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"const": "error"},
        "id": {"description": "The id of the request, when it had one."},
        "message": {"type": "string", "description": "What was wrong."},
    },
    "required": ["type", "message"],
}


def document(
    router: Routes,
    *,
    title: str,
    version: str,
    servers: Mapping[str, str | Mapping[str, Any]] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Describe a router's WebSocket routes as an AsyncAPI 3.0.0 document.

    Args:
        router: The router.
        title: The application's title.
        version: The application's version (not AsyncAPI's).
        servers: Servers by name: a URL such as ``"ws://127.0.0.1:8765"``
            or an AsyncAPI Server Object.
        description: A description of the application.

    Returns:
        The document, ready for :func:`json.dumps`.

    Raises:
        InvalidRoute: If a payload's schema cannot be made.
        ValueError: If a server URL is malformed.

    Example::

        doc = router.asyncapi(title="Chat", version="1.0.0")
        doc["channels"]["room"]["address"]  # '/rooms/{room}'

    """
    builder = _Builder()
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    result: dict[str, Any] = {"asyncapi": VERSION, "info": info}
    if servers:
        result["servers"] = {
            _key(name): _server(server) for name, server in servers.items()
        }
    for route in router.routes:
        if route.kind == "websocket":
            builder.add_route(route)
    result["channels"] = builder.channels
    result["operations"] = builder.operations
    components: dict[str, Any] = {}
    if builder.schemas:
        components["schemas"] = builder.schemas
    if builder.messages:
        components["messages"] = builder.messages
    if components:
        result["components"] = components
    return result


def schema_of(annotation: Any, *, backend: str | None = None) -> dict[str, Any]:
    """The AsyncAPI schema of a type, with its definitions inline under ``$defs``.

    Example::

        schema_of(Send)["properties"]["text"]  # {'type': 'string'}

    """
    builder = _Builder()
    schema = builder.schema(annotation, backend, where=repr(annotation))
    return {**schema, "$defs": builder.schemas} if builder.schemas else schema


def _server(server: str | Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(server, str):
        return dict(server)
    protocol, sep, rest = server.partition("://")
    if not sep or protocol not in ("ws", "wss") or not rest:
        raise ValueError(f"server URL must be ws:// or wss://: {server!r}")
    host, slash, pathname = rest.partition("/")
    result: dict[str, Any] = {"host": host, "protocol": protocol}
    if slash and pathname:
        result["pathname"] = "/" + pathname
    return result


def _key(text: str) -> str:
    """A component key: letters, digits, dots, hyphens and underscores."""
    return _KEY.sub("_", text).strip("_") or "root"


class _Builder:
    """Collects channels, operations, messages and schemas."""

    def __init__(self) -> None:
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}
        self.schemas: dict[str, Any] = {}
        # Schemas already made, by annotation: one component per type.
        self._made: dict[Any, dict[str, Any]] = {}

    def add_route(self, route: Route) -> None:
        address = _address(route)
        channel_id = self._unique(
            self.channels, _key(route.name or address.replace("{", "").strip("/"))
        )
        channel: dict[str, Any] = {"address": address}
        parameters = _parameters(route)
        if parameters:
            channel["parameters"] = parameters
        endpoint = route.endpoint
        channel["messages"] = {}
        self.channels[channel_id] = channel
        if isinstance(endpoint, type) and issubclass(endpoint, Endpoint):
            self._endpoint(channel_id, endpoint)
        else:
            self._untyped(channel_id)

    def _untyped(self, channel_id: str) -> None:
        message = self._message(
            "message", {"description": "Any message: the handler reads it."}
        )
        self._channel_message(channel_id, "message", message)
        self._operation(channel_id, "receive", "receive", ["message"])
        self._operation(channel_id, "send", "send", ["message"])

    def _endpoint(self, channel_id: str, endpoint: type[Endpoint]) -> None:
        owner = _key(endpoint.__qualname__)
        encoding = endpoint.encoding
        error_id = self._message(
            "error",
            {
                "name": "error",
                "title": "Error reply",
                "contentType": "application/json",
                "payload": ERROR_SCHEMA,
            },
        )
        handlers = endpoint._on_methods
        for message_type, name in handlers.items():
            method = getattr(endpoint, name)
            hints = _hints(method, f"{endpoint.__qualname__}.{name}")
            parameters = list(inspect.signature(method).parameters.values())
            annotation = (
                hints.get(parameters[3].name, inspect.Parameter.empty)
                if len(parameters) > 3
                else inspect.Parameter.empty
            )
            where = f"{endpoint.__qualname__}.{name}"
            payload = self._typed_payload(
                message_type, annotation, endpoint.validation, where
            )
            request = self._message(
                f"{owner}.{message_type}",
                _json_message(message_type, payload, inspect.getdoc(method)),
            )
            self._channel_message(channel_id, request, request)
            reply_ids = [error_id]
            returns = hints.get("return", inspect.Parameter.empty)
            if returns is not None and returns is not type(None):
                reply_schema = self.schema(returns, endpoint.validation, where)
                reply = self._message(
                    f"{owner}.{message_type}.reply",
                    {
                        "name": f"{message_type} reply",
                        "contentType": "application/json",
                        "payload": _with_id(reply_schema),
                    },
                )
                self._channel_message(channel_id, reply, reply)
                reply_ids.insert(0, reply)
            self._channel_message(channel_id, error_id, error_id)
            self._operation(
                channel_id,
                f"receive.{message_type}",
                "receive",
                [request],
                reply=reply_ids,
            )
        if not handlers or endpoint.on_message is not Endpoint.on_message:
            any_id = self._message(
                f"{owner}.message", _plain_message(encoding, "Any other message.")
            )
            self._channel_message(channel_id, any_id, any_id)
            self._operation(channel_id, "receive.message", "receive", [any_id])
        if handlers:
            self._channel_message(channel_id, error_id, error_id)
            self._operation(channel_id, "send.error", "send", [error_id])
        if endpoint.producer is not Endpoint.producer:
            produced = self._produced(endpoint, owner)
            self._channel_message(channel_id, produced, produced)
            self._operation(channel_id, "send.produced", "send", [produced])

    def _typed_payload(
        self, message_type: str, annotation: Any, backend: str | None, where: str
    ) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "type": "object",
            "properties": {
                "type": {"const": message_type},
                "id": {"description": "Sent back in the reply."},
            },
            "required": ["type"],
        }
        schema = self.schema(annotation, backend, where)
        return {"allOf": [schema, envelope]} if schema else envelope

    def _produced(self, endpoint: type[Endpoint], owner: str) -> str:
        hints = _hints(endpoint.producer, f"{endpoint.__qualname__}.producer")
        returns = hints.get("return")
        item = None
        if typing.get_origin(returns) in (AsyncIterator, typing.AsyncIterator):
            (item,) = typing.get_args(returns) or (None,)
        if endpoint.encoding == "json" and item is not None:
            where = f"{endpoint.__qualname__}.producer"
            payload = self.schema(item, endpoint.validation, where)
            return self._message(
                f"{owner}.produced",
                {
                    "name": "produced",
                    "contentType": "application/json",
                    "payload": payload or {"type": "object"},
                },
            )
        return self._message(
            f"{owner}.produced",
            _plain_message(endpoint.encoding, "What the producer sends."),
        )

    def schema(
        self, annotation: Any, backend: str | None, where: str
    ) -> dict[str, Any]:
        """The schema of a type: ``{}`` for any JSON value, else a reference."""
        if annotation is inspect.Parameter.empty:
            return {}
        try:
            made = self._made.get(annotation)
        except TypeError:  # an unhashable annotation
            made = None
        if made is not None:
            return made
        raw = payloads.json_schema(annotation, backend=backend, where=where)
        schema = {} if raw is None else self._adopt(raw, annotation)
        try:
            self._made[annotation] = schema
        except TypeError:
            pass
        return schema

    def _adopt(self, raw: dict[str, Any], annotation: Any) -> dict[str, Any]:
        """Move a library's definitions to components; return the top schema."""
        # A copy in JSON's own types: libraries put tuples in defaults.
        raw = json.loads(json.dumps(raw))
        definitions = raw.pop("$defs", {})
        names = {name: _key(name) for name in definitions}
        # A name taken by another schema gets a number; the same schema, made
        # for another payload, is shared.
        while True:
            fixed = {name: _fix(item, names) for name, item in definitions.items()}
            clashes = {
                name
                for name, item in fixed.items()
                if names[name] in self.schemas and self.schemas[names[name]] != item
            }
            if not clashes:
                break
            for name in clashes:
                names[name] = self._free(names[name])
        for name, item in fixed.items():
            self.schemas[names[name]] = item
        top: dict[str, Any] = _fix(raw, names)
        title = top.get("title") or getattr(annotation, "__name__", None)
        if "$ref" in top or set(top) <= {"type"} or not title:
            return top
        key = _key(str(title))
        if key in self.schemas and self.schemas[key] != top:
            key = self._free(key)
        self.schemas[key] = top
        return {"$ref": f"#/components/schemas/{key}"}

    def _free(self, key: str) -> str:
        number = 2
        while f"{key}{number}" in self.schemas:
            number += 1
        return f"{key}{number}"

    def _message(self, key: str, message: dict[str, Any]) -> str:
        key = _key(key)
        if key in self.messages and self.messages[key] != message:
            key = self._unique(self.messages, key)
        self.messages[key] = message
        return key

    def _channel_message(self, channel_id: str, name: str, message_id: str) -> None:
        self.channels[channel_id]["messages"][name] = {
            "$ref": f"#/components/messages/{message_id}"
        }

    def _operation(
        self,
        channel_id: str,
        what: str,
        action: str,
        messages: Iterable[str],
        reply: Iterable[str] | None = None,
    ) -> None:
        channel = {"$ref": f"#/channels/{channel_id}"}
        operation: dict[str, Any] = {
            "action": action,
            "channel": channel,
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{name}"}
                for name in messages
            ],
        }
        if reply is not None:
            operation["reply"] = {
                "channel": dict(channel),  # no object shared: YAML would anchor it
                "messages": [
                    {"$ref": f"#/channels/{channel_id}/messages/{name}"}
                    for name in reply
                ],
            }
        key = self._unique(self.operations, _key(f"{channel_id}.{what}"))
        self.operations[key] = operation

    @staticmethod
    def _unique(existing: Mapping[str, Any], key: str) -> str:
        candidate, number = key, 1
        while candidate in existing:
            number += 1
            candidate = f"{key}{number}"
        return candidate


def _address(route: Route) -> str:
    return "".join(
        part if isinstance(part, str) else "{" + part["name"] + "}"
        for part in route.parts
    )


def _parameters(route: Route) -> dict[str, Any]:
    parameters = {}
    for part in route.parts:
        if isinstance(part, str):
            continue
        name = part["name"]
        converter = route.converters.get(name)
        requirement = route.definition.reqs.get(name)
        if converter is not None:
            kind = next(
                (key for key, value in _converter_names(route) if value is converter),
                type(converter).__name__,
            )
            text = f"{kind}: matches {converter.regex}"
        elif requirement:
            text = f"matches {requirement}"
        else:
            text = "one path segment"
        if part["type"] == ".":
            text += "; optional, after a dot"
        parameters[name] = {"description": text}
    return parameters


def _converter_names(route: Route) -> Iterable[tuple[str, Any]]:
    # The spec of each {name:spec} that names a converter.
    for match in re.finditer(r"\{(\w+):(\w+)\}", route.pattern):
        converter = route.converters.get(match[1])
        if converter is not None:
            yield match[2], converter


def _json_message(
    message_type: str, payload: dict[str, Any], doc: str | None
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": message_type,
        "contentType": "application/json",
        "payload": payload,
    }
    if doc:
        message["summary"] = doc.splitlines()[0]
    return message


def _plain_message(encoding: str | None, description: str) -> dict[str, Any]:
    if encoding == "json":
        return {"contentType": "application/json", "description": description}
    if encoding == "bytes":
        return {
            "contentType": "application/octet-stream",
            "payload": {"type": "string", "format": "binary"},
            "description": description,
        }
    if encoding == "text":
        return {
            "contentType": "text/plain",
            "payload": {"type": "string"},
            "description": description,
        }
    return {"description": description}


def _with_id(schema: dict[str, Any]) -> dict[str, Any]:
    envelope = {
        "type": "object",
        "properties": {"id": {"description": "The id of the request."}},
    }
    return {"allOf": [schema, envelope]} if schema else envelope


def _hints(function: Callable[..., Any], where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception as exc:
        raise InvalidRoute(f"cannot resolve the annotations of {where}: {exc}") from exc


def _fix(schema: Any, names: Mapping[str, str]) -> Any:
    """Rewrite a library's JSON Schema into an AsyncAPI Schema Object."""
    if isinstance(schema, list):
        return [_fix(item, names) for item in schema]
    if not isinstance(schema, dict):
        return schema
    fixed: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str):
            fixed[key] = _ref(value, names)
        elif key == "prefixItems":
            fixed["items"] = _fix(value, names)
        elif key == "items" and "prefixItems" in schema:
            fixed["additionalItems"] = _fix(value, names)
        elif key == "discriminator" and isinstance(value, dict):
            fixed[key] = value.get("propertyName", "")
        elif key in ("properties", "patternProperties", "$defs", "definitions"):
            fixed[key] = {name: _fix(item, names) for name, item in value.items()}
        else:
            fixed[key] = _fix(value, names)
    return fixed


def _ref(ref: str, names: Mapping[str, str]) -> str:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            name = ref[len(prefix) :]
            return f"#/components/schemas/{names.get(name, _key(name))}"
    return ref


def dumps(doc: Mapping[str, Any]) -> str:
    """The document as JSON text, as :meth:`Router.asyncapi_route` serves it."""
    return json.dumps(doc, indent=2) + "\n"
