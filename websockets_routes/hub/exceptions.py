"""Exceptions raised by the hub.

* :exc:`HubUnavailable`: the hub cannot reach its message broker (Redis), so a
  message could not be published or members could not be counted.
* :exc:`InvalidEnvelope`: a message read from the broker isn't a valid
  envelope; the hub logs and drops it.

"""

from __future__ import annotations

from ..exceptions import RoutingError

__all__ = [
    "HubUnavailable",
    "InvalidEnvelope",
]


class HubUnavailable(RoutingError, ConnectionError):
    """The hub cannot reach its message broker.

    :meth:`~websockets_routes.hub.Hub.publish` raises it instead of dropping a
    message silently. The hub keeps reconnecting in the background; retry
    later or report the failure to the client.

    """


class InvalidEnvelope(RoutingError, ValueError):
    """A message read from the broker isn't a valid envelope."""
