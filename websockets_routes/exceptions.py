"""Exceptions raised by websockets-routes.

The family, all subclasses of :exc:`RoutingError`:

* :exc:`InvalidRoute`: a route, view or option is rejected when it is
  registered (it is also a :exc:`ValueError`).
* :exc:`DuplicateRouteName`: two routes share a name.
* :exc:`InvalidPath`: a request path cannot be decoded (its percent-escapes
  are not valid UTF-8); servers answer it with HTTP 400 or close code 4000.
* :exc:`RouteNotFound`: no route matches a request path; servers answer it
  with HTTP 404 or close code 4040.
* :exc:`ViewFailed`: a converter, a view class or a view's hook raised; the
  error is logged and is the exception's ``__cause__``; servers answer with
  HTTP 500 or close code 1011.
* :exc:`BuildError`: :meth:`Router.url_for` cannot build a path: the name
  is unknown, a parameter is missing or unexpected, a value is refused by
  its converter, cannot be percent-encoded, breaks the route's requirement
  or would not match back as the same value, or the query cannot be encoded.
  Whatever the converter or the encoder raised is the ``__cause__``.
* :exc:`~websockets_routes.hub.HubUnavailable` and
  :exc:`~websockets_routes.hub.InvalidEnvelope`, in :mod:`websockets_routes.hub`:
  the hub cannot reach Redis, or read a message that is not its own.

"""

from __future__ import annotations

__all__ = [
    "BuildError",
    "DuplicateRouteName",
    "InvalidPath",
    "InvalidRoute",
    "MessageError",
    "RoutingError",
]


class RoutingError(Exception):
    """Base class for all exceptions raised by websockets-routes."""


class InvalidRoute(RoutingError, ValueError):
    """A route definition is rejected when it is registered."""


class DuplicateRouteName(InvalidRoute):
    """Two routes are registered under the same name."""


class InvalidPath(RoutingError, ValueError):
    """A request path cannot be decoded."""


class RouteNotFound(RoutingError, LookupError):
    """No route matches a request path."""


class ViewFailed(RoutingError):
    """A converter, a view class or a view's hook raised (the ``__cause__``)."""


class BuildError(RoutingError, LookupError):
    """A path cannot be built for a route.

    The message names the route, the parameter and, last, the value:
    ``value does not fit parameter 'id' of route 'user': 1.5``.

    """


class MessageError(RoutingError):
    """A message cannot be handled; an :class:`~websockets_routes.Endpoint` replies.

    Raised in an ``@on`` handler, it sends the error reply ``{"type":
    "error", "id": ..., "message": str(exc)}`` and keeps the connection
    open. :func:`~websockets_routes.expect` raises it too.

    Example::

        @on("chat.send")
        async def send(self, ws, path, message):
            if not message["text"]:
                raise MessageError("text must not be empty")

    """
