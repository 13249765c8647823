"""Tests for ``serve``, ``routes`` and ``demo``, and the hub they serve.

The command runs in a subprocess, as users run it, on the applications of
``tests/cli_apps``; the tests send it real signals and connect with
websockets' client. ``--workers`` runs against a real ``redis-server``.
Timings are measured from the signal to the process's exit.

"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect, unix_connect

from websockets_routes import cli, runner
from websockets_routes.cli import CommandError
from websockets_routes.hub import Hub, app_hub, serving_hub

from support import http_get

APPS = pathlib.Path(__file__).parent / "cli_apps"
#: Seconds a command may take to print its address or to exit.
TIMEOUT = 20
COMMAND = (sys.executable, "-m", "websockets_routes")
#: Seconds that a process may take to exit besides the bound it promises.
SLACK = 0.5


class Command:
    """``python -m websockets_routes ARGS`` in a subprocess.

    Its stdout is read line by line in a thread; its stderr goes to a file.

    """

    def __init__(self, args: tuple[str, ...], cwd: pathlib.Path, log: pathlib.Path):
        self.log = log
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(
                [*COMMAND, *args],
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.signalled = 0.0

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    async def line(self, timeout: float = TIMEOUT) -> str:
        """The next line on stdout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.lines.get_nowait()
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                await asyncio.sleep(0.01)
        pytest.fail(f"no output; stderr:\n{self.stderr()}")

    async def url(self) -> str:
        """The address printed at startup: ``ws://127.0.0.1:PORT``."""
        line = await self.line()
        assert line.startswith("serving on "), (line, self.stderr())
        return line.removeprefix("serving on ")

    def stderr(self) -> str:
        """What the command wrote on stderr so far."""
        return self.log.read_text()

    def signal(self, signum: int) -> None:
        """Send a signal, and note when."""
        self.signalled = time.monotonic()
        self.process.send_signal(signum)

    async def exited(self, timeout: float = TIMEOUT) -> tuple[int, float]:
        """The exit status, and the seconds since the last signal."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"still running after {timeout} s:\n{self.stderr()}")
            await asyncio.sleep(0.005)
        return self.process.returncode, time.monotonic() - self.signalled

    async def logged(self, text: str, timeout: float = TIMEOUT) -> str:
        """Wait until stderr has a line that contains ``text``; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.stderr().splitlines():
                if text in line:
                    return line
            await asyncio.sleep(0.02)
        pytest.fail(f"{text!r} not logged within {timeout} s:\n{self.stderr()}")


Run = Callable[..., Command]


@pytest.fixture
def run(tmp_path: pathlib.Path) -> Iterator[Run]:
    """Start commands; kill those still running at the end of the test."""
    commands: list[Command] = []

    def start(*args: str, cwd: pathlib.Path = APPS) -> Command:
        log = tmp_path / f"stderr-{len(commands)}.txt"
        command = Command(args, cwd, log)
        commands.append(command)
        return command

    yield start
    for command in commands:
        if command.process.poll() is None:
            command.process.kill()
            command.process.wait()
        assert command.process.stdout is not None
        command.process.stdout.close()


def serve(run: Run, app: str = "served:router", *options: str) -> Command:
    """``serve APP --port 0`` with a short shutdown timeout, and options."""
    return run("serve", app, "--port", "0", "--shutdown-timeout", "2", *options)


async def ready(url: str) -> ClientConnection:
    """Connect, and wait for the handler's first message."""
    ws = await connect(url)
    assert await ws.recv() == "ready"
    return ws


