"""Server processes and raw-socket clients for the network benchmarks.

The network benchmarks compare three subjects serving the same handler:

* ``bare``: :func:`websockets.asyncio.server.serve`, with no routing;
* ``ours``: :meth:`websockets_routes.Router.serve` with 1,000 routes
  ``/r0/{id}`` ... ``/r999/{id}``;
* ``route``: websockets' own :func:`websockets.asyncio.router.route` with the
  equivalent 1,000 werkzeug rules ``/r0/<id>`` ... ``/r999/<id>``.

``benchmarks/endpoint.py`` runs ``ours`` with one route and the ``chat``
handlers instead: a hand-written JSON loop (:data:`HANDLERS`) and
:class:`websockets_routes.Endpoint` classes with and without payload
validation (:data:`VIEWS`, built in the server process only, because they
need the optional validation libraries).

Each subject runs in its own process (:class:`ServerProcess`), which answers
``stats`` on its stdin with its CPU time, memory and open connections. The
clients speak HTTP/1.1 and WebSocket frames over plain sockets, so that they
cost far less than the servers they load; they connect to 127.0.0.1 only and
every loop is bounded in count and in time.

It also runs alone, to profile a server by hand::

    python benchmarks/loadgen.py serve ours close --profile /tmp/ours.prof
    # it prints {"port": N}; in another shell:
    python benchmarks/loadgen.py load N /r999/abc --duration 5
    # then type "quit" in the first shell and read /tmp/ours.prof with pstats

"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import functools
import gc
import json
import os
import resource
import select
import selectors
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from common import Row

__all__ = [
    "HANDLERS",
    "LABELS",
    "VIEWS",
    "ServerProcess",
    "close_connections",
    "echo",
    "exchange",
    "generate",
    "last_path",
    "open_connections",
    "paired_ratio",
    "raise_open_files",
    "rate_rows",
    "run_load",
    "take_turns",
]

#: How each subject appears in the tables.
LABELS = {
    "bare": "websockets.serve (bare)",
    "ours": "router.serve()",
    "route": "websockets route()",
}

HOST = "127.0.0.1"
KEY = base64.b64encode(b"websockets route").decode()  # 16 bytes
# A masked close frame, code 1000, with an all-zero mask: valid and cheap.
CLOSE_FRAME = b"\x88\x82\x00\x00\x00\x00\x03\xe8"
MASK = b"\x37\xfa\x21\x3d"


def last_path(routes: int) -> str:
    """The request path that matches the last of ``routes`` routes."""
    return f"/r{routes - 1}/abc"


def raise_open_files(needed: int) -> None:
    """Raise the soft limit on open files to ``needed``, if the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def take_turns(
    name: str,
    subjects: Sequence[str],
    handler: str,
    measure: Callable[[ServerProcess, bool], tuple[float, float]],
    *,
    rounds: int,
    routes: int,
    unit: str,
    start: Callable[[str], ServerProcess] | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Measure each subject's server in turn, round after round.

    Each subject goes first in turn, so that drift hits them alike.
    ``measure(server, warm_up)`` returns a rate and server CPU µs per unit;
    it is called once per subject with ``warm_up=True`` first. ``start``
    builds a subject's server, when the subjects are more than
    ``ServerProcess(subject, handler, routes=routes)``: then ``subjects``
    are only names, and ``handler`` and ``routes`` are unused.

    Returns:
        The rates and the CPU times, per subject, one value per round.

    """
    rates: dict[str, list[float]] = {subject: [] for subject in subjects}
    cpus: dict[str, list[float]] = {subject: [] for subject in subjects}
    with ExitStack() as stack:
        if start is None:
            start = functools.partial(_server_process, handler=handler, routes=routes)
        servers = {subject: stack.enter_context(start(subject)) for subject in subjects}
        for subject in subjects:  # warm up, and check that each one answers
            measure(servers[subject], True)
        for round_ in range(rounds):
            shift = round_ % len(subjects)
            for subject in [*subjects[shift:], *subjects[:shift]]:
                rate, cpu = measure(servers[subject], False)
                rates[subject].append(rate)
                cpus[subject].append(cpu)
                print(
                    f"{name}: round {round_ + 1}/{rounds} {subject}: "
                    f"{rate:,.0f} {unit}/s, {cpu:,.1f} µs CPU",
                    file=sys.stderr,
                )
    return rates, cpus


def _server_process(subject: str, *, handler: str, routes: int) -> ServerProcess:
    return ServerProcess(subject, handler, routes=routes)


def paired_ratio(
    values: dict[str, list[float]], subject: str, baseline: str = "bare"
) -> float:
    """The median over rounds of a subject's value divided by the baseline's."""
    pairs = zip(values[subject], values[baseline], strict=True)
    return statistics.median(value / bare for value, bare in pairs)


def rate_rows(
    benchmark: str,
    case: str,
    unit: str,
    subjects: Sequence[str],
    rates: dict[str, list[float]],
    cpus: dict[str, list[float]],
    how: str,
    *,
    baseline: str = "bare",
    labels: Mapping[str, str] = LABELS,
) -> list[Row]:
    """Median rate and server CPU per subject, with their per-round ratios to bare.

    ``unit`` is what is counted: ``conn`` or ``msg``. ``baseline`` names the
    subject that the ratios are to, and ``labels`` how subjects appear.
    """
    rows = [
        Row(
            benchmark,
            case,
            labels[subject],
            statistics.median(rates[subject]),
            f"{unit}/s",
            paired_ratio(rates, subject, baseline),
            f"ratio = {unit}/s / {baseline}, per round; medians of {how}",
        )
        for subject in subjects
    ]
    rows += [
        Row(
            benchmark,
            f"{case}, server CPU",
            labels[subject],
            statistics.median(cpus[subject]),
            f"µs/{unit}",
            1 / paired_ratio(cpus, subject, baseline),
            f"ratio = {baseline} / µs, per round; medians of {how}",
        )
        for subject in subjects
    ]
    return rows


# Server side: runs in the server process.


# One signature serves the three subjects: websockets calls ``(ws)``, the
# router ``(ws, path)``, werkzeug's route() ``(ws, id=...)``. Every subject
# runs the same code object, so frames have the same size, and there is no
# ``*args`` tuple or ``**kwargs`` dict to tip the memory figures.


async def _close(ws: Any, path: Any = None, id: Any = None) -> None:
    """Accept the connection, then close it at once."""


async def _echo(ws: Any, path: Any = None, id: Any = None) -> None:
    """Send every message back."""
    async for message in ws:
        await ws.send(message)


async def _idle(ws: Any, path: Any = None, id: Any = None) -> None:
    """Keep the connection open until the client closes it."""
    await ws.wait_closed()


async def _chat(ws: Any, path: Any = None, id: Any = None) -> None:
    """Answer ``chat.send`` with ``chat.sent``, by hand: what an Endpoint does."""
    async for message in ws:
        data = json.loads(message)
        if data.get("type") == "chat.send":
            await ws.send(json.dumps({"type": "chat.sent", "id": data.get("id")}))


Handler = Callable[..., Coroutine[Any, Any, None]]

#: The handlers a server process may run, by the name of what they do.
HANDLERS: dict[str, Handler] = {
    "close": _close,
    "echo": _echo,
    "idle": _idle,
    "chat": _chat,
}


def _chat_payload(kind: str) -> Any:
    """The payload type of ``chat.send`` (``text: str, count: int``), by kind."""
    if kind == "dict":
        return dict
    if kind == "dataclass":

        @dataclasses.dataclass
        class ChatSend:
            text: str
            count: int

        return ChatSend
    if kind == "pydantic":
        import pydantic

        class ChatSendModel(pydantic.BaseModel):
            text: str
            count: int

        return ChatSendModel
    if kind == "msgspec":
        import msgspec

        class ChatSendStruct(msgspec.Struct):
            text: str
            count: int

        return ChatSendStruct
    raise ValueError(f"unknown payload kind: {kind!r}")


def _chat_endpoint(kind: str, validation: str | None = None) -> Any:
    """An Endpoint that answers ``chat.send`` with ``chat.sent``, as :func:`_chat`.

    ``kind`` is the annotation of the payload, see :func:`_chat_payload`;
    ``validation`` the Endpoint's library for dataclasses.
    """
    from websockets_routes import Endpoint, on

    async def send(self: Any, ws: Any, path: Any, message: Any) -> Any:
        return {"type": "chat.sent"}

    # A real type, not the string that ``from __future__ import annotations``
    # leaves, which get_type_hints() could not resolve in this scope.
    send.__annotations__ = {"message": _chat_payload(kind)}
    namespace = {
        "encoding": "json",
        "validation": validation,
        "send": on("chat.send")(send),
    }
    return type(f"Chat_{kind}", (Endpoint,), namespace)


#: Views that a server process builds when it starts, by name, because they
#: import websockets_routes and the validation libraries; ``ours`` only.
VIEWS: dict[str, Callable[[], Any]] = {
    "chat-endpoint": functools.partial(_chat_endpoint, "dict"),
    "chat-dataclass-msgspec": functools.partial(_chat_endpoint, "dataclass", "msgspec"),
    "chat-dataclass-pydantic": functools.partial(
        _chat_endpoint, "dataclass", "pydantic"
    ),
    "chat-pydantic": functools.partial(_chat_endpoint, "pydantic"),
    "chat-msgspec": functools.partial(_chat_endpoint, "msgspec"),
}


def _handler(name: str) -> Any:
    """A handler of :data:`HANDLERS`, or a view of :data:`VIEWS` built now."""
    return HANDLERS[name] if name in HANDLERS else VIEWS[name]()


def _make_server(subject: str, handler: Handler, routes: int) -> Any:
    """The websockets ``Server`` of a subject, not started yet."""
    options: dict[str, Any] = {"compression": None}
    if subject == "bare":
        from websockets.asyncio.server import serve

        return serve(handler, HOST, 0, **options)
    if subject == "ours":
        import websockets_routes

        router = websockets_routes.Router()
        for index in range(routes):
            router.add_route(f"/r{index}/{{id}}", handler)
        return router.serve(HOST, 0, **options)
    if subject == "route":
        from websockets.asyncio.router import route
        from werkzeug.routing import Map, Rule

        rules = [Rule(f"/r{index}/<id>", endpoint=handler) for index in range(routes)]
        return route(Map(rules), HOST, 0, **options)
    raise ValueError(f"unknown subject: {subject!r}")


def _rss() -> int:
    """The resident set size of this process, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _cpu() -> float:
    """The CPU time of this process, in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stats(server: Any) -> dict[str, Any]:
    """CPU time, then memory after a full collection, then open connections."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
    return {
        "cpu": cpu,
        "rss": _rss(),
        "traced": traced,
        "connections": len(server.connections),
    }


async def _serve(subject: str, handler: str, routes: int, trace: bool) -> None:
    """Serve until stdin says ``quit`` or closes; answer ``stats`` with JSON.

    ``cpu`` is answered with the CPU time alone: no collection, whose cost
    grows with the heap, and so differs between subjects.
    """
    server = _make_server(subject, _handler(handler), routes)
    if trace:
        tracemalloc.start()
    async with server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port}), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if command == "cpu":
                print(json.dumps({"cpu": _cpu()}), flush=True)
                continue
            if command != "stats":
                break
            print(json.dumps(_stats(server)), flush=True)


