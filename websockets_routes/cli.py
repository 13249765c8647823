"""The command line: ``python -m websockets_routes COMMAND`` or ``websockets-routes``.

Commands:

* ``serve APP``: serve a router, in one process or several (``--workers``),
  restarting on code changes (``--reload``); see
  :mod:`websockets_routes.runner` for the lifecycle and the shutdown.
* ``routes APP``: print the route table in match order, or which route a
  path matches (``--match PATH``).
* ``demo``: serve the demo, :func:`websockets_routes.demo.create_app`, as
  ``serve`` would.
* ``asyncapi APP``: write the AsyncAPI 3.0.0 document of a router, or check
  that a committed one still matches it (``--check FILE``).

``APP`` is ``module:attribute``, like ``uvicorn``'s: the attribute is a
:class:`~websockets_routes.BaseRouter` or a function that takes no argument
and returns one (an application factory); it may be dotted
(``module:app.router``). The module is imported with the current directory
first on :data:`sys.path`, as ``python -m`` does, or ``--app-dir DIR``.

Exit status: 0 on success, and after ``serve`` or ``demo`` shut down; 1
when ``--check`` finds that the committed document no longer matches the
code, or no route matches ``--match``'s path; 2 on an error, which is one
line on stderr, ``error: ...``, without a traceback; 130 after a second
Ctrl-C interrupted a shutdown.

Each command is a :class:`Command`: its name, a function that adds its
arguments to its parser, and a function that runs it. :data:`COMMANDS`
lists them in the order ``--help`` shows them; a new command is one more
entry.

"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib
import json
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .apps import CommandError, describe, load_router
from .exceptions import InvalidPath
from .router import BaseRouter
from .table import Route

__all__ = ["COMMANDS", "Command", "CommandError", "load_router", "main"]

#: The version in the document's ``info`` when ``--version`` is not given.
DEFAULT_VERSION = "0.0.0"

FORMATS = ("json", "yaml")
SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


@dataclasses.dataclass(frozen=True)
class Command:
    """A subcommand of the command line.

    Attributes:
        name: What the user types: ``python -m websockets_routes NAME``.
        help: One line for ``--help``.
        add_arguments: Adds the command's arguments to its parser.
        run: Runs the command with the parsed arguments and the output
            stream; returns the exit status.

    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, TextIO], int]


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments, without the program name (``sys.argv[1:]`` when
            ``None``).
        prog: The program name that usage messages show.

    Returns:
        The exit status: 0, 1 when a check failed, 2 on an error.

    Example::

        main(["asyncapi", "app:router", "--output", "asyncapi.json"])

    """
    args = build_parser(prog).parse_args(argv)
    try:
        status: int = args.run(args, sys.stdout)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with one subparser per command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Tools for websockets-routes applications."
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS:
        subparser = subparsers.add_parser(
            command.name, help=command.help, description=command.help
        )
        command.add_arguments(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``APP`` and ``--app-dir`` arguments that commands share."""
    parser.add_argument(
        "app", metavar="APP", help="module:attribute naming a router or a factory"
    )
    parser.add_argument(
        "--app-dir",
        default=".",
        metavar="DIR",
        help="import the module from DIR (default: the current directory)",
    )


# serve and demo


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``serve`` and ``demo`` but the application's."""
    from .runner import DEFAULT_SHUTDOWN_TIMEOUT, LOG_LEVELS

    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="port to listen on (default: %(default)s)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="serve a Redis hub (redis://host:port/db) to the application",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N processes on one socket; more than one needs --redis",
    )
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default="info", help="(default: info)"
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        metavar="SECONDS",
        help="time handlers get to return on shutdown (default: %(default)s)",
    )


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``serve``."""
    add_app_arguments(parser)
    add_serving_arguments(parser)
    parser.add_argument("--uds", metavar="PATH", help="listen on a Unix socket")
    parser.add_argument(
        "--reload",
        action="store_true",
        help="restart when a Python file of --app-dir changes (needs watchfiles)",
    )
    parser.add_argument(
        "--reload-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="also watch DIR with --reload (repeatable)",
    )


def run_serve(args: argparse.Namespace, stdout: TextIO) -> int:
    """Serve a router until SIGINT or SIGTERM."""
    return _run(
        args,
        app_dir=args.app_dir,
        uds=args.uds,
        reload=args.reload,
        reload_dirs=tuple(args.reload_dir),
    )


def _run(args: argparse.Namespace, **config: Any) -> int:
    """Serve with the arguments that ``serve`` and ``demo`` share."""
    from . import runner

    return runner.run(
        runner.Config(
            app=args.app,
            host=args.host,
            port=args.port,
            redis=args.redis,
            workers=args.workers,
            log_level=args.log_level,
            shutdown_timeout=args.shutdown_timeout,
            **config,
        )
    )


#: The application that ``demo`` serves, imported when the command runs.
DEMO_APP = "websockets_routes.demo:create_app"


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``demo``."""
    add_serving_arguments(parser)
    # For the tests: serve another application as the demo.
    parser.add_argument("--app", default=DEMO_APP, help=argparse.SUPPRESS)


