"""Registration at scale: time and memory per route, and the garbage collector.

* ``Router.add_route`` for 100,000 routes of the mixed API shape
  (``shapes.py``): CPU time per route; and the memory that tracemalloc sees
  per route, in a second run of 10,000 routes (tracemalloc slows
  registration down);
* the objects per route that the garbage collector tracks, and the time of
  a full ``gc.collect()`` with 10,000 routes registered, before and after
  ``gc.freeze()``, which moves every object alive to a generation the
  collector no longer scans. The README recommends calling it once the
  routes are registered.

Run: ``python benchmarks/registration.py [--quick]``.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc

from common import Row, run_main
from shapes import SHAPES

from websockets_routes import Router

__all__ = ["main"]


async def _handler(ws: object, path: object) -> None:
    pass  # pragma: no cover


def _register(n: int) -> Router:
    shape = SHAPES["mixed API"]
    router = Router()
    for i in range(n):
        router.add_route(shape(i)[0], _handler)
    return router


def registration(n: int, traced: int) -> list[Row]:
    """CPU time per route for n routes, and traced memory per route for ``traced``.

    tracemalloc slows registration down several times, and memory per
    route does not depend on the count: it is measured on fewer routes.
    """
    gc.collect()
    start = time.process_time()
    router = _register(n)
    elapsed = time.process_time() - start
    del router
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    router = _register(traced)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del router
    return [
        Row(
            "registration",
            f"{n:,} routes, mixed API",
            "Router.add_route",
            elapsed / n * 1e6,
            "µs",
            None,
            f"CPU time per route; {elapsed:.1f} s in all",
        ),
        Row(
            "registration",
            f"{traced:,} routes, mixed API",
            "memory per route",
            (after - before) / traced,
            "B",
            None,
            "tracemalloc, Router and routes only",
        ),
    ]


def collection(n: int, repeat: int) -> list[Row]:
    """Tracked objects per route, and full collections before and after freezing."""
    gc.collect()
    objects = len(gc.get_objects())
    empty = statistics.median(_collect() for _ in range(repeat))
    router = _register(n)
    gc.collect()
    tracked = (len(gc.get_objects()) - objects) / n
    times = {"no routes": empty}
    for state in ("as registered", "after gc.freeze()"):
        if state != "as registered":
            gc.freeze()
        times[state] = statistics.median(_collect() for _ in range(repeat))
    gc.unfreeze()
    del router
    case = f"{n:,} routes"
    rows = [
        Row(
            "gc",
            case,
            "objects tracked per route",
            tracked,
            "",
            None,
            "gc.get_objects() growth / routes",
        ),
    ]
    for state, value in times.items():
        rows.append(
            Row(
                "gc",
                case,
                f"full gc.collect(), {state}",
                value,
                "ms",
                value / times["as registered"],
                "time / as registered, median",
            )
        )
    return rows


def _collect() -> float:
    """The time of a full collection, in milliseconds."""
    start = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - start) * 1000


def main(quick: bool = False) -> list[Row]:
    """Registration of 100,000 routes, and the collector with 10,000."""
    if quick:
        return registration(2_000, 1_000) + collection(1_000, 3)
    return registration(100_000, 10_000) + collection(10_000, 9)


if __name__ == "__main__":
    run_main(main, __doc__)
