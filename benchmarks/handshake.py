"""Handshake cost: server CPU time per handshake, and connections per second.

One server process runs three servers side by side, each on its own port and
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

Each repetition runs one batch per subject, in a rotating order, so that the
machine's drift weighs on all of them alike. Ratios to the bare server are
taken within each repetition, and their median is shown: ``bare / µs`` for
the CPU time, ``conn/s / bare`` for the rate of the same batches; higher is
better for both. The router's own work is the median of the per-repetition
differences to the bare server.

Run it alone with ``python benchmarks/handshake.py [--quick]``.

"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from common import Row, machine, print_table
from loadgen import LABELS, generate, last_path, rate_rows

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
        then the router's own work per handshake.

    """
    repetitions, batch = (3, 40) if quick else (41, 300)
    with _Servers() as servers:
        subjects = [subject for subject in SUBJECTS if subject in servers.ports]
        for subject in subjects:  # warm up, and check that each one answers
            servers.batch(subject, 20)
        rates: dict[str, list[float]] = {subject: [] for subject in subjects}
        cpus: dict[str, list[float]] = {subject: [] for subject in subjects}
        for repetition in range(repetitions):
            shift = repetition % len(subjects)
            for subject in [*subjects[shift:], *subjects[:shift]]:
                rate, cpu = servers.batch(subject, batch)
                rates[subject].append(rate)
                cpus[subject].append(cpu)
            print(
                f"handshake: {repetition + 1}/{repetitions}: "
                + ", ".join(f"{s} {cpus[s][-1]:,.1f} µs" for s in subjects),
                file=sys.stderr,
            )
    how = f"{repetitions} repetitions x {batch} handshakes"
    return _rows(subjects, rates, cpus, how)


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


class _Servers:
    """The server process: three servers, and the CPU time of their thread."""

    def __init__(self) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "serve"]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.ports: dict[str, int] = json.loads(self._read())

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the server process exited")
        return line

    def cpu(self) -> float:
        """The CPU time of the server's event loop thread, in seconds."""
        assert self.process.stdin is not None
        self.process.stdin.write("cpu\n")
        self.process.stdin.flush()
        return float(self._read())

    def batch(self, subject: str, count: int) -> tuple[float, float]:
        """Open ``count`` connections: the rate, and server CPU µs per handshake."""
        before = self.cpu()
        start = time.perf_counter()
        result = generate(
            self.ports[subject],
            last_path(ROUTES),
            duration=60.0,
            concurrency=CONCURRENCY,
            limit=count,
        )
        elapsed = time.perf_counter() - start
        after = self.cpu()
        if result["errors"] or result["completed"] != count:
            raise RuntimeError(f"load generator failed on {subject}: {result}")
        return count / elapsed, (after - before) / count * 1e6

    def __enter__(self) -> _Servers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def _serve() -> None:
    """Run every subject's server; answer each line on stdin with the CPU time."""
    from loadgen import HANDLERS, _make_server

    async with AsyncExitStack() as stack:
        ports: dict[str, Any] = {}
        for subject in SUBJECTS:
            try:
                server = _make_server(subject, HANDLERS["close"], ROUTES)
            except ImportError as exc:  # route() needs websockets 15 and werkzeug
                print(f"handshake: skipping {subject}: {exc}", file=sys.stderr)
                continue
            server = await stack.enter_async_context(server)
            ports[subject] = server.sockets[0].getsockname()[1]
        print(json.dumps(ports), flush=True)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            # Read here, in the event loop's thread: the thread that does the
            # work, and not the one that waits for stdin.
            print(time.thread_time(), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        asyncio.run(_serve())
    else:
        print(machine())
        print_table(main(quick="--quick" in sys.argv[1:]))
