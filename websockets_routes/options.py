"""Per-route options: subprotocols, origins and the largest message.

Options are checked when the route is registered (:func:`check`), and each
request against them during the handshake (:func:`check_handshake`, HTTP
403 or 400), or once the connection is open under ``router.handle``
(:func:`refusal`, close codes 4403 and 4400).

"""

from __future__ import annotations

import dataclasses
import http
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response

from . import _compat
from .exceptions import InvalidRoute
from .views import error_response

__all__ = ["ServerOptions", "check", "check_handshake", "refusal"]


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


#: The default of ``max_size``: the server's own limit applies.
UNSET: Any = _Unset()

#: Close code under ``router.handle`` when the Origin header is not allowed.
FORBIDDEN_ORIGIN = 4403
#: Close code under ``router.handle`` when a required subprotocol is missing.
MISSING_SUBPROTOCOL = 4400


def check(
    *,
    subprotocols: Sequence[str] | None,
    require_subprotocol: bool,
    origins: Sequence[str | re.Pattern[str] | None] | None,
    max_size: int | object | None,
    allow_unmatched_subprotocols: bool = False,
) -> dict[str, Any]:
    """Validate per-route options; return those that are set.

    Raises:
        InvalidRoute: If an option is malformed.

    """
    options: dict[str, Any] = {}
    if subprotocols is not None:
        if isinstance(subprotocols, str) or not all(
            isinstance(s, str) and s for s in subprotocols
        ):
            raise InvalidRoute(f"subprotocols must be a list of str: {subprotocols!r}")
        options["subprotocols"] = list(subprotocols)
    if require_subprotocol:
        if not subprotocols:
            raise InvalidRoute("require_subprotocol needs subprotocols")
        options["require_subprotocol"] = True
    if allow_unmatched_subprotocols:
        if require_subprotocol:
            raise InvalidRoute(
                "allow_unmatched_subprotocols contradicts require_subprotocol"
            )
        options["allow_unmatched_subprotocols"] = True
    if origins is not None:
        if isinstance(origins, str) or not all(
            o is None or isinstance(o, (str, re.Pattern)) for o in origins
        ):
            raise InvalidRoute(f"origins must be a list of str or None: {origins!r}")
        options["origins"] = list(origins)
    if max_size is not UNSET:
        if max_size is not None and (
            not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 0
        ):
            raise InvalidRoute(
                f"max_size must be a non-negative int or None: {max_size!r}"
            )
        options["max_size"] = max_size
    return options


def check_handshake(headers: Headers, options: Mapping[str, Any]) -> Response | None:
    """Check a request against its route's options, during the handshake.

    Returns:
        The answer that refuses the request, or :obj:`None`: HTTP 403 for a
        forbidden ``Origin``; HTTP 400 when the route speaks subprotocols
        and the client offers none of them (unless the route sets
        ``allow_unmatched_subprotocols``), because browsers and most
        clients fail a connection whose answer selects none, or offers
        none where the route requires one.

    """
    if "origins" in options and _origin_refused(headers, options["origins"]):
        return error_response(http.HTTPStatus.FORBIDDEN, "origin not allowed")
    if "subprotocols" not in options:
        return None
    return _offer_refused(headers, options["subprotocols"], options)


def _offer_refused(
    headers: Headers, supported: Sequence[str], options: Mapping[str, Any]
) -> Response | None:
    """Refuse an offer of subprotocols that the route does not speak."""
    offered = offered_subprotocols(headers)
    if any(subprotocol in supported for subprotocol in offered):
        return None
    if not offered:
        if options.get("require_subprotocol"):
            return error_response(http.HTTPStatus.BAD_REQUEST, "missing subprotocol")
        return None
    if options.get("allow_unmatched_subprotocols"):
        return None
    return error_response(
        http.HTTPStatus.BAD_REQUEST,
        "no subprotocol offered is supported by this route; supported: "
        + (", ".join(supported) or "none"),
    )


def offered_subprotocols(headers: Headers) -> list[str]:
    """The subprotocols that a request offers, in its order."""
    return [
        token.strip()
        for header in headers.get_all("Sec-WebSocket-Protocol")
        for token in header.split(",")
        if token.strip()
    ]


def select(supported: Sequence[str], offered: Sequence[str]) -> str | None:
    """The first of ``supported`` that the client offers, or :obj:`None`."""
    for subprotocol in supported:
        if subprotocol in offered:
            return subprotocol
    return None


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """The options given to ``serve()``, for routes that set none of their own.

    Under :meth:`~websockets_routes.Router.serve`, the router applies them
    itself rather than websockets, so that a route's own options take
    precedence and refusals are answered like the routes' own.

    """

    origins: Sequence[str | re.Pattern[str] | None] | None = None
    subprotocols: Sequence[str] | None = None
    select_subprotocol: Callable[[Any, Sequence[str]], str | None] | None = None

    def negotiates(self) -> bool:
        """Whether the server negotiates subprotocols for routes that set none."""
        return bool(self.subprotocols) or self.select_subprotocol is not None

    def check(self, headers: Headers, options: Mapping[str, Any]) -> Response | None:
        """Check a request against the server's options, where its route has none."""
        if (
            self.origins is not None
            and "origins" not in options
            and _origin_refused(headers, self.origins)
        ):
            return error_response(http.HTTPStatus.FORBIDDEN, "origin not allowed")
        if "subprotocols" in options or self.select_subprotocol is not None:
            return None
        supported = list(self.subprotocols or ())
        if supported and not offered_subprotocols(headers):
            return error_response(http.HTTPStatus.BAD_REQUEST, "missing subprotocol")
        if "Sec-WebSocket-Protocol" not in headers:
            return None
        return _offer_refused(headers, supported, options)

    def select(
        self, connection: Any, options: Mapping[str, Any], offered: Sequence[str]
    ) -> str | None:
        """The subprotocol of a connection: its route's, else the server's choice."""
        if "subprotocols" in options:
            return select(options["subprotocols"], offered)
        if self.select_subprotocol is not None:
            return self.select_subprotocol(connection, offered)
        return select(self.subprotocols or (), offered)


def _origin_refused(headers: Any, allowed: Any) -> bool:
    """Whether a request's ``Origin`` is refused; two of them always are."""
    origins = headers.get_all("Origin")
    if len(origins) > 1:  # no browser sends two
        return True
    return not _origin_allowed(origins[0] if origins else None, allowed)


def refusal(
    ws: Any, headers: Headers, options: Mapping[str, Any]
) -> tuple[int, str] | None:
    """Check an open connection against the options it could not negotiate.

    Returns:
        The close code and reason, or :obj:`None` if the connection may go on.

    """
    if "origins" in options:
        if _origin_refused(headers, options["origins"]):
            return FORBIDDEN_ORIGIN, "origin not allowed"
    if (
        options.get("require_subprotocol")
        and ws.subprotocol not in options["subprotocols"]
    ):
        return (
            MISSING_SUBPROTOCOL,
            "missing subprotocol: negotiation needs router.serve()",
        )
    if "max_size" in options:
        _compat.set_max_size(ws, options["max_size"])
    return None


def _origin_allowed(
    origin: str | None, allowed: Sequence[str | re.Pattern[str] | None]
) -> bool:
    for candidate in allowed:
        if isinstance(candidate, re.Pattern):
            if origin is not None and candidate.fullmatch(origin):
                return True
        elif candidate == origin:
            return True
    return False
