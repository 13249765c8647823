"""The route table: what a pattern means, and how a request path finds its route.

This is the only module that imports Routes. Routes defines what a pattern
means: its syntax (``{name}``, ``{name:regex}``), the regular expression it
compiles to, and which route wins when several match. Routes tries routes
whose static prefix (the text before the first parameter, trailing slashes
stripped) is longest first, then in registration order; so ``/a/b`` wins
over an earlier ``/a/{x}``. :class:`RouteTable` returns exactly what a
:class:`routes.Mapper` with the same routes would, but in a time that does
not grow with the table, whatever its shape:

* static patterns are found with one dict lookup;
* the path is split into segments once; a route whose parameters cannot
  match ``/`` has a fixed number of segments, and is filed under one of its
  static segments, or the static prefix or suffix of a segment that mixes
  text and parameters (``item{i}-{id}``), whichever is the least crowded
  when it is added; a lookup probes those few keys and tries the candidates
  in Routes' order;
* a route with a parameter that matches ``/`` (``{rest:path}``) is filed
  under a static segment that comes before that parameter, counted from the
  start, or after it, counted from the end.

Each candidate is checked segment by segment, in linear time: a segment of
plain parameters and text (``{a}-{b}-{c}``, ``{name}.{ext}``) is split with
``str.find`` and ``str.rfind`` where Routes' regex would backtrack; a
requirement is matched against its segment alone. Requirements that could
backtrack catastrophically are refused when the route is registered: nested
repetition (``(a+)+``), alternation under repetition, backreferences, and
segments where more than one parameter could match the text between them
while one of them has a requirement.

The index is updated as routes are added, so routes added after matching
started are matched; ``tests/test_table_property.py`` checks every result
against :class:`routes.Mapper`.

Matching works on the raw request path, so ``%2F`` inside a segment stays in
that segment; parameters are percent-decoded as UTF-8 after matching.

"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import heapq
import itertools
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import routes.route

from .converters import DEFAULT_CONVERTERS, Converter, PathConverter
from .exceptions import InvalidPath, InvalidRoute

try:  # Python >= 3.11
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants
    import sre_parse

__all__ = ["Route", "RouteTable", "parse_pattern"]

KINDS = ("websocket", "http", "redirect")

# Routes sorts by prefix length, longest first, then by registration order;
# both fit in one integer, so ordering candidates is an integer comparison.
_ORDER_BITS = 40
_MAX_PREFIX = 1 << 20

# The regex Routes gives a parameter without a requirement.
_DEFAULT = "[^/]+?"
# A stand-in for a regex that any text matches.
_ANYTHING = re.compile("")

#: Checks one segment: returns the parameters it captures, or None.
SegmentCheck = Callable[[str], "dict[str, str] | None"]
#: Checks a path, split and whole: returns the parameters it captures, or None.
Capture = Callable[[list[str], str], "dict[str, Any] | None"]


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
        self._check()
        parsed, requirements, self.converters = parse_pattern(self.pattern, available)
        definition = _define(self.pattern, parsed, requirements)
        self._parsed, self._requirements = parsed, requirements
        self.parts: list[str | dict[str, str]] = definition.routelist
        self.param_names = tuple(p["name"] for p in self.parts if isinstance(p, dict))
        for name in self.defaults:
            if name in self.param_names:
                raise InvalidRoute(f"default for a captured parameter: {name!r}")
        prefix = "".join(itertools.takewhile(lambda p: isinstance(p, str), self.parts))
        self.prefix: str = prefix
        self.static = len(self.param_names) == 0
        # Set by RouteTable.add: the position in matching order, and whether
        # a parametrised route is tried before this static one.
        self.rank = 0
        self.shadowed = False
        # {rest:path} keeps its text: only converters that change it count.
        self._converting = {
            key: converter
            for key, converter in self.converters.items()
            if type(converter).to_python is not Converter.to_python
        }
        self.plain = not self._converting and not self.defaults
        plan = _Plan(self.pattern, self.parts, definition.reqs)
        self.count = plan.count
        #: Where the route may be filed.
        self.keys: Sequence[Key] = plan.keys
        if plan.eager or (plan.whole and plan.capture is None):
            # A requirement may compile alone and not within Routes' regex;
            # a route checked by the regex needs it anyway.
            self.regex  # noqa: B018
        #: ``capture(segments, path)``: the raw parameters if the route
        #: matches, else None. ``segments`` is ``path.split("/")``, whose
        #: first item is ""; ``path`` has no query and no newline.
        self.capture: Capture = plan.capture or self._regex_capture

    def _regex_capture(self, segments: list[str], path: str) -> dict[str, Any] | None:
        match = self.regex.match(path)
        return None if match is None else match.groupdict()

    def _check(self) -> None:
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
        if len(self.pattern) >= _MAX_PREFIX:
            raise InvalidRoute(f"pattern too long: {self.pattern[:40]!r}")

    @functools.cached_property
    def definition(self) -> routes.route.Route:
        """Routes' definition of the route, made again when first used.

        The route does not keep the one made at registration: its dozen
        objects per route would lengthen every full garbage collection.

        """
        return _define(self.pattern, self._parsed, self._requirements)

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        """Routes' regular expression for the route, compiled when first used.

        Matching does not need it for most routes: compiling it lazily
        halves the cost of registration.

        """
        definition = _define(self.pattern, self._parsed, self._requirements)
        try:
            definition.makeregexp([])
        except re.error as exc:
            raise InvalidRoute(
                f"invalid regex in pattern {self.pattern!r}: {exc}"
            ) from exc
        regex: re.Pattern[str] = definition.regmatch
        return regex

    def params(self, match: re.Match[str]) -> dict[str, Any] | None:
        """Return the parameters of a regex match, or :obj:`None` to reject it.

        Raises:
            InvalidPath: If a parameter's escapes are not valid UTF-8.

        """
        return self.finish(match.groupdict())

    def finish(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """Decode and convert captured parameters; :obj:`None` rejects them.

        Raises:
            InvalidPath: If a parameter's escapes are not valid UTF-8.

        """
        for key, value in params.items():
            if value and "%" in value:
                params[key] = _unquote(value)
        if self.plain:
            return params
        for key, converter in self._converting.items():
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
        # By segment count: the routes filed under a static segment, a
        # segment's static prefix or suffix, or nothing.
        self._counts: dict[int, _Index] = {}
        # Routes with a parameter that matches "/": their segment count
        # varies, so they are filed by position from the start or the end.
        self._long = _Index(counted=False)
        self._ordered: list[Route] | None = None

    def __iter__(self) -> Iterator[Route]:
        """Iterate over the routes in the order they are tried."""
        return iter(self._in_order())

    def registered(self) -> list[Route]:
        """The routes in the order they were added."""
        return list(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def _in_order(self) -> list[Route]:
        if self._ordered is None:
            self._ordered = sorted(self._routes, key=_rank)
        return self._ordered

    def add(self, route: Route) -> None:
        """Add a route; it is matched from the next lookup on."""
        length = len(route.prefix.rstrip("/"))
        route.rank = ((_MAX_PREFIX - length) << _ORDER_BITS) | len(self._routes)
        self._routes.append(route)
        self._ordered = None
        if not route.static:
            index = self._long if route.count < 0 else self._counts.get(route.count)
            if index is None:
                index = self._counts[route.count] = _Index()
            index.add(route)
        elif self._static.setdefault(route.prefix, route) is route:
            # A route added later never wins over this one (its prefix is
            # not longer, and it comes later); one added before may.
            route.shadowed = True
            found = self.match(route.prefix)
            route.shadowed = found is not None and found[0] is not route

    def match(self, path: str) -> tuple[Route, dict[str, Any]] | None:
        """Find the route for a request path; the query string is ignored.

        Returns:
            The route and its parameters, or :obj:`None` when nothing matches.

        Raises:
            InvalidPath: If the parameters' escapes are not valid UTF-8.

        """
        # This runs on every handshake: keep it flat (one method, straight
        # code), it is timed in benchmarks/.
        if "?" in path:
            path = path[: path.index("?")]
        if "\n" in path:
            # Routes' "$" also matches before a final newline; no HTTP request
            # line holds one, so exactness matters more than speed here.
            return self._scan(path)
        static = self._static.get(path)
        if static is not None and not static.shadowed:
            return static, dict(static.defaults)
        # segments[0] is the "" before the leading slash: positions count it.
        segments = path.split("/")
        if segments[0]:
            return None
        index = self._counts.get(len(segments) - 1)
        candidates = None if index is None else index.find(segments)
        if self._long.size:
            more = self._long.find(segments)
            if more is not None:
                candidates = more if candidates is None else _merge(candidates, more)
        if candidates is None:
            return None if static is None else (static, dict(static.defaults))
        for route in candidates:
            if static is not None and route.rank > static.rank:
                break
            params = route.capture(segments, path)
            if params is not None:
                if route.plain and "%" not in path:
                    return route, params
                params = route.finish(params)
                if params is not None:
                    return route, params
        # A shadowed static route is tried after the routes that come first.
        return None if static is None else (static, dict(static.defaults))

    def _scan(self, path: str) -> tuple[Route, dict[str, Any]] | None:
        """Try every route with Routes' regex, as routes.Mapper does."""
        for route in self._in_order():
            match = route.regex.match(path)
            if match is not None:
                params = route.params(match)
                if params is not None:
                    return route, params
        return None


