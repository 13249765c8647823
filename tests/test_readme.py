"""Every Python snippet of README.rst runs as shown.

The snippets come from ``.ci/readme_snippets.py``, which tox's typing envs
also use to type-check them; its docstring says what counts as a snippet.
Each snippet is one test case, named after its section and README line.

How a snippet runs (``readme_snippets.py run LINE``): in a fresh interpreter,
as a reader would run it after reading its section. The section's snippets
share one namespace, in README order, after a preamble that gives them only
what the README's prose does: ``router``, the router of the Quickstart, in the
sections that add routes to it. The preambles are a small table there
(``PREAMBLES``, and ``CONTINUES`` for sections that go on with an earlier
one's router); ``test_tables_name_sections`` keeps the tables in step with
the README's headings. Top-level ``await`` and ``async with`` run in an event
loop, as in ``python -m asyncio``; ``>>>`` blocks run under doctest and their
output must match. Every warning is an error, but for the deprecation of
``websockets.legacy`` that the README announces. A snippet passes when it
exits with status 0 and writes nothing on stderr; tracebacks point to
README.rst lines.

Snippets that serve forever run for real, with nothing patched: the test
waits until the server listens on the README's port, connects with
websockets' client and checks the answer (``PROBES``), checks that the
process is still running, then terminates it.

Fixed ports: the README serves on 127.0.0.1:8765 and 8000, as its readers
would, and so do these tests, rather than rewriting the snippets. Test runs
on one machine (tox envs in parallel, colleagues) take turns through a lock
file per port. If another program listens on a port that a snippet binds (the
demo, whose default port is 8765), the snippet cannot run: its test is
skipped saying so, and fails instead when the ``CI`` environment variable is
set, as the Redis tests do when ``redis-server`` is missing.

No snippet needs a running Redis: ``Hub.from_url()`` creates the client,
which connects only when the hub starts.

"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import importlib.util
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import websocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

SCRIPT = pathlib.Path(__file__).parent.parent / ".ci" / "readme_snippets.py"
TIMEOUT = 30  # seconds for a snippet to run, or for a server to listen
LOCK_TIMEOUT = 120  # seconds to wait for another test run to free a port


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_snippets", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


readme_snippets = _load_script()
Snippet = Any  # readme_snippets.Snippet, which mypy cannot see
SNIPPETS = readme_snippets.parse(readme_snippets.README.read_text(encoding="utf-8"))
RUNS = [snippet for snippet in SNIPPETS if not snippet.serves_forever]
SERVES = [snippet for snippet in SNIPPETS if snippet.serves_forever]


@dataclasses.dataclass(frozen=True)
class Probe:
    """A client's visit to a snippet's server, and what it must see.

    Attributes:
        path: The path to connect to.
        send: Messages to send once connected.
        receive: Messages the client must receive, in order.
        status: The HTTP status that must refuse the handshake, if any.

    """

    path: str
    send: tuple[str, ...] = ()
    receive: tuple[str, ...] = ()
    status: int | None = None


#: What a server snippet must answer, by section; by default, a path that no
#: route matches gets HTTP 404, which proves that the router serves.
PROBES: dict[str, Probe] = {
    "Quickstart": Probe("/thing/123", receive=("/thing/123", "123")),
    "Rooms, users and broadcast": Probe(
        "/rooms/kitchen?user=alice", send=("hi",), receive=("hi",)
    ),
}
DEFAULT_PROBE = Probe("/no/route/here", status=404)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails rather than skips)")
    pytest.skip(reason)


def _in_use(port: int) -> bool:
    """Tell whether something listens on 127.0.0.1:port, as asyncio would bind."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


