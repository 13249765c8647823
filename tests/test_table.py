"""Tests for the route table: matching, precedence, decoding, indexing."""

from __future__ import annotations

import pytest

from websockets_routes.converters import Converter
from websockets_routes.exceptions import InvalidPath, InvalidRoute
from websockets_routes.table import Route, RouteTable, _segments, parse_pattern


def table_of(*patterns: str) -> RouteTable:
    table = RouteTable()
    for pattern in patterns:
        table.add(Route(pattern, name=pattern))
    return table


def matched(
    table: RouteTable, path: str
) -> tuple[str | None, dict[str, object]] | None:
    found = table.match(path)
    return None if found is None else (found[0].name, found[1])


def test_static_route() -> None:
    """A static pattern matches its path only."""
    table = table_of("/thing/")
    assert matched(table, "/thing/") == ("/thing/", {})
    assert matched(table, "/thing") is None
    assert matched(table, "/thing/x") is None


def test_parameter() -> None:
    """A {name} parameter captures one path segment."""
    table = table_of("/thing/{id}")
    assert matched(table, "/thing/123") == ("/thing/{id}", {"id": "123"})
    assert matched(table, "/thing/1/2") is None
    assert matched(table, "/thing/") is None


def test_parameters_in_the_middle() -> None:
    """Several parameters and static text between them match."""
    table = table_of("/a/{x}/b/{y}.json")
    assert matched(table, "/a/1/b/2.json") == (
        "/a/{x}/b/{y}.json",
        {"x": "1", "y": "2"},
    )


def test_query_string_is_ignored() -> None:
    """Matching ignores the query string."""
    table = table_of("/thing/{id}", "/static")
    assert matched(table, "/thing/1?x=/y") == ("/thing/{id}", {"id": "1"})
    assert matched(table, "/static?") == ("/static", {})


def test_percent_decoding() -> None:
    """Parameters are percent-decoded as UTF-8 after matching."""
    table = table_of("/thing/{id}", "/a/{x}/b")
    assert matched(table, "/thing/caf%C3%A9") == ("/thing/{id}", {"id": "café"})
    assert matched(table, "/a/caf%C3%A9/b") == ("/a/{x}/b", {"x": "café"})


def test_encoded_slash_stays_in_segment() -> None:
    """%2F is a slash inside one segment, not a separator."""
    table = table_of("/thing/{id}", "/thing/{id}/{more}")
    assert matched(table, "/thing/a%2Fb") == ("/thing/{id}", {"id": "a/b"})


@pytest.mark.parametrize("path", ["/thing/%ff", "/thing/%C3", "/a/%E2%82/b"])
def test_invalid_utf8(path: str) -> None:
    """Escapes that are not valid UTF-8 raise InvalidPath."""
    table = table_of("/thing/{id}", "/a/{x}/b")
    with pytest.raises(InvalidPath, match="invalid UTF-8 in path parameter"):
        table.match(path)


def test_longer_static_prefix_wins() -> None:
    """A route with a longer static prefix wins over an earlier one."""
    table = table_of("/a/{x}", "/a/b", "/a/b{y}")
    assert matched(table, "/a/b") == ("/a/b", {})
    assert matched(table, "/a/bc") == ("/a/b{y}", {"y": "c"})
    assert matched(table, "/a/c") == ("/a/{x}", {"x": "c"})


def test_registration_order_breaks_ties() -> None:
    """Among routes with the same static prefix, the first registered wins."""
    table = table_of("/a/{x}", "/a/{y}")
    assert matched(table, "/a/1") == ("/a/{x}", {"x": "1"})
    table = table_of("/a/{y}/", "/a/", "/a/{x}")
    assert matched(table, "/a/") == ("/a/", {})


def test_earlier_parametrised_route_beats_static_of_same_prefix() -> None:
    """A static route loses to an earlier route with the same stripped prefix."""
    table = table_of("/a/{x:.*}", "/a/")
    assert matched(table, "/a/") == ("/a/{x:.*}", {"x": ""})


def test_routes_added_after_matching() -> None:
    """Routes registered after the first match are matched too."""
    table = table_of("/a/{x}")
    assert matched(table, "/a/b") == ("/a/{x}", {"x": "b"})
    table.add(Route("/a/b", name="late static"))
    table.add(Route("/{any}", name="late anywhere"))
    table.add(Route("/a/b{c}", name="late prefix"))
    assert matched(table, "/a/b") == ("late static", {})
    assert matched(table, "/a/bc") == ("late prefix", {"c": "c"})
    assert matched(table, "/z") == ("late anywhere", {"any": "z"})


def test_route_anywhere_precedes_later_routes() -> None:
    """A route whose prefix ends in the first segment is tried in Routes' order."""
    table = table_of("/{x}/{y}", "/a/{z}")
    assert matched(table, "/a/1") == ("/a/{z}", {"z": "1"})
    table = table_of("/t{x}/{y}", "/t/{z}")
    assert matched(table, "/tt/1") == ("/t{x}/{y}", {"x": "t", "y": "1"})
    assert matched(table, "/t/1") == ("/t/{z}", {"z": "1"})


