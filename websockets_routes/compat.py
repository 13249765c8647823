"""Connection classes written for 0.2 or for websockets' legacy server.

0.2's ``Protocol`` subclassed websockets' legacy ``WebSocketServerProtocol``,
and its README told users to subclass it for further customisation. An
override of a method that websockets' asyncio connection never calls would
be ignored without a word, which is a security hole when the override
checks credentials. :func:`check_connection_class` refuses such a class
when the server starts, naming the method and what to use instead.

``process_request(self, path, headers)`` is no such method: 0.2's hook is
called, with 0.2's semantics (see :class:`websockets_routes.Protocol`).

"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

__all__ = ["LEGACY_HOOKS", "check_connection_class", "check_serve_arguments"]

_NO_HOOK = (
    "websockets' asyncio connection has no such hook (see websockets' upgrade guide)"
)

#: Methods that 0.2's ``Protocol`` and websockets' legacy protocol offered for
#: overriding and that websockets' asyncio connection never calls, with what
#: to do instead.
LEGACY_HOOKS: Mapping[str, str] = {
    "process_origin": "pass origins= to router.serve() or to the route",
    "select_subprotocol": (
        "pass select_subprotocol= to router.serve() or subprotocols= to the route"
    ),
    "process_subprotocol": (
        "pass select_subprotocol= to router.serve() or subprotocols= to the route"
    ),
    "process_extensions": "pass extensions= to router.serve()",
    "read_http_request": "override process_request(path, headers)",
    "write_http_response": "pass process_response= to router.serve()",
    "handler": "do the work in the route's handler",
    "connection_open": "do the work in the route's handler",
    "keepalive_ping": "pass ping_interval= and ping_timeout= to router.serve()",
    "abort_pings": _NO_HOOK,
    "close_connection": _NO_HOOK,
    "close_transport": _NO_HOOK,
    "ensure_open": _NO_HOOK,
    "fail_connection": _NO_HOOK,
    "read_data_frame": _NO_HOOK,
    "read_frame": _NO_HOOK,
    "read_message": _NO_HOOK,
    "transfer_data": _NO_HOOK,
    "wait_for_connection_lost": _NO_HOOK,
    "write_close_frame": _NO_HOOK,
    "write_frame": _NO_HOOK,
    "write_frame_sync": _NO_HOOK,
}

# Parameters of the legacy handshake(); the asyncio one takes
# (process_request, process_response, server_header).
_LEGACY_HANDSHAKE = {"origins", "available_extensions", "available_subprotocols"}


def check_connection_class(cls: type, base: type) -> None:
    """Refuse a connection class that overrides a hook nothing calls anymore.

    Args:
        cls: The class passed with ``create_connection=``.
        base: :class:`websockets_routes.Protocol`; its own methods are fine.

    Raises:
        TypeError: Naming the first such method and what to do instead.

    """
    for klass in cls.__mro__:
        if klass is base:
            return
        for name, value in vars(klass).items():
            advice = LEGACY_HOOKS.get(name)
            if advice is None and name == "handshake" and _legacy_handshake(value):
                advice = "override process_request(path, headers)"
            if advice is not None:
                raise TypeError(
                    f"{cls.__qualname__}.{name}() would never be called: {advice}; "
                    f"websockets' asyncio connection does not call {name}()"
                )


def check_serve_arguments(kwargs: Mapping[str, object]) -> None:
    """Refuse ``create_protocol=``, the legacy server's argument.

    Raises:
        TypeError: Naming the call to make instead.

    """
    if "create_protocol" not in kwargs:
        return
    cls = kwargs["create_protocol"]
    names = {klass.__name__ for klass in getattr(cls, "__mro__", ())}
    if "WebSocketServerProtocol" in names:
        raise TypeError(
            "router.serve() runs websockets' asyncio server, which takes no "
            "create_protocol=; for a legacy protocol class, use "
            "websockets.legacy.server.serve(router, ..., create_protocol=...) "
            "with websockets_routes.legacy.Protocol, or port it to a "
            "websockets_routes.Protocol subclass passed with create_connection="
        )
    raise TypeError(
        "router.serve() takes create_connection=, not create_protocol=: "
        "pass a websockets_routes.Protocol subclass with create_connection="
    )


def _legacy_handshake(method: object) -> bool:
    try:
        parameters = inspect.signature(method).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return bool(_LEGACY_HANDSHAKE & parameters.keys())
