"""Views: what a route leads to, and how their answers become HTTP responses.

A route's endpoint is either a coroutine function ``async def h(ws, path)``
or a class. A class is instantiated once per connection; its optional
``process_request(self, path, headers)`` hook runs during the handshake and
its optional ``handle(self, ws, path)`` runs once the connection is open.

"""

from __future__ import annotations

import email.utils
import http
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from websockets.datastructures import Headers
from websockets.http11 import Response

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
    "make_view",
]

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

    def __init__(self, handler: Callable[[Any, RoutedPath], Awaitable[None]]) -> None:
        self.handle = handler


class HTTPView:
    """The view of an HTTP endpoint: its answer is the handshake's response."""

    __slots__ = ("endpoint",)

    def __init__(
        self, endpoint: Callable[[RoutedPath, Headers], Awaitable[Any]]
    ) -> None:
        self.endpoint = endpoint

    async def process_request(self, path: RoutedPath, headers: Headers) -> Response:
        return as_http_response(await self.endpoint(path, headers))


class RedirectView:
    """The view of a redirect: a 3xx response whose Location is built from the path.

    Args:
        location: Builds the target from the request path's parameters.
        status: The redirect's HTTP status.

    """

    __slots__ = ("location", "status")

    def __init__(self, location: Callable[[RoutedPath], str], status: int) -> None:
        self.location = location
        self.status = http.HTTPStatus(status)

    def process_request(self, path: RoutedPath, headers: Headers) -> Response:
        location = self.location(path)
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
    view = HTTPView(endpoint)
    return lambda: view


def make_view(endpoint: Any) -> Callable[[], Any]:
    """Check an endpoint and return a factory of its per-connection views.

    Raises:
        InvalidRoute: If the endpoint is neither a coroutine function nor a
            class, or its ``handle`` is not a coroutine function.

    """
    if inspect.iscoroutinefunction(endpoint):
        view = FunctionView(endpoint)
        return lambda: view
    if not inspect.isclass(endpoint):
        raise InvalidRoute(
            f"view must be a coroutine function or a class: {endpoint!r}"
        )
    handle = getattr(endpoint, "handle", None)
    if handle is not None and not inspect.iscoroutinefunction(handle):
        raise InvalidRoute(f"handle must be a coroutine function: {endpoint!r}")
    hook = getattr(endpoint, "process_request", None)
    if hook is not None and not callable(hook):
        raise InvalidRoute(f"process_request must be callable: {endpoint!r}")
    try:
        inspect.signature(endpoint).bind()
    except (TypeError, ValueError) as exc:
        raise InvalidRoute(f"view class must take no arguments: {endpoint!r}") from exc
    return endpoint


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
    for name, value in defaults:
        if name not in headers:
            headers[name] = value
    return Response(status.value, status.phrase, headers, body)
