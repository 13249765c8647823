"""Building paths: :meth:`Router.url_for` and redirect targets.

Values are converted with the route's converters (with :class:`str` when
there is none; :obj:`None` is no value), percent-encoded as UTF-8 (a ``/``
too, except for ``{name:path}`` parameters) and checked against the route's
requirements. Then the built path is matched against the route's own
regular expression: each parameter must come back as the text its converter
wrote, so that ``/{name}.{ext}`` refuses ``name="report.final"``, which would
come back as ``name="report", ext="final.pdf"``.

Every failure is a :exc:`~websockets_routes.BuildError`, whatever the
converter or the encoder raised (it is the ``__cause__``). The guarantee is
about the route's own pattern: when several routes could match the built
path, Routes' precedence may pick an earlier one.

"""

from __future__ import annotations

import re
import reprlib
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from .exceptions import BuildError, InvalidRoute
from .path import RoutedPath
from .table import Route

__all__ = ["build", "redirect_target"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)(?::[^{}]*)?\}")

# Error messages show values, shortened: a value may be a megabyte of text.
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = 200


def build(route: Route, params: Mapping[str, Any], query: Any = None) -> str:
    """Build the path of a route from parameter values.

    Args:
        route: The route to build a path for.
        params: A value for each parameter of the route; an optional
            ``{.format}`` may be missing or :obj:`None`.
        query: A mapping or an iterable of pairs for the query string.

    Returns:
        A path that the route's regular expression matches, giving back
        each parameter as its converter's :meth:`~Converter.to_python` reads
        the text that :meth:`~Converter.to_url` wrote for the value.

    Raises:
        BuildError: If a parameter is missing or unexpected, if a value
            cannot be converted or encoded, breaks the route's requirement
            or would not come back from the built path, or if the query
            cannot be encoded.

    Example::

        >>> build(Route("/thing/{id:int}", name="thing"), {"id": 7}, {"tab": "x"})
        '/thing/7?tab=x'

    """
    _check_names(route, params)
    pieces = []
    texts: dict[str, str] = {}
    for part in route.parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        name = part["name"]
        if part["type"] == "." and params.get(name) is None:
            continue  # an optional {.format}
        if name not in params:
            raise BuildError(f"missing parameter for route {route.name!r}: {name!r}")
        texts[name] = _text(route, name, params[name])
        encoded = _encode(route, name, params[name], texts[name])
        pieces.append("." + encoded if part["type"] == "." else encoded)
    path = "".join(pieces)
    _check_round_trip(route, path, params, texts)
    return path + _query_string(route, query)


def _check_names(route: Route, params: Mapping[str, Any]) -> None:
    """Refuse a parameter the route neither captures nor has as a default."""
    for name in params:
        if name not in route.param_names and not (
            name in route.defaults and route.defaults[name] == params[name]
        ):
            raise BuildError(f"unexpected parameter for route {route.name!r}: {name!r}")


def _text(route: Route, name: str, value: Any) -> str:
    """Convert a value to text that the route's converter reads back."""
    if value is None:
        _bad_value(route, name, value)
    text = _convert(route, name, value)
    converter = route.converters.get(name)
    if converter is not None:
        try:
            # Text the route would not match (a date of 2026-13-45) fails
            # here, where the error can name its parameter.
            converter.to_python(text)
        except Exception as exc:
            _bad_value(route, name, value, exc)
    return text


def _convert(route: Route, name: str, value: Any) -> str:
    """Convert a value to text with the parameter's converter, if any."""
    converter = route.converters.get(name)
    try:
        text = str(value) if converter is None else converter.to_url(value)
    except Exception as exc:
        _bad_value(route, name, value, exc)
    if not isinstance(text, str):
        _bad_value(route, name, value)
    return text


def _encode(route: Route, name: str, value: Any, text: str) -> str:
    """Percent-encode a value's text and check it against the requirement."""
    try:
        encoded = _quote(route, name, text)
    except UnicodeEncodeError as exc:  # a lone surrogate
        _bad_value(route, name, value, exc)
    requirement = route.definition.reqs.get(name)
    if not encoded or (requirement and not re.fullmatch(f"(?:{requirement})", encoded)):
        _bad_value(route, name, value)
    return encoded


