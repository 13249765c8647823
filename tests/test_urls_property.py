"""Property tests: a path built by url_for matches its route with equal parameters."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from websockets_routes import BuildError, RoutedPath, Router

# Each pattern is the only route of its router, so Router.match runs the
# whole matching pipeline and can find no other route; the values are
# compared as each kind of parameter reads them.
PATTERNS: dict[str, dict[str, str]] = {
    "/i/{x:int}": {"x": "int"},
    "/f/{x:float}": {"x": "float"},
    "/u/{x:uuid}": {"x": "uuid"},
    "/p/{x:path}": {"x": "text"},
    "/s/{x}": {"x": "text"},
    r"/n/{x:\d{3}}": {"x": "digits"},
    "/{name}.{ext}": {"name": "text", "ext": "text"},
    "/t/{a}-{b}-{c}": {"a": "text", "b": "text", "c": "text"},
    "/v{version}/x": {"version": "text"},
    "/d/{x}{.format}": {"x": "text", "format": "text"},
    "/m/{i:int}.{f:float}/{rest:path}": {"i": "int", "f": "float", "rest": "text"},
}

characters = st.one_of(
    st.sampled_from("./-%?#~ a1é"),
    st.sampled_from(["\ud800", "\udfff", "\n", "\x00"]),
    st.characters(),
)
texts = st.text(characters, max_size=8)
# Any kind of value, for any parameter: most are refused.
anything = st.one_of(
    texts,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.uuids(),
    st.booleans(),
    st.none(),
)
# Values that a parameter of each kind may take, and near misses.
VALUES = {
    "int": st.one_of(
        st.integers(min_value=-5, max_value=2**70),
        st.from_regex(r"\A-?\d+(\.\d*)?\Z"),
        st.floats(min_value=-5, max_value=1e20),
    ),
    "float": st.one_of(
        st.floats(min_value=-0.0),
        st.integers(min_value=-5, max_value=2**60),
        st.from_regex(r"\A\d+(\.\d*)?([eE]\d)?\Z"),
    ),
    "uuid": st.one_of(
        st.uuids(),
        st.uuids().map(str),
        st.uuids().map(lambda value: value.hex.upper()),
        st.uuids().map(lambda value: f"{{{value}}}"),
    ),
    "text": texts,
    "digits": st.one_of(st.from_regex(r"\A\d{2,4}\Z"), st.integers(0, 9999)),
}

TYPES = {"int": int, "float": float, "uuid": uuid.UUID, "text": str, "digits": str}

# Booleans are refused by the int and float converters: True is not 1 in a URL.
REFUSED = object()


def expected(kind: str, value: Any) -> Any:
    """What a parameter of this kind should give back for a value.

    Numbers compare exactly: 2**53 + 1 is not equal to any float.

    """
    if kind in ("text", "digits"):
        return value if isinstance(value, str) else str(value)
    if kind == "uuid":
        return uuid.UUID(value) if isinstance(value, str) else value
    if isinstance(value, bool):
        return REFUSED
    if isinstance(value, str):
        return int(value) if kind == "int" else float(value)
    return value


async def handler(ws: Any, path: RoutedPath) -> None:
    """A handler that is never called."""


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(sorted(PATTERNS)), st.data())
def test_built_path_matches_its_route(pattern: str, data: st.DataObject) -> None:
    """url_for raises BuildError or builds a path giving back equal parameters."""
    router = Router()
    router.route(pattern, name="r")(handler)
    kinds = PATTERNS[pattern]
    params = {
        name: data.draw(st.one_of(VALUES[kind], anything), label=name)
        for name, kind in kinds.items()
    }
    if data.draw(st.booleans(), label="omit format"):
        params.pop("format", None)
    try:
        path = router.url_for("r", **params)
    except BuildError:
        return
    found = router.match(path)
    assert found is not None, path
    assert found.name == "r"
    for name, kind in kinds.items():
        value = params.get(name)
        want = None if value is None else expected(kind, value)
        assert found.params[name] == want, (path, name, value)
        assert want is None or type(found.params[name]) is TYPES[kind]
