"""Tests for typed parameters: built-in and custom converters."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
import websockets

from websockets_routes import BuildError, Converter, RoutedPath, Router

from support import closed_with, status_of, url_of


async def handler(ws: Any, path: RoutedPath) -> None:
    await ws.send(repr(path.params))


class DateConverter(Converter):
    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> datetime.date:
        return datetime.date.fromisoformat(value)

    def to_url(self, value: Any) -> str:
        return str(value.isoformat())


def make_router() -> Router:
    router = Router(converters={"date": DateConverter()})
    router.route("/user/{uid:int}", name="user")(handler)
    router.route("/price/{x:float}")(handler)
    router.route("/obj/{oid:uuid}")(handler)
    router.route("/files/{rest:path}", name="files")(handler)
    router.route("/day/{d:date}", name="day")(handler)
    router.route("/day/{slug}")(handler)
    return router


def test_builtin_converters() -> None:
    """int, float, uuid and path convert the captured value."""
    router = make_router()
    oid = uuid.uuid4()

    def params(path: str) -> Any:
        found = router.match(path)
        return None if found is None else found.params

    assert params("/user/42") == {"uid": 42}
    assert params("/price/1.5") == {"x": 1.5}
    assert params("/price/2") == {"x": 2.0}
    assert params(f"/obj/{oid}") == {"oid": oid}
    assert params("/files/a/b/c%20d") == {"rest": "a/b/c d"}


def test_custom_converter() -> None:
    """A converter of the user's converts too."""
    found = make_router().match("/day/2026-11-21")
    assert found is not None and found.params == {"d": datetime.date(2026, 11, 21)}


def test_value_that_does_not_convert_falls_through() -> None:
    """A value the converter rejects means the next route is tried."""
    found = make_router().match("/day/2026-13-45")
    assert found is not None and found.params == {"slug": "2026-13-45"}


def test_value_that_does_not_match_is_no_match() -> None:
    """A value outside the converter's regex matches nothing."""
    router = make_router()
    assert router.match("/user/abc") is None
    assert router.match("/obj/not-a-uuid") is None


async def test_non_converting_value_is_404_not_500() -> None:
    """Under serve(), a value that does not convert gets HTTP 404."""
    router = Router(converters={"date": DateConverter})
    router.route("/day/{d:date}")(handler)
    async with router.serve("127.0.0.1", 0) as server:
        refusal = await status_of(url_of(server, "/day/2026-13-45"))
        assert refusal.response.status_code == 404
        async with websockets.connect(url_of(server, "/day/2026-01-02")) as ws:
            assert await ws.recv() == "{'d': datetime.date(2026, 1, 2)}"


async def test_non_converting_value_is_4040_under_handle() -> None:
    """Under router.handle, a value that does not convert closes with 4040."""
    router = Router(converters={"date": DateConverter})
    router.route("/day/{d:date}")(handler)
    async with websockets.serve(router.handle, "127.0.0.1", 0) as server:
        assert (await closed_with(url_of(server, "/day/2026-13-45")))[0] == 4040


class BadDate:
    """A date-like value whose ISO format is no date."""

    def isoformat(self) -> str:
        return "2026-13-45"


class NumberConverter(Converter):
    """A converter whose to_url breaks its contract: it returns no text."""

    def to_url(self, value: Any) -> Any:
        return value


def test_converter_failure_is_build_error() -> None:
    """What a converter raises in to_url becomes a BuildError, with it as cause."""
    with pytest.raises(BuildError) as raised:
        make_router().url_for("day", d="2026-01-02")
    assert str(raised.value) == (
        "value does not fit parameter 'd' of route 'day': '2026-01-02'"
    )
    assert isinstance(raised.value.__cause__, AttributeError)


def test_text_the_converter_rejects_is_build_error() -> None:
    """url_for refuses text that the converter's to_python would reject."""
    with pytest.raises(BuildError, match="parameter 'd' of route 'day'") as raised:
        make_router().url_for("day", d=BadDate())
    assert isinstance(raised.value.__cause__, ValueError)


def test_converter_returning_no_text_is_build_error() -> None:
    """url_for refuses a value that to_url does not turn into a str."""
    router = Router(converters={"number": NumberConverter()})
    router.route("/n/{x:number}", name="n")(handler)
    with pytest.raises(BuildError, match=r"parameter 'x' of route 'n': 5$"):
        router.url_for("n", x=5)
