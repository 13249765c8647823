"""Property tests: the route table picks what a plain routes.Mapper picks."""

from __future__ import annotations

import urllib.parse

import pytest
import routes
from hypothesis import given, settings
from hypothesis import strategies as st

from websockets_routes.converters import DEFAULT_CONVERTERS
from websockets_routes.exceptions import InvalidPath
from websockets_routes.table import Route, RouteTable, parse_pattern

WORDS = ["a", "b", "ab", "é", "1", "12"]
REQUIREMENTS = ["", r":\d+", ":[ab]+", ":.*", ":a|b"]

words = st.sampled_from(WORDS)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    """Patterns made of static words and parameters, often overlapping."""
    segments = []
    for index in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["word", "param", "word+param", "param+word"]))
        param = f"{{p{index}{draw(st.sampled_from(REQUIREMENTS))}}}"
        if kind == "word":
            segments.append(draw(words))
        elif kind == "param":
            segments.append(param)
        elif kind == "word+param":
            segments.append(draw(words) + param)
        else:
            segments.append(param + "." + draw(words))
    pattern = "/" + "/".join(segments)
    return pattern + draw(st.sampled_from(["", "/"])) if segments else pattern


PIECES = ["a", "b", "ab", "1", "12", "a.b", "%C3%A9", "%2F", "%ff", "%C3", "", "\n"]


@st.composite
def paths(draw: st.DrawFn) -> str:
    """Request paths over the same words, with escapes good and bad."""
    segments = draw(st.lists(st.lists(st.sampled_from(PIECES), max_size=3), max_size=4))
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


@settings(max_examples=400, deadline=None)
@given(st.lists(patterns(), min_size=1, max_size=12), st.lists(paths(), max_size=20))
def test_same_match_as_routes_mapper(
    table_patterns: list[str], requests: list[str]
) -> None:
    """For every route table and path, the table matches what routes.Mapper does."""
    table = RouteTable()
    mapper = routes.Mapper(explicit=True)
    for index, pattern in enumerate(table_patterns):
        table.add(Route(pattern, name=str(index)))
        parsed, requirements, _ = parse_pattern(pattern, DEFAULT_CONVERTERS)
        mapper.connect(str(index), parsed, requirements=requirements)
    mapper.create_regs([])
    for path in requests:
        try:
            want = expected(mapper, path)
        except UnicodeDecodeError:
            with pytest.raises(InvalidPath):
                table.match(path)
            continue
        found = table.match(path)
        got = None if found is None else (found[0].name, found[1])
        assert got == want, (table_patterns, path)


@settings(max_examples=100, deadline=None)
@given(st.lists(patterns(), min_size=2, max_size=12), st.lists(paths(), max_size=10))
def test_registration_after_matching(
    table_patterns: list[str], requests: list[str]
) -> None:
    """Adding routes after matching gives the table a fresh table would have."""
    late = RouteTable()
    for index, pattern in enumerate(table_patterns):
        late.add(Route(pattern, name=str(index)))
        for path in requests:
            try:
                late.match(path)
            except InvalidPath:
                pass
    fresh = RouteTable()
    for index, pattern in enumerate(table_patterns):
        fresh.add(Route(pattern, name=str(index)))
    for path in requests:
        try:
            want = fresh.match(path)
        except InvalidPath:
            continue
        got = late.match(path)
        assert (got and (got[0].name, got[1])) == (want and (want[0].name, want[1]))
