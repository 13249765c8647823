"""Per-route options: subprotocols, origins and the largest message.

Options are checked when the route is registered (:func:`check`). Under
``router.serve()`` they are applied to websockets' Sans-I/O
:class:`~websockets.server.ServerProtocol` during the handshake
(:func:`apply`): websockets then negotiates the subprotocol (HTTP 400 when a
required one is missing) and enforces the largest message size, a forbidden
``Origin`` gets HTTP 403, and an offer of subprotocols that the route does
not speak gets HTTP 400. Under ``router.handle`` the handshake is over:
:func:`refusal` tells which close code the connection gets instead.

"""

from __future__ import annotations

import http
import re
from collections.abc import Mapping, Sequence
from typing import Any

from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_subprotocol
from websockets.http11 import Response
from websockets.server import ServerProtocol

from .exceptions import InvalidRoute
from .views import error_response

__all__ = ["apply", "check", "refusal"]


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


def apply(
    protocol: ServerProtocol, headers: Headers, options: Mapping[str, Any]
) -> Response | None:
    """Apply a route's options to a connection, before its handshake completes.

    Returns:
        The answer that refuses the request, or :obj:`None`: HTTP 403 for
        a forbidden ``Origin``; HTTP 400 when the client offers
        subprotocols and the route speaks none of them (unless the route
        sets ``allow_unmatched_subprotocols``), because browsers and most
        clients fail a connection whose answer selects none.

    """
    if "origins" in options:
        if _origin_refused(headers, options["origins"]):
            return error_response(http.HTTPStatus.FORBIDDEN, "origin not allowed")
    if "subprotocols" in options:
        protocol.available_subprotocols = options["subprotocols"]
        if not options.get("require_subprotocol"):
            # An instance attribute shadows the method, as websockets' own
            # select_subprotocol= argument does.
            protocol.select_subprotocol = _optional(options["subprotocols"])  # type: ignore[method-assign]
    if "max_size" in options:
        set_max_size(protocol, options["max_size"])
    if "Sec-WebSocket-Protocol" in headers and not options.get(
        "allow_unmatched_subprotocols"
    ):
        return _unmatched_offer(protocol, headers, options)
    return None


def _origin_refused(headers: Any, allowed: Any) -> bool:
    """Whether a request's ``Origin`` is refused; two of them always are."""
    origins = headers.get_all("Origin")
    if len(origins) > 1:  # no browser sends two
        return True
    return not _origin_allowed(origins[0] if origins else None, allowed)


def _unmatched_offer(
    protocol: ServerProtocol, headers: Headers, options: Mapping[str, Any]
) -> Response | None:
    """Refuse an offer of subprotocols that the route does not speak."""
    if "subprotocols" not in options and "select_subprotocol" in vars(protocol):
        return None  # a select_subprotocol= given to serve() decides
    supported = protocol.available_subprotocols or []
    try:
        offered = [
            subprotocol
            for header in headers.get_all("Sec-WebSocket-Protocol")
            for subprotocol in parse_subprotocol(header)
        ]
    except InvalidHeader:
        return None  # websockets answers HTTP 400 itself
    if any(subprotocol in supported for subprotocol in offered):
        return None
    return error_response(
        http.HTTPStatus.BAD_REQUEST,
        "no subprotocol offered is supported by this route; supported: "
        + (", ".join(supported) or "none"),
    )


def set_max_size(protocol: Any, max_size: int | None) -> None:
    """Set the largest message a connection accepts, on websockets 14 and later."""
    if hasattr(protocol, "max_message_size"):
        protocol.max_message_size = max_size
    else:  # websockets < 15
        protocol.max_size = max_size


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
        set_max_size(
            ws.protocol if hasattr(ws, "protocol") else ws, options["max_size"]
        )
    return None


def _optional(supported: Sequence[str]) -> Any:
    """A select_subprotocol that picks the first shared one, or none at all."""

    def select_subprotocol(offered: Sequence[str]) -> str | None:
        for subprotocol in supported:
            if subprotocol in offered:
                return subprotocol
        return None

    return select_subprotocol


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
