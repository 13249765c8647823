"""The serving lifecycle of ``python -m websockets_routes serve`` and ``demo``.

:func:`run` serves an application described by a :class:`Config`:

* In one process by default: the process binds the socket, starts the hub,
  loads the application, serves it with :meth:`Router.serve
  <websockets_routes.Router.serve>` (or :meth:`~websockets_routes.Router.unix_serve`),
  and shuts down on SIGINT or SIGTERM.
* With ``workers > 1`` or ``reload``, under a supervisor: the supervisor
  binds the socket and starts worker processes that inherit it; each worker
  runs the one-process lifecycle on the shared socket. The supervisor
  restarts a worker that dies, restarts every worker on SIGHUP or, with
  ``reload``, when a Python file changes, and stops them all on SIGINT or
  SIGTERM.

The hub exists before the application is loaded: an in-process
:class:`~websockets_routes.hub.Hub`, or ``Hub.from_url(config.redis)``,
started with ``async with``; :func:`websockets_routes.hub.app_hub` returns it
while the module is imported, its factory called and its handlers run.

Shutdown of a worker, on SIGINT or SIGTERM (close code 1001, going away), or
on SIGHUP from the supervisor (close code 1012, service restart):

1. stop accepting: close the listening socket; handshakes under way are
   answered with HTTP 503;
2. close every open connection with the code; a closing handshake that
   doesn't complete by the deadline (``shutdown_timeout`` seconds after the
   signal) is aborted, so a client that stopped reading stalls nothing;
3. wait until the deadline for handlers (and ``on_disconnect``) to return;
4. cancel the handlers left, wait for them at most :data:`CANCEL_GRACE`
   seconds, close the hub, and exit 0.

A thread started with the shutdown ends the process with :func:`os._exit`,
status 0, :data:`HARD_EXIT_MARGIN` seconds before ``shutdown_timeout`` plus
one second: a handler that swallows :exc:`~asyncio.CancelledError`, or blocks
the event loop, cannot keep the process alive longer. A second SIGINT or
SIGTERM during shutdown exits at once, with status 128 plus the signal's
number: 130 for a second Ctrl-C.

Each connection logs one line at INFO when it opens and one when it closes,
on the ``websockets_routes.access`` logger, with its route's name (its
pattern when it has no name), its peer and the close code.

"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import logging
import os
import pathlib
import signal
import socket
import stat
import sys
import threading
import time
import urllib.parse
from typing import Any

from .apps import CommandError, load_router
from .closing import close_within
from .hub import Hub, HubUnavailable, serving_hub
from .server import Adapter, Router

__all__ = [
    "CANCEL_GRACE",
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "HARD_EXIT_MARGIN",
    "Config",
    "run",
    "worker_main",
]

logger = logging.getLogger("websockets_routes.runner")
access_logger = logging.getLogger("websockets_routes.access")

#: Seconds that handlers get to return after the shutdown signal.
DEFAULT_SHUTDOWN_TIMEOUT = 10.0
#: Seconds that cancelled handlers get to return.
CANCEL_GRACE = 0.5
#: The process ends this many seconds before ``shutdown_timeout`` plus one.
HARD_EXIT_MARGIN = 0.1
#: A worker that dies sooner after it started is restarted after this delay.
RESTART_DELAY = 1.0

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"

# How the supervisor hands a worker its configuration, socket and pipe.
CONFIG_ENV = "WEBSOCKETS_ROUTES_WORKER"
WORKER_CODE = (
    "from websockets_routes.runner import worker_main; raise SystemExit(worker_main())"
)


@dataclasses.dataclass(frozen=True)
class Config:
    """What to serve, and how.

    Attributes:
        app: ``module:attribute`` naming a :class:`~websockets_routes.Router`
            or a function that takes no argument and returns one.
        app_dir: The directory to import the module from.
        host: The address to listen on.
        port: The port to listen on; 0 picks a free one.
        uds: The path of a Unix socket to listen on instead.
        redis: The URL of a Redis hub; an in-process hub when :obj:`None`.
        workers: How many processes serve; more than one needs ``redis``.
        log_level: ``debug``, ``info``, ``warning`` or ``error``.
        shutdown_timeout: Seconds that handlers get to return on shutdown.
        reload: Whether to restart the workers when a Python file changes.
        reload_dirs: Directories to watch, besides ``app_dir``.
        page: Whether the application serves a page: print the ``http://``
            URL to open.

    """

    app: str
    app_dir: str = "."
    host: str = "127.0.0.1"
    port: int = 8765
    uds: str | None = None
    redis: str | None = None
    workers: int = 1
    log_level: str = "info"
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    reload: bool = False
    reload_dirs: tuple[str, ...] = ()
    page: bool = False


def run(config: Config) -> int:
    """Serve an application until SIGINT or SIGTERM.

    Args:
        config: What to serve, and how.

    Returns:
        The exit status: 0 after a shutdown, 2 when a worker could not start
        (it printed why).

    Raises:
        CommandError: If the configuration is invalid, the socket cannot be
            bound, or the application cannot be served.

    Example::

        run(Config("app:router", port=8000, shutdown_timeout=5))

    """
    check(config)
    # The rest runs in the command's processes, which tests/test_cli_serve.py
    # signals; coverage measures this process only.
    configure_logging(config.log_level)  # pragma: no cover
    sock = bind(config)  # pragma: no cover
    try:  # pragma: no cover
        if config.workers > 1 or config.reload:
            return asyncio.run(Supervisor(config, sock).run())
        return run_worker(config, sock, supervised=False)
    finally:  # pragma: no cover
        sock.close()
        if config.uds is not None:
            _unlink(config.uds)


def check(config: Config) -> None:
    """Refuse a configuration that cannot work, before binding anything."""
    if config.workers < 1:
        raise CommandError(f"--workers must be at least 1: {config.workers}")
    if config.workers > 1 and config.redis is None:
        raise CommandError(
            "--workers needs --redis: rooms would split across processes: "
            f"--workers {config.workers}"
        )
    if config.shutdown_timeout < 0:
        raise CommandError(
            f"--shutdown-timeout must not be negative: {config.shutdown_timeout}"
        )
    if config.reload:
        try:
            import watchfiles  # noqa: F401
        except ImportError as exc:  # pragma: no cover (the test extra has it)
            raise CommandError(
                "--reload needs watchfiles: install websockets-routes[reload]"
            ) from exc


def configure_logging(level: str) -> None:  # pragma: no cover
    """Log to stderr at ``level``; websockets' own lines from WARNING up.

    The access log replaces websockets' "connection open" lines, so that a
    connection logs one line when it opens and one when it closes.

    """
    number = getattr(logging, level.upper())
    logging.basicConfig(level=number, format=LOG_FORMAT, force=True)
    logging.getLogger("websockets").setLevel(max(number, logging.WARNING))


# Sockets.


def bind(config: Config) -> socket.socket:
    """Create the listening socket that every worker shares.

    Raises:
        CommandError: If the address cannot be bound.

    """
    if config.uds is not None:
        return _bind_unix(config.uds)
    where = _host_port(config.host, config.port)
    try:
        # The first address the host resolves to, IPv4 or IPv6.
        family, _, _, _, sockaddr = socket.getaddrinfo(
            config.host or None,
            config.port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )[0]
        return socket.create_server(sockaddr, family=family, backlog=2048)
    except OSError as exc:
        raise CommandError(f"cannot listen on {where}: {_reason(exc)}") from exc


def _bind_unix(path: str) -> socket.socket:
    if _stale(path):
        _unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise CommandError(f"cannot listen on unix:{path}: {_reason(exc)}") from exc
    return sock


def _stale(path: str) -> bool:
    """Whether ``path`` is a Unix socket that nothing listens on."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return False
    except OSError:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    return False


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use"
    return (exc.strerror or str(exc)).lower()


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def address(sock: socket.socket, scheme: str = "ws") -> str:
    """The URL of a listening socket: ``ws://[::1]:8765``, ``unix:/run/app.sock``."""
    if sock.family == socket.AF_UNIX:
        return f"unix:{sock.getsockname()}"
    host, port = sock.getsockname()[:2]
    return f"{scheme}://{_host_port(host, port)}"