def alive(pid: int) -> bool:
    """Whether a process runs: it exists and isn't a zombie nobody reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc: trust kill()
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# serve: shutdown


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_signal_closes_connections_with_1001_and_exits_0(
    run: Run, signum: int
) -> None:
    """SIGINT or SIGTERM closes every connection with 1001, then the command exits 0."""
    command = serve(run)
    url = await command.url()
    clients = [await connect(f"{url}/echo") for _ in range(3)]
    await clients[0].send("hi")
    assert await clients[0].recv() == "hi"
    command.signal(signum)
    for ws in clients:
        await ws.wait_closed()
        assert ws.protocol.close_code == 1001
    status, elapsed = await command.exited()
    assert status == 0, command.stderr()
    assert elapsed < 1, "nothing to wait for: the command exits at once"
    assert "Traceback" not in command.stderr()


async def test_connections_are_logged_once_when_opened_and_closed(run: Run) -> None:
    """A connection logs a line when it opens and when it closes, none per message."""
    command = serve(run)
    url = await command.url()
    async with connect(f"{url}/echo") as ws:
        port = ws.local_address[1]
        for text in ("a", "b", "c"):
            await ws.send(text)
            await ws.recv()
    closed = await command.logged("close echo")
    assert f"close echo from 127.0.0.1:{port} with code 1000" in closed
    command.signal(signal.SIGTERM)
    await command.exited()
    access = [line for line in command.stderr().splitlines() if ".access:" in line]
    assert len(access) == 2, access
    assert (
        f"INFO websockets_routes.access: open echo from 127.0.0.1:{port}" in access[0]
    )


async def test_handlers_finish_on_disconnect_before_exit(run: Run) -> None:
    """Shutdown waits for on_disconnect to return, then exits without cancelling it."""
    command = serve(run)
    url = await command.url()
    ws = await ready(f"{url}/goodbye")
    command.signal(signal.SIGINT)
    await ws.wait_closed()
    assert await command.line() == "cleaned up after 1001"
    status, elapsed = await command.exited()
    assert status == 0
    assert 0.3 <= elapsed < 1.5
    assert "cancelling" not in command.stderr()


async def test_handler_ignoring_cancellation_cannot_keep_the_process_alive(
    run: Run,
) -> None:
    """A handler swallowing CancelledError delays exit by the timeout + 1 s at most."""
    command = run("serve", "served:router", "--port", "0", "--shutdown-timeout", "1")
    url = await command.url()
    ws = await ready(f"{url}/stubborn")
    command.signal(signal.SIGTERM)
    await ws.wait_closed()
    assert ws.protocol.close_code == 1001
    status, elapsed = await command.exited()
    assert status == 0
    assert 1 <= elapsed < 1 + 1 + SLACK, elapsed
    stderr = command.stderr()
    assert "cancelling 1 handlers still running" in stderr
    assert "Traceback" not in stderr


async def test_client_that_stops_reading_does_not_stall_shutdown(run: Run) -> None:
    """A client whose buffers are full is aborted at the timeout; the command exits."""
    command = run("serve", "served:router", "--port", "0", "--shutdown-timeout", "1")
    url = await command.url()
    host, port = url.removeprefix("ws://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(
            b"GET /flood HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await command.logged("open flood")
        await asyncio.sleep(0.3)  # the handler fills the buffers, then waits
        command.signal(signal.SIGINT)
        status, elapsed = await command.exited()
    assert status == 0
    assert elapsed < 1 + 1 + SLACK, elapsed
    assert "close flood" in command.stderr()


async def test_second_sigint_exits_at_once(run: Run) -> None:
    """A second Ctrl-C during the shutdown exits at once, with status 130."""
    command = run("serve", "served:router", "--port", "0", "--shutdown-timeout", "30")
    url = await command.url()
    ws = await ready(f"{url}/stubborn")
    command.signal(signal.SIGINT)
    await ws.wait_closed()
    await command.logged("shutdown: closing 1 connections")
    command.signal(signal.SIGINT)
    status, elapsed = await command.exited()
    assert status == 130
    assert elapsed < SLACK


async def test_serves_on_a_unix_socket(run: Run, tmp_path: pathlib.Path) -> None:
    """--uds serves on a Unix socket, and removes it on exit."""
    path = tmp_path / "app.sock"
    command = serve(run, "served:router", "--uds", str(path))
    assert await command.url() == f"unix:{path}"
    async with unix_connect(str(path), "ws://localhost/echo") as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
        command.signal(signal.SIGTERM)
        await ws.wait_closed()
        assert ws.protocol.close_code == 1001
    assert (await command.exited())[0] == 0
    assert not path.exists()
    assert "close echo from unix with code 1001" in command.stderr()


# serve: the hub


async def test_factory_is_called_with_the_hub_served(run: Run) -> None:
    """An app factory finds the in-process hub that the command runs."""
    command = serve(run, "served:create_app")
    url = await command.url()
    async with connect(f"{url}/hub") as ws:
        assert await ws.recv() == "Hub"
    command.signal(signal.SIGINT)
    assert (await command.exited())[0] == 0


async def test_rooms_share_the_in_process_hub(run: Run) -> None:
    """Handlers reach each other through app_hub() in one process."""
    command = serve(run)
    url = await command.url()
    async with connect(f"{url}/rooms/a") as alice, connect(f"{url}/rooms/a") as bob:
        await alice.recv(), await bob.recv()
        await alice.send("hello")
        assert await bob.recv() == "hello"
    command.signal(signal.SIGINT)
    assert (await command.exited())[0] == 0


def test_app_hub_needs_a_served_hub() -> None:
    """app_hub() raises outside the command line and serving_hub()."""
    with pytest.raises(RuntimeError, match="no hub is served"):
        app_hub()


def test_serving_hub_nests_and_restores() -> None:
    """serving_hub() provides a hub within its block and restores the previous one."""
    outer, inner = Hub(), Hub()
    with serving_hub(outer):
        assert app_hub() is outer
        with serving_hub(inner) as hub:
            assert hub is inner and app_hub() is inner
        assert app_hub() is outer
    with pytest.raises(RuntimeError):
        app_hub()


# serve: errors


def free_port() -> int:
    """A port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


