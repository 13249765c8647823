"""Match benchmark: time per lookup on tables of every shape, ours beside the peers.

Every subject gets the same route table, in its own syntax, for each shape of
``shapes.py`` (a mixed API, patterns that start with a parameter, a shared
prefix with ``{rest:path}``, text and parameters in one segment, ...), at
1,000 and 10,000 routes; and the same probes: the first, a middle and the
last route, and a miss.

Subjects:

* ours: ``Router.match`` (``RoutedPath`` included) and ``RouteTable.match``;
* ``routes.Mapper.match`` with the same patterns;
* werkzeug: ``MapAdapter.match`` on a map bound once, at 1,000 routes only
  (building a map of 10,000 rules takes up to a minute on some shapes).

Times are CPU time per lookup in this process (``time.thread_time_ns``),
the median of rounds in which the subjects take turns; each ratio is the
median of the per-round ratios ``time / ours`` (``Router.match``), so the
machine's drift hits both sides of a ratio alike. ``growth`` rows give our
worst probe at 10,000 routes over our worst probe at 100.

Run: ``python benchmarks/match.py [--quick]``.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from collections.abc import Callable

import routes
from common import Row, run_main
from shapes import SHAPES, Shape, probes, werkzeug_rule

from websockets_routes import Router
from websockets_routes.table import Route, RouteTable, parse_pattern

__all__ = ["cpu_ns", "main"]

OURS = "ours: Router.match"


def cpu_ns(func: Callable[[], object], number: int) -> float:
    """CPU time per call of this thread, in nanoseconds."""
    start = time.thread_time_ns()
    for _ in range(number):
        func()
    return (time.thread_time_ns() - start) / number


async def _handler(ws: object, path: object) -> None:
    pass  # pragma: no cover


def subjects(shape: Shape, n: int) -> dict[str, Callable[[str], object]]:
    """A lookup function per subject, over n routes of a shape."""
    table = RouteTable()
    router = Router()
    mapper = routes.Mapper(explicit=True)
    for i in range(n):
        pattern = shape(i)[0]
        table.add(Route(pattern, name=str(i)))
        router.add_route(pattern, _handler)
        parsed, requirements, _ = parse_pattern(pattern, router.converters)
        mapper.connect(str(i), parsed, requirements=requirements)
    mapper.create_regs([])
    found: dict[str, Callable[[str], object]] = {
        OURS: router.match,
        "ours: RouteTable.match": table.match,
        "routes.Mapper.match": mapper.match,
    }
    if n <= 1_000:
        # werkzeug builds its map of 10,000 rules in up to a minute per shape.
        found.update(_werkzeug(shape, n))
    return found


def _werkzeug(shape: Shape, n: int) -> dict[str, Callable[[str], object]]:
    try:
        from werkzeug.exceptions import NotFound
        from werkzeug.routing import Map, Rule
    except ImportError:  # pragma: no cover
        print("werkzeug is not installed: skipping it", file=sys.stderr)
        return {}
    rules = [Rule(werkzeug_rule(shape(i)[0]), endpoint=str(i)) for i in range(n)]
    adapter = Map(rules, strict_slashes=False).bind("localhost")

    def prebound(path: str) -> object:
        try:
            return adapter.match(path)
        except NotFound:
            return None

    return {"werkzeug MapAdapter.match (prebound)": prebound}


def _calls(call: Callable[[], object], most: int) -> int:
    """How many calls take about 2 ms, at least 1 and at most ``most``.

    Peers take up to a second per lookup on some shapes (werkzeug on
    ``/{tenant}/item{i}-{id}`` at 10,000 routes): those get one call.

    """
    call()
    return max(1, min(most, int(2e6 / max(cpu_ns(call, 1), 1.0))))


def measure(name: str, shape: Shape, n: int, quick: bool) -> list[Row]:
    """Rows for one shape at n routes: every subject on every probe."""
    rows = []
    number, rounds = (200, 3) if quick else (5_000, 11)
    lookups = subjects(shape, n)
    for case, path in probes(shape, n).items():
        times: dict[str, list[float]] = {subject: [] for subject in lookups}
        # As many calls as take about 2 ms: routes.Mapper and werkzeug take
        # up to milliseconds per lookup on some shapes.
        counts = {
            subject: _calls(functools.partial(lookup, path), number)
            for subject, lookup in lookups.items()
        }
        for _ in range(rounds):
            for subject, lookup in lookups.items():
                call = functools.partial(lookup, path)
                times[subject].append(cpu_ns(call, counts[subject]))
        ours = times[OURS]
        for subject, values in times.items():
            pairs = zip(values, ours, strict=True)
            rows.append(
                Row(
                    "match",
                    f"{name}, {n:,} routes, {case}",
                    subject,
                    statistics.median(values) / 1000,
                    "µs",
                    statistics.median(v / o for v, o in pairs),
                    "CPU time / ours, median of per-round ratios",
                )
            )
    return rows


def growth(name: str, shape: Shape, quick: bool) -> list[Row]:
    """Our worst probe at 10,000 routes over our worst probe at 100."""
    number, rounds = (200, 3) if quick else (10_000, 9)
    sizes = (10, 100) if quick else (100, 10_000)
    routers = {}
    for n in sizes:
        routers[n] = Router()
        for i in range(n):
            routers[n].add_route(shape(i)[0], _handler)
    ratios = []
    for _ in range(rounds):
        times = {}
        for n in sizes:
            paths = probes(shape, n).values()
            match = routers[n].match
            times[n] = max(cpu_ns(functools.partial(match, p), number) for p in paths)
        ratios.append(times[sizes[1]] / times[sizes[0]])
    return [
        Row(
            "growth",
            f"{name}, {sizes[0]:,} → {sizes[1]:,} routes",
            OURS,
            statistics.median(ratios),
            "times",
            None,
            "worst probe, time at the larger / the smaller size",
        )
    ]


def main(quick: bool = False) -> list[Row]:
    """All match rows: every shape at 1,000 and 10,000 routes, then growth."""
    rows = []
    sizes = (100,) if quick else (1_000, 10_000)
    for name, shape in SHAPES.items():
        for n in sizes:
            rows += measure(name, shape, n, quick)
    for name, shape in SHAPES.items():
        rows += growth(name, shape, quick)
    return rows


if __name__ == "__main__":
    run_main(main, __doc__)
