"""Hub.from_url(): which backend a URL's scheme creates, and how it's wired."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from websockets_routes.hub import Hub, RedisHub, backends, memory


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:1/0",
        "rediss://127.0.0.1:1/0",
        "unix:///tmp/no-redis.sock",
        "REDIS://127.0.0.1:1/0",
    ],
)
def test_redis_schemes_create_redis_hub(url: str) -> None:
    """from_url() creates a RedisHub for every scheme that redis-py accepts."""
    hub = Hub.from_url(url, namespace="app", max_buffer=None, heartbeat=1.0)
    assert isinstance(hub, RedisHub)
    assert (hub.namespace, hub.max_buffer, hub.heartbeat) == ("app", None, 1.0)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("http://127.0.0.1/", "'http'"),
        ("memory://", "'memory'"),
        ("127.0.0.1:6379", "''"),
        ("", "''"),
    ],
)
def test_unknown_scheme(url: str, scheme: str) -> None:
    """from_url() rejects a URL whose scheme no backend serves, naming the scheme."""
    with pytest.raises(ValueError, match=f"^unsupported hub URL scheme: {scheme}$"):
        Hub.from_url(url)


def test_unknown_scheme_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_url() rejects an unknown scheme before it looks for redis-py."""
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ValueError, match="unsupported hub URL scheme: 'http'"):
        Hub.from_url("http://127.0.0.1/")


def test_registered_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheme registered with register_backend() creates the hub of its factory."""
    monkeypatch.setattr(memory, "_backends", dict(memory._backends))
    calls: list[tuple[str, dict[str, Any]]] = []

    def create_local_hub(url: str, **options: Any) -> Hub:
        calls.append((url, options))
        return Hub()

    memory.register_backend("local", create_local_hub)
    hub = Hub.from_url("local://", namespace="app", max_buffer=None)
    assert type(hub) is Hub
    assert calls == [("local://", {"namespace": "app", "max_buffer": None})]


def test_register_backends_is_idempotent() -> None:
    """register_backends() registers the Redis schemes again, to the same factory."""
    backends.register_backends()
    for scheme in backends.REDIS_SCHEMES:
        assert memory._backends[scheme] is backends.create_redis_hub


def test_schemes_registered_when_importing_memory() -> None:
    """Importing only hub.memory still registers the Redis schemes, lazily."""
    code = (
        "import sys\n"
        "from websockets_routes.hub.memory import Hub\n"
        "assert 'websockets_routes.hub.redis' not in sys.modules\n"
        "assert 'redis' not in sys.modules\n"
        "hub = Hub.from_url('redis://127.0.0.1:1/0')\n"
        "print(type(hub).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "RedisHub"