Key = tuple[int, int, Any, str]
"""Where a route may be filed: ``(position, kind, argument, text)``.

The route is a candidate for paths whose segment at ``position`` (negative:
counted from the end) gives ``text``: whole (kind 0); sliced by ``argument``,
a ``(start, stop)`` pair (kind 1); up to and including the first
``argument`` character (kind 2: a static prefix that ends with a character
found nowhere else in it, such as ``item42-``); from the last ``argument``
character (kind 3: a static suffix such as ``.json``).

"""


class _Index:
    """Routes filed by one key each: a static segment, prefix or suffix.

    Attributes:
        tables: The buckets of each ``(position, kind, argument)``, by text.
        find: A function of a path's segments: the candidates filed under
            its keys, in Routes' order, or :obj:`None`.
        whole: ``(position, get)`` per position of whole segments, where
            ``get`` finds the bucket of a segment's text: what
            :meth:`probe` tries, for routes whose segment count varies.
        wild: The routes with no key, in Routes' order.
        size: How many routes are filed.

    """

    __slots__ = ("counted", "counts", "find", "size", "tables", "wild")

    def __init__(self, *, counted: bool = True) -> None:
        self.counted = counted
        self.tables: dict[tuple[int, int, Any], dict[str, list[Route]]] = {}
        self.wild: list[Route] = []
        #: How many routes have each key: a route is filed under its rarest.
        self.counts: dict[Key, int] = {}
        self.size = 0
        self.find = self._write_find()

    def add(self, route: Route) -> None:
        """File a route under its rarest key, in Routes' order.

        A key that becomes more common than another key of a route filed
        under it moves that route: a key shared by every route (``msg`` in
        ``/chan{i}/{chan}/msg/{mid}``) ends up with no bucket, so that a
        path finds one bucket, and no two need merging.

        """
        counts = self.counts
        for key in route.keys:
            counts[key] = counts.get(key, 0) + 1
        self._file(route)
        self.size += 1
        for key in route.keys:
            bucket = self.tables.get(key[:3], {}).get(key[3])
            if bucket is None:
                continue
            for other in [r for r in bucket if r is not route]:
                if counts[self._rarest(other)] < counts[key]:
                    self._unfile(other, key)
                    self._file(other)

    def _rarest(self, route: Route) -> Key:
        counts = self.counts
        return min(route.keys, key=lambda key: counts[key])

    def _file(self, route: Route) -> None:
        if not route.keys:
            bisect.insort(self.wild, route, key=_rank)
            return
        key = self._rarest(route)
        if key[:3] not in self.tables:
            self.tables[key[:3]] = {}
            self.find = self._write_find()
        bisect.insort(self.tables[key[:3]].setdefault(key[3], []), route, key=_rank)

    def _unfile(self, route: Route, key: Key) -> None:
        table = self.tables[key[:3]]
        bucket = table[key[3]]
        # By identity: routes are dataclasses, equal when their fields are.
        del bucket[next(i for i, other in enumerate(bucket) if other is route)]
        if not bucket:
            del table[key[3]]
            if not table:
                del self.tables[key[:3]]
                self.find = self._write_find()

    def _write_find(self) -> Callable[[list[str]], list[Route] | None]:
        """Write find(segments): the candidates for a path's keys, or None.

        A loop over the keys costs twice as much as straight code, which
        is written again whenever a key appears (a few times per table).
        Most paths find one bucket, returned as it is: no list is made
        unless two buckets must be merged in Routes' order. For routes
        whose segment count varies, a key is only tried when the path has
        a segment at its position.

        """
        namespace: dict[str, Any] = {"wild": self.wild, "merge": _merge}
        lines = ["def find(segments):", "    found = None"]
        for n, (position, kind, argument) in enumerate(self.tables):
            namespace[f"g{n}"] = self.tables[position, kind, argument].get
            pad = "    "
            if not self.counted:
                reach = position + 1 if position >= 0 else -position
                lines.append(f"    if len(segments) >= {reach}:")
                pad = "        "
            lines += [pad + line for line in _probe(n, position, kind, argument)]
        lines += [
            "    if wild:",
            "        found = wild if found is None else merge(found, wild)",
            "    return found",
        ]
        # The source holds integers and repr() of strings only.
        exec("\n".join(lines), namespace)
        find: Callable[[list[str]], list[Route] | None] = namespace["find"]
        return find


