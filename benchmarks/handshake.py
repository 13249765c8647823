"""Handshake cost: server CPU time per handshake, and connections per second.

A server process runs three servers side by side, each on its own port and
without compression: a bare ``websockets.serve``, ``router.serve()`` with
1,000 routes ``/r0/{id}`` ... ``/r999/{id}``, and websockets' own ``route()``
with the same 1,000 werkzeug rules (when the installed websockets has it and
werkzeug is installed). Each one accepts a connection and closes it at once.

A raw-socket client in this process opens a batch of connections to the last
route, ``/r999/abc``, 8 in flight: each one checks for HTTP 101, sends a
close frame and waits for the server to close. Before and after each batch,
the server reports the CPU time (user and system) of the thread that runs
its event loop, so that the figure is the server's own work per handshake,
opening and closing, and nothing else on the machine.

Each repetition runs one batch per subject, in a rotating order, so that
the machine's drift weighs on all of them alike; three server processes,
which start the servers in different orders, share the repetitions (see
``together.py``).
Ratios to the bare server are taken within each repetition, and their
median is shown: ``bare / µs`` for the CPU time, ``conn/s / bare`` for the
rate of the same batches; higher is better for both. The router's own work
is the median of the per-repetition differences to the bare server.

Run it alone with ``python benchmarks/handshake.py [--quick]``.

"""

from __future__ import annotations

import functools
import statistics
import sys

from common import Row, machine, print_table
from loadgen import LABELS, generate, last_path, rate_rows
from together import interleave

__all__ = ["main"]

ROUTES = 1000
SUBJECTS = ("bare", "ours", "route")
CASE = "1,000 routes, last route"
CONCURRENCY = 8


def main(quick: bool = False) -> list[Row]:
    """Measure server CPU time per handshake, and the rate, of every subject.

    Args:
        quick: Run three small repetitions only, to prove that the script works.

    Returns:
        One row per subject for the rate, one per subject for the CPU time,
        then the routing's own work per handshake.

    """
    repetitions, batch, processes = (3, 40, 1) if quick else (42, 300, 3)
    rates, cpus = interleave(
        "handshake",
        SUBJECTS,
        "close",
        ROUTES,
        functools.partial(_connections, batch),
        repetitions=repetitions,
        processes=processes,
        warm_up=functools.partial(_connections, 20),
    )
    how = f"{repetitions} repetitions x {batch} handshakes"
    return _rows(list(rates), rates, cpus, how)


def _connections(count: int, port: int) -> int:
    """Open ``count`` connections to the last route, 8 in flight, and close them."""
    result = generate(
        port, last_path(ROUTES), duration=60.0, concurrency=CONCURRENCY, limit=count
    )
    if result["errors"] or result["completed"] != count:
        raise RuntimeError(f"load generator failed: {result}")
    return count


def _rows(
    subjects: list[str],
    rates: dict[str, list[float]],
    cpus: dict[str, list[float]],
    how: str,
) -> list[Row]:
    rows = rate_rows("handshake", CASE, "conn", subjects, rates, cpus, how)
    for subject in subjects[1:]:
        pairs = zip(cpus[subject], cpus["bare"], strict=True)
        rows.append(
            Row(
                "handshake",
                f"{CASE}, routing's own CPU",
                LABELS[subject],
                statistics.median(value - bare for value, bare in pairs),
                "µs/conn",
                None,
                f"subject - bare, per repetition; median of {how}",
            )
        )
    return rows


if __name__ == "__main__":
    print(machine())
    print_table(main(quick="--quick" in sys.argv[1:]))
