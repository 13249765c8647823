"""The route table: what a pattern means, and how a request path finds its route.

This is the only module that imports Routes. Routes defines what a pattern
means: its syntax (``{name}``, ``{name:regex}``), the regular expression it
compiles to, and which route wins when several match. Routes tries routes
whose static prefix (the text before the first parameter, trailing slashes
stripped) is longest first, then in registration order; so ``/a/b`` wins
over an earlier ``/a/{x}``. :class:`RouteTable` returns exactly what a
:class:`routes.Mapper` with the same routes would, but fast:

* static patterns are found with one dict lookup;
* parametrised routes are bucketed by their first path segment, kept in
  Routes' order, so a lookup tries Routes' regex on a few candidates only;
* routes whose static prefix ends inside the first segment (``/{x}``,
  ``/v{version}``) are candidates for every path;
* a route of the form ``/prefix/{name}`` that is the first candidate for
  its paths is found by the text before the path's last slash, with no regex.

The index is updated as routes are added, so routes added after matching
started are matched; ``tests/test_table_property.py`` checks every result
against :class:`routes.Mapper`.

Matching works on the raw request path, so ``%2F`` inside a segment stays in
that segment; parameters are percent-decoded as UTF-8 after matching.

"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import routes.route

from .converters import DEFAULT_CONVERTERS, Converter
from .exceptions import InvalidPath, InvalidRoute

__all__ = ["Route", "RouteTable", "parse_pattern"]

KINDS = ("websocket", "http", "redirect")

# Routes sorts by prefix length, longest first, then by registration order;
# both fit in one integer, so ordering candidates is an integer comparison.
_ORDER_BITS = 40
_MAX_PREFIX = 1 << 20


@dataclasses.dataclass(eq=False)
class Route:
    """One entry of the route table.

    Attributes:
        pattern: The pattern, as registered.
        name: The route's name, or :obj:`None`.
        kind: ``"websocket"``, ``"http"`` or ``"redirect"``.
        endpoint: What the route leads to: a handler, a view class, an HTTP
            endpoint or a redirect target.
        options: Per-route options, as registered.
        defaults: Parameters added to those the pattern captures.
        methods: The HTTP methods the route serves: ``("GET",)`` for a
            WebSocket route, ``("GET", "HEAD")`` by default for an HTTP
            endpoint or a redirect.
        view: A factory of the route's view, called once per connection.
        available: The converters that ``{name:converter}`` may name; the
            route keeps those it uses in ``converters``.

    """

    pattern: str
    name: str | None = None
    kind: str = "websocket"
    endpoint: Any = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    methods: tuple[str, ...] = ("GET",)
    view: Any = dataclasses.field(default=None, repr=False)
    available: dataclasses.InitVar[Mapping[str, Converter]] = DEFAULT_CONVERTERS

    def __post_init__(self, available: Mapping[str, Converter]) -> None:
        if not isinstance(self.pattern, str):
            raise TypeError(
                f"pattern must be str, not {type(self.pattern).__name__}: "
                f"{self.pattern!r}"
            )
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(
                f"route name must be str, not {type(self.name).__name__}: {self.name!r}"
            )
        if self.name == "":
            raise InvalidRoute("route name must not be empty")
        if not self.pattern.startswith("/"):
            raise InvalidRoute(f"pattern must start with /: {self.pattern!r}")
        if self.kind not in KINDS:
            raise InvalidRoute(f"unknown route kind: {self.kind!r}")
        parsed, requirements, self.converters = parse_pattern(self.pattern, available)
        self.definition = _compile(self.pattern, parsed, requirements)
        self.regex: re.Pattern[str] = self.definition.regmatch
        self.parts: list[str | dict[str, str]] = self.definition.routelist
        self.param_names = tuple(p["name"] for p in self.parts if isinstance(p, dict))
        for name in self.defaults:
            if name in self.param_names:
                raise InvalidRoute(f"default for a captured parameter: {name!r}")
        prefix = "".join(itertools.takewhile(lambda p: isinstance(p, str), self.parts))
        self.prefix: str = prefix
        self.static = len(self.param_names) == 0
        # Set by RouteTable.add: the position in matching order, and whether
        # no parametrised route is tried before this static one.
        self.rank = 0
        self.unshadowed = True
        self.plain = not self.converters and not self.defaults
        self.head = _head(prefix)
        self.tail = self._tail(requirements)
        self.first = False

    def _tail(self, requirements: Mapping[str, str]) -> str | None:
        """The parameter's name if the route is ``prefix/{name}``, else :obj:`None`.

        Routes' regex for such a route is ``^prefix/(?P<name>[^/]+?)$``: the
        value is what follows the last slash. When the route is also the
        first candidate for its paths (``first``), :meth:`RouteTable.match`
        finds it with one dict lookup and no regex.

        """
        if not self.plain or requirements or not self.prefix.endswith("/"):
            return None
        if len(self.parts) != 2 or not isinstance(self.parts[1], dict):
            return None
        param = self.parts[1]
        return param["name"] if param["type"] == ":" else None

    def params(self, match: re.Match[str]) -> dict[str, Any] | None:
        """Return the parameters of a regex match, or :obj:`None` to reject it.

        Raises:
            InvalidPath: If a parameter's escapes are not valid UTF-8.

        """
        params = match.groupdict()
        for key, value in params.items():
            if value and "%" in value:
                params[key] = _unquote(value)
        if self.plain:
            return params
        for key, converter in self.converters.items():
            value = params[key]
            if value is not None:
                try:
                    params[key] = converter.to_python(value)
                except ValueError:
                    return None
        params.update(self.defaults)
        return params


class RouteTable:
    """Routes, indexed for matching; :meth:`match` finds a path's route.

    Example::

        >>> table = RouteTable()
        >>> table.add(Route("/thing/{id}", name="thing"))
        >>> route, params = table.match("/thing/caf%C3%A9?x=1")
        >>> route.name, params
        ('thing', {'id': 'café'})

    """

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._static: dict[str, Route] = {}
        self._heads: dict[str, list[Route]] = {}
        self._anywhere: list[Route] = []
        self._tails: dict[str, Route] = {}
        self._statics: dict[str, list[Route]] = {}

    def __iter__(self) -> Iterator[Route]:
        """Iterate over the routes in the order they are tried."""
        return iter(sorted(self._routes, key=_rank))

    def registered(self) -> list[Route]:
        """The routes in the order they were added."""
        return list(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def add(self, route: Route) -> None:
        """Add a route; it is matched from the next lookup on."""
        length = len(route.prefix.rstrip("/"))
        if length >= _MAX_PREFIX:
            raise InvalidRoute(f"pattern too long: {route.pattern[:40]!r}")
        route.rank = ((_MAX_PREFIX - length) << _ORDER_BITS) | len(self._routes)
        self._routes.append(route)
        if route.static:
            if self._static.setdefault(route.prefix, route) is route:
                self._statics.setdefault(_path_head(route.prefix), []).append(route)
                route.unshadowed = not self._shadows(route)
            return
        if route.tail is not None:
            self._tails.setdefault(route.prefix[:-1], route)
        head = route.head
        shadowed: Iterable[Route]
        if head is None:
            for other, candidates in self._heads.items():
                _insert(candidates, route, other)
            _insert(self._anywhere, route, None)
            shadowed = self._static.values()
        else:
            candidates = self._heads.setdefault(head, list(self._anywhere))
            _insert(candidates, route, head)
            shadowed = self._statics.get(head, [])
        for static in shadowed:
            static.unshadowed = static.unshadowed and route.rank > static.rank

    def _shadows(self, static: Route) -> bool:
        """Whether a parametrised route is tried before a static one."""
        candidates = self._heads.get(_path_head(static.prefix), self._anywhere)
        return bool(candidates) and candidates[0].rank < static.rank

    def match(self, path: str) -> tuple[Route, dict[str, Any]] | None:
        """Find the route for a request path; the query string is ignored.

        Returns:
            The route and its parameters, or :obj:`None` when nothing matches.

        Raises:
            InvalidPath: If the parameters' escapes are not valid UTF-8.

        """
        # This runs on every handshake: keep it flat, it is timed in benchmarks/.
        if "?" in path:
            path = path[: path.index("?")]
        static = self._static.get(path)
        if static is None and "\n" in path and path[-1] == "\n":
            # Routes' "$" also matches before a final newline.
            static = self._static.get(path[:-1])
        if static is not None and static.unshadowed:
            return static, dict(static.defaults)
        before, _, value = path.rpartition("/")
        if static is None:
            route = self._tails.get(before)
            # "$" also matches before a final newline: leave that to the regex.
            if route is not None and route.first and value and "\n" not in value:
                if "%" in value:
                    value = _unquote(value)
                # A route in _tails has a tail: no cast() on this hot path.
                return route, {route.tail: value}  # type: ignore[dict-item]
        # Heads are first segments without their slash: for a path of one or
        # two segments, that is what comes before its last slash ("" is no
        # head: then only _anywhere is tried).
        if before.count("/") > 1:
            before = path[: path.find("/", 1)]
        candidates = self._heads.get(before, self._anywhere)
        for route in candidates:
            if static is not None and route.rank > static.rank:
                break
            match = route.regex.match(path)
            if match is not None:
                if route.plain and "%" not in path:
                    return route, match.groupdict()
                params = route.params(match)
                if params is not None:
                    return route, params
        if static is not None:
            return static, dict(static.defaults)
        return None


def parse_pattern(
    pattern: str, converters: Mapping[str, Converter]
) -> tuple[str, dict[str, str], dict[str, Converter]]:
    """Split ``{name:spec}`` parameters out of a pattern.

    Routes reads ``{name:regex}`` up to the first ``}`` and ``:``, so
    ``{id:\\d{3}}`` would break; braces are balanced here instead, and each
    requirement is handed to Routes separately. A spec that names a converter
    uses the converter's regex; any other spec that is a bare word is taken
    for a converter that does not exist. Non-ASCII and blank characters of the static
    text are percent-encoded as UTF-8, as clients send them.

    Returns:
        The pattern for Routes, the requirements, and the converters.

    Raises:
        InvalidRoute: If a brace is not closed, a parameter has no name or
            a converter is unknown.

    """
    out: list[str] = []
    requirements: dict[str, str] = {}
    used: dict[str, Converter] = {}
    names: set[str] = set()
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
        elif char == "{":
            end = _closing_brace(pattern, index)
            name, colon, spec = pattern[index + 1 : end].partition(":")
            if not name or not name.lstrip(".").isidentifier():
                raise InvalidRoute(f"invalid parameter name in pattern: {pattern!r}")
            if name in names:
                raise InvalidRoute(f"duplicate parameter in pattern: {pattern!r}")
            names.add(name)
            if colon and spec in converters:
                used[name] = converters[spec]
                requirements[name] = converters[spec].regex
            elif colon and spec.isidentifier():
                raise InvalidRoute(
                    f"unknown converter in pattern {pattern!r}: {spec!r}"
                )
            elif colon:
                requirements[name] = spec
            out.append("{" + name + "}")
            index = end + 1
        elif char in "?#":
            raise InvalidRoute(
                f"pattern must not contain {char!r}, which no request path "
                f"matches (query strings are not matched): {pattern!r}"
            )
        else:
            out.append(_quote(char))
            index += 1
    return "".join(out), requirements, used


def _closing_brace(pattern: str, start: int) -> int:
    depth = 0
    for index in range(start, len(pattern)):
        if pattern[index] == "{" and pattern[index - 1] != "\\":
            depth += 1
        elif pattern[index] == "}" and pattern[index - 1] != "\\":
            depth -= 1
            if depth == 0:
                return index
    raise InvalidRoute(f"unclosed brace in pattern: {pattern!r}")


def _quote(char: str) -> str:
    if " " < char < "\x7f":
        return char
    return urllib.parse.quote(char, safe="")


def _compile(
    pattern: str, parsed: str, requirements: Mapping[str, str]
) -> routes.route.Route:
    try:
        definition = routes.route.Route(
            None,
            parsed,
            requirements=dict(requirements),
            _explicit=True,
            _minimize=False,
        )
        definition.makeregexp([])
    except re.error as exc:
        raise InvalidRoute(f"invalid regex in pattern {pattern!r}: {exc}") from exc
    except Exception as exc:
        raise InvalidRoute(f"invalid pattern: {pattern!r}") from exc
    return definition


def _head(prefix: str) -> str | None:
    """The first segment of a static prefix, if the prefix covers it and its slash."""
    slash = prefix.find("/", 1)
    return prefix[:slash] if slash > 0 else None


def _insert(candidates: list[Route], route: Route, head: str | None) -> None:
    """Insert a route in Routes' order, in the candidates for paths in ``head``.

    ``first`` is kept for the routes that belong to ``head``: a route of
    ``_anywhere`` is first in that list, not in every head's.

    """
    old = candidates[0] if candidates else None
    bisect.insort(candidates, route, key=_rank)
    new = candidates[0]
    if new is not old:
        if old is not None and old.head == head:
            old.first = False
        if new.head == head:
            new.first = True


def _path_head(path: str) -> str:
    """The first segment of a path, as match() finds it; "" for a lone segment."""
    return _head(path) or ""


def _rank(route: Route) -> int:
    return route.rank


def _unquote(value: str) -> str:
    try:
        return urllib.parse.unquote(value, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidPath(f"invalid UTF-8 in path parameter: {value!r}") from exc
