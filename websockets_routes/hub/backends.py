"""The backends of :meth:`Hub.from_url <websockets_routes.hub.Hub.from_url>`.

Imports in this package flow one way, from the package down to the
in-process hub:

* ``__init__.py`` imports this module and ``memory.py``, and ``redis.py``
  or ``cluster.py`` when :class:`RedisHub` or :class:`ClusterHub` is first
  looked up;
* this module imports ``memory.py``, and ``redis.py`` or ``cluster.py``
  when a Redis hub or a Redis Cluster hub is created;
* ``cluster.py`` imports ``redis.py``, which imports ``memory.py``;
* ``memory.py`` imports no backend.

:mod:`~websockets_routes.hub.memory` defines :class:`Hub`, the base of every
backend, and :meth:`Hub.from_url`, which looks the URL's scheme up in a table
that :func:`~websockets_routes.hub.memory.register_backend` fills.
:mod:`~websockets_routes.hub.redis` subclasses :class:`Hub`. This module sits
above both: it knows which schemes each backend serves and registers them.
:mod:`websockets_routes.hub` calls :func:`register_backends` when it's
imported, and Python imports it before any of its submodules, so
``Hub.from_url()`` knows every scheme however :class:`Hub` was imported.

A registry that the Redis backend filled itself would only know Redis once
something imported the backend; registering here instead lets the backend
stay unimported until a hub is created: ``import websockets_routes`` imports
neither :mod:`~websockets_routes.hub.redis` nor redis-py.

"""

from __future__ import annotations

from typing import Any

from .memory import Hub, register_backend

__all__ = [
    "CLUSTER_SCHEMES",
    "REDIS_SCHEMES",
    "create_cluster_hub",
    "create_redis_hub",
    "register_backends",
]

REDIS_SCHEMES = ("redis", "rediss", "unix")
"""URL schemes of :class:`~websockets_routes.hub.redis.RedisHub`, as redis-py's."""

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
"""URL schemes of :class:`~websockets_routes.hub.cluster.ClusterHub`."""


def create_redis_hub(url: str, **options: Any) -> Hub:
    """Create a :class:`~websockets_routes.hub.redis.RedisHub`.

    The Redis backend is imported now, when the first Redis hub is created.

    Args:
        url: Redis URL, like ``redis://127.0.0.1:6379/0``.
        options: Other arguments of
            :class:`~websockets_routes.hub.redis.RedisHub`.

    Raises:
        ImportError: If redis-py isn't installed.
        ValueError: If the URL or an option is invalid.

    Example::

        hub = create_redis_hub("redis://127.0.0.1:6379/0", namespace="chat")

    """
    from .redis import RedisHub

    return RedisHub(url, **options)


def create_cluster_hub(url: str, **options: Any) -> Hub:
    """Create a :class:`~websockets_routes.hub.cluster.ClusterHub`.

    The cluster backend is imported now, when the first cluster hub is created.

    Args:
        url: URL of any node of the cluster, like
            ``redis+cluster://127.0.0.1:7000``.
        options: Other arguments of
            :class:`~websockets_routes.hub.cluster.ClusterHub`.

    Raises:
        ImportError: If redis-py isn't installed.
        ValueError: If the URL or an option is invalid.

    Example::

        hub = create_cluster_hub("redis+cluster://127.0.0.1:7000", namespace="chat")

    """
    from .cluster import ClusterHub

    return ClusterHub(url, **options)


def register_backends() -> None:
    """Register the schemes of this package's backends with ``Hub.from_url()``.

    Registering again changes nothing.

    Example::

        register_backends()
        hub = Hub.from_url("rediss://cache.example.com:6380/0")

    """
    for scheme in REDIS_SCHEMES:
        register_backend(scheme, create_redis_hub)
    for scheme in CLUSTER_SCHEMES:
        register_backend(scheme, create_cluster_hub)
