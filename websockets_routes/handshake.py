"""Reading the opening handshake's request, so that every request gets an answer.

websockets' own request parser closes the connection without a word when a
request has a body, uses another method than ``GET`` (before websockets 15),
or is followed by more bytes before the answer (a pipelined request, a body
that it did not read). :class:`~websockets_routes.Protocol` replaces the
parser of each connection with :func:`parse`, which:

* accepts any method, so that routing answers HTTP 405 with an ``Allow``
  header where the route serves another one, and HTTP endpoints serve
  ``HEAD``;
* leaves a body unread, so that routing answers it (HTTP 405, or HTTP 400:
  no route reads a request body);
* routes an absolute-form target (``GET http://host/echo HTTP/1.1``, RFC
  9112 section 3.2.2) by its path;
* reads no WebSocket frame before the handshake's answer is sent, so that
  bytes sent after the request do not fail the connection before it is
  answered;
* reads a request that arrived whole, the usual case, in one go
  (:func:`read_whole_request`), and a request that arrives in parts line
  by line, with the same checks and the same answers;
* answers what it cannot read: HTTP 400 for a malformed request line or
  header, 414 for a request line too long, 431 for headers too large, 505
  for an HTTP version other than 1.1 or 1.0. A connection closed before a
  whole request arrived gets no answer, and so does one whose client closed
  its side (TCP half-close) before the answer: it could not take part in a
  WebSocket connection.

Limits on a request, which bound the memory that a client can hold before
it is answered (a flood of half-open connections sending headers holds at
most this much each):

* the request line and each header line: websockets' ``MAX_LINE_LENGTH``,
  8,192 bytes (set ``WEBSOCKETS_MAX_LINE_LENGTH`` in the environment to
  change it); longer gets HTTP 414 or 431;
* the number of headers: websockets' ``MAX_NUM_HEADERS``, 128
  (``WEBSOCKETS_MAX_NUM_HEADERS``); more gets HTTP 431;
* all header lines together: :data:`MAX_HEADER_SIZE`, 16 KiB, like Node.js;
  more gets HTTP 431.

"""

from __future__ import annotations

import dataclasses
import functools
import http
import re
import urllib.parse
import weakref
from collections.abc import Callable, Generator
from typing import Any

from websockets import http11
from websockets.datastructures import Headers
from websockets.exceptions import SecurityError
from websockets.http11 import Request, Response, parse_headers, parse_line
from websockets.protocol import CONNECTING
from websockets.protocol import Protocol as SansIOProtocol
from websockets.server import ServerProtocol
from websockets.version import version as websockets_version

__all__ = [
    "MAX_HEADER_SIZE",
    "accept",
    "install",
    "parse",
    "read_request",
    "read_whole_request",
]

#: Bytes that all header lines of a request may take together; a module
#: attribute, read at each request, that an application may raise.
MAX_HEADER_SIZE = 16 * 1024

#: Whether websockets' refusals fail to encode a header that isn't UTF-8, as
#: before websockets 17: then only a wrapper of ``accept()`` can escape them;
#: later, :func:`accept` escapes the refusal that it returns.
WRAP_ACCEPT = int(websockets_version.split(".")[0]) < 17


# Request.method and Request.protocol appeared in websockets 17.
_REQUEST_HAS_METHOD = {"method", "protocol"} <= {
    field.name for field in dataclasses.fields(Request)
}


