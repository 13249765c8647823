"""The Redis hub under faults: Redis frozen, killed and restarted mid-stream.

Redis is frozen with SIGSTOP and SIGCONT and killed with SIGKILL, then
restarted on the same port. Each test counts what was published, what each
member received and what the hub reported: nothing arrives twice and every
loss is surfaced by an exception, the return value of ``publish()``, a
warning or ``hub.stats``.

"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import pytest
import redis.asyncio
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

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
        except TimeoutError:
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


async def test_cancelled_publish_leaves_no_late_answer(
    own_redis_server: RedisServer, namespace: str
) -> None:
    """A publish cancelled while Redis is frozen doesn't confuse the next one."""
    async with _hub(own_redis_server, namespace, heartbeat=2.0) as hub:
        async with hub_server(hub) as server, member(server, "room") as client:
            assert await hub.publish("room", "before") == 1
            assert await client.recv() == "before"
            process = own_redis_server.process
            assert process is not None
            process.send_signal(signal.SIGSTOP)
            try:
                task = asyncio.create_task(hub.publish("room", "cancelled"))
                await asyncio.sleep(0.1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            finally:
                process.send_signal(signal.SIGCONT)
            # Redis answers the cancelled publish late; the next publish
            # reads its own answer, on another connection.
            assert await hub.publish("room", "after") == 1
            received = await _drain(client)
    assert sorted(received) == ["after", "cancelled"]


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


# Stress runs: publishers keep publishing while Redis freezes or restarts.


@pytest.mark.stress
@pytest.mark.parametrize("frozen", [6.0, 12.0])
async def test_frozen_redis_default_timeouts(
    own_redis_server: RedisServer, namespace: str, frozen: float
) -> None:
    """With default timeouts, frozen Redis runs each publish once; none misreported."""
    hub = Hub.from_url(own_redis_server.url, namespace=namespace)
    async with hub, hub_server(hub) as server, member(server, "room") as client:
        assert await hub.publish("room", "before") == 1
        assert await client.recv() == "before"
        process = own_redis_server.process
        assert process is not None
        loop = asyncio.get_running_loop()
        thaw = loop.time() + frozen
        process.send_signal(signal.SIGSTOP)
        try:
            outcomes = await asyncio.gather(
                *[_publish_outcome(hub, f"frozen {i}") for i in range(20)]
            )
            await asyncio.sleep(max(0.0, thaw - loop.time()))
        finally:
            process.send_signal(signal.SIGCONT)
        received = await _drain(client, 1.0)
    # The publish on the pooled connection was written: Redis runs it when it
    # thaws. The others wait for new connections, which cannot be set up.
    assert outcomes.count("HubDeliveryUnknown") >= 1
    assert len(set(received)) == len(received)
    for i, outcome in enumerate(outcomes):
        expected = 1 if outcome == "HubDeliveryUnknown" else 0
        assert (outcome, received.count(f"frozen {i}")) == (outcome, expected)


@dataclasses.dataclass
class Sent:
    """What a publisher saw of one message."""

    hub: int
    started: float
    outcome: str
    receivers: int | None
    resubscribes: tuple[int, ...]


@dataclasses.dataclass
class Tally:
    """Counts of one run: publishes by outcome, deliveries, losses by surfacing.

    A message counts once for each member: ``expected`` is returned publishes
    times members. A loss is in the return value when ``publish()`` returned
    fewer processes than hubs, in a resubscribe when the member's hub
    resubscribed (and warned) after the publish started; ``recovered_after``
    is when, after the fault, the last loss was published.

    """

    published: int = 0
    returned: int = 0
    unsent: int = 0
    unknown: int = 0
    unknown_delivered: int = 0
    expected: int = 0
    delivered: int = 0
    duplicated: int = 0
    misreported: int = 0
    returned_short: int = 0
    lost: int = 0
    lost_in_return_value: int = 0
    lost_in_resubscribe: int = 0
    lost_silently: int = 0
    recovered_after: float = 0.0
    resubscribes: int = 0
    lost_publishes: int = 0


class FaultRun:
    """Hubs with members in a room, publishers, and the accounting of a fault."""

    PUBLISHERS_PER_HUB = 4
    MEMBERS_PER_HUB = 10
    MAX_PUBLISHES = 2_000

    def __init__(self, hubs: list[RedisHub]) -> None:
        self.hubs = hubs
        self.sent: dict[str, Sent] = {}
        # Messages received by each member, and the hub of each member.
        self.received: list[list[str]] = []
        self.member_hub: list[int] = []
        self.stop = asyncio.Event()

    async def publisher(self, hub_index: int, name: str) -> None:
        hub, loop = self.hubs[hub_index], asyncio.get_running_loop()
        for i in range(self.MAX_PUBLISHES):
            if self.stop.is_set():
                return
            message = f"{name}-{i}"
            resubscribes = tuple(h.stats.resubscribes for h in self.hubs)
            started, receivers = loop.time(), None
            try:
                receivers = await hub.publish("room", message)
            except HubUnavailable as exc:
                outcome = type(exc).__name__
            else:
                outcome = "returned"
            self.sent[message] = Sent(
                hub_index, started, outcome, receivers, resubscribes
            )
            await asyncio.sleep(0.01)

    async def reader(self, client: ClientConnection, into: list[str]) -> None:
        try:
            async for message in client:
                assert isinstance(message, str)
                into.append(message)
        except ConnectionClosed:  # pragma: no cover
            pass

    async def run(self, fault: Callable[[], Awaitable[None]]) -> Tally:
        """Publish before, during and after a fault; count what happened."""
        loop = asyncio.get_running_loop()
        async with contextlib.AsyncExitStack() as stack:
            readers = []
            for index, hub in enumerate(self.hubs):
                server = await stack.enter_async_context(hub_server(hub))
                for _ in range(self.MEMBERS_PER_HUB):
                    client = await stack.enter_async_context(member(server, "room"))
                    self.received.append([])
                    self.member_hub.append(index)
                    task = self.reader(client, self.received[-1])
                    readers.append(asyncio.create_task(task))
            before = [hub.stats.resubscribes for hub in self.hubs]
            publishers = [
                asyncio.create_task(self.publisher(index, f"p{index}.{k}"))
                for index in range(len(self.hubs))
                for k in range(self.PUBLISHERS_PER_HUB)
            ]
            await asyncio.sleep(1.0)
            await fault()
            fault_end = loop.time()
            # Every hub lost its subscriber and resubscribes within a bound.
            deadline = fault_end + 15.0
            while not self.resubscribed(before):
                assert loop.time() < deadline, "hubs didn't resubscribe"
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.0)
            self.stop.set()
            await asyncio.wait_for(asyncio.gather(*publishers), 10)
            await asyncio.sleep(1.0)
        await asyncio.wait_for(asyncio.gather(*readers), 10)
        return self.tally(fault_end)

    def resubscribed(self, before: list[int]) -> bool:
        """Tell whether every hub resubscribed since the counts ``before``."""
        now = [hub.stats.resubscribes for hub in self.hubs]
        return all(n > b for n, b in zip(now, before, strict=True))

    def tally(self, fault_end: float) -> Tally:
        tally = Tally(published=len(self.sent))
        final = [hub.stats.resubscribes for hub in self.hubs]
        tally.resubscribes = sum(final)
        tally.lost_publishes = sum(hub.stats.lost_publishes for hub in self.hubs)
        counts = [collections.Counter(received) for received in self.received]
        last_loss = fault_end
        for message, sent in self.sent.items():
            got = [count[message] for count in counts]
            tally.duplicated += sum(1 for n in got if n > 1)
            tally.delivered += sum(min(n, 1) for n in got)
            if sent.outcome == "HubUnavailable":
                tally.unsent += 1
                tally.misreported += sum(1 for n in got if n)
                continue
            if sent.outcome == "HubDeliveryUnknown":
                tally.unknown += 1
                tally.unknown_delivered += sum(1 for n in got if n)
                continue
            tally.returned += 1
            tally.expected += len(got)
            short = sent.receivers is not None and sent.receivers < len(self.hubs)
            tally.returned_short += short
            for n, hub in zip(got, self.member_hub, strict=True):
                if n:
                    continue
                tally.lost += 1
                last_loss = max(last_loss, sent.started)
                resubscribed = final[hub] > sent.resubscribes[hub]
                tally.lost_in_return_value += short
                tally.lost_in_resubscribe += resubscribed
                tally.lost_silently += not (short or resubscribed)
        tally.recovered_after = last_loss - fault_end
        return tally

    def check_order(self) -> None:
        """Each member got each publisher's messages in the order published."""
        for received in self.received:
            last: dict[str, int] = {}
            for message in received:
                if message == "probe":  # pragma: no cover
                    continue
                name, _, number = message.rpartition("-")
                assert int(number) > last.get(name, -1), message
                last[name] = int(number)