def _probe(n: int, position: int, kind: int, argument: Any) -> list[str]:
    """The lines of find() that look up key table ``g{n}``; see :data:`Key`."""
    segment = f"segments[{position}]"
    if kind == 0:
        lookup = [f"b = g{n}({segment})"]
    elif kind == 1:
        start, stop = argument
        lookup = [f"b = g{n}({segment}[{start}:{stop}])"]
    elif kind == 2:
        lookup = [
            f"s = {segment}",
            f"e = s.find({argument!r})",
            f"b = None if e < 0 else g{n}(s[: e + 1])",
        ]
    else:
        lookup = [
            f"s = {segment}",
            f"e = s.rfind({argument!r})",
            f"b = None if e < 0 else g{n}(s[e:])",
        ]
    keep = "found = b if found is None else merge(found, b)"
    return [*lookup, "if b is not None:", f"    {keep}"]


class _Plan:
    """How a route is checked and where it is filed, from its parts.

    Attributes:
        capture: The route's check (see :attr:`Route.capture`), or
            :obj:`None` for a route that Routes' regex checks.
        count: The number of segments, or -1 when a parameter matches ``/``.
        keys: The keys (see :data:`Key`) the route may be filed under.
        whole: Whether the route is checked as a whole, not by segment.
        eager: Whether Routes' regex must be compiled now, to raise errors.

    """

    def __init__(
        self,
        pattern: str,
        parts: Sequence[str | dict[str, str]],
        reqs: Mapping[str, str],
    ) -> None:
        self.pattern = pattern
        self.count = -1
        self.keys: list[Key] = []
        self.capture: Capture | None = None
        self.eager = False
        self.whole = False
        self.trees: dict[str, Any] = {}
        odd, slashes = False, []
        for part in parts:
            if isinstance(part, str):
                continue
            name, requirement = part["name"], reqs.get(part["name"])
            # Routes gives {.name} and {controller} regexes of their own.
            odd = odd or part["type"] != ":" or name == "controller"
            if requirement:
                tree = _requirement(pattern, requirement)
                self.trees[name] = tree
                self.eager = self.eager or requirement not in _BUILT_IN
                odd = odd or tree.state.groups > 1 or tree.state.flags & ~_UNICODE
                if _accepts(tree, "/"):
                    slashes.append(name)
        if len(slashes) > 1:
            raise InvalidRoute(
                f"more than one parameter may match / in pattern: {pattern!r}"
            )
        self.segments = _segments(parts)
        if slashes or odd:
            self._whole(parts, slashes)
        else:
            self._by_segment()

    def _whole(self, parts: Sequence[str | dict[str, str]], slashes: list[str]) -> None:
        """Plan a route checked as a whole: it has a parameter that matches /."""
        self.whole = True
        fixed = len(self.segments)
        for index, segment in enumerate(self.segments):
            if any(
                isinstance(item, dict) and item["name"] in slashes for item in segment
            ):
                fixed = index
                break
        for index, segment in enumerate(self.segments):
            if index == fixed:
                continue
            if all(isinstance(item, str) for item in segment):
                # Positions index path.split("/"), whose first item is "".
                position = index + 1 if index < fixed else index - len(self.segments)
                self.keys.insert(0, (position, 0, None, "".join(map(str, segment))))
        if fixed == len(self.segments):
            self.count = fixed
        else:
            self._check_segments(fixed)
        params = [part for part in parts if isinstance(part, dict)]
        if slashes and len(params) == 1:
            # Routes would find the parameter's text with backtracking.
            self.capture = _around(parts, slashes[0], self.trees[slashes[0]])

    def _check_segments(self, fixed: int) -> None:
        """Refuse what makes Routes' regex slow on a route with a / parameter."""
        for index, segment in enumerate(self.segments):
            if sum(isinstance(item, dict) for item in segment) < 2:
                continue
            if index == fixed:
                # Routes' regex for /{rest:path}.{ext} tries every dot of the
                # last segment, and scans the rest of the segment for each.
                raise InvalidRoute(
                    "with a parameter that matches /, a segment may hold one "
                    "parameter only (matching could take quadratic time): "
                    f"{self.pattern!r}"
                )
            self._check_ambiguity(segment)

    def _by_segment(self) -> None:
        """Plan a route checked segment by segment, in linear time."""
        self.count = len(self.segments)
        statics: list[tuple[int, str]] = []
        lones: list[tuple[int, str]] = []
        affixes: list[tuple[int, str, str, str]] = []
        others: list[tuple[int, SegmentCheck]] = []
        guarded: list[tuple[int, str, Callable[[str], Any]]] = []
        prefixes: list[Key] = []
        suffixes: list[Key] = []
        # Positions index path.split("/"), whose first item is "".
        for index, segment in enumerate(self.segments, 1):
            if all(isinstance(item, str) for item in segment):
                text = "".join(map(str, segment))
                statics.append((index, text))
                self.keys.insert(0, (index, 0, None, text))
                continue
            pre = segment[0] if isinstance(segment[0], str) else ""
            suf = segment[-1] if isinstance(segment[-1], str) else ""
            if pre:
                if pre[-1] in pre[:-1]:
                    prefixes.append((index, 1, (0, len(pre)), pre))
                else:
                    prefixes.append((index, 2, pre[-1], pre))
            if suf:
                if suf[0] in suf[1:]:
                    suffixes.append((index, 1, (-len(suf), None), suf))
                else:
                    suffixes.append((index, 3, suf[0], suf))
            params = [item for item in segment if isinstance(item, dict)]
            name = params[0]["name"]
            if len(segment) == 1 and name in self.trees:
                # A whole segment with a requirement: the regex, called inline.
                guarded.append((index, name, _compiled(self.trees, name).fullmatch))
            elif len(params) > 1 or name in self.trees:
                others.append((index, self._check(segment)))
            elif len(segment) == 1:
                lones.append((index, params[0]["name"]))
            else:
                affixes.append((index, pre, params[0]["name"], suf))
        self.keys += prefixes + suffixes
        self.capture = _capture(statics, lones, affixes, others, guarded)

    def _check(self, segment: list[str | dict[str, str]]) -> SegmentCheck:
        params = [item for item in segment if isinstance(item, dict)]
        names = [item["name"] for item in params]
        if not any(name in self.trees for name in names):
            return _splitter(segment)
        if len(params) == 1:
            return _single(segment, _compiled(self.trees, names[0]))
        self._check_ambiguity(segment)
        fragment = "".join(
            re.escape(item)
            if isinstance(item, str)
            else f"(?P<{item['name']}>{_compiled(self.trees, item['name']).pattern})"
            for item in segment
        )
        return _fragment(re.compile(fragment))

    def _check_ambiguity(self, segment: list[str | dict[str, str]]) -> None:
        """Refuse a segment where two parameters could match the same text.

        Routes' regex for ``{a}-{b}-{c:\\d+}`` tries every split of the
        segment between ``a`` and ``b`` before ``c`` fails: quadratic time.
        With at most one parameter that can match the segment's text or
        touches another parameter, each parameter ends where it must.

        """
        text = "".join(item for item in segment if isinstance(item, str))
        loose = 0
        for index, item in enumerate(segment):
            if isinstance(item, str):
                continue
            tree = self.trees.get(item["name"])
            near = segment[index - 1 : index] + segment[index + 1 : index + 2]
            if (
                tree is None
                or any(isinstance(other, dict) for other in near)
                or any(_accepts(tree, char) for char in set(text))
            ):
                loose += 1
        if loose > 1:
            raise InvalidRoute(
                "more than one parameter of a segment may match its text "
                "(matching could take quadratic time); use requirements that "
                f"exclude the separators: {self.pattern!r}"
            )