class RequestError(ValueError):
    """A request that cannot be read, with the HTTP status that answers it."""

    def __init__(self, status: http.HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def install(protocol: ServerProtocol) -> None:
    """Replace a new connection's request parser with :func:`parse`.

    Before websockets 17, it also wraps ``accept()``, whose refusals quote
    the header that they refuse, so that the answer escapes what the client
    sent (see :data:`WRAP_ACCEPT`).

    """
    # Left unstarted: the first next() on data or EOF starts it, which saves
    # running it to its first yield on every connection.
    protocol.parser = parse(protocol)
    if not WRAP_ACCEPT:
        # No attribute that websockets' class doesn't have: accept() escapes.
        return
    # No class of our own: instances of another class than websockets'
    # miss the interpreter's attribute caches in all of websockets' code,
    # and cost µs per handshake. And a weak reference: a partial holding the
    # protocol would make a cycle that only the garbage collector frees.
    protocol.accept = functools.partial(_accept, weakref.ref(protocol))  # type: ignore[method-assign]


def _accept(ref: weakref.ref[ServerProtocol], request: Request) -> Response:
    """Run websockets' ``accept()``, whose refusals quote the client, escaped."""
    protocol = ref()
    assert protocol is not None  # it is calling us
    protocol.reject = functools.partial(_escaped_reject, protocol.reject)  # type: ignore[method-assign]
    try:
        return type(protocol).accept(protocol, request)
    finally:
        # The partial holds the protocol: no cycle may outlive the call.
        del protocol.reject


def _escaped_reject(reject: Any, status: http.HTTPStatus, text: str) -> Response:
    # A header that isn't UTF-8 would make websockets 14 fail to encode it.
    response: Response = reject(status, _UNSAFE.sub(_escape, text))
    return response


def accept(protocol: ServerProtocol, request: Request) -> Response:
    """Run websockets' ``accept()``; escape what its refusals quote from the request.

    websockets' refusals quote the header that they refuse, in a
    ``text/plain`` body; the answer escapes every character that markup
    could use. :meth:`~websockets_routes.Router.serve` calls it once routing
    lets the request through, in place of websockets' own call.

    Example::

        response = accept(connection.protocol, connection.request)

    """
    response = protocol.accept(request)
    # accept() notes the error of each refusal on the request. Before
    # websockets 17, the wrapper that install() set escaped it already.
    if request._exception is None or WRAP_ACCEPT:
        return response
    text = (response.body or b"").decode("utf-8", "replace")
    body = _UNSAFE.sub(_escape, text).encode()
    headers = response.headers.copy()
    del headers["Content-Length"]
    headers["Content-Length"] = str(len(body))
    return Response(response.status_code, response.reason_phrase, headers, body)


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match[0]):02x}"


# Letters, digits, spaces, line ends and punctuation that no markup uses.
_UNSAFE = re.compile(r"[^A-Za-z0-9 \n.,:;_()/=+*@!?#%\[\]{}-]")


def parse(protocol: ServerProtocol) -> Generator[None]:
    """Read the request, wait for the answer, then hand over to websockets' parser."""
    # handshake_exc stays unset: websockets before 17 logs it as an error with
    # a traceback, and a client that goes away or sends garbage must not fill
    # the error log; websockets logs the answer itself.
    try:
        reader = protocol.reader
        # read_request(), which reads a whole request at once, inlined: a
        # request sent at once costs no generator of its own.
        request = read_whole_request(reader.buffer)
        if request is None:
            request = yield from read_request(reader.read_line)
    except EOFError:
        if protocol.reader.eof:  # the client went away before its request
            yield from _went_away(protocol)
            return
        # websockets raises EOFError for a line that ends in LF without CR.
        status, text = http.HTTPStatus.BAD_REQUEST, "line without CRLF"
        yield from _answer(protocol, RequestError(status, text))
        return
    except Exception as exc:
        yield from _answer(protocol, exc)
        return
    protocol.events.append(request)
    # Bytes after the request are no frames until a 101 answers it: a body
    # or a pipelined request must not fail the connection before that.
    yield  # the request has no answer yet: no need to look at the state
    while protocol.state is CONNECTING:
        if protocol.reader.eof:
            # The client can't take part in a WebSocket connection any more.
            # Held back, the end of stream would be lost to websockets, which
            # would keep the connection open after a 101.
            yield from _went_away(protocol)
            return
        yield
    # websockets' own frame parser takes over, so that no frame of this
    # package runs per message. This one still yields once: the caller is
    # inside next() on it.
    protocol.parser = SansIOProtocol.parse(protocol)
    next(protocol.parser)
    yield


def _answer(protocol: ServerProtocol, exc: Exception) -> Generator[None]:
    """Answer a request that cannot be read with an HTTP error."""
    if isinstance(exc, RequestError):
        status, text = exc.status, str(exc)
    else:  # pragma: no cover - read_request raises RequestError
        protocol.logger.debug("! invalid HTTP request", exc_info=True)
        status, text = http.HTTPStatus.BAD_REQUEST, "invalid HTTP request"
    response = protocol.reject(
        status, f"Failed to open a WebSocket connection: {text}.\n"
    )
    # send_response() replaces this parser, which must still yield once:
    # the caller is inside next() on it.
    protocol.send_response(response)
    yield