ERRORS = [
    (("served",), "error: app must be module:attribute: 'served'"),
    (("missing:router",), "error: cannot import missing: ModuleNotFoundError: "),
    (("served:nothing",), "error: no attribute 'nothing' in served:nothing"),
    (("served:not_a_router",), "error: not a router or a function returning one: "),
    (("served:base_router",), "error: not a websockets_routes.Router, which "),
    (
        ("served:router", "--workers", "2"),
        "error: --workers needs --redis: rooms would split across processes",
    ),
    (("served:router", "--redis", "http://x"), "error: invalid --redis: "),
    (("served:router", "--shutdown-timeout", "-1"), "error: --shutdown-timeout "),
]


@pytest.mark.parametrize(("args", "message"), ERRORS)
def test_errors_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    """A wrong app, an object that is no Router or a bad option: one line, exit 2."""
    result = subprocess.run(
        [*COMMAND, "serve", *args, "--port", "0"],
        cwd=APPS,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_port_in_use_is_one_line_and_exits_2() -> None:
    """A port in use: one line that names the address, exit 2."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
        result = subprocess.run(
            [*COMMAND, "serve", "served:router", "--port", str(port)],
            cwd=APPS,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert result.returncode == 2
    expected = f"error: cannot listen on 127.0.0.1:{port}: address already in use\n"
    assert result.stderr == expected


@pytest.mark.parametrize("workers", ["1", "2"])
def test_unreachable_redis_is_one_line_and_exits_2(workers: str) -> None:
    """An unreachable Redis: one line that names the URL, exit 2, with workers too."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [*COMMAND, "serve", "served:router", "--redis", url, "--workers", workers],
        cwd=APPS,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot reach redis: "), result.stderr
    assert result.stderr.endswith(f": {url}\n")
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


# serve --workers


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The URL of a redis-server of this test's own."""
    from hub.conftest import RedisServer, _redis_executable

    server = RedisServer(_redis_executable())
    server.start()
    yield server.url
    server.stop()


async def joined(url: str) -> tuple[ClientConnection, int]:
    """Join room ``r``; return the client and the pid of the worker serving it."""
    ws = await connect(f"{url}/rooms/r")
    message = await ws.recv()
    assert isinstance(message, str) and message.startswith("joined ")
    return ws, int(message.split()[1])


async def test_workers_share_rooms_restart_and_stop(run: Run, redis_url: str) -> None:
    """Workers share a socket and rooms; one killed is restarted; shutdown stops all."""
    command = serve(run, "served:router", "--workers", "2", "--redis", redis_url)
    url = await command.url()
    await command.logged("worker 1 (pid")
    first, pid_a = await joined(url)
    # Stopped, the first worker accepts nothing: the other one serves.
    os.kill(pid_a, signal.SIGSTOP)
    try:
        second, pid_b = await joined(url)
    finally:
        os.kill(pid_a, signal.SIGCONT)
    assert pid_b != pid_a
    await second.send("across processes")
    assert await first.recv() == "across processes"
    assert await second.recv() == "across processes"

    os.kill(pid_a, signal.SIGKILL)
    await first.wait_closed()
    line = await command.logged(f"(pid {pid_a}) died (killed by SIGKILL): restarting")
    assert "WARNING" in line
    os.kill(pid_b, signal.SIGSTOP)
    try:
        third, pid_c = await asyncio.wait_for(joined(url), TIMEOUT)
    finally:
        os.kill(pid_b, signal.SIGCONT)
    assert pid_c not in (pid_a, pid_b)
    await third.send("after the restart")
    assert await second.recv() == "after the restart"
    assert await third.recv() == "after the restart"

    command.signal(signal.SIGTERM)
    for ws in (second, third):
        await ws.wait_closed()
        assert ws.protocol.close_code == 1001
    status, elapsed = await command.exited()
    assert status == 0, command.stderr()
    assert elapsed < 2 + 1 + SLACK
    assert not alive(pid_b) and not alive(pid_c)
    assert "Traceback" not in command.stderr()


# serve --reload

RELOADABLE = """
from websockets_routes import Router

router = Router()


@router.route("/version", name="version")
async def version(ws, path):
    await ws.send("{version}")
    await ws.wait_closed()
"""


async def test_reload_restarts_with_1012_on_code_change(
    run: Run, tmp_path: pathlib.Path
) -> None:
    """--reload closes connections with 1012 on a code change, then serves new code."""
    pytest.importorskip("watchfiles")
    app = tmp_path / "reloadable.py"
    app.write_text(RELOADABLE.format(version="v1"))
    command = serve(run, "reloadable:router", "--app-dir", str(tmp_path), "--reload")
    url = await command.url()
    ws = await connect(f"{url}/version")
    assert await ws.recv() == "v1"
    for _ in range(10):
        # The watcher starts after the first worker: write until it notices.
        app.write_text(RELOADABLE.format(version="v2"))
        try:
            await asyncio.wait_for(ws.wait_closed(), 2)
            break
        except TimeoutError:
            continue
    assert ws.protocol.close_code == 1012
    async with connect(f"{url}/version", open_timeout=TIMEOUT) as ws:
        assert await ws.recv() == "v2"
    assert "reloadable.py changed: restarting 1 workers" in command.stderr()
    command.signal(signal.SIGINT)
    status, _ = await command.exited()
    assert status == 0, command.stderr()


async def test_second_sigint_stops_the_supervisor_and_workers_at_once(
    run: Run,
) -> None:
    """A second Ctrl-C kills the workers and exits the supervisor at once, with 130."""
    pytest.importorskip("watchfiles")
    command = run(
        "serve", "served:router", "--port", "0", "--reload", "--shutdown-timeout", "30"
    )
    url = await command.url()
    line = await command.logged("worker 0 (pid")
    pid = int(line.split("(pid ")[1].split(")")[0])
    ws = await ready(f"{url}/stubborn")
    command.signal(signal.SIGINT)
    await ws.wait_closed()
    await command.logged("shutdown: closing 1 connections")
    command.signal(signal.SIGINT)
    status, elapsed = await command.exited()
    assert status == 130
    assert elapsed < SLACK
    for _ in range(100):
        if not alive(pid):
            break
        await asyncio.sleep(0.01)
    assert not alive(pid)


async def test_workers_stop_when_the_supervisor_dies(run: Run) -> None:
    """A worker whose supervisor was killed closes its connections and exits."""
    pytest.importorskip("watchfiles")
    command = serve(run, "served:router", "--reload")
    url = await command.url()
    line = await command.logged("worker 0 (pid")
    pid = int(line.split("(pid ")[1].split(")")[0])
    async with connect(f"{url}/echo") as ws:
        command.signal(signal.SIGKILL)
        await asyncio.wait_for(ws.wait_closed(), 2)
        assert ws.protocol.close_code == 1001
    for _ in range(200):
        if not alive(pid):
            break
        await asyncio.sleep(0.01)
    assert not alive(pid)


def test_redis_password_is_not_printed() -> None:
    """The error line about an unreachable Redis hides the URL's password."""
    url = f"redis://user:s3cr3t@127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [*COMMAND, "serve", "served:router", "--port", "0", "--redis", url],
        cwd=APPS,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert "s3cr3t" not in result.stderr
    assert result.stderr.endswith("@127.0.0.1:" + url.rsplit(":", 1)[1] + "\n")
    assert "user:***@" in result.stderr


# demo


def has_ipv6() -> bool:
    """Whether this machine can listen on ::1."""
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("127.0.0.1", "127.0.0.1"),
        pytest.param(
            "::1",
            "[::1]",
            marks=pytest.mark.skipif(not has_ipv6(), reason="no IPv6 on ::1"),
        ),
    ],
)
async def test_demo_prints_the_url_to_open(run: Run, host: str, shown: str) -> None:
    """demo prints the page's URL, brackets around an IPv6 host, then serves."""
    command = run("demo", "--app", "served:create_app", "--host", host, "--port", "0")
    url = await command.url()
    assert url.startswith(f"ws://{shown}:")
    port = url.rsplit(":", 1)[1]
    assert await command.line() == f"open http://{shown}:{port}/"
    async with connect(f"{url}/hub") as ws:
        assert await ws.recv() == "Hub"
    command.signal(signal.SIGINT)
    assert (await command.exited())[0] == 0


