"""Building paths: :meth:`Router.url_for` and redirect targets.

Values are converted with the route's converters, percent-encoded as UTF-8
(a ``/`` too, except for ``{name:path}`` parameters) and checked against the
route's requirements, so that a built path matches the route it names.

"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from .exceptions import BuildError, InvalidRoute
from .path import RoutedPath
from .table import Route

__all__ = ["build", "redirect_target"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)(?::[^{}]*)?\}")


def build(route: Route, params: Mapping[str, Any], query: Any = None) -> str:
    """Build the path of a route from parameter values.

    Raises:
        BuildError: If a parameter is missing, unexpected, or breaks the
            route's requirement.

    """
    for name in params:
        if name not in route.param_names and not (
            name in route.defaults and route.defaults[name] == params[name]
        ):
            raise BuildError(f"unexpected parameter for route {route.name!r}: {name!r}")
    pieces = []
    for part in route.parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        name = part["name"]
        if part["type"] == "." and params.get(name) is None:
            continue  # an optional {.format}
        if name not in params:
            raise BuildError(f"missing parameter for route {route.name!r}: {name!r}")
        value = encode(route, name, params[name])
        requirement = route.definition.reqs.get(name)
        if not value or (requirement and not re.fullmatch(f"(?:{requirement})", value)):
            raise BuildError(
                f"value does not fit parameter {name!r} of route {route.name!r}: "
                f"{params[name]!r}"
            )
        pieces.append("." + value if part["type"] == "." else value)
    path = "".join(pieces)
    if query:
        path += "?" + urllib.parse.urlencode(query, doseq=True)
    return path


def encode(route: Route, name: str, value: Any) -> str:
    """Convert and percent-encode one parameter value."""
    converter = route.converters.get(name)
    text = str(value) if converter is None else converter.to_url(value)
    safe = "/" if converter is not None and converter.keeps_slashes else ""
    return urllib.parse.quote(text, safe=safe)


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
        _, question, query = path.partition("?")
        return built + question + query

    return location
