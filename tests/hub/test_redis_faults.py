"""The Redis hub under faults: Redis frozen, killed and restarted mid-stream.

Redis is frozen with SIGSTOP and SIGCONT and killed with SIGKILL, then
restarted on the same port. Each test counts what was published, what each
member received and what the hub reported: nothing arrives twice and every
loss is surfaced by an exception, the return value of ``publish()``, a
warning or ``hub.stats``.

"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from websockets.asyncio.client import ClientConnection

from websockets_routes.hub import Hub, HubUnavailable, RedisHub

from .conftest import RedisServer
from .helpers import hub_server, member

# The publisher's socket timeout in these tests: a Redis frozen longer than
# this leaves a publish without an answer.
TIMEOUT = 0.5


def _hub(server: RedisServer, namespace: str, heartbeat: float = 0.2) -> RedisHub:
    hub = Hub.from_url(
        server.url, namespace=namespace, heartbeat=heartbeat, socket_timeout=TIMEOUT
    )
    assert isinstance(hub, RedisHub)
    return hub


@pytest.fixture
async def raw(own_redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain Redis client of the test's own Redis."""
    client = redis.asyncio.Redis.from_url(own_redis_server.url)
    yield client
    await client.aclose()


async def _drain(client: ClientConnection, timeout: float = 0.3) -> list[str | bytes]:
    received = []
    while True:
        try:
            received.append(await asyncio.wait_for(client.recv(), timeout))
        except asyncio.TimeoutError:
            return received


async def _recovered(hub: Hub, client: ClientConnection) -> list[str | bytes]:
    # Probe until a probe arrives; return what arrived, probes left out.
    received: list[str | bytes] = []
    for _ in range(200):
        try:
            await hub.publish("room", "probe")
        except HubUnavailable:
            pass
        received += await _drain(client, 0.05)
        if "probe" in received:
            break
    else:  # pragma: no cover
        pytest.fail("delivery didn't resume")
    received += await _drain(client, 0.2)
    return [message for message in received if message != "probe"]


async def _publish_outcome(hub: Hub, message: str) -> str:
    try:
        await hub.publish("room", message)
    except HubUnavailable as exc:
        return type(exc).__name__
    return "returned"


@pytest.mark.parametrize("frozen", [1.2 * TIMEOUT, 3.2 * TIMEOUT])
async def test_frozen_redis_publish_is_sent_once(
    own_redis_server: RedisServer, namespace: str, frozen: float
) -> None:
    """A publish to a frozen Redis is sent once, delivered once, never "not sent"."""
    # The subscriber waits 3 heartbeats for Redis: it stays subscribed.
    async with _hub(own_redis_server, namespace, heartbeat=2.0) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            await hub.publish("room", "before")
            assert await client.recv() == "before"
            process = own_redis_server.process
            assert process is not None
            loop = asyncio.get_running_loop()
            thaw = loop.time() + frozen
            process.send_signal(signal.SIGSTOP)
            try:
                outcome = await _publish_outcome(hub, "frozen")
                await asyncio.sleep(max(0.0, thaw - loop.time()))
            finally:
                process.send_signal(signal.SIGCONT)
            received = await _recovered(hub, client)
            await hub.publish("room", "after")
            received += await _drain(client)
    # The command was written before Redis froze: Redis runs it when it
    # thaws, exactly once, and publish() didn't say it wasn't sent.
    assert received.count("frozen") == 1
    assert outcome in ("returned", "HubDeliveryUnknown")
    if frozen > 2 * TIMEOUT:
        assert outcome == "HubDeliveryUnknown"
    assert received.count("after") == 1


async def test_lost_publish_is_reported(
    own_redis_server: RedisServer,
    namespace: str,
    raw: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A publish that its own subscriber missed returns 0, warns and is counted."""
    async with _hub(own_redis_server, namespace) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            assert await hub.publish("room", "before") == 1
            assert await client.recv() == "before"
            with caplog.at_level(logging.WARNING, "websockets_routes.hub"):
                # Redis drops the subscriber's connection: until the hub
                # resubscribes, publishes reach no process.
                await raw.client_kill_filter(_type="pubsub")
                assert await hub.publish("room", "lost") == 0
                assert hub.stats.lost_publishes == 1
                await _recovered(hub, client)
            assert hub.stats.resubscribes == 1
            assert await hub.publish("room", "after") == 1
            assert await _drain(client) == ["after"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("reached no subscriber" in w for w in warnings), warnings
    assert any("resubscribed" in w for w in warnings), warnings
