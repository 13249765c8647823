"""Memory per idle connection: what routing keeps for each open connection.

Three servers, each in its own process, keep every connection open until the
client closes it: a bare ``websockets.serve``, ``router.serve()`` with 1,000
routes and websockets' ``route()`` with the same 1,000 rules, all without
compression. This process opens 1,000 connections to the last route,
``/r999/abc``, over raw sockets, and asks the server for its memory before
and after, each time after a full garbage collection.

Each subject runs twice: with tracemalloc, whose count of the bytes that
Python allocates is exact and repeatable, and without, for the resident set
size (``VmRSS``), which includes what tracemalloc does not see but moves by
whole pages. Ratios are ``bytes / bare``; the note gives the difference to
bare in bytes per connection.

Run it alone with ``python benchmarks/memory.py [--quick]``.

"""

from __future__ import annotations

import statistics
import sys
import time
from contextlib import ExitStack

from common import Row, machine, print_table
from loadgen import (
    LABELS,
    ServerProcess,
    close_connections,
    last_path,
    open_connections,
    raise_open_files,
)

__all__ = ["main"]

ROUTES = 1000
SUBJECTS = ("bare", "ours", "route")
MEASURES = {"traced": "tracemalloc", "rss": "RSS"}


def _wait_for(server: ServerProcess, connections: int, limit: float = 10.0) -> None:
    """Wait until the server has exactly ``connections`` open connections."""
    deadline = time.monotonic() + limit
    while server.stats()["connections"] != connections:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.subject} did not reach {connections}")
        time.sleep(0.05)


def _per_connection(server: ServerProcess, count: int, measure: str) -> float:
    """Open ``count`` connections; return the growth of ``measure`` per connection."""
    path = last_path(ROUTES)
    # Warm up: the first connections fill caches and pools once for all.
    close_connections(open_connections(server.port, path, 20))
    _wait_for(server, 0)
    before = server.stats()[measure]
    socks = open_connections(server.port, path, count)
    try:
        _wait_for(server, count)
        after = server.stats()[measure]
    finally:
        close_connections(socks)
    _wait_for(server, 0)
    return float(after - before) / count


def _sizes(subject: str, measure: str, rounds: int, count: int) -> list[float]:
    """Bytes per connection of a subject, for each round.

    tracemalloc gives the same figure round after round on one server; RSS
    needs a new server for each round, because a server that has freed
    memory takes it back before it asks the system for more.

    """
    trace = measure == "traced"
    sizes: list[float] = []
    with ExitStack() as stack:
        # The servers start together: each one's startup overlaps the others'.
        servers = [
            stack.enter_context(
                ServerProcess(subject, "idle", routes=ROUTES, trace=trace)
            )
            for _ in range(1 if trace else rounds)
        ]
        for round_ in range(rounds):
            server = servers[round_ % len(servers)]
            sizes.append(_per_connection(server, count, measure))
            print(
                f"memory: {MEASURES[measure]} round {round_ + 1}/{rounds} "
                f"{subject}: {sizes[-1]:,.0f} bytes per connection",
                file=sys.stderr,
            )
    return sizes


def main(quick: bool = False) -> list[Row]:
    """Measure the memory that each idle connection holds in the server.

    Args:
        quick: Open 100 connections, once per subject and measure.

    Returns:
        One row per subject for tracemalloc, then one per subject for RSS.

    """
    rounds, count = (1, 100) if quick else (3, 1000)
    raise_open_files(count + 256)
    results = {
        measure: {
            subject: _sizes(subject, measure, rounds, count) for subject in SUBJECTS
        }
        for measure in MEASURES
    }
    return _rows(results, f"median of {rounds} x {count:,} connections")


def _rows(results: dict[str, dict[str, list[float]]], how: str) -> list[Row]:
    """Median bytes per connection per subject and measure, compared to bare."""
    rows = []
    for measure, label in MEASURES.items():
        sizes = {
            subject: statistics.median(values)
            for subject, values in results[measure].items()
        }
        for subject in SUBJECTS:
            difference = sizes[subject] - sizes["bare"]
            rows.append(
                Row(
                    "memory",
                    f"idle connection, {label}",
                    LABELS[subject],
                    sizes[subject],
                    "B/conn",
                    sizes[subject] / sizes["bare"],
                    f"ratio = B / bare; {difference:+,.0f} B vs bare; {how}",
                )
            )
    return rows


if __name__ == "__main__":
    print(machine())
    print_table(main(quick="--quick" in sys.argv[1:]))
