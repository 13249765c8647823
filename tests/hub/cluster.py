"""A real Redis Cluster for the tests: three masters and a replica of each.

Each node is a ``redis-server --cluster-enabled yes`` process on 127.0.0.1, on
a free port, with its cluster bus on another free port and its
``nodes.conf`` in a temporary directory; ``redis-cli --cluster create``
assigns the slots. A low ``cluster-node-timeout`` makes a killed master fail
over to its replica in a couple of seconds.

"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

__all__ = [
    "ClusterNode",
    "RedisCluster",
]

NODE_TIMEOUT_MS = 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ClusterNode:
    """One redis-server process of the cluster."""

    def __init__(self, executable: str, directory: str) -> None:
        self.executable = executable
        self.directory = directory
        self.port = _free_port()
        self.bus_port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        """The node's command line, on its current ports."""
        return [
            self.executable,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--cluster-enabled", "yes", "--cluster-port", str(self.bus_port)),
            *("--cluster-config-file", f"nodes-{self.port}.conf"),
            *("--cluster-node-timeout", str(NODE_TIMEOUT_MS)),
            *("--dir", self.directory, "--save", "", "--appendonly", "no"),
            # A replica fails over even when its master died before the first
            # sync ended, and syncs at once, without a dump on disk.
            *("--cluster-replica-validity-factor", "0"),
            *("--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"),
        ]

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, as redis-cli wants it."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the node and wait until it answers.

        A free port may be taken by another process before the node binds it
        (the machine runs other tests): then the node tries other ports.

        """
        for _ in range(5):
            self.process = subprocess.Popen(
                self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 10
            while self.ask(b"PING") != b"+PONG":
                if self.process.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server didn't start on port {self.port}")
                time.sleep(0.01)
            else:
                return
            self.port, self.bus_port = _free_port(), _free_port()
        raise RuntimeError(f"redis-server didn't start on port {self.port}")

    def kill(self) -> None:
        """Kill the node with SIGKILL, as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def ask(self, command: bytes) -> bytes:
        """Send one inline command; return the raw reply, or b"" if unreachable."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(command + b"\r\n")
                reply = b""
                while True:
                    chunk = sock.recv(65536)
                    reply += chunk
                    if not chunk or _complete(reply):
                        return reply.strip()
        except OSError:
            return b""

    def info(self, command: bytes) -> str:
        """The text of a bulk reply, like ``CLUSTER INFO``'s."""
        reply = self.ask(command)
        return reply.partition(b"\r\n")[2].decode()

    def values(self, command: bytes) -> list[str]:
        """The strings of an array reply, like ``PUBSUB SHARDCHANNELS``'."""
        lines = self.ask(command).decode().split("\r\n")
        return lines[2::2]

    def calls(self, command: str) -> int:
        """How many times this node ran a command, from ``INFO commandstats``."""
        for line in self.info(b"INFO commandstats").splitlines():
            name, _, stats = line.partition(":")
            if name == f"cmdstat_{command}":
                return int(stats.split(",")[0].removeprefix("calls="))
        return 0


def _complete(reply: bytes) -> bool:
    # Simple replies end at the first CRLF; a bulk reply once its length is in.
    if not reply.endswith(b"\r\n"):
        return False
    if reply.startswith(b"$"):
        header, _, body = reply.partition(b"\r\n")
        return len(body) >= int(header[1:]) + 2
    if reply.startswith(b"*"):
        # Only arrays of bulk strings, as PUBSUB SHARDCHANNELS returns.
        header, _, body = reply.partition(b"\r\n")
        return body.count(b"\r\n") >= 2 * int(header[1:])
    return True


class RedisCluster:
    """Three masters and three replicas on 127.0.0.1, without persistence."""

    def __init__(self, executable: str, cli: str) -> None:
        self.cli = cli
        self.directory = tempfile.mkdtemp(prefix="redis-cluster-")
        self.nodes = [ClusterNode(executable, self.directory) for _ in range(6)]

    @property
    def url(self) -> str:
        """The hub URL of the cluster: its first node's address."""
        return f"redis+cluster://{self.nodes[0].address}"

    def start(self) -> None:
        """Start the nodes, create the cluster, wait until it serves every slot."""
        for node in self.nodes:
            node.start()
        addresses = [node.address for node in self.nodes]
        options = ["--cluster-replicas", "1", "--cluster-yes"]
        subprocess.run(
            [self.cli, "--cluster", "create", *addresses, *options],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        self.wait_ok(30)

    def stop(self) -> None:
        """Kill every node and remove their files."""
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def running(self) -> list[ClusterNode]:
        """The nodes whose process runs."""
        return [node for node in self.nodes if node.process is not None]

    def masters(self) -> list[ClusterNode]:
        """The running nodes that are masters with slots now."""
        return [
            node
            for node in self.running()
            if "role:master" in node.info(b"INFO replication") and _slots_of(node) > 0
        ]

    def served(self, key: str) -> bool:
        """Whether a running master serves the slot of a key or channel now."""
        try:
            self.owner(key)
        except ValueError:
            return False
        return True

    def owner(self, key: str) -> ClusterNode:
        """The running master that serves the slot of a key or channel."""
        (any_node, *_) = self.running()
        slot = int(any_node.ask(b"CLUSTER KEYSLOT " + key.encode())[1:])
        (node,) = [node for node in self.masters() if slot in _slots(node)]
        return node

    def wait_ok(self, timeout: float) -> None:
        """Wait until every running node reports cluster_state:ok and agrees."""
        deadline = time.monotonic() + timeout
        while not self._ok():
            if time.monotonic() > deadline:
                raise RuntimeError("redis cluster isn't ok")
            time.sleep(0.05)

    def _ok(self) -> bool:
        nodes = self.running()
        if not all("cluster_state:ok" in n.info(b"CLUSTER INFO") for n in nodes):
            return False
        # Every node sees three masters that cover all slots between them.
        if sum(_slots_of(node) for node in self.masters()) != 16384:
            return False
        replicas = [n.info(b"INFO replication") for n in nodes]
        return all(
            "master_link_status:up" in info for info in replicas if "role:slave" in info
        )


def _slots(node: ClusterNode) -> set[int]:
    slots: set[int] = set()
    for line in node.info(b"CLUSTER NODES").splitlines():
        fields = line.split()
        if "myself" in fields[2]:
            for item in fields[8:]:
                if not item.startswith("["):
                    start, _, end = item.partition("-")
                    slots.update(range(int(start), int(end or start) + 1))
    return slots


def _slots_of(node: ClusterNode) -> int:
    return len(_slots(node))
