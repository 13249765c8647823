"""Converters for typed path parameters: ``{name:int}`` and friends.

A converter gives a parameter its regular expression (handed to Routes as a
requirement), turns the matched text into a Python value, and turns a value
back into text for :meth:`Router.url_for`. When :meth:`Converter.to_python`
raises :exc:`ValueError`, the route does not match and the next one is tried.

The built-in converters are ``int``, ``float``, ``uuid`` and ``path`` (which
matches across slashes). Add your own with ``Router(converters={...})``.

"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_CONVERTERS",
    "Converter",
    "FloatConverter",
    "IntConverter",
    "PathConverter",
    "UUIDConverter",
]


class Converter:
    """Base class for converters; the default keeps the value as a string.

    Subclasses set :attr:`regex` and override :meth:`to_python` and
    :meth:`to_url`.

    Example::

        class DateConverter(Converter):
            regex = r"\\d\\d\\d\\d-\\d\\d-\\d\\d"

            def to_python(self, value: str) -> datetime.date:
                return datetime.date.fromisoformat(value)

            def to_url(self, value: datetime.date) -> str:
                return value.isoformat()

        router = Router(converters={"date": DateConverter()})

    """

    #: Regular expression for the parameter, without anchors or named groups.
    regex: str = r"[^/]+?"
    #: Whether :meth:`Router.url_for` keeps slashes in the value.
    keeps_slashes: bool = False

    def to_python(self, value: str) -> Any:
        """Convert the percent-decoded text; raise :exc:`ValueError` to reject it."""
        return value

    def to_url(self, value: Any) -> str:
        """Convert a value to text, before it is percent-encoded."""
        return str(value)


class IntConverter(Converter):
    """Non-negative integers in decimal: ``{id:int}`` gives an :class:`int`."""

    regex = r"\d+"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


class FloatConverter(Converter):
    """Non-negative decimals: ``{x:float}`` gives a :class:`float`."""

    regex = r"\d+(?:\.\d+)?"

    def to_python(self, value: str) -> float:
        return float(value)

    def to_url(self, value: Any) -> str:
        return repr(float(value))


class UUIDConverter(Converter):
    """UUIDs in their hyphenated form: ``{uid:uuid}`` gives a :class:`uuid.UUID`."""

    regex = (
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
        r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    )

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)


class PathConverter(Converter):
    """The rest of the path, slashes included: ``{rest:path}``."""

    regex = r".+?"
    keeps_slashes = True


DEFAULT_CONVERTERS: Mapping[str, Converter] = {
    "int": IntConverter(),
    "float": FloatConverter(),
    "uuid": UUIDConverter(),
    "path": PathConverter(),
}
