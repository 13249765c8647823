"""Property tests: the route table picks what a plain routes.Mapper picks."""

from __future__ import annotations

import urllib.parse

import pytest
import routes
from hypothesis import given, settings
from hypothesis import strategies as st

from websockets_routes.converters import DEFAULT_CONVERTERS
from websockets_routes.exceptions import InvalidPath, InvalidRoute
from websockets_routes.table import Route, RouteTable, parse_pattern

WORDS = ["a", "b", "ab", "é", "1", "12", "api", "v1"]
REQUIREMENTS = ["", "", r":\d+", ":[ab]+", ":.*", ":a|b", ":path", r":[^-]+"]
SEPARATORS = ["-", ".", "", "a", "-a-"]
# Registration refuses these, on purpose: matching them could take more
# than linear time (tests/test_table_hostile.py).
REFUSED = (
    "more than one parameter",
    "requirement can backtrack",
    "with a parameter that matches /",
)

words = st.sampled_from(WORDS)


@st.composite
def segments(draw: st.DrawFn, index: int) -> str:
    """One segment: a word, parameters, or text and parameters mixed."""

    def param(suffix: str) -> str:
        return f"{{p{index}{suffix}{draw(st.sampled_from(REQUIREMENTS))}}}"

    kind = draw(
        st.sampled_from(["word", "param", "word+param", "param+word", "params"])
    )
    if kind == "word":
        return draw(words)
    if kind == "param":
        return param("")
    if kind == "word+param":
        return draw(words) + param("")
    if kind == "param+word":
        return param("") + "." + draw(words)
    parts = [draw(st.sampled_from(["", "item", "a"]))]
    for count in range(draw(st.integers(2, 3))):
        if count:
            parts.append(draw(st.sampled_from(SEPARATORS)))
        parts.append(param(str(count)))
    parts.append(draw(st.sampled_from(["", ".b", "-"])))
    return "".join(parts)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    """Patterns of every shape: static words, parameters first, shared prefixes."""
    count = draw(st.integers(0, 4))
    pattern = "/" + "/".join(draw(segments(index)) for index in range(count))
    return pattern + draw(st.sampled_from(["", "/"])) if count else pattern


PIECES = ["a", "b", "ab", "1", "12", "a.b", "-", ".", "a-b-1", "api", "v1", "item"]
PIECES += ["%C3%A9", "%2F", "%ff", "%C3", "", "\n"]


@st.composite
def paths(draw: st.DrawFn) -> str:
    """Request paths over the same words, with escapes good and bad."""
    segments = draw(st.lists(st.lists(st.sampled_from(PIECES), max_size=4), max_size=5))
    path = "/" + "/".join("".join(segment) for segment in segments)
    return path + draw(st.sampled_from(["", "?", "?x=1", "?x=/a/b"]))


def expected(mapper: routes.Mapper, path: str) -> tuple[str, dict[str, str]] | None:
    """What routes.Mapper matches, with parameters percent-decoded."""
    found = mapper.routematch(path.partition("?")[0])
    if found is None:
        return None
    params, route = found
    return route.name, {
        key: urllib.parse.unquote(value, errors="strict")
        if value and "%" in value
        else value
        for key, value in params.items()
    }


def add(table: RouteTable, mapper: routes.Mapper, pattern: str, name: str) -> None:
    """Add a route to both, unless registration refuses it for its cost."""
    try:
        table.add(Route(pattern, name=name))
    except InvalidRoute as exc:
        assert str(exc).startswith(REFUSED), exc
        return
    parsed, requirements, _ = parse_pattern(pattern, DEFAULT_CONVERTERS)
    mapper.connect(name, parsed, requirements=requirements)


def check(table: RouteTable, mapper: routes.Mapper, path: str, tables: object) -> None:
    """The table's match for a path is routes.Mapper's."""
    try:
        want = expected(mapper, path)
    except UnicodeDecodeError:
        with pytest.raises(InvalidPath):
            table.match(path)
        return
    found = table.match(path)
    got = None if found is None else (found[0].name, found[1])
    assert got == want, (tables, path)


@settings(max_examples=600, deadline=None)
@given(st.lists(patterns(), min_size=1, max_size=12), st.lists(paths(), max_size=20))
def test_same_match_as_routes_mapper(
    table_patterns: list[str], requests: list[str]
) -> None:
    """For every route table and path, the table matches what routes.Mapper does."""
    table = RouteTable()
    mapper = routes.Mapper(explicit=True)
    for index, pattern in enumerate(table_patterns):
        add(table, mapper, pattern, str(index))
    mapper.create_regs([])
    for path in requests + [
        pattern.replace("{", "").replace("}", "") for pattern in table_patterns
    ]:
        check(table, mapper, path, table_patterns)


@settings(max_examples=150, deadline=None)
@given(st.lists(patterns(), min_size=2, max_size=10), st.lists(paths(), max_size=10))
def test_registration_while_serving(
    table_patterns: list[str], requests: list[str]
) -> None:
    """Routes added after matching started match as routes.Mapper's do."""
    table = RouteTable()
    mapper = routes.Mapper(explicit=True)
    for index, pattern in enumerate(table_patterns):
        add(table, mapper, pattern, str(index))
        mapper.create_regs([])
        for path in requests:
            check(table, mapper, path, table_patterns[: index + 1])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["-", ".", "a", "b", "1", "%C3%A9"]), max_size=40),
    st.sampled_from(
        [
            "/t/{a}-{b}-{c}",
            "/files/{name}.{ext}",
            "/{t}/item{i}-{id}",
            "/x/{a}{b}{c}",
            "/x/a{a}-a-{b}.b",
            r"/y/{a:\d+}.{b}",
            "/z/{rest:path}/{name}",
        ]
    ),
)
def test_split_segments(pieces: list[str], pattern: str) -> None:
    """Segments of several parameters split where Routes' regex splits them."""
    table = RouteTable()
    mapper = routes.Mapper(explicit=True)
    add(table, mapper, pattern, "0")
    mapper.create_regs([])
    text = "".join(pieces)
    prefix = pattern[: pattern.index("{")].rpartition("/")[0]
    for path in (f"{prefix}/{text}", f"/a{prefix}/{text}", f"{prefix}/item{text}"):
        check(table, mapper, path, pattern)
