"""Handshake throughput: connections per second through a routing server.

Three servers, each in its own process, accept a connection and close it at
once: a bare ``websockets.serve``, ``router.serve()`` with 1,000 routes and
websockets' ``route()`` with the same 1,000 rules, all without compression.
A raw-socket load generator, in another process, opens connections to the
last route, ``/r999/abc``, with 8 in flight, for a fixed time; each connection
checks for HTTP 101, sends a close frame and waits for the server to close.

The subjects take turns, in a rotating order, for many short rounds, so that
the load of a shared machine weighs on all of them alike; the table gives
each subject's median rate, and the server's median CPU time per handshake.
Ratios are to the bare server, taken in each round, and their median is
shown: ``conn/s / bare`` for the rate, ``bare / µs`` for the CPU time; higher
is better for both.

Run it alone with ``python benchmarks/handshake.py [--quick]``.

"""

from __future__ import annotations

import sys

from common import Row, machine, print_table
from loadgen import ServerProcess, last_path, rate_rows, run_load, take_turns

__all__ = ["main"]

ROUTES = 1000
SUBJECTS = ("bare", "ours", "route")
CASE = "1,000 routes, last route"


def _measure(
    server: ServerProcess, *, duration: float, concurrency: int
) -> tuple[float, float]:
    """One load run: connections per second, and server CPU µs per handshake."""
    before = server.stats()["cpu"]
    result = run_load(
        server.port, last_path(ROUTES), duration=duration, concurrency=concurrency
    )
    after = server.stats()["cpu"]
    if result["errors"] or not result["completed"]:
        raise RuntimeError(f"load generator failed on {server.subject}: {result}")
    return result["rate"], (after - before) / result["completed"] * 1e6


def main(quick: bool = False) -> list[Row]:
    """Measure handshake throughput and server CPU time per handshake.

    Args:
        quick: Run one short round only, to prove that the script works.

    Returns:
        One row per subject for the rate, then one per subject for the CPU.

    """
    rounds, duration, concurrency = (1, 0.5, 8) if quick else (15, 1.5, 8)

    def measure(server: ServerProcess, warm_up: bool) -> tuple[float, float]:
        seconds = 0.2 if warm_up else duration
        return _measure(server, duration=seconds, concurrency=concurrency)

    rates, cpus = take_turns(
        "handshake",
        SUBJECTS,
        "close",
        measure,
        rounds=rounds,
        routes=ROUTES,
        unit="conn",
    )
    return _rows(rates, cpus, rounds, duration)


def _rows(
    rates: dict[str, list[float]],
    cpus: dict[str, list[float]],
    rounds: int,
    duration: float,
) -> list[Row]:
    how = f"{rounds} rounds x {duration:g} s"
    return rate_rows("handshake", CASE, "conn", SUBJECTS, rates, cpus, how)


if __name__ == "__main__":
    print(machine())
    print_table(main(quick="--quick" in sys.argv[1:]))
