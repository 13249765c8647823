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
from contextlib import ExitStack

from common import Row, machine, print_table
from loadgen import ServerProcess, last_path, rate_rows, run_load

__all__ = ["main"]

ROUTES = 1000
SUBJECTS = ("bare", "ours", "route")
CASE = "1,000 routes, last route"


def _rotate(round_: int) -> list[str]:
    """The subjects in the order of one round: each goes first in turn."""
    shift = round_ % len(SUBJECTS)
    return [*SUBJECTS[shift:], *SUBJECTS[:shift]]


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
    rates: dict[str, list[float]] = {subject: [] for subject in SUBJECTS}
    cpus: dict[str, list[float]] = {subject: [] for subject in SUBJECTS}
    with ExitStack() as stack:
        servers = {
            subject: stack.enter_context(ServerProcess(subject, "close", routes=ROUTES))
            for subject in SUBJECTS
        }
        for subject in SUBJECTS:  # warm up, and check that each one answers
            _measure(servers[subject], duration=0.2, concurrency=concurrency)
        for round_ in range(rounds):
            for subject in _rotate(round_):
                rate, cpu = _measure(
                    servers[subject], duration=duration, concurrency=concurrency
                )
                rates[subject].append(rate)
                cpus[subject].append(cpu)
                print(
                    f"handshake: round {round_ + 1}/{rounds} {subject}: "
                    f"{rate:,.0f} conn/s, {cpu:,.0f} µs CPU",
                    file=sys.stderr,
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