def _serve_main(args: argparse.Namespace) -> None:
    raise_open_files(args.open_files)
    if args.profile is None:
        asyncio.run(_serve(args.subject, args.handler, args.routes, args.trace))
        return
    import cProfile

    with cProfile.Profile() as profile:
        asyncio.run(_serve(args.subject, args.handler, args.routes, args.trace))
    profile.dump_stats(args.profile)


class ServerProcess:
    """A subject's server in its own process, driven over its stdin and stdout.

    Args:
        subject: ``"bare"``, ``"ours"`` or ``"route"``.
        handler: A key of :data:`HANDLERS`, or of :data:`VIEWS` for ``ours``.
        routes: How many routes ``ours`` and ``route`` have.
        trace: Whether the server traces its allocations with tracemalloc.
        timeout: How long to wait for each answer of the server, in seconds.

    Example::

        with ServerProcess("ours", "close") as server:
            before = server.stats()["cpu"]
            result = run_load(server.port, last_path(1000), duration=1.0)

    """

    def __init__(
        self,
        subject: str,
        handler: str,
        *,
        routes: int = 1000,
        trace: bool = False,
        timeout: float = 30.0,
    ) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "serve"]
        command += [subject, handler, "--routes", str(routes)]
        if trace:
            command.append("--trace")
        self.subject = subject
        self.timeout = timeout
        self._buffer = b""
        self._port: int | None = None
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )

    @property
    def port(self) -> int:
        """The server's port, once it listens."""
        if self._port is None:
            self._port = int(self._answer()["port"])
        return self._port

    def stats(self) -> dict[str, Any]:
        """The server's CPU time (s), RSS and traced memory (bytes), connections."""
        self.port  # noqa: B018 (the port comes first on stdout)
        assert self.process.stdin is not None
        self.process.stdin.write(b"stats\n")
        return self._answer()

    def cpu(self) -> float:
        """The server's CPU time (s), without the collection of :meth:`stats`."""
        self.port  # noqa: B018 (the port comes first on stdout)
        assert self.process.stdin is not None
        self.process.stdin.write(b"cpu\n")
        return float(self._answer()["cpu"])

    def _answer(self) -> dict[str, Any]:
        """Read one JSON line from the server, waiting at most ``timeout``."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError(f"server did not answer: {self.subject}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"server exited: {self.subject}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return dict(json.loads(line))

    def close(self) -> None:
        """Stop the server, killing it if it does not exit within ``timeout``."""
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(b"quit\n")
                self.process.stdin.close()
                self.process.wait(self.timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# Client side: raw sockets.


def _request(port: int, path: str) -> bytes:
    """A valid opening handshake request for ``path``."""
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    ).encode()


def _connect(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect((HOST, port))
    return sock


def _start(port: int, path: str, timeout: float) -> socket.socket:
    """Open a TCP connection and send the opening handshake request."""
    sock = _connect(port)
    sock.settimeout(timeout)
    sock.sendall(_request(port, path))
    return sock


def _finish(sock: socket.socket, path: str) -> bytes:
    """Read the handshake response; return what came after its headers.

    Raises:
        ConnectionError: If the server does not answer with HTTP 101.

    """
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk:
            sock.close()
            raise ConnectionError(f"connection closed during handshake: {path}")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101 "):
        sock.close()
        raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
    return rest


def _handshake(port: int, path: str, timeout: float) -> tuple[socket.socket, bytes]:
    """Open a connection; return it and what came after the response headers."""
    sock = _start(port, path, timeout)
    return sock, _finish(sock, path)


class _Pending:
    """One connection of :func:`generate` in flight."""

    __slots__ = ("buffer", "sock", "upgraded")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.upgraded = False


def generate(
    port: int,
    path: str,
    *,
    duration: float,
    concurrency: int = 8,
    limit: int = 1_000_000,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Open and close connections for ``duration`` seconds; count handshakes.

    Each connection sends the opening handshake request, checks for HTTP 101,
    sends a close frame and waits for the server to close the TCP connection.
    ``concurrency`` connections are in flight at any time, until ``duration``
    seconds or ``limit`` connections; those in flight then have ``timeout``
    seconds to finish.

    Returns:
        ``counted``: handshakes completed within ``duration``; ``completed``:
        all completed handshakes; ``errors``; ``duration``; ``rate``:
        ``counted / duration`` in connections per second.

    """
    request = _request(port, path)
    selector = selectors.DefaultSelector()
    counted = completed = errors = launched = 0
    start = time.perf_counter()
    deadline = start + duration

    def launch() -> None:
        nonlocal launched, errors
        launched += 1
        try:
            sock = _connect(port)
            sock.sendall(request)
        except OSError:
            errors += 1
            return
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, _Pending(sock))

    def finish(pending: _Pending) -> None:
        selector.unregister(pending.sock)
        pending.sock.close()

    for _ in range(min(concurrency, limit)):
        launch()
    while selector.get_map():
        if time.perf_counter() > deadline + timeout:
            for key in list(selector.get_map().values()):
                finish(key.data)
                errors += 1
            break
        for key, _ in selector.select(0.5):
            pending: _Pending = key.data
            try:
                data = pending.sock.recv(4096)
            except OSError:
                data = b""
            if not pending.upgraded and data:
                pending.buffer += data
                if b"\r\n\r\n" not in pending.buffer:
                    continue
                if pending.buffer.startswith(b"HTTP/1.1 101 "):
                    pending.upgraded = True
                    pending.sock.send(CLOSE_FRAME)
                    continue
            elif data:  # the server's close frame
                continue
            # The server closed the connection, after a handshake or not.
            finish(pending)
            if pending.upgraded:
                completed += 1
                counted += time.perf_counter() <= deadline
            else:
                errors += 1
            if time.perf_counter() < deadline and launched < limit:
                launch()
    selector.close()
    return {
        "counted": counted,
        "completed": completed,
        "errors": errors,
        "duration": duration,
        "rate": counted / duration,
    }