def _segments(
    parts: Sequence[str | dict[str, str]],
) -> list[list[str | dict[str, str]]]:
    """Split parts on "/"; a static segment is a list of strings, maybe empty."""
    segments: list[list[str | dict[str, str]]] = []
    current: list[str | dict[str, str]] = []
    for part in parts:
        if isinstance(part, dict):
            current.append(part)
            continue
        pieces = part.split("/")
        for index, piece in enumerate(pieces):
            if index:
                segments.append(current)
                current = []
            if piece:
                if current and isinstance(current[-1], str):
                    current[-1] += piece
                else:
                    current.append(piece)
    segments.append(current)
    return segments[1:]


def _capture(
    statics: list[tuple[int, str]],
    lones: list[tuple[int, str]],
    affixes: list[tuple[int, str, str, str]],
    others: list[tuple[int, SegmentCheck]],
    guarded: list[tuple[int, str, Callable[[str], Any]]],
) -> Capture:
    """Check a path segment by segment: static text, lone parameters, the rest.

    ``affixes`` are segments of one parameter between a static prefix and
    suffix, ``(index, prefix, name, suffix)``.

    Static segments are compared first, where most candidates fail. The
    check is a function written for the route's layout (which segments are
    static, which are parameters), as werkzeug does: a generic loop costs
    three times as much. Routes of the same layout share its code.

    """
    layout = (
        tuple(i for i, _ in statics),
        tuple(lones),
        tuple((i, len(pre), name, len(suf)) for i, pre, name, suf in affixes),
        tuple(i for i, _ in others),
        tuple((i, name) for i, name, _ in guarded),
    )
    arguments: list[Any] = [text for _, text in statics]
    arguments += [text for _, pre, _, suf in affixes for text in (pre, suf)]
    arguments += [check for _, check in others]
    arguments += [match for _, _, match in guarded]
    return _factory(layout)(*arguments)


