"""Endpoints: the message loop of a connection as a class.

An :class:`Endpoint` is a class view (see :mod:`.views`) whose ``handle``
runs the loop that every handler writes otherwise: it calls
:meth:`~Endpoint.on_connect`, reads and decodes each message, dispatches it
to the method that :func:`on` names for its ``type`` (validating the payload
against the method's annotation with :mod:`.payloads`), sends the reply,
runs an optional :meth:`~Endpoint.producer` beside the loop, and calls
:meth:`~Endpoint.on_disconnect` exactly once, however the connection ends.

Close codes:

* 1000: the producer finished;
* 1003: a frame of the wrong kind (binary to a text or JSON endpoint, text
  to a bytes endpoint);
* 1007: a text frame that is not valid JSON, for a JSON endpoint;
* 1008: ``max_errors`` error replies in a row;
* 1011: a handler, hook or the producer raised (logged).

"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import reprlib
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from . import payloads
from .closing import close_code, is_closed
from .exceptions import InvalidRoute, MessageError
from .path import RoutedPath

__all__ = ["Endpoint", "on"]

logger = logging.getLogger("websockets_routes")

F = TypeVar("F", bound=Callable[..., Any])

ENCODINGS = (None, "text", "bytes", "json")
_ON = "_websockets_routes_on"
_short = reprlib.Repr()
_short.maxstring = 60


def on(message_type: str) -> Callable[[F], F]:
    """Dispatch the JSON messages of a type to the decorated method.

    The method is called as ``method(self, ws, path, message)``. The
    annotation of ``message`` decides what it gets: a dataclass, a
    ``TypedDict``, a pydantic model or a msgspec ``Struct`` is validated
    against the message's keys other than ``type`` and ``id``; ``dict`` or
    no annotation gives the whole message, unvalidated. What the method
    returns, when not :obj:`None`, is sent back as a JSON object with the
    request's ``id``.

    Raises:
        InvalidRoute: If the type is not a non-empty :class:`str`.

    Example::

        class Chat(Endpoint):
            encoding = "json"

            @on("chat.send")
            async def send(self, ws, path, message: ChatSend):
                return {"type": "chat.sent"}

    """
    if not isinstance(message_type, str) or not message_type:
        raise InvalidRoute(f"message type must be a non-empty str: {message_type!r}")

    def decorator(method: F) -> F:
        setattr(method, _ON, message_type)
        return method

    return decorator


class _Joinable(Protocol):
    def join(self, connection: Any, *groups: str, user: str | None = None) -> Any: ...


@dataclasses.dataclass(frozen=True, slots=True)
class _Handler:
    """An ``@on`` method, with the validator of its payload."""

    method: Callable[..., Awaitable[Any]]
    validate: Callable[[Any], Any] | None

    def call(self, endpoint: Any, ws: Any, path: Any, message: dict[str, Any]) -> Any:
        """Start the method on a message: the payload, validated, or all of it."""
        if self.validate is None:
            return self.method(endpoint, ws, path, message)
        payload = dict(message)
        del payload["type"]
        payload.pop("id", None)
        return self.method(endpoint, ws, path, self.validate(payload))


def _as_is(message: Any) -> Any:
    return message


class _Close(Exception):
    """Close the connection with a code and a reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Endpoint:
    """A connection's message loop as a class; route it with ``@router.route``.

    One instance serves one connection. Override any of :meth:`on_connect`,
    :meth:`on_message`, :meth:`on_disconnect` and :meth:`producer`, and
    decorate methods with :func:`on` to dispatch JSON messages by type. The
    per-view ``process_request(path, headers)`` hook works as for any class
    view.

    Attributes:
        encoding: How messages are decoded before they are handled:
            ``"text"`` (text frames, as :class:`str`), ``"bytes"`` (binary
            frames, as :class:`bytes`), ``"json"`` (text frames holding
            JSON) or :obj:`None` (frames as received). A frame of the wrong
            kind closes the connection with 1003; invalid JSON with 1007.
        max_errors: Error replies in a row after which the connection is
            closed with 1008 (10).
        concurrency: How many messages are handled at once (1: one at a
            time, in order). While that many handlers run, no further
            message is read, so a fast client is slowed down by TCP
            backpressure.
        validation: The library that validates dataclass and ``TypedDict``
            payloads: ``"msgspec"``, ``"pydantic"`` or :obj:`None` (msgspec
            if installed, else pydantic; see :mod:`.payloads`).

    Example::

        @router.route("/rooms/{room}")
        class Room(Endpoint):
            encoding = "json"

            async def on_connect(self, ws, path):
                await self.join(hub, ws, path.params["room"])

            @on("chat.send")
            async def send(self, ws, path, message: ChatSend):
                await hub.publish(path.params["room"], message.text)

    """

    encoding: ClassVar[str | None] = None
    max_errors: ClassVar[int] = 10
    concurrency: ClassVar[int] = 1
    validation: ClassVar[str | None] = None

    _handlers: ClassVar[dict[str, _Handler]] = {}
    # Set by prepare(): how messages are decoded.
    # Read them on the class: a function read on an instance is bound.
    _loads: ClassVar[Callable[[str], Any]] = json.loads
    _decode: ClassVar[Callable[[Any], Any]] = _as_is
    _on_methods: ClassVar[dict[str, str]] = {}
    # Error replies in a row; set on the instance once one is sent.
    _errors = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        on_methods = dict(cls._on_methods)
        for name, value in vars(cls).items():
            message_type = getattr(value, _ON, None)
            if message_type is None:
                continue
            if on_methods.get(message_type, name) != name and (
                on_methods[message_type] in vars(cls)
            ):
                raise InvalidRoute(
                    f"two methods handle message type {message_type!r} "
                    f"in {cls.__qualname__}: {on_methods[message_type]!r}, {name!r}"
                )
            on_methods[message_type] = name
        cls._on_methods = on_methods
        cls._handlers = {}

    @classmethod
    def prepare(cls) -> None:
        """Check the class and build its dispatch table; routing calls it.

        Raises:
            InvalidRoute: If an attribute or a method cannot work, or a
                payload needs a validation library that is not installed.

        """
        _check_settings(cls)
        handlers = {}
        for message_type, name in cls._on_methods.items():
            method = getattr(cls, name)
            where = f"{cls.__qualname__}.{name}"
            handlers[message_type] = _Handler(
                method, _payload_validator(method, where, cls.validation)
            )
        if handlers and cls.encoding != "json":
            raise InvalidRoute(f"@on needs encoding = 'json': {cls.__qualname__}")
        cls._handlers = handlers
        if cls.encoding == "json":
            loads = _json_loads()
            cls._loads = loads
            cls._decode = _json_decoder(loads)
        else:
            cls._decode = _DECODERS[cls.encoding]

    async def on_connect(self, ws: Any, path: RoutedPath) -> None:
        """Run once the connection is open, before any message is read."""

    async def on_message(self, ws: Any, path: RoutedPath, message: Any) -> Any:
        """Handle a message that no :func:`on` method takes.

        With :func:`on` methods, it gets JSON objects of other types; a
        class that does not override it answers those with an error reply.
        Without, it gets every decoded message. Its return value is a reply,
        as for :func:`on` methods.

        """
        raise MessageError(_unknown_type(message))

    async def on_disconnect(self, ws: Any, path: RoutedPath, code: int) -> None:
        """Run exactly once when the connection ends, with its close code."""

    async def join(
        self,
        hub: _Joinable,
        ws: Any,
        *groups: str,
        user: str | None = None,
        **options: Any,
    ) -> None:
        """Join a hub's groups until the connection ends.

        The connection leaves them after :meth:`on_disconnect`, however it
        ended, so that no member is left behind. ``options`` go to the hub's
        ``join()``: ``meta``, ``presence_events``, ``since``, ``history``.

        Example::

            async def on_connect(self, ws, path):
                await self.join(hub, ws, "room:" + path.params["room"])

        """
        # Hubs' join() takes more options than _Joinable names.
        join: Callable[..., Any] = hub.join
        membership = await join(ws, *groups, user=user, **options)
        self.__dict__.setdefault("_memberships", []).append(membership)

    async def handle(self, ws: Any, path: RoutedPath) -> None:
        """Run the connection's lifecycle; the router calls it."""
        try:
            await self.on_connect(ws, path)
            if type(self).producer is Endpoint.producer:
                await self._receive(ws, path)
            else:
                await self._receive_and_produce(ws, path)
        except ConnectionClosed:
            pass
        except _Close as exc:
            await ws.close(exc.code, exc.reason)
        except Exception:
            logger.error("endpoint failed: %s", path, exc_info=True)
            await ws.close(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            await self._disconnect(ws, path)

    async def producer(self, ws: Any, path: RoutedPath) -> Any:
        """Send messages beside the receive loop; override it to use it.

        An async generator's values are encoded per :attr:`encoding` and
        sent; a coroutine sends what it likes. When it ends, the receive
        loop is cancelled and the connection closes with 1000 (1011 if it
        raised); when the receive loop ends, it is cancelled.

        """

    async def _disconnect(self, ws: Any, path: RoutedPath) -> None:
        if not is_closed(ws):
            # Cancelled with the connection open: close it before telling.
            await ws.close(CloseCode.GOING_AWAY, "going away")
        try:
            await self.on_disconnect(ws, path, await close_code(ws))
        except Exception:
            logger.error("on_disconnect failed: %s", path, exc_info=True)
        finally:
            for membership in self.__dict__.pop("_memberships", []):
                await membership.__aexit__(None, None, None)

    async def _receive(self, ws: Any, path: RoutedPath) -> None:
        cls = type(self)
        if cls.concurrency > 1:
            await self._receive_concurrently(ws, path)
        elif cls.encoding == "json" and self._handlers:
            await self._receive_json(ws, path)
        else:
            decode = cls._decode
            dispatch = self._dispatch
            async for message in ws:
                await dispatch(ws, path, decode(message))

    async def _receive_json(self, ws: Any, path: RoutedPath) -> None:
        """The loop of a JSON endpoint with :func:`on` methods, one at a time.

        It runs for every message, so it is kept flat and awaits nothing but
        the handler and the reply; it is timed in ``benchmarks/endpoint.py``.
        Whatever is not a known type goes to :meth:`_dispatch`.

        """
        handlers = self._handlers
        loads = type(self)._loads
        async for message in ws:
            if type(message) is not str:
                raise _Close(CloseCode.UNSUPPORTED_DATA, "expected a text frame")
            try:
                data = loads(message)
            except (ValueError, RecursionError):
                raise _Close(CloseCode.INVALID_DATA, "invalid JSON") from None
            message_type = data.get("type") if type(data) is dict else None
            handler = handlers.get(message_type) if type(message_type) is str else None
            if handler is None:
                await self._dispatch(ws, path, data)
                continue
            try:
                reply = await handler.call(self, ws, path, data)
            except (MessageError, payloads.PayloadError) as exc:
                await self._error(ws, data.get("id"), str(exc))
                continue
            if self._errors:
                self._errors = 0
            if reply is not None:
                await ws.send(_reply(reply, data.get("id")))

    async def _receive_concurrently(self, ws: Any, path: RoutedPath) -> None:
        decode = type(self)._decode
        slots = asyncio.Semaphore(type(self).concurrency)
        running: set[asyncio.Task[None]] = set()
        failed: list[BaseException] = []

        def done(task: asyncio.Task[None]) -> None:
            running.discard(task)
            slots.release()
            if not task.cancelled() and task.exception() is not None:
                failed.append(task.exception())  # type: ignore[arg-type]

        try:
            async for message in ws:
                await slots.acquire()
                if failed:
                    raise failed[0]
                task = asyncio.create_task(self._dispatch(ws, path, decode(message)))
                running.add(task)
                task.add_done_callback(done)
            if running:
                await asyncio.wait(running)
            if failed:
                raise failed[0]
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)

    async def _dispatch(self, ws: Any, path: RoutedPath, message: Any) -> None:
        """Handle one decoded message: dispatch, reply, or answer an error."""
        handlers = self._handlers
        request_id = None
        try:
            if not handlers:
                reply = await self.on_message(ws, path, message)
            else:
                if type(message) is not dict:
                    raise MessageError("message must be a JSON object")
                request_id = message.get("id")
                message_type = message.get("type")
                if type(message_type) is not str:
                    raise MessageError("message must have a string type")
                handler = handlers.get(message_type)
                if handler is None:
                    reply = await self.on_message(ws, path, message)
                else:
                    reply = await handler.call(self, ws, path, message)
        except (MessageError, payloads.PayloadError) as exc:
            await self._error(ws, request_id, str(exc))
            return
        if self._errors:
            self._errors = 0
        if reply is not None:
            await ws.send(_reply(reply, request_id))

    async def _error(self, ws: Any, request_id: Any, text: str) -> None:
        self._errors += 1
        reply: dict[str, Any] = {"type": "error", "message": text}
        if request_id is not None:
            reply["id"] = request_id
        await ws.send(json.dumps(reply))
        if self._errors >= type(self).max_errors:
            raise _Close(CloseCode.POLICY_VIOLATION, "too many errors")

    async def _receive_and_produce(self, ws: Any, path: RoutedPath) -> None:
        receiving = asyncio.create_task(self._receive(ws, path))
        producing = asyncio.create_task(self._produce(ws, path))
        try:
            await asyncio.wait(
                {receiving, producing}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (receiving, producing):
                task.cancel()
            await asyncio.gather(receiving, producing, return_exceptions=True)
        if producing.done() and not producing.cancelled():
            if producing.exception() is not None:
                logger.error(
                    "producer failed: %s", path, exc_info=producing.exception()
                )
                raise _Close(CloseCode.INTERNAL_ERROR, "internal error")
            raise _Close(CloseCode.NORMAL_CLOSURE, "")
        if not receiving.cancelled() and receiving.exception() is not None:
            raise receiving.exception()  # type: ignore[misc]

    async def _produce(self, ws: Any, path: RoutedPath) -> None:
        encode = _ENCODERS[type(self).encoding]
        produced = self.producer(ws, path)
        if inspect.isasyncgen(produced):
            async for value in produced:
                await ws.send(encode(value))
        else:
            await produced


def _reply(reply: Any, request_id: Any) -> str:
    """A handler's return value as a JSON object, with the request's id."""
    if type(reply) is dict:
        return json.dumps(reply if request_id is None else {**reply, "id": request_id})
    body = payloads.to_json(reply)
    if request_id is not None:
        body["id"] = request_id
    return json.dumps(body)


def _unknown_type(message: Any) -> str:
    if isinstance(message, Mapping):
        return f"unknown message type: {_short.repr(message.get('type'))}"
    return "unexpected message"


def _decode_text(message: str | bytes) -> str:
    if type(message) is not str:
        raise _Close(CloseCode.UNSUPPORTED_DATA, "expected a text frame")
    return message


def _decode_bytes(message: str | bytes) -> bytes:
    if isinstance(message, str):
        raise _Close(CloseCode.UNSUPPORTED_DATA, "expected a binary frame")
    return message


def _json_decoder(loads: Callable[[str], Any]) -> Callable[[Any], Any]:
    def decode_json(message: str | bytes) -> Any:
        if type(message) is not str:
            raise _Close(CloseCode.UNSUPPORTED_DATA, "expected a text frame")
        try:
            return loads(message)
        except (ValueError, RecursionError):
            raise _Close(CloseCode.INVALID_DATA, "invalid JSON") from None

    return decode_json


def _json_loads() -> Callable[[str], Any]:
    """msgspec's JSON decoder if it is installed, else the standard library's.

    msgspec's takes a seventh of the time, and refuses what JSON does not
    allow (``NaN``, ``Infinity``, lone surrogates) where ``json.loads()``
    accepts them.

    """
    try:
        import msgspec.json
    except ImportError:
        return json.loads
    return msgspec.json.Decoder().decode


def _encode_json(value: Any) -> str:
    if isinstance(value, (str, int, float, bool, list)) or value is None:
        return json.dumps(value)
    return json.dumps(payloads.to_json(value))


_DECODERS: Mapping[str | None, Callable[[Any], Any]] = {
    None: _as_is,
    "text": _decode_text,
    "bytes": _decode_bytes,
}

_ENCODERS: Mapping[str | None, Callable[[Any], Any]] = {
    None: _as_is,
    "text": str,
    "bytes": bytes,
    "json": _encode_json,
}


def _check_settings(cls: type[Endpoint]) -> None:
    if cls.encoding not in ENCODINGS:
        raise InvalidRoute(
            f"encoding must be 'text', 'bytes', 'json' or None: {cls.encoding!r}"
        )
    for name in ("max_errors", "concurrency"):
        value = getattr(cls, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidRoute(f"{name} must be a positive int: {value!r}")
    for name in ("on_connect", "on_message", "on_disconnect"):
        if not inspect.iscoroutinefunction(getattr(cls, name)):
            raise InvalidRoute(f"{name} must be a coroutine function: {cls!r}")
    producer = cls.producer
    if not (
        inspect.iscoroutinefunction(producer) or inspect.isasyncgenfunction(producer)
    ):
        raise InvalidRoute(
            f"producer must be a coroutine function or an async generator: {cls!r}"
        )


def _payload_validator(
    method: Any, where: str, backend: str | None
) -> Callable[[Any], Any] | None:
    """Check an ``@on`` method and build the validator of its payload."""
    if not inspect.iscoroutinefunction(method):
        raise InvalidRoute(f"@on method must be a coroutine function: {where}")
    parameters = list(inspect.signature(method).parameters.values())
    try:
        inspect.signature(method).bind(None, None, None, None)
    except TypeError:
        raise InvalidRoute(
            f"@on method must take (self, ws, path, message): {where}"
        ) from None
    if len(parameters) < 4 or parameters[3].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        return None
    try:
        hints = typing.get_type_hints(method, include_extras=True)
    except Exception as exc:
        raise InvalidRoute(f"cannot resolve the annotations of {where}: {exc}") from exc
    annotation = hints.get(parameters[3].name, inspect.Parameter.empty)
    return payloads.validator(annotation, backend=backend, where=where)
