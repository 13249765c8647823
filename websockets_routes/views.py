"""Views: what a route leads to, and how their answers become HTTP responses.

A route's endpoint is either a coroutine function ``async def h(ws, path)``
or a class. A class is instantiated once per connection; its optional
``process_request(self, path, headers)`` hook runs during the handshake and
its optional ``handle(self, ws, path)`` runs once the connection is open.

"""

from __future__ import annotations

import dataclasses
import email.utils
import http
import inspect
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from websockets.datastructures import Headers
from websockets.http11 import Response

from .endpoint import Endpoint
from .exceptions import InvalidRoute
from .path import RoutedPath

__all__ = [
    "FunctionView",
    "HTTPView",
    "RedirectView",
    "ResponseLike",
    "View",
    "as_http_response",
    "as_response",
    "check_http_endpoint",
    "error_response",
    "make_view",
]

# A host and an optional port, or an IP literal: no userinfo, path or space.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")

#: What a ``process_request`` hook may return: :obj:`None` to go on, a
#: websockets :class:`~websockets.http11.Response`, or a ``(status, headers,
#: body)`` tuple whose status is an :class:`int` or :class:`http.HTTPStatus`.
ResponseLike = Response | tuple[int | http.HTTPStatus, Any, bytes | str] | None


class View(Protocol):
    """What a view instance looks like to the router; both methods are optional."""

    def process_request(
        self, path: RoutedPath, headers: Headers
    ) -> Awaitable[ResponseLike] | ResponseLike: ...  # pragma: no cover

    async def handle(self, ws: Any, path: RoutedPath) -> None: ...  # pragma: no cover


class FunctionView:
    """The view of a coroutine function: no hook, and the function as handler."""

    __slots__ = ("handle",)

    # A class attribute, so that looking the hook up raises no AttributeError
    # on every handshake.
    process_request = None

    def __init__(
        self, handler: Callable[[Any, RoutedPath], Coroutine[Any, Any, None]]
    ) -> None:
        self.handle = handler

    def __call__(self) -> FunctionView:
        """Its own factory: one view serves every connection of its route."""
        return self


class HTTPView:
    """The view of an HTTP endpoint: its answer is the handshake's response."""

    __slots__ = ("endpoint",)

    def __init__(
        self, endpoint: Callable[[RoutedPath, Headers], Awaitable[Any]]
    ) -> None:
        self.endpoint = endpoint

    async def process_request(self, path: RoutedPath, headers: Headers) -> Response:
        response = as_http_response(await self.endpoint(path, headers))
        if path.method == "HEAD":
            # The headers of a GET, Content-Length included, and no body.
            response = dataclasses.replace(response, body=b"")
        return response


class RedirectView:
    """The view of a redirect: a 3xx response whose Location is built from the path.

    Args:
        location: Builds the target from the request path's parameters.
        status: The redirect's HTTP status.
        absolute: Whether the Location is an absolute URL, built from the
            request's ``Host`` header: ``ws://`` or ``wss://`` for a
            WebSocket upgrade, ``http://`` or ``https://`` otherwise.

    """

    __slots__ = ("absolute", "location", "status")

    def __init__(
        self,
        location: Callable[[RoutedPath], str],
        status: int,
        absolute: bool = False,
    ) -> None:
        self.location = location
        self.status = http.HTTPStatus(status)
        self.absolute = absolute

    def process_request(self, path: RoutedPath, headers: Headers) -> Response:
        location = self.location(path)
        if self.absolute:
            host = headers.get("Host", "")
            if not _HOST.fullmatch(host):
                return error_response(
                    http.HTTPStatus.BAD_REQUEST, "missing or invalid Host header"
                )
            upgrade = headers.get("Upgrade", "").lower() == "websocket"
            scheme = (
                ("wss" if path.secure else "ws")
                if upgrade
                else ("https" if path.secure else "http")
            )
            location = f"{scheme}://{host}{location}"
        body = f"Redirecting to {location}\n".encode()
        response_headers = Headers([("Location", location)])
        response_headers["Content-Type"] = "text/plain; charset=utf-8"
        return _response(self.status, response_headers, body)


def check_http_endpoint(endpoint: Any) -> Callable[[], HTTPView]:
    """Check an HTTP endpoint and return a factory of its view.

    Raises:
        InvalidRoute: If the endpoint is not a coroutine function.

    """
    if not inspect.iscoroutinefunction(endpoint):
        raise InvalidRoute(f"http endpoint must be a coroutine function: {endpoint!r}")
    _check_arguments(endpoint, 2, "http endpoint must take (path, headers)", endpoint)
    view = HTTPView(endpoint)
    return lambda: view


