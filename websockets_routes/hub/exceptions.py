"""Exceptions raised by the hub.

* :exc:`HubUnavailable`: the hub cannot reach its message broker (Redis), so a
  message was not published or members could not be counted.
* :exc:`HubDeliveryUnknown`: a :exc:`HubUnavailable` raised when a message was
  sent to the broker but no answer came: it may have been delivered.
* :exc:`InvalidEnvelope`: a message read from the broker isn't a valid
  envelope; the hub logs and drops it.

"""

from __future__ import annotations

from ..exceptions import RoutingError

__all__ = [
    "HubDeliveryUnknown",
    "HubUnavailable",
    "InvalidEnvelope",
]


class HubUnavailable(RoutingError, ConnectionError):
    """The hub cannot reach its message broker.

    :meth:`~websockets_routes.hub.Hub.publish` raises it instead of dropping a
    message silently. Raised as such, it means that the message wasn't sent:
    no member receives it. The hub keeps reconnecting in the background;
    retry later or report the failure to the client.

    """


class HubDeliveryUnknown(HubUnavailable):
    """The broker didn't answer a message that was sent to it.

    The message may reach every member, some or none of them, but never twice:
    the hub never sends it again. Retrying may deliver it twice; retry only
    messages that members can recognize as repeated (with an id, say).

    Example::

        try:
            await hub.publish("room", message)
        except HubDeliveryUnknown:
            ...  # maybe delivered
        except HubUnavailable:
            ...  # not delivered

    """


class InvalidEnvelope(RoutingError, ValueError):
    """A message read from the broker isn't a valid envelope."""