def run_demo(args: argparse.Namespace, stdout: TextIO) -> int:
    """Serve the demo; print the URL of its page."""
    return _run(args, page=True)


def add_routes_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``routes``."""
    add_app_arguments(parser)
    parser.add_argument(
        "--match",
        metavar="PATH",
        help="print the route that PATH matches and its parameters; exit 1 if none",
    )


def run_routes(args: argparse.Namespace, stdout: TextIO) -> int:
    """Print the route table in match order, or the route a path matches."""
    router = load_router(args.app, args.app_dir)
    if args.match is not None:
        return _match(router, args.match, stdout)
    header = ("PATTERN", "NAME", "KIND", "ENDPOINT", "OPTIONS")
    rows = [header, *(_row(route) for route in router.routes)]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        stdout.write(("  ".join(cells) + "  " + row[4]).rstrip() + "\n")
    return 0


def _row(route: Route) -> tuple[str, str, str, str, str]:
    """A route's cells in the table of ``routes``."""
    options = " ".join(f"{key}={value!r}" for key, value in route.options.items())
    name = route.name if route.name is not None else "-"
    return route.pattern, name, route.kind, _qualified(route.endpoint), options or "-"


def _qualified(endpoint: Any) -> str:
    """``module.qualname`` of a handler or a class; a redirect's target as is."""
    if isinstance(endpoint, str):
        return endpoint
    module = getattr(endpoint, "__module__", None)
    name = getattr(endpoint, "__qualname__", None) or type(endpoint).__qualname__
    return f"{module}.{name}" if module else name


def _match(router: BaseRouter, path: str, stdout: TextIO) -> int:
    """Print the route that ``path`` matches, and its parameters."""
    try:
        # The router's own table: matching the path creates no view.
        found = router._table.match(path)
    except InvalidPath:
        print(f"no route matches, invalid UTF-8 in escapes: {path}", file=stdout)
        return 1
    if found is None:
        print(f"no route matches: {path}", file=stdout)
        return 1
    route, params = found
    stdout.write(f"pattern: {route.pattern}\n")
    stdout.write(f"name: {route.name if route.name is not None else '-'}\n")
    stdout.write(f"kind: {route.kind}\n")
    stdout.write(f"endpoint: {_qualified(route.endpoint)}\n")
    for key, value in params.items():
        stdout.write(f"param {key}: {value!r}\n")
    return 0


# asyncapi