def test_requirement() -> None:
    """A {name:regex} requirement restricts what the parameter matches."""
    table = table_of(r"/n/{id:\d+}", "/n/{slug}")
    assert matched(table, "/n/12") == (r"/n/{id:\d+}", {"id": "12"})
    assert matched(table, "/n/ab") == ("/n/{slug}", {"slug": "ab"})


def test_requirement_with_braces() -> None:
    r"""A requirement may hold braces and colons: {id:\d{3}}."""
    table = table_of(r"/n/{id:\d{3}}", r"/t/{t:(?:a|b)}")
    assert matched(table, "/n/123") == (r"/n/{id:\d{3}}", {"id": "123"})
    assert matched(table, "/n/12") is None
    assert matched(table, "/t/a") == (r"/t/{t:(?:a|b)}", {"t": "a"})


def test_unicode_pattern() -> None:
    """Non-ASCII text in a pattern matches its UTF-8 percent-encoding."""
    table = table_of("/café/{x}", "/naïve")
    assert matched(table, "/caf%C3%A9/1") == ("/café/{x}", {"x": "1"})
    assert matched(table, "/na%C3%AFve") == ("/naïve", {})


def test_trailing_newline_is_left_to_the_regex() -> None:
    """A path ending in a newline matches as Routes' regex does."""
    table = table_of("/thing/{id}")
    assert matched(table, "/thing/1\n") == ("/thing/{id}", {"id": "1"})


def test_iteration_in_match_order() -> None:
    """Iterating over the table gives the routes in the order they are tried."""
    table = table_of("/{x}", "/a/{y}", "/a/b")
    assert [route.pattern for route in table] == ["/a/b", "/a/{y}", "/{x}"]
    assert len(table) == 3


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("thing", "pattern must start with /: 'thing'"),
        ("/a/{x", "unclosed brace in pattern: '/a/{x'"),
        ("/a/{}", "invalid parameter name in pattern: '/a/{}'"),
        ("/a/{1x}", "invalid parameter name in pattern: '/a/{1x}'"),
        ("/a/{x}/{x}", "duplicate parameter in pattern: '/a/{x}/{x}'"),
        ("/a/{x:(}", "invalid regex in pattern '/a/{x:(}'"),
        ("/a/{x:date}", "unknown converter in pattern '/a/{x:date}': 'date'"),
    ],
)
def test_invalid_pattern(pattern: str, message: str) -> None:
    """A bad pattern fails when the route is created, naming the problem."""
    with pytest.raises(InvalidRoute) as info:
        Route(pattern)
    assert str(info.value).startswith(message)


def test_unknown_kind() -> None:
    """A route of an unknown kind is rejected."""
    with pytest.raises(InvalidRoute, match="unknown route kind: 'tcp'"):
        Route("/", kind="tcp")


def test_parse_pattern_escapes() -> None:
    """Escaped braces stay static text."""
    assert parse_pattern(r"/a\{b\}", {}) == (r"/a\{b\}", {}, {})


def test_routes_tried_before_a_segment_route() -> None:
    """A /head/{name} route defers to routes that Routes tries before it."""
    table = table_of(r"/a/{x:\d+}", "/a/{y}", "/a/b{z}")
    assert matched(table, "/a/12") == (r"/a/{x:\d+}", {"x": "12"})
    assert matched(table, "/a/bc") == ("/a/b{z}", {"z": "c"})
    assert matched(table, "/a/c") == ("/a/{y}", {"y": "c"})


def test_routes_tried_before_a_deep_segment_route() -> None:
    """A /head/.../{name} route defers to routes that Routes tries before it."""
    table = table_of(r"/a/b/{x:\d+}", "/a/b/{y}", "/a/b/c{z}", "/a/{p}/{q}")
    assert matched(table, "/a/b/12") == (r"/a/b/{x:\d+}", {"x": "12"})
    assert matched(table, "/a/b/cd") == ("/a/b/c{z}", {"z": "d"})
    assert matched(table, "/a/b/e") == ("/a/b/{y}", {"y": "e"})
    assert matched(table, "/a/c/e") == ("/a/{p}/{q}", {"p": "c", "q": "e"})


def test_segment_route_after_matching() -> None:
    """A route added later that Routes tries first takes over."""
    table = table_of("/a/{y}")
    assert matched(table, "/a/bc") == ("/a/{y}", {"y": "bc"})
    table.add(Route("/a/b{z}", name="later"))
    assert matched(table, "/a/bc") == ("later", {"z": "c"})


def test_path_without_leading_slash() -> None:
    """A path that does not start with / matches no route."""
    table = table_of("/{x}", "/a/{y}")
    assert matched(table, "x") is None
    assert matched(table, "a/b") is None
    assert matched(table, "") is None


def test_pattern_too_long() -> None:
    """A pattern of a megabyte is refused."""
    with pytest.raises(InvalidRoute, match="pattern too long"):
        Route("/" + "a" * (1 << 20))


