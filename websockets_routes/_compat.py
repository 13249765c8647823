"""Every difference between the websockets releases and Pythons we support.

Supported: websockets 14.0 to 17.x, Python 3.11 to 3.13. Each name below
says which release differs and how; no other module branches on a version.

"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine, MutableMapping
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.version import version as websockets_version

WEBSOCKETS = tuple(int(part) for part in websockets_version.split(".")[:2])

#: websockets 17 passes requests of any method and HTTP/1.0 to
#: ``process_request``; before, its parser closed the connection of a request
#: whose method is not ``GET`` or whose version is not 1.1 without an answer,
#: and ``Request`` had no ``method`` nor ``protocol``: every request that
#: reaches a hook there is an HTTP/1.1 ``GET``.
ANY_METHOD = WEBSOCKETS >= (17, 0)

#: Before websockets 17, a refusal of websockets' own that quotes a header
#: which isn't UTF-8 fails to encode, and the client gets no answer: the
#: router then checks the upgrade headers itself, before websockets does.
QUOTES_FAIL = WEBSOCKETS < (17, 0)

#: Python 3.12 can start a task eagerly (``eager_start=``): the handler then
#: runs up to its first wait at once, rather than in the loop's next turn.
EAGER_TASKS = sys.version_info >= (3, 12)


#: Before websockets 17, its server logs at ERROR, with a traceback, every
#: handshake that fails: a client that disconnects before it is answered, or
#: sends a request that websockets refuses. From 17 on, it logs none of them.
LOGS_CLIENT_FAILURES = WEBSOCKETS < (17, 0)


class HandshakeLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A server's logger that logs what a client did wrong at DEBUG, as websockets 17.

    :meth:`~websockets_routes.Router.serve` passes it as ``logger=`` before
    websockets 17; a failure of the server's own stays at ERROR.

    """

    def log(  # pragma: no cover - websockets < 17
        self, level: int, msg: object, *args: Any, **kwargs: Any
    ) -> None:
        if level >= logging.ERROR and msg == "opening handshake failed":
            error = sys.exc_info()[1]
            if isinstance(error, (ConnectionClosed, InvalidHandshake, EOFError)):
                level = logging.DEBUG
        super().log(level, msg, *args, **kwargs)

    def process(  # pragma: no cover - websockets < 17
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


def server_logger(logger: Any) -> Any:
    """The ``logger=`` to give websockets' ``serve()``, for the one given to ours."""
    if not LOGS_CLIENT_FAILURES:
        return logger
    if logger is None:  # pragma: no cover - websockets < 17
        logger = logging.getLogger("websockets.server")
    return HandshakeLogger(logger)


def request_method(request: Any) -> str:
    """The request's method: ``Request.method`` on websockets 17, else ``GET``."""
    # getattr(): websockets 14's Request has no method, for type checkers too.
    return str(getattr(request, "method", "GET")) if ANY_METHOD else "GET"


def request_protocol(request: Any) -> str:
    """The request's HTTP version: ``Request.protocol`` on websockets 17, else 1.1."""
    return str(getattr(request, "protocol", "HTTP/1.1")) if ANY_METHOD else "HTTP/1.1"


def start_task(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Start a handler's task: eagerly on Python 3.12+, unless a task factory is set."""
    loop = asyncio.get_running_loop()
    if EAGER_TASKS and loop.get_task_factory() is None:  # pragma: no cover - 3.12+
        return asyncio.Task(coroutine, loop=loop, eager_start=True)  # type: ignore[call-arg, unused-ignore]
    return loop.create_task(coroutine)


# The one use of websockets that its reference does not document: a route's
# own max_size. websockets documents max_size only as an argument of serve(),
# which applies to every connection of the server; a route's limit must be
# set on one connection once the request is routed. The sans-I/O protocol
# keeps it as max_message_size since websockets 15, as max_size before (and
# the legacy protocol as max_size). A documented, settable per-connection
# limit would make this clean.
_MAX_SIZE_ATTRIBUTES = ("max_message_size", "max_size")


def set_max_size(connection: Any, max_size: int | None) -> None:
    """Set the largest message that one connection accepts (a route's ``max_size``).

    Raises:
        RuntimeError: If this websockets keeps the limit elsewhere: the
            route's limit would be ignored, which must not happen silently.

    """
    protocol = getattr(connection, "protocol", connection)
    for name in _MAX_SIZE_ATTRIBUTES:
        if hasattr(protocol, name):
            setattr(protocol, name, max_size)
            return
    raise RuntimeError(  # pragma: no cover - a future websockets
        f"websockets {websockets_version} cannot take a route's max_size: "
        "pass max_size= to serve() instead"
    )
