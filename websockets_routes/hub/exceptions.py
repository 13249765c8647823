"""Exceptions raised by the hub.

* :exc:`HubUnavailable`: the hub cannot reach its message broker (Redis), so a
  message could not be published or members could not be counted.
* :exc:`InvalidEnvelope`: a message read from the broker isn't a valid
  envelope; the hub logs and drops it.

"""

from __future__ import annotations

__all__ = [
    "HubUnavailable",
    "InvalidEnvelope",
]


class HubUnavailable(Exception):
    """The hub cannot reach its message broker.

    :meth:`~websockets_routes.hub.Hub.publish` raises it instead of dropping a
    message silently. The hub keeps reconnecting in the background; retry
    later or report the failure to the client.

    """


class InvalidEnvelope(ValueError):
    """A message read from the broker isn't a valid envelope."""
