"""The adapter to websockets' legacy server, for code written for 0.2.

Importing this module imports :mod:`websockets.legacy`, which websockets
deprecates: import it only where the legacy server is still in use.

Example::

    import websockets.legacy.server
    import websockets_routes.legacy

    websockets.legacy.server.serve(
        router, "127.0.0.1", 8765,
        create_protocol=websockets_routes.legacy.Protocol,
    )

"""

from __future__ import annotations

import http
from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers
from websockets.legacy.server import HTTPResponse, WebSocketServerProtocol

from .exceptions import InvalidPath, RouteNotFound, ViewFailed

if TYPE_CHECKING:
    from .router import BaseRouter, Dispatch

__all__ = ["Protocol"]


class Protocol(WebSocketServerProtocol):
    """A legacy server protocol that routes the request during the handshake.

    The handler given to :func:`websockets.legacy.server.serve` must be the
    router or its :meth:`~Router.handle` method. As in 0.2, a path that no
    route matches gets HTTP 404 and the view's ``process_request`` runs
    before the upgrade. Override :meth:`not_found`, :meth:`bad_request` or
    :meth:`server_error` to change those answers.

    """

    dispatch: Dispatch | None = None
    #: The router that the server was given as its handler.
    router: BaseRouter

    def __init__(self, ws_handler: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(ws_handler, *args, **kwargs)
        self.router = getattr(ws_handler, "__self__", ws_handler)

    async def process_request(
        self, path: str, request_headers: Headers
    ) -> HTTPResponse | None:
        """Route the request, after the ``process_request`` given to ``serve()``."""
        response = await super().process_request(path, request_headers)
        if response is not None:
            return response
        try:
            self.dispatch = dispatch = self.router.dispatch(path)
            answer = await dispatch.process_request(request_headers)
        except RouteNotFound:
            return self.not_found(path)
        except InvalidPath as exc:
            return self.bad_request(path, exc)
        except ViewFailed as exc:
            return self.server_error(path, exc)
        if answer is None:
            return None
        return (
            http.HTTPStatus(answer.status_code),
            answer.headers,
            bytes(answer.body or b""),
        )

    def not_found(self, path: str) -> HTTPResponse:
        """Answer a request that no route matches: HTTP 404."""
        return http.HTTPStatus.NOT_FOUND, [], b"No route for this path.\n"

    def bad_request(self, path: str, exc: InvalidPath) -> HTTPResponse:
        """Answer a request whose path cannot be decoded: HTTP 400."""
        return http.HTTPStatus.BAD_REQUEST, [], f"{exc}\n".encode()

    def server_error(self, path: str, exc: ViewFailed) -> HTTPResponse:
        """Answer a request whose converter, view class or hook raised: HTTP 500."""
        return (
            http.HTTPStatus.INTERNAL_SERVER_ERROR,
            [],
            b"Failed to open a WebSocket connection.\n",
        )
