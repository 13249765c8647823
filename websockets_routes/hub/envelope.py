"""The wire format of messages exchanged between hubs through a broker.

An envelope is a small JSON object, encoded in UTF-8::

    {"v": 1, "type": "text", "data": "hello"}
    {"v": 1, "type": "binary", "data": "aGVsbG8="}

``v`` is the version of the format. ``type`` keeps text and binary messages
apart: ``data`` holds a text message as a JSON string and a binary message as
base64. Readers ignore keys they don't know, so a later minor revision may add
keys without changing ``v``; they reject other versions. Nothing is ever
pickled: a message from the broker is data, never code.

This module knows no I/O; it's tested without sockets.

"""

from __future__ import annotations

import base64
import binascii
import json
import json.decoder
import json.encoder
from collections.abc import Callable, Mapping
from typing import Any, cast

from .exceptions import InvalidEnvelope

__all__ = [
    "VERSION",
    "Message",
    "decode",
    "encode",
    "unwrap",
]

VERSION = 1
"""Version of the envelope format written by :func:`encode`."""

Message = str | bytes
"""A WebSocket message: :class:`str` is sent as text, :class:`bytes` as binary."""

# What encode() writes before the JSON string of a text message without extra
# keys: the common case, which encode() and unwrap() handle without a dict.
_TEXT_HEAD = '{"v":1,"type":"text","data":'
_TEXT_HEAD_BYTES = (_TEXT_HEAD + '"').encode()

# The C functions behind json.dumps(ensure_ascii=False) and json.loads() for
# one string: the same output and the same errors, without the dispatch.
_dump_string = json.encoder.encode_basestring
# typeshed doesn't declare scanstring().
_scan_string: Callable[[str, int], tuple[str, int]]
_scan_string = cast(Any, json.decoder).scanstring


def encode(message: Message, extra: Mapping[str, Any] | None = None) -> bytes:
    """Wrap a message in an envelope.

    Args:
        message: Message to wrap; :class:`str` for text, :class:`bytes` for
            binary (:class:`bytearray` and :class:`memoryview` are accepted).
        extra: Other keys of the envelope, like ``"presence": true`` for a
            presence event.

    Returns:
        The envelope, as UTF-8 encoded JSON.

    Raises:
        TypeError: If ``message`` is neither text nor binary.

    Example::

        >>> encode("hello")
        b'{"v":1,"type":"text","data":"hello"}'

    """
    if isinstance(message, str):
        if not extra:
            return f"{_TEXT_HEAD}{_dump_string(message)}}}".encode()
        kind, data = "text", message
    elif isinstance(message, (bytes, bytearray, memoryview)):
        kind, data = "binary", base64.b64encode(message).decode("ascii")
    else:
        raise TypeError(f"unsupported message type: {type(message).__name__}")
    envelope = {"v": VERSION, "type": kind, "data": data}
    if extra:
        envelope.update(extra)
    # Compact separators keep envelopes small; ensure_ascii=False keeps
    # non-ASCII text at its UTF-8 size instead of six bytes per \u escape.
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def decode(envelope: bytes | str) -> Message:
    """Unwrap a message from an envelope.

    Args:
        envelope: Envelope read from the broker.

    Returns:
        The message: :class:`str` for text, :class:`bytes` for binary.

    Raises:
        InvalidEnvelope: If ``envelope`` isn't a valid envelope of a supported
            version.

    Example::

        >>> decode(b'{"v":1,"type":"binary","data":"aGk="}')
        b'hi'

    """
    return unwrap(envelope)[0]


def unwrap(envelope: bytes | str) -> tuple[Message, dict[str, Any]]:
    """Unwrap a message and the envelope's keys from an envelope.

    Args:
        envelope: Envelope read from the broker.

    Returns:
        The message, and every key of the envelope, like ``"id"`` for a
        message of a room with history.

    Raises:
        InvalidEnvelope: If ``envelope`` isn't a valid envelope of a supported
            version.

    Example::

        >>> unwrap(b'{"v":1,"type":"text","data":"hi","id":"1-0"}')[1]["id"]
        '1-0'

    """
    if type(envelope) is bytes and envelope.startswith(_TEXT_HEAD_BYTES):
        text = _unwrap_text(envelope)
        if text is not None:
            return text, {"v": VERSION, "type": "text", "data": text}
    try:
        fields = json.loads(envelope)
    except (ValueError, TypeError) as exc:
        raise InvalidEnvelope(f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        # An envelope is a flat object: deep nesting is hostile, and would
        # otherwise escape as an error that no caller expects.
        raise InvalidEnvelope("invalid JSON: nested too deep") from exc
    if not isinstance(fields, dict):
        raise InvalidEnvelope(f"not a JSON object: {type(fields).__name__}")
    version = fields.get("v")
    if version != VERSION:
        raise InvalidEnvelope(f"unsupported envelope version: {version!r}")
    return _unwrap(fields.get("type"), fields.get("data")), fields


def _unwrap_text(envelope: bytes) -> str | None:
    # A text envelope as encode() writes it, without extra keys; None sends
    # anything else, valid or not, to json.loads() and the full checks.
    try:
        text = envelope.decode()
        data, end = _scan_string(text, len(_TEXT_HEAD) + 1)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError
        return None
    # An escape may stand for a lone surrogate, which the full path rejects.
    if end != len(text) - 1 or text[end] != "}" or "\\u" in text:
        return None
    return data


def _unwrap(kind: object, data: object) -> Message:
    if not isinstance(data, str):
        raise InvalidEnvelope(f"data must be a string: {type(data).__name__}")
    if kind == "text":
        try:
            # JSON may escape lone surrogates, which no WebSocket text can carry.
            data.encode()
        except UnicodeEncodeError as exc:
            raise InvalidEnvelope(f"invalid text: {exc}") from exc
        return data
    if kind == "binary":
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidEnvelope(f"invalid base64: {exc}") from exc
    raise InvalidEnvelope(f"unsupported message type: {kind!r}")