def run_load(
    port: int,
    path: str,
    *,
    duration: float,
    concurrency: int = 8,
    limit: int = 1_000_000,
) -> dict[str, Any]:
    """Run :func:`generate` in its own process and return its result."""
    command = [sys.executable, str(Path(__file__).resolve()), "load", str(port), path]
    command += ["--duration", str(duration), "--concurrency", str(concurrency)]
    command += ["--limit", str(limit)]
    done = subprocess.run(
        command, capture_output=True, check=True, text=True, timeout=duration + 30
    )
    return dict(json.loads(done.stdout))


def echo(
    port: int,
    path: str,
    *,
    count: int,
    size: int = 32,
    window: int = 100,
    limit: float = 10.0,
) -> dict[str, Any]:
    """Open a connection, then send ``count`` text messages and count the echoes.

    Messages go in batches of ``window`` masked frames, one ``send`` call per
    batch, with two batches in flight; the echoes are counted by their bytes.
    It stops after ``count`` echoes or ``limit`` seconds, then closes.

    Returns:
        ``messages``: echoes received; ``elapsed``: seconds from the first
        message to the last echo; ``rate``: messages per second.

    """
    if size > 125:
        raise ValueError(f"size must be at most 125: {size}")
    message = "".join(chr(ord("a") + index % 26) for index in range(size))
    return exchange(
        port,
        path,
        message=message,
        reply=message,
        count=count,
        window=window,
        limit=limit,
    )