@contextlib.contextmanager
def _lock(port: int) -> Iterator[None]:
    """Take turns on a port with other test runs on this machine."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: no turns
        yield
        return
    path = pathlib.Path(tempfile.gettempdir()) / f"websockets_routes-readme-{port}.lock"
    with open(path, "a") as file:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test run held port {port} for too long")
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@contextlib.contextmanager
def ports(snippet: str, numbers: list[int]) -> Iterator[None]:
    """Hold the ports a snippet binds; skip or fail if another program has one."""
    with contextlib.ExitStack() as stack:
        for port in sorted(set(numbers)):
            stack.enter_context(_lock(port))
            if _in_use(port):
                _unavailable(
                    f"port {port} is in use by another program; README snippet "
                    f"{snippet} binds it: stop that program and run again"
                )
        yield


def _run_command(snippet: Snippet) -> list[str]:
    return [sys.executable, str(SCRIPT), "run", str(snippet.line)]


def _ports_bound(snippet: Snippet) -> list[int]:
    """The ports that a snippet and the snippets run before it name."""
    _, pieces = readme_snippets.program(SNIPPETS, snippet)
    return [port for piece in pieces for port in piece.ports]


@pytest.mark.parametrize("snippet", RUNS, ids=[snippet.id for snippet in RUNS])
def test_snippet_runs(snippet: Snippet, tmp_path: pathlib.Path) -> None:
    """A README snippet runs as shown, silently, after its section's earlier ones."""
    with ports(snippet.id, _ports_bound(snippet)):
        result = subprocess.run(
            _run_command(snippet),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


async def _visit(port: int, probe: Probe) -> None:
    url = f"ws://127.0.0.1:{port}{probe.path}"
    if probe.status is not None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(url, open_timeout=TIMEOUT):
                pass  # pragma: no cover
        assert info.value.response.status_code == probe.status
        return

    # websocket-client reads the messages that arrived before the close in
    # order; websockets 14.0's client may drop them when the server closes
    # first, as the Quickstart's handler does.
    def exchange() -> list[str]:
        ws = websocket.create_connection(url, timeout=TIMEOUT)
        try:
            for message in probe.send:
                ws.send(message)
            return [ws.recv() for _ in probe.receive]
        finally:
            ws.close()

    received = await asyncio.to_thread(exchange)
    assert received == list(probe.receive)


def _wait_listening(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"the snippet exited with {process.returncode} before serving")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"the snippet didn't listen on port {port}")
            time.sleep(0.05)


@pytest.mark.parametrize("snippet", SERVES, ids=[snippet.id for snippet in SERVES])
def test_server_snippet_serves(snippet: Snippet, tmp_path: pathlib.Path) -> None:
    """A README snippet that serves forever answers a client until it's stopped."""
    (port,) = snippet.ports
    probe = PROBES.get(snippet.section, DEFAULT_PROBE)
    with ports(snippet.id, _ports_bound(snippet)):
        process = subprocess.Popen(
            _run_command(snippet),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_listening(process, port)
            asyncio.run(_visit(port, probe))
            assert process.poll() is None, "the snippet stopped serving"
        finally:
            if process.poll() is None:
                process.terminate()
            _, stderr = process.communicate(timeout=TIMEOUT)
    assert (process.returncode, stderr) == (-signal.SIGTERM, ""), stderr


def test_tables_name_sections() -> None:
    """The harness's tables name README sections that have snippets."""
    titles = {snippet.section for snippet in SNIPPETS}
    served = {snippet.section for snippet in SERVES}
    assert set(readme_snippets.PREAMBLES) <= titles
    assert (
        set(readme_snippets.CONTINUES) | set(readme_snippets.CONTINUES.values())
        <= titles
    )
    assert set(readme_snippets.ALLOWED_WARNINGS) <= titles
    assert set(PROBES) <= served


def test_every_python_block_is_collected() -> None:
    """Each ``.. code-block:: python`` of README.rst is a snippet."""
    text = readme_snippets.README.read_text(encoding="utf-8")
    blocks = [
        line for line in text.splitlines() if line.strip() == ".. code-block:: python"
    ]
    assert len(SNIPPETS) >= len(blocks) > 0


PARSED = """\
Title
=====

.. code-block:: python
    :linenos:

    x = 1

    y = x + 1

Shell::

    $ echo hi

.. code-block:: console

    $ pip install thing

Section
-------

>>> y
2

.. code-block:: python

    >>> x
    1
"""


def test_parse() -> None:
    """Python blocks and doctest blocks are snippets of their section; others not."""
    parsed = readme_snippets.parse(PARSED)
    assert [(s.section, s.line, s.doctest) for s in parsed] == [
        ("Title", 7, False),
        ("Section", 22, True),
        ("Section", 27, True),
    ]
    assert parsed[0].source == "x = 1\n\ny = x + 1\n"
    assert parsed[2].source == ">>> x\n1\n"