async def test_demo_serves_its_page(run: Run) -> None:
    """demo serves websockets_routes.demo's page."""
    pytest.importorskip("websockets_routes.demo")
    command = run("demo", "--port", "0")
    url = await command.url()
    port = int(url.rsplit(":", 1)[1])
    assert await command.line() == f"open http://127.0.0.1:{port}/"
    status, _, _ = await http_get(port, "/")
    assert status == 200
    command.signal(signal.SIGTERM)
    assert (await command.exited())[0] == 0


# routes


def routes(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``routes`` on ``tests/cli_apps/routed.py``."""
    return subprocess.run(
        [*COMMAND, "routes", "routed:router", *args],
        cwd=APPS,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_routes_prints_the_table_in_match_order() -> None:
    """routes prints pattern, name, kind, endpoint and options, in match order."""
    result = routes()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "PATTERN          NAME     KIND       ENDPOINT        OPTIONS",
        "/rooms/lobby     lobby    websocket  routed.lobby    -",
        "/healthz         healthz  http       routed.healthz  -",
        "/rooms/{room}    room     websocket  routed.room     subprotocols=['chat']",
        "/items/{id:int}  -        websocket  routed.item     -",
        "/old/{room}      old      redirect   /rooms/{room}   status=308",
    ]


def test_routes_match_prints_the_winner_and_its_parameters() -> None:
    """routes --match prints the route that wins and its decoded parameters."""
    result = routes("--match", "/rooms/caf%C3%A9?x=1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "pattern: /rooms/{room}",
        "name: room",
        "kind: websocket",
        "endpoint: routed.room",
        "param room: 'café'",
    ]
    assert "param id: 42" in routes("--match", "/items/42").stdout
    assert "name: lobby" in routes("--match", "/rooms/lobby").stdout


@pytest.mark.parametrize(
    ("path", "output"),
    [
        ("/nowhere", "no route matches: /nowhere\n"),
        ("/rooms/%ff", "no route matches, invalid UTF-8 in escapes: /rooms/%ff\n"),
    ],
)
def test_routes_match_exits_1_when_no_route_matches(path: str, output: str) -> None:
    """routes --match says so and exits 1 when no route matches the path."""
    result = routes("--match", path)
    assert result.returncode == 1
    assert result.stdout == output


# In-process runs of the same code, which coverage sees.


@pytest.fixture
def importable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let the loader import from tests/cli_apps, and forget what it imported."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name in ("served", "routed"):
        sys.modules.pop(name, None)


async def until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait until a condition holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


class Worker(runner.Worker):
    """A worker that leaves this process's signals alone: the test stops it."""

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        pass


async def test_worker_closes_connections_and_cancels_late_handlers(
    importable: None, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    """In process: the worker closes with the code, then cancels what is late."""
    caplog.set_level(logging.INFO)
    config = runner.Config(
        "served:router", str(APPS), port=0, shutdown_timeout=0.1, page=True
    )
    sock = runner.bind(config)
    url, page = runner.address(sock), runner.address(sock, "http")
    worker = Worker(config, sock, supervised=False)
    task = asyncio.create_task(worker.main())
    try:
        echo = await connect(f"{url}/echo", open_timeout=TIMEOUT)
        goodbye = await ready(f"{url}/goodbye")
        worker.stop(1012)
        for ws in (echo, goodbye):
            await ws.wait_closed()
            assert ws.protocol.close_code == 1012
        assert await asyncio.wait_for(task, TIMEOUT) == 0
    finally:
        sock.close()
    assert capsys.readouterr().out == f"serving on {url}\nopen {page}/\n"
    assert "cancelling 1 handlers still running" in caplog.text
    assert "close goodbye from 127.0.0.1:" in caplog.text


async def test_supervisor_restarts_reloads_and_stops_workers(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    """In process: the supervisor restarts dead workers, reloads them, stops them."""
    pytest.importorskip("watchfiles")
    caplog.set_level(logging.INFO)
    (tmp_path / "served.py").write_text((APPS / "served.py").read_text())
    config = runner.Config(
        "served:router",
        str(tmp_path),
        port=0,
        workers=2,
        reload=True,
        shutdown_timeout=1,
    )
    sock = runner.bind(config)
    url = runner.address(sock)
    supervisor = runner.Supervisor(config, sock)
    task = asyncio.create_task(supervisor.run())
    try:
        async with connect(f"{url}/echo", open_timeout=TIMEOUT) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
        await until(lambda: "worker 1 (pid" in caplog.text)
        os.kill(supervisor.processes[1].process.pid, signal.SIGKILL)
        await until(lambda: "died (killed by SIGKILL): restarting" in caplog.text)
        ws = await connect(f"{url}/echo", open_timeout=TIMEOUT)
        for _ in range(10):
            (tmp_path / "served.py").write_text((APPS / "served.py").read_text())
            try:
                await asyncio.wait_for(ws.wait_closed(), 2)
                break
            except TimeoutError:
                continue
        assert ws.protocol.close_code == 1012
        async with connect(f"{url}/echo", open_timeout=TIMEOUT):
            pass
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(task, TIMEOUT) == 0
    finally:
        for process in supervisor.processes.values():
            process.signal(signal.SIGKILL)
        task.cancel()
        sock.close()
    assert capsys.readouterr().out == f"serving on {url}\n"
    assert "served.py changed: restarting 2 workers" in caplog.text
    assert "shutting down 2 workers" in caplog.text


async def test_supervisor_exits_2_when_the_first_worker_fails() -> None:
    """In process: a worker that cannot start stops the supervisor with status 2."""
    config = runner.Config("missing:router", str(APPS), port=0, workers=2)
    sock = runner.bind(config)
    try:
        assert await runner.Supervisor(config, sock).run() == 2
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (runner.Config("a:b", workers=0), "--workers must be at least 1: 0"),
        (runner.Config("a:b", workers=3), "--workers needs --redis: "),
        (runner.Config("a:b", shutdown_timeout=-1), "--shutdown-timeout must not "),
    ],
)
def test_run_refuses_invalid_configurations(
    config: runner.Config, message: str
) -> None:
    """run() refuses a configuration that cannot work, before binding anything."""
    with pytest.raises(CommandError, match=message):
        runner.run(config)


def test_serve_and_demo_report_errors_in_process(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """serve and demo print one error line and return 2, in process too."""
    assert cli.main(["serve", "served:router", "--workers", "2"]) == 2
    assert cli.main(["demo", "--workers", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("error: --workers needs --redis") == 2


def test_unix_socket_stale_or_in_use(tmp_path: pathlib.Path) -> None:
    """A stale Unix socket is replaced; one that a server listens on is in use."""
    path = str(tmp_path / "app.sock")
    config = runner.Config("a:b", uds=path)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    with runner.bind(config) as sock:
        assert runner.address(sock) == f"unix:{path}"
        with pytest.raises(CommandError, match=f"cannot listen on unix:{path}: "):
            runner.bind(config)
    (tmp_path / "file").write_text("")
    with pytest.raises(CommandError, match="address already in use"):
        runner.bind(runner.Config("a:b", uds=str(tmp_path / "file")))


def test_describes_exits_and_hides_passwords() -> None:
    """Helpers: how a process ended, a URL without its password."""
    assert runner._status(-9) == "killed by SIGKILL"
    assert runner._status(1) == "exit status 1"
    assert runner._redacted("redis://u:pw@h:1/0") == "redis://u:***@h:1/0"
    assert runner._redacted("redis://h:1/0") == "redis://h:1/0"


def test_routes_in_process(
    importable: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """routes and routes --match, in process."""
    args = ["routes", "routed:router", "--app-dir", str(APPS)]
    assert cli.main(args) == 0
    assert cli.main([*args, "--match", "/items/7"]) == 0
    assert cli.main([*args, "--match", "/nowhere"]) == 1
    assert cli.main([*args, "--match", "/rooms/%ff"]) == 1
    out = capsys.readouterr().out
    assert "/items/{id:int}  -        websocket  routed.item     -" in out
    assert "param id: 7\n" in out
    assert "no route matches: /nowhere\n" in out


@pytest.mark.parametrize(
    ("app", "redis", "message"),
    [
        ("served:base_router", None, "not a websockets_routes.Router, which "),
        ("served:router", "http://x", "invalid --redis: unsupported hub URL scheme"),
        ("served:router", "redis://127.0.0.1:{port}/0", "cannot reach redis: "),
    ],
)
async def test_worker_start_errors_in_process(
    importable: None, app: str, redis: str | None, message: str
) -> None:
    """In process: a BaseRouter, a bad or unreachable Redis stop the worker."""
    if redis is not None:
        redis = redis.format(port=free_port())
    config = runner.Config(app, str(APPS), port=0, redis=redis)
    with runner.bind(config) as sock:
        with pytest.raises(CommandError, match=message):
            await Worker(config, sock, supervised=False).main()


async def test_worker_serves_a_redis_hub_on_a_unix_socket(
    importable: None,
    redis_url: str,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    caplog: Any,
) -> None:
    """In process: the factory gets the Redis hub; a Unix peer logs as unix."""
    caplog.set_level(logging.INFO)
    path = str(tmp_path / "app.sock")
    config = runner.Config("served:create_app", str(APPS), uds=path, redis=redis_url)
    sock = runner.bind(config)
    worker = Worker(config, sock, supervised=False)
    task = asyncio.create_task(worker.main())
    try:
        await until(lambda: os.path.exists(path) and bool(capsys.readouterr().out))
        async with unix_connect(path, "ws://localhost/hub") as ws:
            assert await ws.recv() == "RedisHub"
            worker.stop(1001)
            await ws.wait_closed()
        assert await asyncio.wait_for(task, TIMEOUT) == 0
    finally:
        sock.close()
    # The handler's own close (1000) and the shutdown's (1001) race.
    assert re.search(r"close hub from unix with code 100[01]", caplog.text)


def test_unknown_host_is_one_error() -> None:
    """A host that doesn't resolve: cannot listen, and why."""
    with pytest.raises(CommandError, match=r"^cannot listen on nowhere\.invalid:0: "):
        runner.bind(runner.Config("a:b", host="nowhere.invalid", port=0))
