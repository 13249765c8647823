"""The package touches websockets only through names its reference documents.

The test reads the package's source: every name it imports from websockets,
and every attribute it reads, writes or looks up by name (``getattr()`` and
its kin) that is also a name of websockets' code, must be in :data:`IMPORTS`
or :data:`ATTRIBUTES`, each with the page of websockets' reference that
documents it, or be a name the package defines itself. The one exception,
:data:`UNDOCUMENTED`, is confined to ``websockets_routes/_compat.py``.

"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import websockets

from websockets_routes import _compat

PACKAGE = pathlib.Path(__file__).parent.parent / "websockets_routes"
WEBSOCKETS = pathlib.Path(websockets.__file__).parent

# Pages of websockets' reference (docs/reference/...).
SERVER = "asyncio/server.rst"
CLIENT = "asyncio/client.rst"
CONNECTION = "asyncio/connection.rst"
SANSIO = "sansio/server.rst, sansio/connection.rst"
DATA = "datastructures.rst"
EXCEPTIONS = "exceptions.rst"
TYPES = "types.rst"
LEGACY = "legacy/server.rst"
BROADCAST = "topics/broadcast.rst (connection.transport)"

#: What the package imports from websockets, and where it is documented.
IMPORTS = {
    "websockets.asyncio.client.ClientConnection": CLIENT,
    "websockets.asyncio.client.connect": CLIENT,
    "websockets.asyncio.connection.Connection": CONNECTION,
    "websockets.asyncio.server.Server": SERVER,
    "websockets.asyncio.server.ServerConnection": SERVER,
    "websockets.asyncio.server.broadcast": SERVER,
    "websockets.asyncio.server.serve": SERVER,
    "websockets.asyncio.server.unix_serve": SERVER,
    "websockets.datastructures.Headers": DATA,
    "websockets.datastructures.HeadersLike": TYPES,
    "websockets.exceptions.ConnectionClosed": EXCEPTIONS,
    "websockets.exceptions.InvalidHandshake": EXCEPTIONS,
    "websockets.exceptions.NegotiationError": EXCEPTIONS,
    "websockets.frames.CloseCode": DATA,
    "websockets.http11.Request": DATA,
    "websockets.http11.Response": DATA,
    "websockets.legacy.server.HTTPResponse": TYPES,
    "websockets.legacy.server.WebSocketServerProtocol": LEGACY,
    "websockets.protocol.State": SANSIO,
    "websockets.typing.Origin": TYPES,
    "websockets.typing.Subprotocol": TYPES,
    "websockets.version.version": "../project/changelog.rst (version policy)",
}

#: Attributes of websockets' objects that the package uses, and their page.
ATTRIBUTES = {
    # ServerConnection / ClientConnection / legacy connection.
    "close": CONNECTION,
    "close_timeout": "asyncio/server.rst (serve(close_timeout=))",
    "closed": LEGACY,
    "ping": CONNECTION,
    "recv": CONNECTION,
    "remote_address": CONNECTION,
    "request": CONNECTION,
    "request_headers": LEGACY,
    "respond": SERVER,
    "send": CONNECTION,
    "state": CONNECTION,
    "subprotocol": CONNECTION,
    "transport": BROADCAST,
    "abort": BROADCAST + ", asyncio's Transport.abort()",
    "wait_closed": CONNECTION,
    "path": LEGACY + ", " + DATA + " (Request.path)",
    # Server.
    "connections": SERVER,
    "sockets": SERVER,
    # Request, Response, Headers.
    "body": DATA,
    "get_all": DATA,
    "headers": DATA,
    "method": DATA + " (Request.method, websockets 17)",
    "raw_items": DATA,
    "reason_phrase": DATA,
    "status_code": DATA,
    # ConnectionClosed and Close.
    "code": EXCEPTIONS + " (ConnectionClosed.rcvd.code)",
    "rcvd": EXCEPTIONS,
    "rcvd_then_sent": EXCEPTIONS,
    "reason": EXCEPTIONS + " (ConnectionClosed.rcvd.reason)",
    "sent": EXCEPTIONS,
    # State and CloseCode members.
    "CLOSED": SANSIO,
    "OPEN": SANSIO,
    "ABNORMAL_CLOSURE": DATA,
    "GOING_AWAY": DATA,
    "INVALID_DATA": DATA,
    "INTERNAL_ERROR": DATA,
    "NORMAL_CLOSURE": DATA,
    "POLICY_VIOLATION": DATA,
    "TRY_AGAIN_LATER": DATA,
    "UNSUPPORTED_DATA": DATA,
}

#: Names of websockets' code that the package uses on other objects only.
OTHERS = {
    "backoff": "redis-py's retry settings (hub/redis.py, hub/cluster.py)",
    "clear": "dicts and sets of the hub's",
    "connection_kwargs": "redis-py's ConnectionPool.connection_kwargs (hub/cluster.py)",
    "create_server": "asyncio's loop.create_server() (runner.py)",
    "debug": "logging's Logger.debug()",
    "exception": "asyncio's Task.exception()",
    "update": "dicts of the package's",
    "value": "enum members and regex matches",
}

#: Names used although websockets' reference doesn't document them, each
#: confined to _compat.py, with why. See _compat.set_max_size().
UNDOCUMENTED = {
    "protocol": (
        "the sans-I/O protocol of a connection, for a route's max_size; "
        "Request.protocol (documented since websockets 17) is read there too"
    ),
    "max_message_size": "a route's max_size, on websockets 15 and later",
    "max_size": "a route's max_size, before websockets 15, and on legacy connections",
}

# Python's own names, which websockets' code also defines.
PYTHON = {name for name in dir(object)} | {
    "__aenter__",
    "__aexit__",
    "__aiter__",
    "__anext__",
    "__await__",
    "__call__",
    "__enter__",
    "__exit__",
    "__iter__",
    "__next__",
}


def sources(root: pathlib.Path) -> Iterator[tuple[pathlib.Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def defined_names(tree: ast.AST) -> set[str]:
    """The names a module defines: functions, classes, attributes set on objects."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.ClassDef):  # pragma: no cover - handled above
            pass
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                targets = (
                    item.targets
                    if isinstance(item, ast.Assign)
                    else [item.target]
                    if isinstance(item, ast.AnnAssign)
                    else []
                )
                names.update(t.id for t in targets if isinstance(t, ast.Name))
            names.update(
                arg.arg
                for item in node.body
                if isinstance(item, ast.FunctionDef)
                for arg in item.args.kwonlyargs
            )
    return names