def make_view(endpoint: Any) -> Callable[[], Any]:
    """Check an endpoint and return a factory of its per-connection views.

    Raises:
        InvalidRoute: If the endpoint is neither a coroutine function nor a
            class, or its ``handle`` is not a coroutine function.

    """
    if inspect.iscoroutinefunction(endpoint):
        _check_arguments(endpoint, 2, "handler must take (ws, path)", endpoint)
        # The view is its own factory, which routing need not call.
        return FunctionView(endpoint)
    if not inspect.isclass(endpoint):
        raise InvalidRoute(
            f"view must be a coroutine function or a class: {endpoint!r}"
        )
    handle = getattr(endpoint, "handle", None)
    if handle is not None:
        if not inspect.iscoroutinefunction(handle):
            raise InvalidRoute(f"handle must be a coroutine function: {endpoint!r}")
        _check_method(endpoint, "handle", "(ws, path)")
    hook = getattr(endpoint, "process_request", None)
    if hook is not None:
        if not callable(hook):
            raise InvalidRoute(f"process_request must be callable: {endpoint!r}")
        _check_method(endpoint, "process_request", "(path, headers)")
    try:
        inspect.signature(endpoint).bind()
    except (TypeError, ValueError) as exc:
        raise InvalidRoute(f"view class must take no arguments: {endpoint!r}") from exc
    if issubclass(endpoint, Endpoint):
        endpoint.prepare()
    return endpoint


def _check_method(cls: type, name: str, arguments: str) -> None:
    """Refuse a view class whose method cannot take ``arguments`` (two of them)."""
    raw = inspect.getattr_static(cls, name)
    if isinstance(raw, staticmethod):
        function, count = raw.__func__, 2
    elif isinstance(raw, classmethod):
        function, count = getattr(cls, name), 2
    else:
        function, count = raw, 3  # called on an instance: self comes first
    _check_arguments(function, count, f"{name} must take {arguments}", cls)


def _check_arguments(function: Any, count: int, message: str, endpoint: Any) -> None:
    """Refuse a callable that cannot be called with ``count`` positional arguments.

    ``*args`` and defaults are fine; a callable whose signature cannot be
    read (a builtin) is taken as it is.

    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*range(count))
    except TypeError as exc:
        raise InvalidRoute(f"{message}: {endpoint!r}") from exc


def as_response(value: Any) -> Response | None:
    """Turn what a hook returned into a websockets :class:`Response`.

    Raises:
        TypeError: If the value is not a :data:`ResponseLike`.
        ValueError: If the status is not a valid HTTP status.

    """
    if value is None or isinstance(value, Response):
        return value
    if not isinstance(value, tuple) or len(value) != 3:
        raise TypeError(f"expected None, a Response or a 3-tuple, got {value!r}")
    status, headers, body = value
    status = http.HTTPStatus(status)
    if isinstance(body, str):
        body = body.encode()
    return _response(status, Headers(headers), body)


def as_http_response(value: Any) -> Response:
    """Turn what an HTTP endpoint returned into a websockets :class:`Response`.

    ``str`` is a 200 with a ``text/plain`` body, ``bytes`` a 200 with an
    ``application/octet-stream`` body; tuples and responses are as for hooks.

    Raises:
        TypeError: If the value is :obj:`None` or not a response.

    """
    if isinstance(value, str):
        value = (200, [("Content-Type", "text/plain; charset=utf-8")], value)
    elif isinstance(value, (bytes, bytearray)):
        value = (200, [("Content-Type", "application/octet-stream")], bytes(value))
    response = as_response(value)
    if response is None:
        raise TypeError("http endpoint returned None; return a response or a body")
    return response


def _response(status: http.HTTPStatus, headers: Headers, body: bytes) -> Response:
    # The server closes the connection after any answer but a 101, like the
    # answers that websockets builds itself.
    defaults = [("Date", email.utils.formatdate(usegmt=True))]
    if status is not http.HTTPStatus.SWITCHING_PROTOCOLS:
        defaults += [("Connection", "close"), ("Content-Length", str(len(body)))]
        if body:
            defaults.append(("Content-Type", _content_type(body)))
    for name, value in defaults:
        if name not in headers:
            headers[name] = value
    return Response(status.value, status.phrase, headers, body)


def error_response(
    status: http.HTTPStatus, message: str, headers: Headers | None = None
) -> Response:
    """An error answer: a plain-text message, with its length and type.

    Example::

        error_response(http.HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed")

    """
    body = f"Failed to open a WebSocket connection: {message}.\n".encode()
    return _response(status, Headers() if headers is None else headers, body)


def _content_type(body: bytes) -> str:
    """The type of a body given without one: text if it is UTF-8."""
    try:
        body.decode()
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain; charset=utf-8"
