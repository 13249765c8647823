"""Loading an application named ``module:attribute``, for the command line.

:func:`load_router` imports the module and finds the router, or calls the
factory that returns it; :exc:`CommandError` says why it cannot. Both the
command line (:mod:`.cli`) and the processes that serve (:mod:`.runner`)
use it, so it sits below both.

"""

from __future__ import annotations

import importlib
import pathlib
import sys
from typing import Any

from .router import BaseRouter

__all__ = ["CommandError", "describe", "load_router"]


class CommandError(Exception):
    """A command cannot run: :func:`main` prints ``error: {message}``, exits 2."""


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
        raise CommandError(f"cannot import {module_name}: {describe(exc)}") from exc
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError as exc:
            raise CommandError(f"no attribute {name!r} in {app}") from exc
    if not isinstance(found, BaseRouter) and callable(found):
        try:
            found = found()
        except Exception as exc:
            raise CommandError(f"calling {app} failed: {describe(exc)}") from exc
    if not isinstance(found, BaseRouter):
        kind = type(found).__name__
        raise CommandError(f"not a router or a function returning one: {app} ({kind})")
    return found


def describe(exc: BaseException) -> str:
    """One line for an exception: its type and message."""
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