#: websockets' modules whose objects the package gets: its connections,
#: servers, protocols, requests, responses, headers, exceptions and frames.
MODULES = [
    "asyncio/client.py",
    "asyncio/connection.py",
    "asyncio/messages.py",
    "asyncio/server.py",
    "client.py",
    "datastructures.py",
    "exceptions.py",
    "frames.py",
    "http11.py",
    "legacy/protocol.py",
    "legacy/server.py",
    "protocol.py",
    "server.py",
    "streams.py",
]


def websockets_names() -> set[str]:
    """Every name these modules of websockets define or set on an object."""
    names: set[str] = set()
    for module in MODULES:
        path = WEBSOCKETS / module
        names |= defined_names(ast.parse(path.read_text(), str(path)))
    return names - PYTHON


def used_attributes(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """The attribute names a module uses, with their line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            yield node.attr, node.lineno
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            yield node.args[1].value, node.lineno


def imported_names(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """The websockets names a module imports, with their line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module is not None and node.module.split(".")[0] == "websockets":
                for alias in node.names:
                    yield f"{node.module}.{alias.name}", node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "websockets":
                    yield alias.name, node.lineno


def package_names() -> set[str]:
    names: set[str] = set()
    for _, tree in sources(PACKAGE):
        names |= defined_names(tree)
    return names


def test_imports_from_websockets_are_documented() -> None:
    """Every name imported from websockets is in its API reference."""
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for path, tree in sources(PACKAGE)
        for name, line in imported_names(tree)
        if name not in IMPORTS
    ]
    assert wrong == []


def test_attributes_of_websockets_are_documented() -> None:
    """Every attribute of websockets' objects that the package uses is documented."""
    theirs = websockets_names() - package_names()
    wrong = []
    for path, tree in sources(PACKAGE):
        for name, line in used_attributes(tree):
            if name not in theirs or name in ATTRIBUTES or name.startswith("__"):
                continue
            if name in OTHERS:
                continue
            if name in UNDOCUMENTED and path.name == "_compat.py":
                continue
            wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name}")
    assert wrong == []


def test_no_private_name_of_websockets() -> None:
    """No ``_``-prefixed name of websockets is used, even one the package shares."""
    theirs = {name for name in websockets_names() if name.startswith("_")}
    ours = {name for name in package_names() if name.startswith("_")}
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for path, tree in sources(PACKAGE)
        for name, line in used_attributes(tree)
        if name in theirs and not name.startswith("__") and name not in ours
    ]
    assert wrong == []


def test_undocumented_names_are_those_of_compat() -> None:
    """The names _compat.py looks up by a variable are listed as undocumented."""
    assert set(_compat._MAX_SIZE_ATTRIBUTES) <= set(UNDOCUMENTED)


def test_allow_list_is_used() -> None:
    """Every allowed name is still used: the list says what the package relies on."""
    used = {
        name
        for _, tree in sources(PACKAGE)
        for name in [n for n, _ in used_attributes(tree)]
        + [n for n, _ in imported_names(tree)]
    }
    assert set(IMPORTS) - used == set()
    assert set(ATTRIBUTES) - used == set()
