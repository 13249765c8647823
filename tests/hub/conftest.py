"""Fixtures of the hub tests: a real redis-server on a free port, and a real
Redis Cluster (see :mod:`tests.hub.cluster`).

When redis-server is missing, the Redis tests fail if the CI environment
variable is set and are skipped otherwise.

"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from .cluster import RedisCluster

__all__ = [
    "RedisServer",
]


class RedisServer:
    """A redis-server subprocess listening on 127.0.0.1, without persistence."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        command = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not self._ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server didn't start on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Kill the server, as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _redis_executable() -> str:
    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is required when CI is set; install it")
        pytest.skip("redis-server isn't installed; apt-get install redis-server")
    return executable


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server shared by the tests; each test uses its own namespace."""
    server = RedisServer(_redis_executable())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A redis-server for one test, which may stop and restart it."""
    server = RedisServer(_redis_executable())
    server.start()
    yield server
    server.stop()


def _cluster() -> RedisCluster:
    cli = shutil.which("redis-cli")
    executable = _redis_executable()
    if cli is None:
        if os.environ.get("CI"):
            pytest.fail("redis-cli is required when CI is set; install it")
        pytest.skip("redis-cli isn't installed; apt-get install redis-tools")
    return RedisCluster(executable, cli)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A Redis Cluster of three masters and three replicas, shared by the tests."""
    cluster = _cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def own_redis_cluster() -> Iterator[RedisCluster]:
    """A Redis Cluster for one test, which may kill its nodes."""
    cluster = _cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def namespace() -> str:
    """A namespace that no other test uses."""
    return f"test-{uuid.uuid4().hex[:8]}"
