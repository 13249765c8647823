"""The command line: ``python -m websockets_routes COMMAND`` or ``websockets-routes``.

Commands:

* ``asyncapi APP``: write the AsyncAPI 3.0.0 document of a router, or check
  that a committed one still matches it (``--check FILE``).

``APP`` is ``module:attribute``, like ``uvicorn``'s: the attribute is a
:class:`~websockets_routes.BaseRouter` or a function that takes no argument
and returns one (an application factory); it may be dotted
(``module:app.router``). The module is imported with the current directory
first on :data:`sys.path`, as ``python -m`` does, or ``--app-dir DIR``.

Exit status: 0 on success; 1 when ``--check`` finds that the committed
document no longer matches the code; 2 on an error, which is one line on
stderr, ``error: ...``, without a traceback.

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

from .router import BaseRouter

__all__ = ["COMMANDS", "Command", "CommandError", "load_router", "main"]

#: The version in the document's ``info`` when ``--version`` is not given.
DEFAULT_VERSION = "0.0.0"

FORMATS = ("json", "yaml")
SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


class CommandError(Exception):
    """A command cannot run: :func:`main` prints ``error: {message}``, exits 2."""


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


def load_router(app: str, app_dir: str | pathlib.Path = ".") -> BaseRouter:
    """Import the router that ``module:attribute`` names.

    Args:
        app: ``module:attribute``; the attribute, which may be dotted, is a
            router or a function that takes no argument and returns one.
        app_dir: The directory put first on :data:`sys.path` to import from.

    Returns:
        The router.

    Raises:
        CommandError: If ``app`` is malformed, the module cannot be imported,
            the attribute is missing, or it is not a router.

    Example::

        router = load_router("server:router", app_dir="examples")

    """
    module_name, _, attribute = app.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"app must be module:attribute: {app!r}")
    directory = str(pathlib.Path(app_dir).resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise CommandError(f"cannot import {module_name}: {_describe(exc)}") from exc
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError as exc:
            raise CommandError(f"no attribute {name!r} in {app}") from exc
    if not isinstance(found, BaseRouter) and callable(found):
        try:
            found = found()
        except Exception as exc:
            raise CommandError(f"calling {app} failed: {_describe(exc)}") from exc
    if not isinstance(found, BaseRouter):
        kind = type(found).__name__
        raise CommandError(f"not a router or a function returning one: {app} ({kind})")
    return found


def _describe(exc: BaseException) -> str:
    """One line for an exception: its type and message."""
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# asyncapi


def add_asyncapi_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``asyncapi``."""
    parser.add_argument(
        "app", metavar="APP", help="module:attribute naming a router or a factory"
    )
    parser.add_argument(
        "--app-dir",
        default=".",
        metavar="DIR",
        help="import the module from DIR (default: the current directory)",
    )
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
        raise CommandError(f"cannot describe {args.app}: {_describe(exc)}") from exc
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
            raise CommandError(f"invalid YAML in {path}: {_describe(exc)}") from exc
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
        name="asyncapi",
        help="write a router's AsyncAPI 3.0.0 document, or check a committed one",
        add_arguments=add_asyncapi_arguments,
        run=run_asyncapi,
    ),
]