@functools.lru_cache(maxsize=1024)
def _factory(layout: tuple[tuple[Any, ...], ...]) -> Callable[..., Capture]:
    """Write the function that makes checks for routes of one layout."""
    statics, lones, affixes, others, guarded = layout
    texts = [f"t{n}" for n in range(len(statics))]
    texts += [f"{x}{n}" for n in range(len(affixes)) for x in "ab"]
    checks = [f"c{n}" for n in range(len(others))]
    checks += [f"m{n}" for n in range(len(guarded))]
    lines = [f"def factory({', '.join(texts + checks)}):"]
    # Defaults, not a closure: one tuple per route for the garbage
    # collector to track, where a closure has a cell per name.
    bound = "".join(f", {name}={name}" for name in texts + checks)
    lines.append(f"    def capture(segments, path{bound}):")
    if statics:
        test = " or ".join(f"segments[{i}] != t{n}" for n, i in enumerate(statics))
        lines += [f"        if {test}:", "            return None"]
    for n, (i, _) in enumerate(lones):
        lines.append(f"        v{n} = segments[{i}]")
    if lones:
        test = " or ".join(f"not v{n}" for n in range(len(lones)))
        lines += [f"        if {test}:", "            return None"]
    for n, (i, start, _, end) in enumerate(affixes):
        lines.append(f"        s{n} = segments[{i}]")
        test = f"len(s{n}) <= {start + end}"
        test += f" or not s{n}.startswith(a{n})" if start else ""
        test += f" or not s{n}.endswith(b{n})" if end else ""
        # The length test makes the slice's negative stop exact.
        stop = f"-{end}" if end else ""
        lines += [f"        if {test}:", "            return None"]
        lines.append(f"        w{n} = s{n}[{start}:{stop}]")
    for n, (i, _) in enumerate(guarded):
        lines.append(f"        g{n} = segments[{i}]")
        lines += [f"        if m{n}(g{n}) is None:", "            return None"]
    for n, i in enumerate(others):
        lines.append(f"        p{n} = c{n}(segments[{i}])")
        lines += [f"        if p{n} is None:", "            return None"]
    items = ", ".join(
        [f"{name!r}: v{n}" for n, (_, name) in enumerate(lones)]
        + [f"{name!r}: w{n}" for n, (_, _, name, _) in enumerate(affixes)]
        + [f"{name!r}: g{n}" for n, (_, name) in enumerate(guarded)]
    )
    lines.append(f"        params = {{{items}}}")
    lines += [f"        params.update(p{n})" for n in range(len(others))]
    lines += ["        return params", "    return capture"]
    namespace: dict[str, Any] = {}
    # The source is built from integers and repr() of identifiers only.
    exec("\n".join(lines), namespace)
    factory: Callable[..., Capture] = namespace["factory"]
    return factory