def _check_round_trip(
    route: Route, path: str, params: Mapping[str, Any], texts: Mapping[str, str]
) -> None:
    """Refuse a path that does not give each parameter's text back.

    Matching is on the raw path, so a value's text comes back if the route's
    regular expression splits the path where the values were joined. When it
    does not, the value to blame is the one that lost text to a neighbour:
    ``report.final`` comes back as ``report`` in ``/{name}.{ext}``.

    """
    match = route.regex.match(path)
    wrong, shorter = [], []
    for name in route.param_names:
        raw = None if match is None else match[name]
        got = None if raw is None else urllib.parse.unquote(raw, errors="strict")
        text = texts.get(name)
        if got != text:
            wrong.append(name)
            if len(got or "") < len(text or ""):
                shorter.append(name)
    if wrong:
        name = (shorter or wrong)[0]
        _bad_value(route, name, params.get(name))


def _query_string(route: Route, query: Any) -> str:
    """Encode the query string, with its ``?``; "" if there is none."""
    try:
        return "?" + urllib.parse.urlencode(query, doseq=True) if query else ""
    except Exception as exc:
        raise BuildError(f"bad query for route {route.name!r}: {_show(query)}") from exc


def _bad_value(
    route: Route, name: str, value: Any, exc: BaseException | None = None
) -> NoReturn:
    raise BuildError(
        f"value does not fit parameter {name!r} of route {route.name!r}: {_show(value)}"
    ) from exc


def _show(value: Any) -> str:
    """The repr of a value for an error message, shortened."""
    try:
        return _REPR.repr(value)
    except Exception:  # a broken __repr__, an int too long to print
        return object.__repr__(value)


def _quote(route: Route, name: str, text: str) -> str:
    """Percent-encode a parameter's text as UTF-8, slashes too unless ``path``.

    Raises:
        UnicodeEncodeError: If the text holds a lone surrogate.

    """
    converter = route.converters.get(name)
    safe = "/" if converter is not None and converter.keeps_slashes else ""
    return urllib.parse.quote(text, safe=safe)


def encode(route: Route, name: str, value: Any) -> str:
    """Convert and percent-encode one parameter value, for a redirect.

    Raises:
        BuildError: If the value cannot be converted or encoded.

    """
    text = _convert(route, name, value)
    try:
        return _quote(route, name, text)
    except UnicodeEncodeError as exc:
        _bad_value(route, name, value, exc)


def redirect_target(source: Route, target: str) -> Callable[[RoutedPath], str]:
    """Return a function that builds a redirect's Location from a request path.

    ``{name}`` placeholders in the target take the source's parameters,
    encoded as the source route decoded them; the query string is kept.

    Raises:
        InvalidRoute: If the target needs a parameter the source lacks.

    """
    names = _PLACEHOLDER.findall(target)
    for name in names:
        if name not in source.param_names and name not in source.defaults:
            raise InvalidRoute(
                "redirect target needs a parameter its source does not capture: "
                f"{name!r}"
            )

    def location(path: RoutedPath) -> str:
        built = _PLACEHOLDER.sub(
            lambda match: encode(source, match[1], path.params[match[1]]), target
        )
        if built.startswith("/"):
            built = _local(built)
        _, question, query = path.partition("?")
        return built + question + _QUERY_UNSAFE.sub(_escape, query)

    return location


# What may stay as it is in a query copied into a Location header: RFC 3986's
# query characters and existing escapes; anything else (controls, spaces,
# DEL, non-ASCII) is percent-encoded, so that no request text can end the
# header or start another.
_QUERY_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")


def _escape(match: re.Match[str]) -> str:
    return urllib.parse.quote(match[0], safe="")


def _local(built: str) -> str:
    """Keep a built path on this server: ``//host`` would leave it.

    A parameter may start with a slash (``{rest:path}``), which makes the
    target scheme-relative; the second slash is encoded instead, and so is a
    backslash, which browsers read as a slash.

    """
    if built[1:2] in ("/", "\\"):
        return "/" + urllib.parse.quote(built[1], safe="") + built[2:]
    return built
