"""Hostile input: match time against path length, ours beside Routes' regex.

Each case is a route whose Routes regex backtracks on some paths, and a path
of 100 B, 1 KB and 8 KB (about the longest request line websockets reads)
built to make it backtrack, or to make our linear splitting work hardest.
Routes' regex is timed only where it ends within a second: the others take
minutes to hours.

Times are CPU time per match in this process, the median of rounds; the
ratio is our time over our time at 100 B: linear time gives about 10 at
1 KB and 80 at 8 KB, or less when the time is dominated by fixed costs.

Run: ``python benchmarks/hostile.py [--quick]``.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable

from common import Row, run_main
from match import cpu_ns

from websockets_routes.table import Route, RouteTable

__all__ = ["main"]

LENGTHS = (100, 1_000, 8_000)

#: (pattern, what the path holds, path of about n bytes, Routes' slowest n).
CASES: list[tuple[str, str, Callable[[int], str], int]] = [
    ("/t/{a}-{b}-{c}", "dashes, then /", lambda n: "/t/" + "-" * n + "/", 100),
    ("/t/{a}-{b}-{c}", "-a repeated", lambda n: "/t/" + "-a" * (n // 2), 100),
    ("/files/{name}.{ext}", "dots, then /", lambda n: "/files/" + "." * n + "/", 1000),
    ("/files/{name}.{ext}", "a. repeated", lambda n: "/files/" + "a." * (n // 2), 1000),
    ("/x/{a}{b}{c}", "letters, then /", lambda n: "/x/" + "b" * n + "/", 100),
    (r"/u/{x:[a-z]+}-{y}", "letters, then -", lambda n: "/u/" + "a" * n + "-", 8000),
    ("/p/{rest:path}/{name}", "a/ repeated", lambda n: "/p/" + "a/" * (n // 2), 8000),
]


def main(quick: bool = False) -> list[Row]:
    """Rows: each case at each length, ours and (where it ends) Routes' regex."""
    rows = []
    rounds = 3 if quick else 9
    for pattern, holds, build, slowest in CASES:
        table = RouteTable()
        route = Route(pattern)
        table.add(route)
        base: list[float] = []
        for length in LENGTHS:
            path = build(length)
            subjects = {"ours: RouteTable.match": table.match}
            if length <= slowest and not quick:
                subjects["Routes' regex"] = route.regex.match
            for subject, match in subjects.items():
                call = functools.partial(match, path)
                number = 3 if "Routes" in subject else 200
                times = [cpu_ns(call, number) for _ in range(rounds)]
                if subject.startswith("ours") and length == LENGTHS[0]:
                    base = times
                ratio = statistics.median(
                    t / b for t, b in zip(times, base, strict=True)
                )
                rows.append(
                    Row(
                        "hostile",
                        f"{pattern}, {holds}, {length:,} B",
                        subject,
                        statistics.median(times) / 1000,
                        "µs",
                        ratio,
                        "CPU time / ours at 100 B",
                    )
                )
    return rows


if __name__ == "__main__":
    run_main(main, __doc__)
