"""Echo throughput on an established connection: routing must cost nothing here.

Two servers run side by side in one process (see ``together.py``; two
such processes share the repetitions), both
without compression: a bare ``websockets.serve`` and ``router.serve()`` with
1,000 routes, each echoing every message. In each repetition, a raw-socket
client in this process connects to the last route, ``/r999/abc``, then sends
32-byte text messages in batches of 100 masked frames, two batches in
flight, and counts the echoes, up to 10,000 messages or 3 seconds; the
server reports the CPU time of its event loop's thread before and after.

The subjects take turns, in a rotating order, repetition after repetition;
the table gives each subject's median rate and median server CPU time per
message (the opening and closing handshakes included: a few hundredths of a
µs per message). Ratios to the bare server are taken within each
repetition, and their median is shown: ``msg/s / bare`` for the rate,
``bare / µs`` for the CPU time; higher is better for both.

Then it proves that routing costs nothing per message another way: it
echoes messages through ``router.serve()`` in this process under cProfile,
one at a time and in batches, and fails loudly if any function of
``websockets_routes`` ran while they went through.

Run it alone with ``python benchmarks/messages.py [--quick]``.

"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import pathlib
import pstats
import sys

from common import Row, machine, print_table
from loadgen import HANDLERS, echo, last_path, rate_rows
from together import interleave

__all__ = ["main", "package_calls"]

ROUTES = 1000
SUBJECTS = ("bare", "ours")
SIZE = 32
WINDOW = 100
CASE = f"echo, {SIZE}-byte text messages"


def _echoes(count: int, limit: float, port: int) -> int:
    """Echo ``count`` messages on one connection, within ``limit`` seconds."""
    result = echo(
        port, last_path(ROUTES), count=count, size=SIZE, window=WINDOW, limit=limit
    )
    return int(result["messages"])


def main(quick: bool = False) -> list[Row]:
    """Measure echo throughput and server CPU time per message.

    Args:
        quick: Run three short repetitions only, to prove that the script works.

    Returns:
        One row per subject for the rate, one per subject for the CPU time,
        then the functions of ours called per message (zero, or it raises).

    Raises:
        RuntimeError: If a function of ``websockets_routes`` runs per message.

    """
    repetitions, count, limit = (3, 2_000, 2.0) if quick else (32, 10_000, 3.0)
    rates, cpus = interleave(
        "messages",
        SUBJECTS,
        "echo",
        ROUTES,
        functools.partial(_echoes, count, limit),
        repetitions=repetitions,
        processes=1 if quick else 2,
        warm_up=functools.partial(_echoes, 1_000, limit),
    )
    how = f"{repetitions} repetitions x {count:,} messages"
    rows = rate_rows("messages", CASE, "msg", list(rates), rates, cpus, how)
    return [*rows, _frames_row(50 if quick else 1_000)]


def _frames_row(count: int) -> Row:
    """Echo ``count`` messages under cProfile; fail if a function of ours ran."""
    calls = asyncio.run(package_calls(count))
    if calls:
        raise RuntimeError(f"websockets_routes runs per message: {calls}")
    return Row(
        "messages",
        "functions of websockets_routes called per message",
        "router.serve()",
        0.0,
        "calls/msg",
        None,
        f"cProfile over {2 * count:,} echoes, one at a time and in batches; "
        "the run fails if not 0",
    )


async def package_calls(count: int) -> dict[str, int]:
    """Echo ``2 * count`` messages through router.serve(), under cProfile.

    The handshake and the close are left out of the profile.

    Returns:
        The functions of ``websockets_routes`` that ran, with their calls.

    """
    from websockets.asyncio.client import connect

    import websockets_routes

    router = websockets_routes.Router()
    for index in range(ROUTES):
        router.add_route(f"/r{index}/{{id}}", HANDLERS["echo"])
    profile = cProfile.Profile()
    async with router.serve("127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}{last_path(ROUTES)}"
        async with connect(url, compression=None) as ws:
            await ws.send("warm up")
            await ws.recv()
            profile.enable()
            for _ in range(count):  # one at a time: the handler wakes for each
                await ws.send("x" * SIZE)
                await ws.recv()
            for _ in range(-(-count // WINDOW)):  # in batches, as the rate runs
                for _ in range(WINDOW):
                    await ws.send("x" * SIZE)
                for _ in range(WINDOW):
                    await ws.recv()
            profile.disable()
    package = str(pathlib.Path(websockets_routes.__file__).parent)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return {
        f"{pathlib.Path(file).name}:{line}({name})": calls
        for (file, line, name), (_, calls, *_) in stats.items()
        if file.startswith(package)
    }


def _rows(
    rates: dict[str, list[float]], cpus: dict[str, list[float]], how: str
) -> list[Row]:
    return rate_rows("messages", CASE, "msg", SUBJECTS, rates, cpus, how)


if __name__ == "__main__":
    print(machine())
    print_table(main(quick="--quick" in sys.argv[1:]))
