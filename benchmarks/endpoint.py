"""Endpoint dispatch: what JSON dispatch and payload validation cost per message.

Six servers, each in its own process, run ``router.serve()`` with one route
and no compression, and answer ``{"type": "chat.send", "id": 1, ...}`` with
``{"type": "chat.sent", "id": 1}``:

* ``loop``: a hand-written handler, ``async for message in ws``,
  ``json.loads``, a check of the type, ``ws.send(json.dumps(...))`` with the
  request's id; the baseline;
* ``endpoint``: an :class:`~websockets_routes.Endpoint` with
  ``encoding = "json"`` and an ``@on("chat.send")`` method whose ``message``
  is a ``dict``: dispatch without validation;
* ``dataclass-msgspec``, ``dataclass-pydantic``: the payload is a dataclass
  (``text: str, count: int``), validated by the Endpoint's ``validation``
  library;
* ``pydantic``: a pydantic ``BaseModel``; ``msgspec``: a msgspec ``Struct``.

In each round, a raw-socket client in this process connects, sends the same
masked text frame, ``{"type":"chat.send","id":1,"text":"hello","count":1}``,
in batches of 100, two batches in flight, and counts the replies by their
bytes (they all have the size of the first one, which is checked), up to
6,000 messages or 3 seconds.

The subjects take turns, in a rotating order, for many rounds; the table
gives each subject's median rate, and the server's median CPU time per
message. Ratios are to ``loop``, taken in each round, and their median is
shown: ``msg/s / loop`` for the rate, ``loop / µs`` for the CPU time; higher
is better for both. The CPU time is the steadier figure on a shared machine.

Most of that time goes to websockets and the socket, the same for every
subject. So the same handlers also run in this process on a stub connection,
which yields the same message 5,000 times and drops the replies: the CPU
time per message there is what the handler itself costs, JSON included,
with the noise of one process only.

A subject whose library is not installed is skipped, with a note.

Run it alone with ``python benchmarks/endpoint.py [--quick]``.

"""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
import sys
import time
from typing import Any

from common import Row, machine, print_table
from loadgen import (
    HANDLERS,
    VIEWS,
    ServerProcess,
    exchange,
    last_path,
    rate_rows,
    take_turns,
)
from websockets.exceptions import ConnectionClosedOK
from websockets.frames import Close
from websockets.protocol import State

__all__ = ["main"]

ROUTES = 1
WINDOW = 100
MESSAGE = '{"type":"chat.send","id":1,"text":"hello","count":1}'
# What both json.dumps({"type": "chat.sent", "id": 1}) and the Endpoint send.
REPLY = '{"type": "chat.sent", "id": 1}'
CASE = "chat.send -> chat.sent, JSON"

#: The subjects: the server's handler (see loadgen), its label, the
#: libraries it needs.
SUBJECTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "loop": ("chat", "hand-written json loop", ()),
    "endpoint": ("chat-endpoint", "Endpoint, dict (no validation)", ()),
    "dataclass-msgspec": (
        "chat-dataclass-msgspec",
        "Endpoint, dataclass, msgspec",
        ("msgspec",),
    ),
    "dataclass-pydantic": (
        "chat-dataclass-pydantic",
        "Endpoint, dataclass, pydantic",
        ("pydantic",),
    ),
    "pydantic": ("chat-pydantic", "Endpoint, pydantic BaseModel", ("pydantic",)),
    "msgspec": ("chat-msgspec", "Endpoint, msgspec Struct", ("msgspec",)),
}
LABELS = {subject: label for subject, (_, label, _) in SUBJECTS.items()}


def _start(subject: str) -> ServerProcess:
    return ServerProcess("ours", SUBJECTS[subject][0], routes=ROUTES)


def _measure(server: ServerProcess, *, count: int, limit: float) -> tuple[float, float]:
    """One run: messages per second, and server CPU µs per message."""
    before = server.cpu()
    result = exchange(
        server.port,
        last_path(ROUTES),
        message=MESSAGE,
        reply=REPLY,
        count=count,
        window=WINDOW,
        limit=limit,
    )
    after = server.cpu()
    if not result["messages"]:
        raise RuntimeError(f"no reply from {server.subject}: {result}")
    # The server's CPU time includes the opening and closing handshakes: a
    # few hundred µs, a few hundredths of a µs per message.
    return result["rate"], (after - before) / result["messages"] * 1e6


