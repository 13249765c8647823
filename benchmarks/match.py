"""Match benchmark: time per lookup, ours side by side with the peers.

Every subject gets the same route table, ``/r{i}/{id}`` for i in 0..N-1 in its
own syntax, and the same paths: the first, a middle and the last route, and
a miss. Figures are medians over repeated runs, in one process, so ratios
compare like with like on a noisy machine.

Subjects:

* ours: ``RouteTable.match`` (strips the query, decodes params) and
  ``Router.match`` (also builds the ``RoutedPath``);
* ``routes.Mapper.match`` with the same patterns;
* werkzeug: ``MapAdapter.match`` on a map bound once, and bound per request
  as websockets' ``route()`` does;
* Starlette: the scan over ``WebSocketRoute.matches`` its router does;
* a plain dict lookup of the whole path, as the floor.

Run: ``python benchmarks/match.py [--quick]``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from collections.abc import Callable

import routes
from common import Row, machine, median_ns, print_table

from websockets_routes import Router
from websockets_routes.table import Route, RouteTable

__all__ = ["main"]


def cases(n: int) -> dict[str, str]:
    return {
        "first": "/r0/abc",
        "middle": f"/r{n // 2}/abc",
        "last": f"/r{n - 1}/abc",
        "miss": "/nope/abc",
    }


async def _handler(ws: object, path: object) -> None:
    pass  # pragma: no cover


def subjects(n: int) -> dict[str, Callable[[str], object]]:
    """A lookup function per subject, over n routes."""
    table = RouteTable()
    router = Router()
    mapper = routes.Mapper(explicit=True)
    for i in range(n):
        table.add(Route(f"/r{i}/{{id}}", name=str(i)))
        router.add_route(f"/r{i}/{{id}}", _handler)
        mapper.connect(str(i), f"/r{i}/{{id}}")
    mapper.create_regs([])
    found: dict[str, Callable[[str], object]] = {
        "ours: RouteTable.match": table.match,
        "ours: Router.match": router.match,
        "routes.Mapper.match": mapper.match,
    }
    found.update(_werkzeug(n))
    found.update(_starlette(n))
    paths = {f"/r{i}/abc": i for i in range(n)}
    found["dict lookup (floor)"] = paths.get
    return found


def _werkzeug(n: int) -> dict[str, Callable[[str], object]]:
    try:
        from werkzeug.exceptions import NotFound
        from werkzeug.routing import Map, Rule
    except ImportError:  # pragma: no cover
        print("werkzeug is not installed: skipping it", file=sys.stderr)
        return {}
    url_map = Map(
        [Rule(f"/r{i}/<id>", endpoint=str(i), websocket=True) for i in range(n)]
    )
    adapter = url_map.bind("localhost", url_scheme="ws")

    def prebound(path: str) -> object:
        try:
            return adapter.match(path)
        except NotFound:
            return None

    def bound_per_request(path: str) -> object:
        try:
            adapter = url_map.bind("localhost", url_scheme="ws")
            return adapter.match(path)
        except NotFound:
            return None

    return {
        "werkzeug MapAdapter.match (prebound)": prebound,
        "werkzeug bind + match (websockets route())": bound_per_request,
    }


def _starlette(n: int) -> dict[str, Callable[[str], object]]:
    try:
        from starlette.routing import Match, WebSocketRoute
    except ImportError:  # pragma: no cover
        print("starlette is not installed: skipping it", file=sys.stderr)
        return {}
    table = [WebSocketRoute(f"/r{i}/{{id}}", _handler) for i in range(n)]

    def scan(path: str) -> object:
        scope = {"type": "websocket", "path": path, "root_path": ""}
        for route in table:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return child
        return None

    return {"starlette route scan": scan}


def measure(n: int, quick: bool) -> list[Row]:
    """Rows for n routes: every subject on every case.

    The subjects take turns, round after round, and each ratio is the median
    of the per-round ratios ``time / ours``: the machine's drift hits both
    sides of a ratio alike.
    """
    rows = []
    number, rounds = (1_000, 3) if quick else (10_000, 15)
    lookups = subjects(n)
    for case, path in cases(n).items():
        times: dict[str, list[float]] = {subject: [] for subject in lookups}
        for _ in range(rounds):
            for subject, lookup in lookups.items():
                slow = "Mapper" in subject or "starlette" in subject
                count = max(number // 50, 20) if slow else number
                call = functools.partial(lookup, path)
                times[subject].append(median_ns(call, number=count, repeat=1))
        ours = times["ours: RouteTable.match"]
        for subject, values in times.items():
            ratio = statistics.median(v / o for v, o in zip(values, ours, strict=True))
            rows.append(
                Row(
                    "match",
                    f"{n:,} routes, {case}",
                    subject,
                    statistics.median(values) / 1000,
                    "µs",
                    ratio,
                    "time / ours, median of per-round ratios",
                )
            )
    return rows


def growth(quick: bool) -> list[Row]:
    """Our time for the last route and a miss, from 10 to 10,000 routes.

    The table sizes take turns, round after round; each ratio is the median
    of the per-round ratios to the time at 10 routes.
    """
    rows = []
    number, rounds = (1_000, 3) if quick else (20_000, 15)
    sizes = (10, 1_000) if quick else (10, 100, 1_000, 10_000)
    tables = {}
    for n in sizes:
        tables[n] = RouteTable()
        for i in range(n):
            tables[n].add(Route(f"/r{i}/{{id}}"))
    for case in ("last", "miss"):
        times: dict[int, list[float]] = {n: [] for n in sizes}
        for _ in range(rounds):
            for n in sizes:
                call = functools.partial(tables[n].match, cases(n)[case])
                times[n].append(median_ns(call, number=number, repeat=1))
        base = times[sizes[0]]
        for n in sizes:
            pairs = zip(times[n], base, strict=True)
            rows.append(
                Row(
                    "growth",
                    f"{n:,} routes, {case}",
                    "ours: RouteTable.match",
                    statistics.median(times[n]) / 1000,
                    "µs",
                    statistics.median(t / b for t, b in pairs),
                    "time / time at 10 routes, median of per-round ratios",
                )
            )
    return rows


def main(quick: bool = False) -> list[Row]:
    """All match rows: 1,000 routes side by side, then our growth."""
    return measure(100 if quick else 1_000, quick) + growth(quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(machine())
    print_table(main(args.quick))