def announce(config: Config, sock: socket.socket) -> None:
    """Print where the application listens, on stdout, flushed."""
    print(f"serving on {address(sock)}", flush=True)
    if config.page and sock.family != socket.AF_UNIX:
        print(f"open {address(sock, 'http')}/", flush=True)


# One worker.


def run_worker(
    config: Config, sock: socket.socket, *, supervised: bool
) -> int:  # pragma: no cover
    """Serve on a bound socket until a signal, in this process.

    Returns:
        The exit status: 0 after a shutdown, 2 if the application cannot be
        served (the error is printed on stderr).

    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = Worker(config, sock, supervised=supervised)
    try:
        status = loop.run_until_complete(worker.main())
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        status = 2
    _finish(loop, worker.hard_deadline, status)
    return status


def _finish(
    loop: asyncio.AbstractEventLoop, deadline: float, status: int
) -> None:  # pragma: no cover
    """Cancel the tasks left, as :func:`asyncio.run` does, but not forever."""
    left = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in left:
        task.cancel()
    if left:
        timeout = min(max(deadline - loop.time(), 0.01), 5.0)
        loop.run_until_complete(asyncio.wait(left, timeout=timeout))
    if any(not task.done() for task in left):
        logger.error("tasks ignored cancellation: exiting anyway")
        _exit(status)
    loop.run_until_complete(loop.shutdown_asyncgens())
    asyncio.set_event_loop(None)
    loop.close()


def _exit(status: int) -> None:  # pragma: no cover
    """End the process now, without waiting for tasks or threads."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # pragma: no cover
            pass
    os._exit(status)