def _went_away(protocol: ServerProtocol) -> Generator[None]:
    """End a connection whose client closed its side."""
    protocol.send_eof()
    protocol.parser = protocol.discard()
    next(protocol.parser)
    yield


def read_request(
    read_line: Any, buffer: bytearray | None = None
) -> Generator[None, None, Request]:
    """Read a request line and headers; :class:`RequestError` says what is wrong.

    ``read_line`` is the connection's ``StreamReader.read_line``, whose
    signature changed in websockets 15; ``buffer``, the reader's buffer,
    lets a request that arrived whole be read in one go (see
    :func:`read_whole_request`).

    """
    if buffer is not None:
        request = read_whole_request(buffer)
        if request is not None:
            return request
    try:
        line = yield from parse_line(read_line)
    except SecurityError as exc:
        raise RequestError(http.HTTPStatus.REQUEST_URI_TOO_LONG, str(exc)) from exc
    except ValueError as exc:
        # Fixed texts: an answer never echoes what the client sent.
        raise RequestError(
            http.HTTPStatus.BAD_REQUEST, "invalid HTTP request line"
        ) from exc
    method, target, version = _request_line(line)
    # Each header line ends in CRLF, or parse_headers() raises: the first
    # blank line ends the headers by that offset, so they fit the limit.
    if buffer is None or buffer.find(b"\r\n\r\n", 0, MAX_HEADER_SIZE) < 0:
        read_line = _limited(read_line, MAX_HEADER_SIZE)
    try:
        headers = yield from parse_headers(read_line)
    except SecurityError as exc:
        raise RequestError(
            http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, str(exc)
        ) from exc
    except ValueError as exc:
        raise RequestError(http.HTTPStatus.BAD_REQUEST, "invalid HTTP header") from exc
    return _request(method, target, version, headers)


def read_whole_request(buffer: bytearray) -> Request | None:
    """Read a request that is all in ``buffer``, as :func:`read_request` would.

    A request sent at once arrives whole: its headers are checked and split
    by two regular expressions over all of them, with the rules of
    websockets' ``parse_headers()``, rather than read one generator per
    line. A request that is not all there, or that breaks a limit, is left
    to :func:`read_request`, line by line, which tells what is wrong.

    Returns:
        The request, which is taken out of ``buffer``, or :obj:`None`.

    Raises:
        RequestError: If the request line or a header is invalid.

    """
    # websockets' limits, read at each request as websockets does.
    max_line = http11.MAX_LINE_LENGTH
    end = buffer.find(b"\r\n\r\n", 0, max_line + MAX_HEADER_SIZE)
    if end < 0:
        return None
    # The header lines, each with its CRLF, start after the request line's.
    start = buffer.find(b"\r\n") + 2
    if (
        # With its CRLF, as read_line() counts it.
        start > max_line
        # The header lines and the blank line that ends them.
        or end + 4 - start > MAX_HEADER_SIZE
        # Lines that end in LF alone, which read_line() splits apart.
        or buffer.count(b"\n", 0, end) != buffer.count(b"\r\n", 0, end)
    ):
        return None
    block = buffer[start : end + 2].decode(*_VALUE_CODEC)
    if block.count("\r\n") > http11.MAX_NUM_HEADERS or (
        len(block) > max_line and max(map(len, block.split("\r\n"))) + 2 > max_line
    ):
        return None
    method, target, version = _request_line(buffer[: start - 2])
    if _HEADER_LINES.fullmatch(block) is None:
        raise RequestError(http.HTTPStatus.BAD_REQUEST, "invalid HTTP header")
    if _OWN_HEADERS:
        # Headers(), filled as parse_headers() fills it, without a call per
        # header: its lists by lower-case name, and the raw items.
        items: list[tuple[str, str]] = []
        by_name: dict[str, list[str]] = {}
        headers = _new_object(Headers)
        headers._list, headers._dict = items, by_name
        for name, value in _HEADER_LINE.findall(block):
            value = value.strip(" \t")
            items.append((name, value))
            key = name.lower()
            values = by_name.get(key)
            if values is None:
                by_name[key] = [value]
            else:
                values.append(value)
    else:  # pragma: no cover - a Headers class that this does not know
        headers = Headers()
        for name, value in _HEADER_LINE.findall(block):
            _set_header(headers, name, value.strip(" \t"))
    del buffer[: end + 4]
    return _request(method, target, version, headers)