def _splitter(segment: list[str | dict[str, str]]) -> SegmentCheck:
    """Split a segment of text and parameters without requirements, linearly.

    Routes' regex (``a\\-(?P<b>[^/]+?)\\-(?P<c>[^/]+?)``) backtracks: the
    first match it finds gives each parameter the shortest text that lets
    the rest match. A pass from the right finds, for each parameter, the
    last position it may start at; a pass from the left then ends each
    parameter at the first separator that leaves the rest a valid start.

    """
    items = list(segment)
    pre = items.pop(0) if isinstance(items[0], str) else ""
    suf = items.pop() if isinstance(items[-1], str) else ""
    names: list[str] = []
    seps: list[str] = []
    for item in items:
        if isinstance(item, dict):
            if len(names) > len(seps):
                seps.append("")
            names.append(item["name"])
        else:
            seps.append(item)
    assert isinstance(pre, str) and isinstance(suf, str)
    last = len(names) - 1
    shortest = len(pre) + len(suf) + len(names) + sum(map(len, seps))

    def split(text: str) -> dict[str, str] | None:
        if len(text) < shortest or not text.startswith(pre) or not text.endswith(suf):
            return None
        end = len(text) - len(suf)
        limits = [0] * len(names)
        limit = limits[last] = end - 1
        for index in range(last - 1, -1, -1):
            found = text.rfind(seps[index], 0, limit)
            # The parameter before the separator needs one character.
            if found <= len(pre):
                return None
            limit = limits[index] = found - 1
        # limits[0] >= len(pre): the first parameter can start after pre.
        start = len(pre)
        params = {}
        for index in range(last):
            found = text.find(seps[index], start + 1)
            params[names[index]] = text[start:found]
            start = found + len(seps[index])
        params[names[last]] = text[start:end]
        return params

    return split


