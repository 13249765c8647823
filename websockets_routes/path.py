"""The request path handed to handlers, with what routing found in it."""

from __future__ import annotations

import functools
import types
import urllib.parse
from collections.abc import Mapping
from typing import Any

__all__ = ["RoutedPath"]


class RoutedPath(str):
    """The request path, as received, with the result of routing.

    It is a :class:`str` equal to the raw request path, query string included,
    so code written for websockets' ``path`` argument keeps working.

    Attributes:
        params: The path parameters captured by the route, percent-decoded
            and converted by the route's converters, plus the route's
            defaults.
        context: A dict that the view's ``process_request`` and ``handle``
            share; put what the handshake found there.
        name: The name of the matched route, or :obj:`None`.
        method: The request's HTTP method, under ``router.serve()``:
            ``"GET"`` for a WebSocket, also ``"HEAD"`` (or what the route
            declares) for an HTTP endpoint.
        secure: Whether the request came over TLS, under ``router.serve()``.

    Example::

        >>> path = router.match("/thing/123?sort=asc")
        >>> path, path.params, path.query["sort"]
        ('/thing/123?sort=asc', {'id': '123'}, ['asc'])

    """

    # Slots for what every handshake writes: a plain attribute would make
    # the instance's dict on the first write, a third of the construction's
    # cost. __dict__ stays for the cached properties and the adapter's
    # per-request method and secure, and is made only when they are used.
    __slots__ = ("__dict__", "name", "params")

    params: dict[str, Any]
    name: str | None
    # Class attributes: a server adapter writes the instance's own only when
    # they differ, so that a plain WebSocket handshake pays nothing for them.
    method: str = "GET"
    secure: bool = False

    def __new__(
        cls,
        path: str,
        params: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> RoutedPath:
        self = str.__new__(cls, path)
        # Every handshake builds a RoutedPath: slot assignments are the
        # cheapest way in.
        self.params = {} if params is None else params
        self.name = name
        return self

    @functools.cached_property
    def context(self) -> dict[str, Any]:
        """A dict that the view's ``process_request`` and ``handle`` share.

        It is created when first used: an idle connection whose view needs
        no context does not carry one.

        """
        return {}

    @functools.cached_property
    def query(self) -> Mapping[str, list[str]]:
        """The parsed query string: a read-only mapping from name to values.

        Blank values are kept (``?flag`` gives ``{"flag": [""]}``); escapes
        that are not valid UTF-8 are replaced with U+FFFD.

        """
        _, _, query = self.partition("?")
        parsed = urllib.parse.parse_qs(query, keep_blank_values=True)
        return types.MappingProxyType(parsed)