# websockets 17 decodes header values as ISO-8859-1 and sets them unchecked;
# before, as ASCII with surrogate escapes.
_set_header: Callable[[Headers, str, str], None]
if hasattr(Headers, "set_insecure"):
    _VALUE_CODEC: tuple[str, ...] = ("iso-8859-1",)
    _set_header = Headers.set_insecure
    _OBS_TEXT = r"\x80-\xff"
else:  # pragma: no cover - websockets < 17
    _VALUE_CODEC = ("ascii", "surrogateescape")
    _set_header = Headers.__setitem__
    _OBS_TEXT = r"\udc80-\udcff"

# Header lines, decoded: RFC 9110's token, a colon, a field value, CRLF; as
# websockets' parse_headers() checks them, the value's spaces and tabs
# included. No part can match another's characters: no backtracking.
_HEADER_LINES = re.compile(
    r"(?:[-!#$%&'*+.^_`|~0-9a-zA-Z]+:[\t\x20-\x7e" + _OBS_TEXT + r"]*\r\n)*"
)
# A header line of those: its name, its value.
_HEADER_LINE = re.compile(r"([^:]+):([^\r]*)\r\n")

# Whether Headers is the class that this fills by hand.
_OWN_HEADERS = getattr(Headers, "__slots__", None) in (
    ["_dict", "_list"],
    ("_dict", "_list"),
)
_new_object = object.__new__


def _request_line(line: bytes | bytearray) -> tuple[str, str, bytes | bytearray]:
    """The method, target and version of a request line, checked."""
    parts = line.split(b" ")
    if len(parts) != 3 or b"" in parts:
        raise RequestError(http.HTTPStatus.BAD_REQUEST, "invalid HTTP request line")
    raw_method, raw_target, raw_version = parts
    if raw_version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise RequestError(
            http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "unsupported HTTP version"
        )
    if not raw_method.isalpha() or not raw_method.isupper():
        raise RequestError(http.HTTPStatus.BAD_REQUEST, "invalid HTTP method")
    try:
        target = raw_target.decode("ascii")
    except UnicodeDecodeError:
        raise RequestError(
            http.HTTPStatus.BAD_REQUEST, "request target is not ASCII"
        ) from None
    if not target.isprintable():
        raise RequestError(
            http.HTTPStatus.BAD_REQUEST, "control character in request target"
        )
    return raw_method.decode(), target, raw_version


def _request(
    method: str, target: str, version: bytes | bytearray, headers: Headers
) -> Request:
    """The request, as websockets builds it."""
    # Most targets are in origin-form already: no call for them.
    path = target if target[0] == "/" else origin_form(target)
    if _REQUEST_HAS_METHOD:
        # As websockets builds it: no attribute that its class doesn't have,
        # which would cost µs in all code that reads the request.
        return Request(path, headers, method=method, protocol=version.decode())  # type: ignore[call-arg, unused-ignore]
    request = Request(path, headers)
    # Before websockets 17, routing reads the method with getattr.
    request_attributes: dict[str, Any] = request.__dict__
    request_attributes["method"] = method
    return request


def _limited(read_line: Any, limit: int) -> Any:
    """``read_line``, raising :exc:`SecurityError` past ``limit`` bytes in all."""
    total = 0

    def read(*args: Any) -> Generator[None, None, bytes]:
        nonlocal total
        line: bytes = yield from read_line(*args)
        total += len(line)
        if total > limit:
            raise SecurityError(f"headers larger than {limit} bytes")
        return line

    return read


def origin_form(target: str) -> str:
    """The path and query of a request target; absolute-form becomes origin-form."""
    if target.startswith("/"):
        return target
    url = urllib.parse.urlsplit(target)
    if url.scheme.lower() in ("http", "https", "ws", "wss") and url.netloc:
        path = url.path or "/"
        return f"{path}?{url.query}" if url.query else path
    return target
