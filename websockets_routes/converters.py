"""Converters for typed path parameters: ``{name:int}`` and friends.

A converter gives a parameter its regular expression (handed to Routes as a
requirement), turns the matched text into a Python value, and turns a value
back into text for :meth:`Router.url_for`. When :meth:`Converter.to_python`
raises :exc:`ValueError`, the route does not match and the next one is tried.
When :meth:`Converter.to_url` raises, :meth:`Router.url_for` raises
:exc:`~websockets_routes.BuildError`.

The built-in converters are ``int``, ``float``, ``uuid`` and ``path`` (which
matches across slashes). Add your own with ``Router(converters={...})``.

"""

from __future__ import annotations

import decimal
import math
import operator
import re
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
        """Convert a value to text, before it is percent-encoded.

        Raise :exc:`ValueError` or :exc:`TypeError` for a value that the
        text cannot represent: :meth:`to_python` of the text should give the
        value back.

        """
        return str(value)


class IntConverter(Converter):
    """Non-negative integers in decimal: ``{id:int}`` gives an :class:`int`.

    :meth:`to_url` takes an :class:`int` (or an integer type with
    ``__index__``) or a string of ASCII digits. It refuses what it would
    have to round or reinterpret: floats (even ``2.0``), booleans and
    negative numbers.

    """

    regex = r"\d+"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        if isinstance(value, str):
            if not (value.isascii() and value.isdigit()):
                raise ValueError(f"not a non-negative decimal integer: {value!r}")
            return str(int(value))
        if isinstance(value, bool):
            raise TypeError(f"not an integer: {value!r}")
        number = operator.index(value)
        if number < 0:
            raise ValueError(f"negative integer: {value!r}")
        return str(number)


class FloatConverter(Converter):
    """Non-negative decimals: ``{x:float}`` gives a :class:`float`.

    :meth:`to_url` takes a :class:`float`, an :class:`int` that a float
    holds exactly, or a string that :attr:`regex` matches. It writes floats
    in positional notation, with as many digits as :func:`repr` (``1e+20``
    becomes ``100000000000000000000.0``), so the path gives back the same
    float. It refuses booleans, NaN, infinities and negative numbers;
    ``-0.0`` is written ``0.0``.

    """

    regex = r"\d+(?:\.\d+)?"

    def to_python(self, value: str) -> float:
        return float(value)

    def to_url(self, value: Any) -> str:
        if isinstance(value, str):
            if not re.fullmatch(self.regex, value, re.ASCII):
                raise ValueError(f"not a non-negative decimal: {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"not a float: {value!r}")
        number = float(value)
        if not math.isfinite(number) or number < 0 or number != value:
            raise ValueError(f"not a finite, non-negative float: {value!r}")
        # abs() turns -0.0 into 0.0; repr() gives the shortest digits that
        # round-trip, and "f" writes them without an exponent.
        text = format(decimal.Decimal(repr(abs(number))), "f")
        return text if "." in text else text + ".0"


class UUIDConverter(Converter):
    """UUIDs in their hyphenated form: ``{uid:uuid}`` gives a :class:`uuid.UUID`.

    :meth:`to_url` takes a :class:`uuid.UUID` or a string that
    :class:`uuid.UUID` parses, and writes it in lowercase, hyphenated.

    """

    regex = (
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
        r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    )

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: Any) -> str:
        if isinstance(value, str):
            value = uuid.UUID(value)
        if not isinstance(value, uuid.UUID):
            raise TypeError(f"not a UUID: {value!r}")
        return str(value)


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