def _text_frame(payload: bytes, mask: bytes | None = None) -> bytes:
    """A text frame of up to 65,535 bytes, masked if ``mask`` is given."""
    length = len(payload)
    if length > 0xFFFF:
        raise ValueError(f"payload must be at most 65,535 bytes: {length}")
    masked = 0x00 if mask is None else 0x80
    if length < 126:
        header = bytes([0x81, masked | length])
    else:
        header = bytes([0x81, masked | 126]) + length.to_bytes(2, "big")
    if mask is None:
        return header + payload
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def exchange(
    port: int,
    path: str,
    *,
    message: str,
    reply: str,
    count: int,
    window: int = 100,
    limit: float = 10.0,
) -> dict[str, Any]:
    """Like :func:`echo`, but send ``message`` and expect ``reply`` to each one.

    Both are text frames of a fixed size, so that the replies are counted by
    their bytes; the first one is checked in full, so that an error reply
    stops the run instead of skewing the count.

    Returns:
        As :func:`echo`.

    Raises:
        ConnectionError: If the first reply is not ``reply``.

    """
    frame = _text_frame(message.encode(), MASK)
    expected = _text_frame(reply.encode())
    sock, rest = _handshake(port, path, timeout=limit)
    if rest:
        raise ConnectionError(f"unexpected data after handshake: {rest!r}")
    batches = -(-count // window)
    size = len(expected)
    received = sent = 0
    start = time.perf_counter()
    deadline = start + limit
    with sock:
        for _ in range(min(2, batches)):
            sock.sendall(frame * window)
            sent += 1
        first = b""
        while len(first) < size:
            chunk = sock.recv(size - len(first))
            if not chunk:
                raise ConnectionError("connection closed before the first reply")
            first += chunk
        if first != expected:
            raise ConnectionError(f"unexpected reply: {first!r}")
        received = size
        while received < batches * window * size:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed during exchange")
            received += len(chunk)
            if sent < batches and received >= (sent - 1) * window * size:
                sock.sendall(frame * window)
                sent += 1
            if time.perf_counter() > deadline:
                break
        elapsed = time.perf_counter() - start
        _close_socket(sock, timeout=limit)
    messages = received // size
    return {"messages": messages, "elapsed": elapsed, "rate": messages / elapsed}


def _close_socket(sock: socket.socket, timeout: float) -> None:
    """Send a close frame and wait for the server to close the connection."""
    sock.settimeout(timeout)
    try:
        sock.sendall(CLOSE_FRAME)
        while sock.recv(65536):
            pass
    except OSError:
        pass
    sock.close()


def open_connections(
    port: int, path: str, count: int, *, batch: int = 50, limit: float = 30.0
) -> list[socket.socket]:
    """Open ``count`` connections, ``batch`` at a time, within ``limit`` seconds.

    Raises:
        TimeoutError: If they take longer than ``limit``.
        ConnectionError: If a handshake fails.

    """
    raise_open_files(count + 64)
    deadline = time.monotonic() + limit
    socks: list[socket.socket] = []
    try:
        while len(socks) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"opened {len(socks)} of {count} connections")
            started = [
                _start(port, path, limit) for _ in range(min(batch, count - len(socks)))
            ]
            socks += started
            for sock in started:
                _finish(sock, path)
    except BaseException:
        close_connections(socks)
        raise
    return socks


