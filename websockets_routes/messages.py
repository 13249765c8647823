"""Typed receives for plain handlers: :func:`receive`, :func:`expect`, :func:`pair`.

They read the next message of a connection as a type, as an
:class:`~websockets_routes.Endpoint` reads its messages, and close the
connection when it does not fit:

* 1003: a frame of the wrong kind (binary where text is due, or text where
  bytes are due);
* 1007: a message that does not convert to the type;
* 1008: :func:`expect` got another message than the one it expects.

"""

from __future__ import annotations

import json
import reprlib
from typing import Any, TypeVar, overload

from websockets.frames import CloseCode

from . import payloads
from .exceptions import MessageError

__all__ = ["expect", "pair", "receive"]

T = TypeVar("T")

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


@overload
async def receive(ws: Any, tp: type[T]) -> T: ...


@overload
async def receive(ws: Any, tp: Any) -> Any: ...


async def receive(ws: Any, tp: Any) -> Any:
    """Receive the next message, converted to a type.

    ``str`` takes a text frame and ``bytes`` a binary frame as they are;
    ``int``, ``float``, ``bool`` and ``dict`` read a text frame as JSON; a
    dataclass, a ``TypedDict``, a pydantic model or a msgspec ``Struct``
    reads a JSON object and validates it, as an Endpoint's payloads.

    Raises:
        websockets_routes.payloads.PayloadError: If the message does not
            convert; the connection is closed with 1007, or 1003 for a
            frame of the wrong kind.
        ConnectionClosed: If the connection closes first.

    Example::

        name = await receive(ws, str)
        order = await receive(ws, Order)

    """
    convert = payloads.converter(tp)
    message = await ws.recv()
    try:
        return convert(message)
    except payloads.FrameKindError as exc:
        await ws.close(CloseCode.UNSUPPORTED_DATA, _reason(exc))
        raise
    except payloads.PayloadError as exc:
        await ws.close(CloseCode.INVALID_DATA, _reason(exc))
        raise


async def expect(ws: Any, value: str | bytes) -> None:
    """Receive the next message; it must equal ``value``.

    Raises:
        MessageError: If it does not; the connection is closed with 1008.

    Example::

        await expect(ws, "hello")

    """
    message = await ws.recv()
    if message != value:
        await ws.close(CloseCode.POLICY_VIOLATION, "unexpected message")
        raise MessageError(f"expected {_short.repr(value)}: {_short.repr(message)}")


async def pair(ws: Any, message: Any, tp: Any) -> Any:
    """Send a message, then :func:`receive` the answer as a type.

    ``str`` and ``bytes`` are sent as they are; a mapping, a dataclass or a
    model is sent as a JSON object.

    Example::

        answer = await pair(ws, {"type": "ping"}, Pong)

    """
    if not isinstance(message, (str, bytes)):
        message = json.dumps(payloads.to_json(message))
    await ws.send(message)
    return await receive(ws, tp)


def _reason(exc: Exception) -> str:
    # A close reason holds 123 bytes of UTF-8.
    return str(exc).encode()[:123].decode(errors="ignore")