class Worker:
    """One process's serving lifecycle; see the module's docstring."""

    def __init__(
        self, config: Config, sock: socket.socket, *, supervised: bool
    ) -> None:
        self.config = config
        self.sock = sock
        self.supervised = supervised
        self.stopping: asyncio.Future[int] | None = None
        self.hard_deadline = float("inf")
        self.adapter: Adapter | None = None

    async def main(self) -> int:
        """Start the hub, load the application, serve until a signal, shut down."""
        loop = asyncio.get_running_loop()
        self.stopping = loop.create_future()
        self._install_signals(loop)
        hub = await self._start_hub()
        try:
            with serving_hub(hub):
                router = self._load()
                server = await self._serve(router)
                code = await self.stopping
                await self._shutdown(server, code)
        finally:
            await self._close_hub(hub)
        return 0

    def stop(self, code: int) -> None:
        """Start the shutdown, closing connections with ``code``."""
        if self.stopping is not None and not self.stopping.done():
            self.stopping.set_result(code)

    def _install_signals(
        self, loop: asyncio.AbstractEventLoop
    ) -> None:  # pragma: no cover
        codes: dict[int, int] = {signal.SIGINT: 1001, signal.SIGTERM: 1001}
        if self.supervised:
            codes[signal.SIGHUP] = 1012
            loop.create_task(self._watch_parent(os.getppid()))
        for signum, code in codes.items():
            loop.add_signal_handler(signum, self._on_signal, loop, code, list(codes))

    def _on_signal(
        self, loop: asyncio.AbstractEventLoop, code: int, signums: list[int]
    ) -> None:  # pragma: no cover
        # A plain handler, not the loop's, answers the second signal: it
        # runs even while a handler blocks the event loop.
        for signum in signums:
            loop.remove_signal_handler(signum)
            signal.signal(signum, _exit_at_once)
        self.hard_deadline = loop.time() + self.config.shutdown_timeout + 1
        self.hard_deadline -= HARD_EXIT_MARGIN
        _start_watchdog(self.config.shutdown_timeout + 1 - HARD_EXIT_MARGIN)
        self.stop(code)

    async def _watch_parent(self, parent: int) -> None:  # pragma: no cover
        # A worker whose supervisor died stops instead of serving forever.
        while os.getppid() == parent:
            await asyncio.sleep(0.5)
        logger.warning("supervisor %d is gone: shutting down", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    async def _start_hub(self) -> Hub:
        if self.config.redis is None:
            return Hub()
        try:
            hub = Hub.from_url(self.config.redis)
        except (ValueError, ImportError) as exc:
            raise CommandError(f"invalid --redis: {exc}") from exc
        # The hub logs each failed attempt; the error line says it all.
        hub_logger = logging.getLogger("websockets_routes.hub")
        level = hub_logger.level
        hub_logger.setLevel(logging.CRITICAL)
        try:
            await hub.start()
        except HubUnavailable as exc:
            message = str(exc).splitlines()[0]
            url = _redacted(self.config.redis)
            raise CommandError(f"{message}: {url}") from exc
        finally:
            hub_logger.setLevel(level)
        return hub

    async def _close_hub(self, hub: Hub) -> None:
        timeout = self.hard_deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(hub.close(), timeout=min(timeout, 5.0))
        except TimeoutError:
            logger.warning("hub didn't close in time")

    def _load(self) -> Router:
        router = load_router(self.config.app, self.config.app_dir)
        if not isinstance(router, Router):
            kind = type(router).__name__
            raise CommandError(
                f"not a websockets_routes.Router, which serving needs: "
                f"{self.config.app} ({kind})"
            )
        return router

    async def _serve(self, router: Router) -> Any:
        self.adapter = adapter = Adapter(router, {"sock": self.sock}, track_tasks=True)
        if self.sock.family == socket.AF_UNIX:
            server = await adapter.unix_serve(None)
        else:
            server = await adapter.serve(None, None)
        if not self.supervised:
            announce(self.config, self.sock)
        _ready()
        return server

    async def _shutdown(self, server: Any, code: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.shutdown_timeout
        what = "restart" if code == 1012 else "shutdown"
        live = list(server.connections)
        logger.info("%s: closing %d connections", what, len(live))
        # Stop accepting; handshakes under way are answered with HTTP 503.
        server.close(close_connections=False)
        closing = [_close(conn, code, deadline) for conn in live]
        closes = [loop.create_task(coroutine) for coroutine in closing]
        adapter = self.adapter
        pending = set(adapter.tasks or ()) if adapter is not None else set()
        if pending:
            timeout = max(deadline - loop.time(), 0)
            _, pending = await asyncio.wait(pending, timeout=timeout)
        if pending:
            logger.warning("cancelling %d handlers still running", len(pending))
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=CANCEL_GRACE)
        if pending:
            logger.error("%d handlers ignored cancellation", len(pending))
        if closes:
            await asyncio.wait(closes, timeout=CANCEL_GRACE)
        logger.info("%s done", what)


def _redacted(url: str) -> str:
    """A URL without its password, to print it."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


async def _close(connection: Any, code: int, deadline: float) -> None:
    """Close a connection, or abort it if it doesn't close by the deadline."""
    timeout = max(deadline - asyncio.get_running_loop().time(), 0)
    await close_within(connection, code, timeout=timeout)


def _exit_at_once(signum: int, frame: Any) -> None:  # pragma: no cover
    os.write(2, b"second signal: exiting at once\n")
    os._exit(128 + signum)


def _start_watchdog(delay: float) -> None:  # pragma: no cover
    def expire() -> None:
        os.write(2, b"shutdown timed out: exiting\n")
        os._exit(0)

    timer = threading.Timer(max(delay, 0), expire)
    timer.daemon = True
    timer.start()


# Worker processes.


def _ready() -> None:
    """Tell the supervisor that this worker serves."""
    settings = os.environ.get(CONFIG_ENV)
    if settings is not None:  # pragma: no cover (in worker processes)
        fd = json.loads(settings)["ready_fd"]
        os.write(fd, b"1")
        os.close(fd)


def worker_main() -> int:  # pragma: no cover
    """Run a worker process that the supervisor started.

    It reads its configuration, the file descriptor of the shared socket and
    that of the pipe on which it says it's ready from the environment.

    Returns:
        The exit status.

    """
    settings = json.loads(os.environ.pop(CONFIG_ENV))
    os.environ[CONFIG_ENV] = json.dumps({"ready_fd": settings["ready_fd"]})
    config = Config(**settings["config"])
    configure_logging(config.log_level)
    sock = socket.socket(fileno=settings["socket_fd"])
    return run_worker(config, sock, supervised=True)


class Process:
    """A worker process, as the supervisor sees it."""

    def __init__(self, index: int, process: asyncio.subprocess.Process) -> None:
        self.index = index
        self.process = process
        self.started = time.monotonic()
        self.restarting = False

    def signal(self, signum: int) -> None:
        """Send a signal, if the process still runs."""
        if self.process.returncode is None:
            try:
                self.process.send_signal(signum)
            except ProcessLookupError:  # pragma: no cover
                pass

    def __str__(self) -> str:
        return f"worker {self.index} (pid {self.process.pid})"


class Supervisor:
    """Start, restart and stop worker processes that share a socket."""

    def __init__(self, config: Config, sock: socket.socket) -> None:
        self.config = config
        self.sock = sock
        self.processes: dict[int, Process] = {}
        self.stopping = False
        self.changed: asyncio.Event | None = None

    async def run(self) -> int:
        """Supervise the workers until SIGINT or SIGTERM.

        Returns:
            0 after a shutdown, 2 if the first worker could not start.

        """
        loop = asyncio.get_running_loop()
        self.stopped = loop.create_future()
        self.changed = asyncio.Event()
        self._install_signals(loop)
        first = await self._start(0)
        if first is None:
            return 0 if self.stopping else 2
        announce(self.config, self.sock)
        slots = [loop.create_task(self._keep(0, first))]
        for index in range(1, self.config.workers):
            slots.append(loop.create_task(self._keep(index, None)))
        watcher = loop.create_task(self._watch()) if self.config.reload else None
        await self.stopped
        if watcher is not None:
            watcher.cancel()
        await asyncio.wait(slots)
        return 0

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, loop, signum)
        loop.add_signal_handler(signal.SIGHUP, self.restart, "SIGHUP")

    def _on_signal(self, loop: asyncio.AbstractEventLoop, signum: int) -> None:
        if self.stopping:  # pragma: no cover (exits: see tests/test_cli_serve.py)
            for process in self.processes.values():
                process.signal(signal.SIGKILL)
            _exit_at_once(signum, None)
        logger.info("shutting down %d workers", len(self.processes))
        self.stopping = True
        self._signal_all(signal.SIGTERM)
        self.stopped.set_result(None)

    def restart(self, reason: str) -> None:
        """Restart every worker: they close their connections with 1012."""
        if self.stopping:
            return
        logger.info("%s: restarting %d workers", reason, len(self.processes))
        for process in self.processes.values():
            process.restarting = True
        self._signal_all(signal.SIGHUP)

    def _signal_all(self, signum: int) -> None:
        loop = asyncio.get_running_loop()
        # Workers end themselves by then; this is for one that hangs.
        delay = self.config.shutdown_timeout + 1.5
        for process in self.processes.values():
            process.signal(signum)
            loop.call_later(delay, process.signal, signal.SIGKILL)

    async def _start(self, index: int) -> Process | None:
        """Start a worker; return it once it serves, :obj:`None` if it died."""
        read_fd, write_fd = os.pipe()
        settings = {
            "config": dataclasses.asdict(self.config),
            "socket_fd": self.sock.fileno(),
            "ready_fd": write_fd,
        }
        env = {**os.environ, CONFIG_ENV: json.dumps(settings)}
        try:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                WORKER_CODE,
                pass_fds=(self.sock.fileno(), write_fd),
                env=env,
                # Ctrl-C reaches the supervisor only, which stops the workers.
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        process = Process(index, child)
        self.processes[index] = process
        try:
            ready = await _read_byte(read_fd)
        finally:
            os.close(read_fd)
        if ready:
            logger.info("%s started", process)
            return process
        await child.wait()
        return None

    async def _keep(self, index: int, process: Process | None) -> None:
        """Keep a worker running until the shutdown."""
        while not self.stopping:
            if process is None:
                process = await self._start(index)
                if process is None:
                    # A worker told to stop before it served isn't broken.
                    if not (self.stopping or self.processes[index].restarting):
                        await self._failed(index)
                    continue
            status = await process.process.wait()
            if self.stopping:
                break
            if process.restarting:
                logger.info("%s stopped: restarting", process)
            else:
                logger.warning("%s died (%s): restarting", process, _status(status))
                if time.monotonic() - process.started < RESTART_DELAY:
                    await self._pause(RESTART_DELAY)
            process = None
        if process is not None:
            await process.process.wait()

    async def _failed(self, index: int) -> None:
        """Wait before starting again a worker that couldn't start."""
        logger.warning("worker %d failed to start", index)
        if self.config.reload and self.changed is not None:
            # The code is broken: wait until it changes again.
            self.changed.clear()
            changed = asyncio.ensure_future(self.changed.wait())
            await asyncio.wait({self.stopped, changed}, return_when="FIRST_COMPLETED")
            changed.cancel()
        else:
            await self._pause(RESTART_DELAY)

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless the shutdown starts."""
        await asyncio.wait({self.stopped}, timeout=seconds)

    async def _watch(self) -> None:
        """Restart the workers when a Python file changes."""
        import watchfiles

        directories = [self.config.app_dir, *self.config.reload_dirs]
        paths = [pathlib.Path(directory).resolve() for directory in directories]
        async for changes in watchfiles.awatch(
            *paths, watch_filter=watchfiles.PythonFilter(), debounce=400
        ):
            names = sorted({pathlib.Path(name).name for _, name in changes})
            assert self.changed is not None
            self.changed.set()
            self.restart(f"{', '.join(names)} changed")


def _read_byte(fd: int) -> asyncio.Future[bytes]:
    """Read a byte from a pipe; ``b""`` when its other end is closed."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()

    def readable() -> None:
        loop.remove_reader(fd)
        if not future.done():
            future.set_result(os.read(fd, 1))

    loop.add_reader(fd, readable)
    return future


def _status(returncode: int) -> str:
    """Describe how a process ended: ``exit status 1``, ``killed by SIGKILL``."""
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"