async def _fault_run(
    server: RedisServer, namespace: str, fault: Callable[[], Awaitable[None]]
) -> Tally:
    hubs = [
        cast(
            RedisHub,
            Hub.from_url(
                server.url, namespace=namespace, heartbeat=0.5, socket_timeout=1.0
            ),
        )
        for _ in range(2)
    ]
    async with hubs[0], hubs[1]:
        run = FaultRun(hubs)
        tally = await run.run(fault)
        run.check_order()
    print(f"\n{tally}")
    assert tally.published > 0 and tally.returned > 0
    assert tally.duplicated == 0
    assert tally.misreported == 0
    assert tally.lost_silently == 0
    assert tally.delivered >= tally.expected - tally.lost
    assert tally.recovered_after < 15.0
    return tally


@pytest.mark.stress
async def test_publishers_through_frozen_redis(
    own_redis_server: RedisServer, namespace: str
) -> None:
    """Redis frozen 3 s under 8 publishers: no duplicate, every loss surfaced."""
    process = own_redis_server.process
    assert process is not None

    async def freeze() -> None:
        process.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(3.0)
        finally:
            process.send_signal(signal.SIGCONT)

    tally = await _fault_run(own_redis_server, namespace, freeze)
    assert tally.unknown > 0


@pytest.mark.stress
async def test_publishers_through_redis_restart(
    own_redis_server: RedisServer, namespace: str
) -> None:
    """Redis killed and restarted under 8 publishers: no duplicate, losses surfaced."""

    async def restart() -> None:
        own_redis_server.stop()
        await asyncio.sleep(1.0)
        own_redis_server.start()

    tally = await _fault_run(own_redis_server, namespace, restart)
    assert tally.unsent > 0
