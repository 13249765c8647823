"""Checks and answers of the opening handshake, on websockets' ``Request``.

websockets reads the request; :func:`check_request` checks what HTTP
requires of it before routing (``Host``, the size of the headers), and the
other functions shape answers: websockets' own refusals escaped, ``HEAD``
answered without a body.

"""

from __future__ import annotations

import base64
import binascii
import http
import itertools
import re
import urllib.parse
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response

from . import _compat
from .views import error_response

__all__ = ["MAX_HEADER_SIZE", "check_request", "origin_form"]

#: Bytes that all header lines of a request may take together; more gets
#: HTTP 431. A module attribute, read at each request, that an application
#: may change.
MAX_HEADER_SIZE = 16 * 1024


def check_request(request: Any) -> Response | None:
    """Check what HTTP requires of any request, before routing.

    Returns:
        HTTP 400 for a request without a ``Host`` header (HTTP/1.1 requires
        one) or with more than one (RFC 9112, section 3.2); HTTP 431 for
        headers larger than :data:`MAX_HEADER_SIZE` together; else
        :obj:`None`.

    Example::

        refused = check_request(request)

    """
    headers: Headers = request.headers
    hosts = headers.get_all("Host")
    if len(hosts) > 1:
        return error_response(http.HTTPStatus.BAD_REQUEST, "more than one Host header")
    if not hosts and _compat.request_protocol(request) != "HTTP/1.0":
        return error_response(http.HTTPStatus.BAD_REQUEST, "missing Host header")
    items = list(headers.raw_items())
    # Each line is its name and value, ": " and CRLF.
    if sum(map(len, itertools.chain.from_iterable(items))) + 4 * len(items) > (
        MAX_HEADER_SIZE
    ):
        return error_response(
            http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            f"headers larger than {MAX_HEADER_SIZE} bytes",
        )
    return None


def check_upgrade(headers: Headers) -> Response | None:
    """Check the headers that open a WebSocket, as websockets will after.

    Before websockets 17, its refusal of such a header fails to encode one
    that isn't UTF-8 and sends no answer (see ``_compat``): refusing here,
    without quoting the request, answers every client.

    Returns:
        HTTP 426 with ``Upgrade: websocket`` when the request asks for no
        WebSocket (a browser opening the URL, for one); HTTP 400 for a
        missing or malformed ``Sec-WebSocket-Key`` or
        ``Sec-WebSocket-Version``; else :obj:`None`.

    """
    connection = [
        token.strip().lower()
        for value in headers.get_all("Connection")
        for token in value.split(",")
    ]
    upgrade = [
        token.strip().lower()
        for value in headers.get_all("Upgrade")
        for token in value.split(",")
    ]
    if "upgrade" not in connection or upgrade != ["websocket"]:
        response = error_response(
            http.HTTPStatus.UPGRADE_REQUIRED,
            "this is a WebSocket endpoint; open it with a WebSocket client",
        )
        response.headers["Upgrade"] = "websocket"
        return response
    keys = headers.get_all("Sec-WebSocket-Key")
    if len(keys) != 1 or not _valid_key(keys[0]):
        return error_response(
            http.HTTPStatus.BAD_REQUEST, "missing or invalid Sec-WebSocket-Key header"
        )
    if headers.get_all("Sec-WebSocket-Version") != ["13"]:
        response = error_response(
            http.HTTPStatus.BAD_REQUEST,
            "missing or invalid Sec-WebSocket-Version header",
        )
        response.headers["Sec-WebSocket-Version"] = "13"
        return response
    return None


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        return False


def origin_form(target: str) -> str:
    """The path and query of a request target; absolute-form becomes origin-form.

    Example::

        >>> origin_form("http://example.com/chat?x=1")
        '/chat?x=1'

    """
    if target.startswith("/"):
        return target
    url = urllib.parse.urlsplit(target)
    if url.scheme.lower() in ("http", "https", "ws", "wss") and url.netloc:
        path = url.path or "/"
        return f"{path}?{url.query}" if url.query else path
    return target


def escaped(response: Response) -> Response:
    """websockets' refusal, with what it may quote of the request escaped."""
    text = (response.body or b"").decode("utf-8", "replace")
    body = _UNSAFE.sub(_escape, text).encode()
    if body == response.body:
        return response
    headers = Headers(
        (name, value)
        for name, value in response.headers.raw_items()
        if name.lower() != "content-length"
    )
    headers["Content-Length"] = str(len(body))
    return Response(response.status_code, response.reason_phrase, headers, body)


def without_body(response: Response) -> Response:
    """The answer to HEAD: the headers of GET's answer, and no body."""
    if not response.body:
        return response
    return Response(response.status_code, response.reason_phrase, response.headers, b"")


def printable(text: str) -> str:
    """Text from a client, fit for a log line: what isn't printable is escaped."""
    return text if text.isprintable() else _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    return (
        f"\\x{ord(match[0]):02x}" if ord(match[0]) < 256 else f"\\u{ord(match[0]):04x}"
    )


# Letters, digits, spaces, line ends and punctuation that no markup uses.
_UNSAFE = re.compile(r"[^A-Za-z0-9 \n.,:;_()/=+*@!?#%\[\]{}-]")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
