"""Closing a connection within a deadline, whether or not the client reads.

websockets' ``close()`` sends a close frame, then waits for the write buffer
to drain before it applies its ``close_timeout``: a client that stopped
reading keeps it waiting forever. Every close that the router or the hub
starts goes through :func:`close_within`, which aborts the transport (the TCP
connection ends at once, without a closing handshake) when the deadline
passes.

"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["close_within"]


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
        await asyncio.wait_for(connection.close(code, reason), timeout)
    except TimeoutError:
        connection.transport.abort()
        return False
    return True
