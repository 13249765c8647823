"""Ending connections within deadlines, whether or not the client reads.

websockets waits without a limit for a client to read what is written to
it: a ``send()``, a keepalive ping or a ``close()`` to a client that stopped
reading would wait forever. :func:`close_within` bounds a close, and
:class:`WriteDeadlines` aborts the connections of a server whose client
leaves what is written unread for too long.

"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.protocol import State

__all__ = ["WriteDeadlines", "close_code", "close_within", "ended_with", "is_closed"]

logger = logging.getLogger("websockets_routes")


async def close_within(
    connection: Any, code: int, reason: str = "", timeout: float | None = None
) -> bool:
    """Close a connection, or abort it if the close doesn't finish in time.

    Args:
        connection: A websockets connection, new or legacy.
        code: The close code.
        reason: The close reason.
        timeout: Seconds the closing handshake may take; the connection's
            ``close_timeout`` when :obj:`None`, or 10 seconds if it has none.

    Returns:
        :obj:`True` if the connection closed, :obj:`False` if it was aborted.

    Example::

        await close_within(websocket, 1011, "internal error", timeout=2)

    """
    if timeout is None:
        timeout = getattr(connection, "close_timeout", None) or 10.0
    try:
        # Not wait_for(), which makes a task.
        async with asyncio.timeout(timeout):
            await connection.close(code, reason)
    except TimeoutError:
        connection.transport.abort()
        return False
    return True


async def ended_with(connection: Any) -> ConnectionClosed:
    """Wait until a connection is closed; return the exception that tells how.

    Its ``sent``, ``rcvd`` and ``rcvd_then_sent`` say which close frames
    went each way, and in which order.

    Example::

        ended = await ended_with(websocket)

    """
    await connection.wait_closed()
    try:
        # A closed connection raises what ended it on every use.
        await connection.ping()
    except ConnectionClosed as exc:
        return exc
    raise RuntimeError("connection still open")  # pragma: no cover


async def close_code(connection: Any) -> int:
    """Wait until a connection is closed; return the code that ended it.

    That is the first close code sent or received: the server's when it
    closed first (1009 for a message too big, say), the client's otherwise;
    1006 when no close frame was received.

    Example::

        code = await close_code(websocket)

    """
    ended = await ended_with(connection)
    if ended.sent is not None and not ended.rcvd_then_sent:
        return int(ended.sent.code)
    if ended.rcvd is not None:
        return int(ended.rcvd.code)
    return int(CloseCode.ABNORMAL_CLOSURE)


def is_closed(connection: Any) -> bool:
    """Whether a connection, new or legacy, is closed."""
    closed = getattr(connection, "closed", None)
    if isinstance(closed, bool):  # a legacy connection
        return closed
    return connection.state is State.CLOSED


class WriteDeadlines:
    """Abort a server's connections whose client doesn't read what is written.

    A connection is watched from when its handler starts until it is closed
    (see :meth:`release`). It is stalled while more than the server's
    ``write_limit`` waits in its write buffer. A connection stalled for
    ``write_timeout`` seconds while open, or for ``close_timeout`` seconds
    once closing, is aborted: the TCP connection ends at once, and a
    ``send()`` that waits raises
    :exc:`~websockets.exceptions.ConnectionClosedError`. One timer per
    server checks its connections a few times per deadline; nothing runs
    per message.

    Args:
        write_timeout: Seconds an open connection may stay stalled;
            :obj:`None`: no limit.
        close_timeout: Seconds a closing connection may stay stalled;
            :obj:`None`: no limit.
        write_limit: websockets' ``write_limit``: the high-water mark, or
            a ``(high, low)`` tuple.

    Example::

        deadlines = WriteDeadlines(20.0, 10.0, 2**15)
        deadlines.add(connection)
        ...
        deadlines.release(connection)

    """

    def __init__(
        self,
        write_timeout: float | None,
        close_timeout: float | None,
        write_limit: int | tuple[int, int | None],
    ) -> None:
        self.write_timeout = write_timeout
        self.close_timeout = close_timeout
        self.high_water = (
            write_limit[0] if isinstance(write_limit, tuple) else write_limit
        )
        timeouts = [t for t in (write_timeout, close_timeout) if t is not None]
        #: Seconds between checks: a quarter of the shortest deadline, at most 1.
        self.period = max(min([1.0, *(t / 4 for t in timeouts)]), 0.01)
        self.enabled = bool(timeouts)
        self._connections: dict[Any, tuple[float, float | None] | None] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: Any) -> None:
        """Watch an open connection until it is closed."""
        if not self.enabled:
            return
        self._connections[connection] = None
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.period, self._check, loop)

    def release(self, connection: Any) -> None:
        """Stop watching a connection whose handler returned, unless it may stall.

        With nothing left to write, the close that follows can't wait for
        the client to read, and websockets bounds it with ``close_timeout``;
        with something left, the connection is watched until it is closed.
        Letting go at once spares the server keeping every connection alive
        until the next check.

        """
        if connection.transport.get_write_buffer_size() == 0:
            self._connections.pop(connection, None)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        connections = self._connections
        for connection, stalled in list(connections.items()):
            state = connection.state
            if state is State.CLOSED:
                del connections[connection]
            elif connection.transport.get_write_buffer_size() <= self.high_water:
                if stalled is not None:
                    connections[connection] = None
            else:
                connections[connection] = stalled = self._stalled(stalled, state, now)
                if self._expired(stalled, now):
                    self._abort(connection, now - stalled[0])
        self._timer = (
            loop.call_later(self.period, self._check, loop) if connections else None
        )

    @staticmethod
    def _stalled(
        stalled: tuple[float, float | None] | None, state: State, now: float
    ) -> tuple[float, float | None]:
        """Since when the connection is stalled, and closing while stalled."""
        since, closing = (now, None) if stalled is None else stalled
        if closing is None and state is not State.OPEN:
            closing = now
        return since, closing

    def _expired(self, stalled: tuple[float, float | None], now: float) -> bool:
        since, closing = stalled
        if self.write_timeout is not None and now - since >= self.write_timeout:
            return True
        return (
            closing is not None
            and self.close_timeout is not None
            and now - closing >= self.close_timeout
        )

    def _abort(self, connection: Any, elapsed: float) -> None:
        logger.info("client doesn't read: aborting after %.1f seconds", elapsed)
        del self._connections[connection]
        connection.transport.abort()