def add_asyncapi_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``asyncapi``."""
    add_app_arguments(parser)
    parser.add_argument(
        "--title", help="the document's title (default: the module's name)"
    )
    parser.add_argument(
        "--version",
        default=DEFAULT_VERSION,
        help=f"the application's version (default: {DEFAULT_VERSION})",
    )
    parser.add_argument("--description", help="the application's description")
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="a server, such as prod=wss://example.com (repeatable)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="json or yaml (default: from the file's extension, else json)",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--output", metavar="FILE", help="write the document to FILE, not stdout"
    )
    target.add_argument(
        "--check",
        metavar="FILE",
        help="exit 1 and print a diff if FILE no longer matches the document",
    )


def run_asyncapi(args: argparse.Namespace, stdout: TextIO) -> int:
    """Write the AsyncAPI document of a router, or check a committed one."""
    router = load_router(args.app, args.app_dir)
    servers = dict(_server(option) for option in args.server)
    title = args.title if args.title is not None else args.app.partition(":")[0]
    try:
        document = router.asyncapi(
            title=title,
            version=args.version,
            servers=servers or None,
            description=args.description,
        )
    except (ValueError, TypeError) as exc:
        # InvalidRoute is a ValueError: a payload without a schema, a bad URL.
        raise CommandError(f"cannot describe {args.app}: {describe(exc)}") from exc
    document = _plain(document)
    if args.check is not None:
        return _check(document, pathlib.Path(args.check), args.format, stdout)
    output = pathlib.Path(args.output) if args.output is not None else None
    text = _dump(document, _format(args.format, output))
    if output is None:
        stdout.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {output}: {exc.strerror}") from exc
    return 0


def _server(option: str) -> tuple[str, str]:
    """Split a ``--server NAME=URL`` option."""
    name, _, url = option.partition("=")
    if not name or not url:
        raise CommandError(f"--server must be NAME=URL: {option!r}")
    return name, url


def _format(explicit: str | None, path: pathlib.Path | None) -> str:
    """The format: --format, else the file's extension, else JSON."""
    if explicit is not None:
        return explicit
    if path is None:
        return "json"
    return SUFFIXES.get(path.suffix.lower(), "json")


def _yaml() -> Any:
    """The ``yaml`` module, or a CommandError naming the extra that installs it."""
    try:
        return importlib.import_module("yaml")
    except ImportError as exc:
        raise CommandError(
            "yaml needs PyYAML: install websockets-routes[yaml]"
        ) from exc


def _dump(document: Any, format: str, *, sort_keys: bool = False) -> str:
    """The document as JSON or YAML text."""
    if format == "yaml":
        text: str = _yaml().safe_dump(document, sort_keys=sort_keys)
        return text
    return json.dumps(document, indent=2, sort_keys=sort_keys) + "\n"


def _plain(document: Any, *, committed: bool = False) -> Any:
    """A copy of a document in JSON's types, that shares no object with itself.

    Reading a file back gives lists for tuples, and YAML writes an object
    that appears twice as an anchor and an alias: copy the generated
    document as its file will read, and a committed one as it would be
    written. YAML may read values JSON has no type for (dates): they become
    text, which differs from any generated value, as they do.
    """
    return json.loads(json.dumps(document, default=str if committed else None))


def _load(path: pathlib.Path, format: str) -> Any:
    """Read a committed document."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
    if format == "yaml":
        yaml = _yaml()
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CommandError(f"invalid YAML in {path}: {describe(exc)}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"invalid JSON in {path}: {exc}") from exc


def _check(
    document: Any, path: pathlib.Path, explicit: str | None, stdout: TextIO
) -> int:
    """Compare a committed document with the generated one, as data."""
    format = _format(explicit, path)
    committed = _plain(_load(path, format), committed=True)
    generated = document
    if committed == generated:
        return 0
    # Sorted keys: the diff shows what changed, not where keys moved.
    diff = difflib.unified_diff(
        _dump(committed, format, sort_keys=True).splitlines(keepends=True),
        _dump(generated, format, sort_keys=True).splitlines(keepends=True),
        fromfile=f"{path} (committed)",
        tofile="generated",
    )
    stdout.writelines(diff)
    print(
        f"{path} does not match the code: write it again with --output",
        file=sys.stderr,
    )
    return 1


COMMANDS: list[Command] = [
    Command(
        name="serve",
        help="serve a router until SIGINT or SIGTERM",
        add_arguments=add_serve_arguments,
        run=run_serve,
    ),
    Command(
        name="routes",
        help="print a router's routes in match order, or the one a path matches",
        add_arguments=add_routes_arguments,
        run=run_routes,
    ),
    Command(
        name="demo",
        help="serve the demo: chat rooms in the browser",
        add_arguments=add_demo_arguments,
        run=run_demo,
    ),
    Command(
        name="asyncapi",
        help="write a router's AsyncAPI 3.0.0 document, or check a committed one",
        add_arguments=add_asyncapi_arguments,
        run=run_asyncapi,
    ),
]