def _single(
    segment: list[str | dict[str, str]], regex: re.Pattern[str]
) -> SegmentCheck:
    """Check a segment with one parameter that has a requirement."""
    pre = segment[0] if isinstance(segment[0], str) else ""
    suf = segment[-1] if isinstance(segment[-1], str) else ""
    name = next(item["name"] for item in segment if isinstance(item, dict))
    shortest = len(pre) + len(suf)

    def check(text: str) -> dict[str, str] | None:
        if len(text) < shortest or not text.startswith(pre) or not text.endswith(suf):
            return None
        value = text[len(pre) : len(text) - len(suf)]
        return {name: value} if regex.fullmatch(value) else None

    return check


def _fragment(regex: re.Pattern[str]) -> SegmentCheck:
    """Check a segment with Routes' regex for that segment alone."""

    def check(text: str) -> dict[str, str] | None:
        match = regex.fullmatch(text)
        return None if match is None else match.groupdict()

    return check


def _around(parts: Sequence[str | dict[str, str]], name: str, tree: Any) -> Capture:
    """Check a route whose one parameter matches "/": the text around it is fixed."""
    index = next(i for i, part in enumerate(parts) if isinstance(part, dict))
    pre = "".join(map(str, parts[:index]))
    suf = "".join(map(str, parts[index + 1 :]))
    regex = _compiled({name: tree}, name)
    start, end = len(pre), len(suf)
    shortest = start + end
    if regex.pattern == PathConverter.regex:
        # ".+?" matches any text but an empty one or one with a newline,
        # and paths with a newline are not checked here.
        shortest += 1
        regex = _ANYTHING
        if not suf:
            return _rest(pre, name, shortest)

    def capture(segments: list[str], path: str) -> dict[str, Any] | None:
        if len(path) < shortest or not path.startswith(pre) or not path.endswith(suf):
            return None
        value = path[start : len(path) - end]
        if regex is not _ANYTHING and not regex.fullmatch(value):
            return None
        return {name: value}

    return capture


def _rest(pre: str, name: str, shortest: int) -> Capture:
    """Check a route that ends with ``{name:path}``, the common case, in one test."""
    start = len(pre)

    def capture(segments: list[str], path: str) -> dict[str, Any] | None:
        if len(path) < shortest or not path.startswith(pre):
            return None
        return {name: path[start:]}

    return capture


# Requirements: parsed once, checked for the atoms they may match and for
# the constructs that make a backtracking engine take exponential time.

_BUILT_IN = frozenset(converter.regex for converter in DEFAULT_CONVERTERS.values())
_UNICODE = re.UNICODE.value
_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}
_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_NO_TEXT = {"AT", "ASSERT", "ASSERT_NOT"}


