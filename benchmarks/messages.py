"""Echo throughput on an established connection: routing must cost nothing here.

Two servers, each in its own process, echo every message: a bare
``websockets.serve`` and ``router.serve()`` with 1,000 routes, both without
compression. In each round, a raw-socket client in this process connects to
the last route, ``/r999/abc``, then sends 32-byte text messages in batches of
100 masked frames, two batches in flight, and counts the echoes, up to 20,000
messages or 3 seconds.

The subjects take turns, in a rotating order, for many rounds; the table
gives each subject's median rate, and the server's median CPU time per
message. Ratios are to the bare server, taken in each round, and their
median is shown: ``msg/s / bare`` for the rate, ``bare / µs`` for the CPU
time; higher is better for both.

Then it proves that routing costs nothing per message another way: it
echoes messages through ``router.serve()`` in this process under cProfile,
one at a time and in batches, and fails loudly if any function of
``websockets_routes`` ran while they went through.

Run it alone with ``python benchmarks/messages.py [--quick]``.

"""

from __future__ import annotations

import asyncio
import cProfile
import pathlib
import pstats
import sys

from common import Row, machine, print_table
from loadgen import HANDLERS, ServerProcess, echo, last_path, rate_rows, take_turns

__all__ = ["main"]

ROUTES = 1000
SUBJECTS = ("bare", "ours")
SIZE = 32
WINDOW = 100
CASE = f"echo, {SIZE}-byte text messages"


def _measure(server: ServerProcess, *, count: int, limit: float) -> tuple[float, float]:
    """One echo run: messages per second, and server CPU µs per message."""
    before = server.stats()["cpu"]
    result = echo(
        server.port,
        last_path(ROUTES),
        count=count,
        size=SIZE,
        window=WINDOW,
        limit=limit,
    )
    after = server.stats()["cpu"]
    if not result["messages"]:
        raise RuntimeError(f"no echo from {server.subject}: {result}")
    # The server's CPU time includes the opening and closing handshakes: a
    # few hundred µs, a few hundredths of a µs per message.
    return result["rate"], (after - before) / result["messages"] * 1e6


def main(quick: bool = False) -> list[Row]:
    """Measure echo throughput and server CPU time per message.

    Args:
        quick: Run one short round only, to prove that the script works.

    Returns:
        One row per subject for the rate, then one per subject for the CPU.

    """
    rounds, count, limit = (1, 2_000, 2.0) if quick else (31, 10_000, 3.0)

    def measure(server: ServerProcess, warm_up: bool) -> tuple[float, float]:
        return _measure(server, count=1_000 if warm_up else count, limit=limit)

    rates, cpus = take_turns(
        "messages", SUBJECTS, "echo", measure, rounds=rounds, routes=ROUTES, unit="msg"
    )
    rows = _rows(rates, cpus, f"{rounds} rounds x {count:,} messages")
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