def test_requirement_invalid_in_routes_regex() -> None:
    """A requirement that compiles alone but not in Routes' regex is refused."""
    with pytest.raises(InvalidRoute, match="invalid regex in pattern"):
        Route("/a/{x}/{y:(?P<x>b)}")


class Even(Converter):
    """Even numbers only: odd ones make the route not match."""

    regex = r"\d+"

    def to_python(self, value: str) -> int:
        if int(value) % 2:
            raise ValueError(f"odd: {value}")
        return int(value)


def test_converter_rejects_then_next_route() -> None:
    """A converter's ValueError makes the table try the next route."""
    table = RouteTable()
    table.add(Route("/n/{x:even}", name="even", available={"even": Even()}))
    table.add(Route("/n/{y}", name="any"))
    assert matched(table, "/n/4") == ("even", {"x": 4})
    assert matched(table, "/n/3") == ("any", {"y": "3"})
    # A final newline goes through Routes' regexes, with the same result.
    assert matched(table, "/n/3\n") == ("any", {"y": "3"})


def test_optional_format() -> None:
    """A {.name} parameter is optional, as in Routes; converters skip it."""
    table = RouteTable()
    table.add(Route("/f/{.fmt:int}", name="f"))
    assert matched(table, "/f/") == ("f", {"fmt": None})
    assert matched(table, "/f/.12") == ("f", {"fmt": 12})
    assert matched(table, "/f/.ab") is None


def test_prefix_and_suffix_with_repeated_characters() -> None:
    """Static prefixes and suffixes that repeat their boundary character match."""
    table = table_of("/{t}/a-b-{x}", "/{t}/{y}.a.b", "/{t}/a-c-{z}")
    assert matched(table, "/q/a-b-1") == ("/{t}/a-b-{x}", {"t": "q", "x": "1"})
    assert matched(table, "/q/1.a.b") == ("/{t}/{y}.a.b", {"t": "q", "y": "1"})
    assert matched(table, "/q/a-c-1") == ("/{t}/a-c-{z}", {"t": "q", "z": "1"})
    assert matched(table, "/q/a-d-1") is None


def test_shadowed_static_route() -> None:
    """A static route loses to an earlier route with as long a prefix."""
    table = table_of(r"/a/b{x:\d*}", "/a/b")
    assert matched(table, "/a/b") == (r"/a/b{x:\d*}", {"x": ""})
    table = table_of("/a/b", r"/a/b{x:\d*}")
    assert matched(table, "/a/b") == ("/a/b", {})


@pytest.mark.parametrize(
    "requirement", ["ab|cd", "(?:ab)+", "[^-./]+", r"[^\d/-]+", "(?i:ab)", r"\bab"]
)
def test_requirements_checked_by_segment(requirement: str) -> None:
    """Requirements of every construct match within their segment."""
    table = table_of(f"/r/{{x:{requirement}}}", "/r/{y}/z")
    found = table.match("/r/ab")
    assert found is not None and found[0].pattern.startswith("/r/{x:")
    assert matched(table, "/r/ab/z") == ("/r/{y}/z", {"y": "ab"})


def test_segments_join_adjacent_text() -> None:
    """Adjacent text in Routes' parts makes one piece of a segment."""
    param = {"type": ":", "name": "x"}
    assert _segments(["/a", "b-", param, "/c"]) == [["ab-", param], ["c"]]


def test_definition_and_regex_made_when_used() -> None:
    """Routes' definition and regex are made on first use, not kept before."""
    route = Route(r"/a/{x:\d+}")
    assert "definition" not in vars(route)
    assert route.definition.reqs == {"x": r"\d+"}
    assert route.regex.match("/a/12") is not None


def test_trailing_path_parameter() -> None:
    """A trailing {rest:path} captures one character or more after its prefix."""
    table = table_of("/files/{rest:path}", "/files/{rest:path}.zip")
    assert matched(table, "/files/a/b.txt") == (
        "/files/{rest:path}",
        {"rest": "a/b.txt"},
    )
    assert matched(table, "/files/x") == ("/files/{rest:path}", {"rest": "x"})
    assert matched(table, "/files/") is None
    assert matched(table, "/filesx/a") is None
    assert matched(table, "/file/a/b") is None


def test_one_path_finds_two_buckets() -> None:
    """Candidates found under two keys are tried in Routes' order."""
    table = table_of("/a/{x}/c", "/a/{x}/{y}", "/{w}/b/{y}", "/a/b/{y}")
    # Routes tries the longest static prefix first, then the earliest route.
    assert matched(table, "/a/b/c") == ("/a/b/{y}", {"y": "c"})
    assert matched(table, "/z/b/c") == ("/{w}/b/{y}", {"w": "z", "y": "c"})
    assert matched(table, "/a/q/c") == ("/a/{x}/c", {"x": "q"})
    assert matched(table, "/a/q/d") == ("/a/{x}/{y}", {"x": "q", "y": "d"})
