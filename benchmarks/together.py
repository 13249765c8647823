"""Servers side by side in one process, measured by the CPU time of its loop.

:class:`Servers` starts a process that runs every subject's server (see
``loadgen.LABELS``) in one event loop, each on its own port, with the same
handler. The clients, in the calling process, load one subject at a time;
before and after each load the process reports the CPU time (user and
system) of the thread that runs the event loop. Every subject then shares
the same interpreter, heap and garbage collector, and the figure is the
server's own work, not the machine's. Once the servers are up, the process
calls ``gc.freeze()``, as the README recommends after registration.

:func:`interleave` runs the subjects in a rotating order, repetition after
repetition, so that the drift of a shared machine weighs on all of them
alike, in a few such processes; ratios are then taken within each
repetition.

"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

__all__ = ["Servers", "interleave"]

#: What a load returns: how many operations it completed.
Load = Callable[[int], int]


class Servers:
    """A process that serves every subject with one handler, in one event loop.

    Args:
        subjects: Subjects of ``loadgen._make_server``; one that cannot be
            built here (``route`` needs websockets 15 and werkzeug) is left
            out of :attr:`ports`.
        handler: A key of ``loadgen.HANDLERS``.
        routes: How many routes ``ours`` and ``route`` have.

    Example::

        with Servers(["bare", "ours"], "echo") as servers:
            rate, cpu = servers.measure("ours", lambda port: ...)

    """

    def __init__(self, subjects: Sequence[str], handler: str, routes: int) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), handler, str(routes)]
        self.process = subprocess.Popen(
            [*command, *subjects],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ports: dict[str, int] = json.loads(self._read())

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the server process exited")
        return line

    def cpu(self) -> float:
        """The CPU time of the servers' event loop thread, in seconds."""
        assert self.process.stdin is not None
        self.process.stdin.write("cpu\n")
        self.process.stdin.flush()
        return float(self._read())

    def measure(self, subject: str, load: Callable[[int], int]) -> tuple[float, float]:
        """Run ``load(port)``: operations per second, and server CPU µs per one."""
        before = self.cpu()
        start = time.perf_counter()
        count = load(self.ports[subject])
        elapsed = time.perf_counter() - start
        after = self.cpu()
        if not count:
            raise RuntimeError(f"nothing done by {subject}")
        return count / elapsed, (after - before) / count * 1e6

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def interleave(
    name: str,
    subjects: Sequence[str],
    handler: str,
    routes: int,
    load: Load,
    *,
    repetitions: int,
    processes: int,
    warm_up: Load,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Measure every subject once per repetition, in a rotating order.

    The repetitions are shared among ``processes`` server processes, each
    of which starts the subjects' servers in another order: where a server
    sits in a process's memory weighs on its figures by a few µs, and this
    spreads that over every subject.

    Returns:
        The rates and the CPU µs per operation, per subject, one value per
        repetition.

    """
    rates: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    for process in range(processes):
        shift = process % len(subjects)
        order = [*subjects[shift:], *subjects[:shift]]
        with Servers(order, handler, routes) as servers:
            present = [subject for subject in subjects if subject in servers.ports]
            for subject in present:  # warm up, and check that each one answers
                servers.measure(subject, warm_up)
            start = process * repetitions // processes
            for repetition in range(start, (process + 1) * repetitions // processes):
                shift = repetition % len(present)
                for subject in [*present[shift:], *present[:shift]]:
                    rate, cpu = servers.measure(subject, load)
                    rates.setdefault(subject, []).append(rate)
                    cpus.setdefault(subject, []).append(cpu)
                print(
                    f"{name}: {repetition + 1}/{repetitions}: "
                    + ", ".join(f"{s} {cpus[s][-1]:,.2f} µs" for s in present),
                    file=sys.stderr,
                )
    return rates, cpus


async def _serve(handler: str, routes: int, subjects: list[str]) -> None:
    """Run the subjects' servers; answer each line on stdin with the CPU time."""
    from loadgen import HANDLERS, _make_server

    async with AsyncExitStack() as stack:
        ports: dict[str, Any] = {}
        for subject in subjects:
            try:
                server = _make_server(subject, HANDLERS[handler], routes)
            except ImportError as exc:  # route() needs websockets 15 and werkzeug
                print(f"skipping {subject}: {exc}", file=sys.stderr)
                continue
            server = await stack.enter_async_context(server)
            ports[subject] = server.sockets[0].getsockname()[1]
        # What the README recommends after registration: the routes, and
        # werkzeug's map, leave the collector's sight, for every subject alike.
        # Else a full collection, which scans them all, lands in one batch now
        # and then and adds tens of µs per handshake to whichever subject runs.
        gc.freeze()
        print(json.dumps(ports), flush=True)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            # Read here, in the event loop's thread: the thread that does the
            # work, and not the one that waits for stdin.
            print(time.thread_time(), flush=True)


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], int(sys.argv[2]), sys.argv[3:]))