def close_connections(socks: list[socket.socket], *, timeout: float = 5.0) -> None:
    """Close connections cleanly: close frames first, then wait for each server."""
    for sock in socks:
        try:
            sock.sendall(CLOSE_FRAME)
        except OSError:
            pass
    for sock in socks:
        _close_socket(sock, timeout)


def _load_main(args: argparse.Namespace) -> None:
    result = generate(
        args.port,
        args.path,
        duration=args.duration,
        concurrency=args.concurrency,
        limit=args.limit,
    )
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    """Run a server process (``serve``) or the handshake generator (``load``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a subject's server")
    serve.add_argument("subject", choices=sorted(LABELS))
    serve.add_argument("handler", choices=sorted([*HANDLERS, *VIEWS]))
    serve.add_argument("--routes", type=int, default=1000)
    serve.add_argument("--trace", action="store_true", help="start tracemalloc")
    serve.add_argument("--profile", help="write cProfile stats to this file")
    serve.add_argument("--open-files", type=int, default=4096)
    load = commands.add_parser("load", help="open and close connections")
    load.add_argument("port", type=int)
    load.add_argument("path")
    load.add_argument("--duration", type=float, default=3.0)
    load.add_argument("--concurrency", type=int, default=8)
    load.add_argument("--limit", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if args.command == "serve":
        _serve_main(args)
    else:
        _load_main(args)


if __name__ == "__main__":
    main()