def _requirement(pattern: str, requirement: str) -> Any:
    """Parse a requirement; refuse one that can backtrack catastrophically.

    Routes compiled it already: an invalid one was refused then.

    """
    tree = _parse(requirement)
    if _risky(tree, repeated=False):
        raise InvalidRoute(
            "requirement can backtrack catastrophically (nested repetition, "
            "alternation under repetition, or a backreference) in pattern "
            f"{pattern!r}: {requirement!r}"
        )
    return tree


@functools.lru_cache(maxsize=256)
def _parse(requirement: str) -> Any:
    return sre_parse.parse(requirement)


@functools.lru_cache(maxsize=256)
def _compile_requirement(requirement: str) -> re.Pattern[str]:
    return re.compile(requirement)


def _compiled(trees: Mapping[str, Any], name: str) -> re.Pattern[str]:
    """The compiled requirement of a parameter, or Routes' default."""
    tree = trees.get(name)
    if tree is None:
        return _compile_requirement(_DEFAULT)
    return _compile_requirement(tree.state.str)


def _risky(tree: Any, *, repeated: bool) -> bool:
    """Whether a parsed regex nests repetition, or repeats an alternation."""
    for op, value in tree:
        name = str(op)
        if name in _REPEATS:
            many = value[1] is sre_constants.MAXREPEAT or value[1] > 1
            if many and repeated:
                return True
            if _risky(value[2], repeated=repeated or many):
                return True
        elif name == "BRANCH":
            if repeated or any(_risky(b, repeated=repeated) for b in value[1]):
                return True
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            if _risky(value[-1], repeated=repeated):
                return True
        elif name in ("GROUPREF", "GROUPREF_EXISTS"):
            return True
    return False


def _accepts(tree: Any, char: str) -> bool:
    """Whether some atom of a parsed regex matches a character.

    Unknown constructs count as matching it: the answer errs on the side
    that keeps matching exact.

    """
    chars = {char, char.lower(), char.upper()} if tree.state.flags & re.I else {char}
    return any(_atom_accepts(tree, c) for c in chars)


def _atom_accepts(tree: Any, char: str) -> bool:
    code = ord(char)
    for op, value in tree:
        name = str(op)
        if name == "LITERAL":
            found = value == code
        elif name == "NOT_LITERAL":
            found = value != code
        elif name == "ANY":
            found = char != "\n"
        elif name == "IN":
            found = _in(value, char)
        elif name in _REPEATS:
            found = _atom_accepts(value[2], char)
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            found = _atom_accepts(value[-1], char)
        elif name == "BRANCH":
            found = any(_atom_accepts(branch, char) for branch in value[1])
        else:
            found = name not in _NO_TEXT
        if found:
            return True
    return False


def _in(items: Any, char: str) -> bool:
    code = ord(char)
    negate, found = False, False
    for op, value in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            found = found or value == code
        elif name == "RANGE":
            found = found or value[0] <= code <= value[1]
        elif name == "CATEGORY":
            regex = _CATEGORIES.get(str(value))
            found = found or regex is None or re.match(regex, char) is not None
        else:  # pragma: no cover - other items are the compiler's, not the parser's
            found = True
    return found != negate


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
            # Routes names {.format} "format": so do its requirements.
            key = name.lstrip(".")
            if colon and spec in converters:
                used[key] = converters[spec]
                requirements[key] = converters[spec].regex
            elif colon and spec.isidentifier():
                raise InvalidRoute(
                    f"unknown converter in pattern {pattern!r}: {spec!r}"
                )
            elif colon:
                requirements[key] = spec
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


def _define(
    pattern: str, parsed: str, requirements: Mapping[str, str]
) -> routes.route.Route:
    """Routes' definition of a route; its regex is compiled when first used."""
    try:
        return routes.route.Route(
            None,
            parsed,
            requirements=dict(requirements),
            _explicit=True,
            _minimize=False,
        )
    except re.error as exc:
        raise InvalidRoute(f"invalid regex in pattern {pattern!r}: {exc}") from exc
    except Exception as exc:
        raise InvalidRoute(f"invalid pattern: {pattern!r}") from exc


def _merge(first: list[Route], second: list[Route]) -> list[Route]:
    """Two buckets' routes in Routes' order: a path rarely finds two."""
    return list(heapq.merge(first, second, key=_rank))


def _rank(route: Route) -> int:
    return route.rank


def _unquote(value: str) -> str:
    try:
        return urllib.parse.unquote(value, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidPath(f"invalid UTF-8 in path parameter: {value!r}") from exc
