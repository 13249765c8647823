"""Registration and matching at scale: no quadratic term, no growth with the table."""

from __future__ import annotations

import time
from typing import Any

import pytest

from websockets_routes import Router


async def handler(ws: Any, path: Any) -> None:
    pass  # pragma: no cover


def mixed(i: int) -> str:
    """The i-th route of a mixed API table, as in benchmarks/shapes.py."""
    return [
        f"/pages/page{i}",
        f"/items{i}/{{id}}",
        f"/users{i}/{{uid:int}}/posts/{{post}}",
        f"/files{i}/{{rest:path}}",
        f"/{{tenant}}/item{i}-{{id}}",
    ][i % 5]


def register(count: int) -> tuple[Router, float]:
    """A router of ``count`` mixed routes, and the CPU time it took."""
    router = Router()
    start = time.process_time()
    for i in range(count):
        router.add_route(mixed(i), handler)
    return router, time.process_time() - start


@pytest.mark.stress
def test_hundred_thousand_routes_register_in_seconds() -> None:
    """100,000 routes register in under 30 s, and the last one matches."""
    router, elapsed = register(100_000)
    assert elapsed < 30, elapsed
    path = router.match("/acme/item99999-7")
    assert path is not None and path.params == {"tenant": "acme", "id": "7"}


@pytest.mark.stress
def test_match_time_does_not_grow_with_the_table() -> None:
    """The worst lookup at 10,000 routes costs about what it costs at 100."""
    paths = ["/pages/page{}", "/items{}/x", "/users{}/1/posts/p", "/files{}/a/b"]
    paths += ["/acme/item{}-7", "/nope/{}"]
    worst = {}
    for count in (100, 10_000):
        router, _ = register(count)
        times = []
        for path in paths:
            probe = path.format(count - 5 + paths.index(path))
            start = time.process_time()
            for _ in range(2_000):
                router.match(probe)
            times.append(time.process_time() - start)
        worst[count] = max(times)
    # Flat lookups give about 1; a scan of the table gives about 100.
    assert worst[10_000] < 3 * worst[100], worst