class _Stub:
    """A connection that yields ``count`` copies of ``MESSAGE`` and drops replies."""

    # What Endpoint reads once the messages run out: a clean close, through
    # websockets' documented API.
    state = State.CLOSED

    async def wait_closed(self) -> None:
        pass

    async def ping(self) -> None:
        close = Close(1000, "")
        raise ConnectionClosedOK(close, close, True)

    def __init__(self, count: int) -> None:
        self.left = count

    def __aiter__(self) -> _Stub:
        return self

    async def __anext__(self) -> str:
        if not self.left:
            raise StopAsyncIteration
        self.left -= 1
        return MESSAGE

    async def send(self, message: str) -> None:
        pass


def _in_process(subject: str) -> Any:
    """The subject's handler, or its Endpoint prepared as routing would."""
    name = SUBJECTS[subject][0]
    if name in HANDLERS:
        return HANDLERS[name]
    view = VIEWS[name]()
    view.prepare()
    return lambda ws, path: view().handle(ws, path)


def _stub_rows(subjects: list[str], *, rounds: int, count: int) -> list[Row]:
    """CPU µs per message of each handler on a stub connection, in turns."""
    handlers = {subject: _in_process(subject) for subject in subjects}
    cpus: dict[str, list[float]] = {subject: [] for subject in subjects}

    def run(subject: str, count: int) -> float:
        start = time.process_time()
        asyncio.run(handlers[subject](_Stub(count), None))
        return (time.process_time() - start) / count * 1e6

    for subject in subjects:  # warm up
        run(subject, 1_000)
    for round_ in range(rounds):
        shift = round_ % len(subjects)
        for subject in [*subjects[shift:], *subjects[:shift]]:
            cpus[subject].append(run(subject, count))
    how = f"{rounds} rounds x {count:,} messages"
    return [
        Row(
            "endpoint",
            f"{CASE}, stub connection, CPU",
            LABELS[subject],
            statistics.median(cpus[subject]),
            "µs/msg",
            statistics.median(
                loop / value
                for loop, value in zip(cpus["loop"], cpus[subject], strict=True)
            ),
            f"ratio = loop / µs, per round; medians of {how}",
        )
        for subject in subjects
    ]


def _missing(subject: str) -> list[str]:
    """The libraries that a subject needs and that are not installed."""
    needs = SUBJECTS[subject][2]
    return [name for name in needs if importlib.util.find_spec(name) is None]


def main(quick: bool = False) -> list[Row]:
    """Measure messages per second and server CPU time per message.

    Args:
        quick: Run one short round only, to prove that the script works.

    Returns:
        One row per subject for the rate, then one per subject for the CPU,
        then one per skipped subject.

    """
    rounds, count, limit = (1, 1_000, 2.0) if quick else (31, 6_000, 3.0)
    subjects = [subject for subject in SUBJECTS if not _missing(subject)]

    def measure(server: ServerProcess, warm_up: bool) -> tuple[float, float]:
        return _measure(server, count=1_000 if warm_up else count, limit=limit)

    rates, cpus = take_turns(
        "endpoint",
        subjects,
        "",
        measure,
        rounds=rounds,
        routes=ROUTES,
        unit="msg",
        start=_start,
    )
    how = f"{rounds} rounds x {count:,} messages"
    rows = rate_rows(
        "endpoint",
        CASE,
        "msg",
        subjects,
        rates,
        cpus,
        how,
        baseline="loop",
        labels=LABELS,
    )
    stub_rounds, stub_count = (1, 1_000) if quick else (31, 5_000)
    rows += _stub_rows(subjects, rounds=stub_rounds, count=stub_count)
    return rows + [_skipped(subject) for subject in SUBJECTS if _missing(subject)]


def _skipped(subject: str) -> Row:
    missing = " and ".join(_missing(subject))
    note = f"skipped: {missing} is not installed"
    return Row("endpoint", CASE, LABELS[subject], float("nan"), "msg/s", None, note)


if __name__ == "__main__":
    print(machine())
    print_table(main(quick="--quick" in sys.argv[1:]))
