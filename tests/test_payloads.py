"""Tests for payload validation: pure, without sockets."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import subprocess
import sys
import textwrap
import typing
from collections.abc import Mapping
from typing import Any

import pytest

from websockets_routes.exceptions import InvalidRoute
from websockets_routes.payloads import (
    FrameKindError,
    PayloadError,
    converter,
    to_json,
    validator,
)

try:
    from typing_extensions import TypedDict
except ImportError:  # pydantic needs typing_extensions' TypedDict before 3.12.
    from typing import TypedDict


def has(name: str) -> bool:
    """Tell whether a library is installed, without importing it."""
    import importlib.util

    return importlib.util.find_spec(name) is not None


BACKENDS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            not has(name), reason=f"{name} is not installed (the [{name}] extra)"
        ),
    )
    for name in ("msgspec", "pydantic")
]


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class User:
    name: str
    age: int = 0


@dataclasses.dataclass
class Send:
    user: User
    tags: list[str]
    color: Color | None = None
    ref: int | str = 0


class SendDict(TypedDict):
    user: User
    tags: list[str]


KINDS = [Send, SendDict]


class Plain:
    pass


@dataclasses.dataclass
class Holder:
    plain: Plain


# Annotations that need no validation


@pytest.mark.parametrize(
    "annotation",
    [
        inspect.Parameter.empty,
        Any,
        object,
        dict,
        dict[str, Any],
        typing.Dict,  # noqa: UP006
        Mapping,
        Mapping[str, Any],
    ],
)
def test_no_validation(annotation: Any) -> None:
    """A missing annotation, Any, object, dict or Mapping needs no validator."""
    assert validator(annotation) is None


def test_scalars_need_no_library() -> None:
    """str, int, float and bool are checked strictly, without a library."""
    assert validator(str)("a") == "a"  # type: ignore[misc]
    assert validator(int)(1) == 1  # type: ignore[misc]
    assert validator(float)(1) == 1.0  # type: ignore[misc]
    assert validator(bool)(True) is True  # type: ignore[misc]
    for annotation, value in [(int, True), (int, "1"), (bool, 1), (float, "1.5")]:
        with pytest.raises(PayloadError):
            validator(annotation)(value)  # type: ignore[misc]


def test_bytes_is_no_json_value() -> None:
    """A bytes annotation is refused at registration: JSON has no bytes."""
    with pytest.raises(InvalidRoute, match=r"^a JSON value is never bytes: Chat.send$"):
        validator(bytes, where="Chat.send")


def test_string_annotation() -> None:
    """An unresolved string annotation is refused at registration."""
    with pytest.raises(InvalidRoute, match=r"typing\.get_type_hints"):
        validator("Send")


def test_unknown_backend() -> None:
    """An unknown backend is refused at registration."""
    with pytest.raises(InvalidRoute, match=r"^unknown validation backend: 'json'$"):
        validator(Send, backend="json")


# Dataclasses and TypedDicts, with each backend


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_valid_payload(backend: str, kind: Any) -> None:
    """A valid payload gives the typed object, nested dataclasses included."""
    validate = validator(kind, backend=backend)
    assert validate is not None
    payload = validate({"user": {"name": "a"}, "tags": ["x"], "other": 1})
    if kind is Send:
        assert payload == Send(User("a"), ["x"])
    else:
        assert payload == {"user": User("a"), "tags": ["x"]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_optional_enum_and_union(backend: str) -> None:
    """Optional fields, enums (from their value) and unions validate."""
    validate = validator(Send, backend=backend)
    assert validate is not None
    payload = validate({"user": {"name": "a"}, "tags": [], "color": "red", "ref": "x"})
    assert payload == Send(User("a"), [], Color.RED, "x")
    payload = validate({"user": {"name": "a"}, "tags": [], "color": None, "ref": 3})
    assert payload == Send(User("a"), [], None, 3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"user": {"name": 1}, "tags": []}, "user.name"),
        ({"user": {}, "tags": []}, "user.name"),
        ({"tags": []}, "user"),
        ({"user": {"name": "a"}, "tags": ["x", 2]}, "tags[1]"),
        ({"user": {"name": "a", "age": "1"}, "tags": []}, "user.age"),
    ],
)
def test_error_names_the_field(
    backend: str, kind: Any, payload: dict[str, Any], field: str
) -> None:
    """An invalid payload raises PayloadError naming the field as a path."""
    validate = validator(kind, backend=backend)
    assert validate is not None
    with pytest.raises(PayloadError) as exc_info:
        validate(payload)
    assert exc_info.value.field == field
    assert str(exc_info.value).startswith(f"invalid payload at {field!r}: ")
    assert "\n" not in str(exc_info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_error_messages(backend: str) -> None:
    """Errors are one lowercase line; a missing field reads the same."""
    validate = validator(Send, backend=backend)
    assert validate is not None
    with pytest.raises(PayloadError) as exc_info:
        validate({"user": {}, "tags": []})
    assert str(exc_info.value) == "invalid payload at 'user.name': field required"
    with pytest.raises(PayloadError) as exc_info:
        validate({"user": {"name": "a"}, "tags": [], "ref": 1.5})
    assert str(exc_info.value).startswith("invalid payload at 'ref")
    with pytest.raises(PayloadError) as exc_info:
        validate([])
    assert exc_info.value.field is None
    assert str(exc_info.value).startswith("invalid payload: ")


@pytest.mark.parametrize("backend", BACKENDS)
def test_strict_like_json(backend: str) -> None:
    """Both backends refuse "1" for int, 1 for bool and 1.0 for int."""

    @dataclasses.dataclass
    class Scalars:
        count: int = 0
        flag: bool = False
        ratio: float = 0.0

    validate = validator(Scalars, backend=backend)
    assert validate is not None
    assert validate({"ratio": 1}) == Scalars(ratio=1.0)
    for payload in [{"count": "1"}, {"flag": 1}, {"count": 1.0}, {"count": True}]:
        with pytest.raises(PayloadError) as exc_info:
            validate(payload)
        assert exc_info.value.field == next(iter(payload))


@pytest.mark.parametrize("backend", BACKENDS)
def test_error_is_bounded(backend: str) -> None:
    """An error never echoes more than 100 characters of the payload."""
    validate = validator(Send, backend=backend)
    assert validate is not None
    with pytest.raises(PayloadError) as exc_info:
        validate({"user": {"name": "a"}, "tags": [], "color": "x" * 10_000})
    assert exc_info.value.field == "color"
    assert len(exc_info.value.reason) <= 100


@pytest.mark.parametrize("backend", BACKENDS)
def test_generic_annotations(backend: str) -> None:
    """A list, a dict of typed values or an Optional dataclass validates."""
    validate = validator(dict[str, list[int]], backend=backend)
    assert validate is not None
    assert validate({"a": [1, 2]}) == {"a": [1, 2]}
    with pytest.raises(PayloadError, match=r"expected int|valid integer"):
        validate({"a": [1, "2"]})
    validate = validator(User | None, backend=backend)
    assert validate is not None
    assert validate(None) is None
    assert validate({"name": "a"}) == User("a")


@pytest.mark.parametrize("backend", BACKENDS)
def test_unsupported_annotation(backend: str) -> None:
    """A class that no library knows is refused at registration."""
    with pytest.raises(InvalidRoute, match=r"^unsupported payload annotation: C.m$"):
        validator(Plain, backend=backend, where="C.m")
    with pytest.raises(InvalidRoute, match="unsupported payload annotation"):
        validator(Holder, backend=backend)


# Models of each library


def test_pydantic_model() -> None:
    """A pydantic model is validated by pydantic, with its own lax default."""
    pydantic = pytest.importorskip("pydantic", reason="pydantic is not installed")

    class Order(pydantic.BaseModel):
        item: str
        quantity: int
        user: User

    validate = validator(Order)
    assert validate is not None
    order = validate({"item": "a", "quantity": "2", "user": {"name": "b"}})
    assert order == Order(item="a", quantity=2, user=User("b"))
    with pytest.raises(PayloadError) as exc_info:
        validate({"item": "a", "quantity": 2, "user": {"name": 3}})
    assert str(exc_info.value) == (
        "invalid payload at 'user.name': input should be a valid string"
    )


def test_pydantic_strict_model() -> None:
    """A strict pydantic model refuses "2" for int but takes enums from JSON."""
    pydantic = pytest.importorskip("pydantic", reason="pydantic is not installed")

    class Paint(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(strict=True)
        color: Color
        coats: int

    validate = validator(Paint)
    assert validate is not None
    assert validate({"color": "red", "coats": 2}) == Paint(color=Color.RED, coats=2)
    with pytest.raises(PayloadError, match=r"^invalid payload at 'coats': "):
        validate({"color": "red", "coats": "2"})


def test_msgspec_struct() -> None:
    """A msgspec Struct is validated by msgspec, with its own configuration."""
    msgspec = pytest.importorskip("msgspec", reason="msgspec is not installed")

    class Order(msgspec.Struct, forbid_unknown_fields=True):
        item: str
        quantity: int = 1

    validate = validator(Order)
    assert validate is not None
    assert validate({"item": "a"}) == Order("a")
    with pytest.raises(PayloadError) as exc_info:
        validate({"item": "a", "quantity": "2"})
    assert str(exc_info.value) == (
        "invalid payload at 'quantity': expected int, got str"
    )
    with pytest.raises(PayloadError, match="unknown field"):
        validate({"item": "a", "price": 1})


def test_model_of_the_other_backend() -> None:
    """Forcing the other library's backend on a model is refused."""
    msgspec = pytest.importorskip("msgspec", reason="msgspec is not installed")

    class Order(msgspec.Struct):
        item: str

    with pytest.raises(
        InvalidRoute, match=r"^msgspec Struct payloads need the msgspec backend: m$"
    ):
        validator(Order, backend="pydantic", where="m")


def test_dict_key_error() -> None:
    """A wrong dict key is reported as such with msgspec."""
    pytest.importorskip("msgspec", reason="msgspec is not installed")
    validate = validator(dict[int, str], backend="msgspec")
    assert validate is not None
    assert validate({"1": "a"}) == {1: "a"}
    with pytest.raises(PayloadError, match=r"^invalid payload: invalid key: expected"):
        validate({"a": "a"})


# Missing libraries


BLOCK = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"blocked: {{name}}")

sys.meta_path.insert(0, Block())
"""


def run_without(blocked: set[str], code: str) -> str:
    """Run code in a new interpreter where some libraries cannot be imported."""
    script = BLOCK.format(blocked=blocked) + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


CHECK = """
import dataclasses
from websockets_routes.exceptions import InvalidRoute
from websockets_routes.payloads import validator, converter

@dataclasses.dataclass
class Point:
    x: int

try:
    {call}
except InvalidRoute as exc:
    print(exc)
"""


def test_no_library_names_both_extras() -> None:
    """Without msgspec and pydantic, a dataclass payload names both extras."""
    call = "validator(Point, where='Map.move')"
    assert run_without({"msgspec", "pydantic"}, CHECK.format(call=call)) == (
        "dataclass payloads need a validation library: install "
        "websockets-routes[msgspec] or websockets-routes[pydantic]: Map.move"
    )


def test_no_library_for_receive() -> None:
    """Without msgspec and pydantic, receiving a dataclass names both extras."""
    call = "converter(Point)"
    assert run_without({"msgspec", "pydantic"}, CHECK.format(call=call)) == (
        "dataclass payloads need a validation library: install "
        "websockets-routes[msgspec] or websockets-routes[pydantic]: Point"
    )


def test_forced_backend_missing() -> None:
    """A forced backend that is missing names its extra."""
    call = "validator(Point, backend='msgspec', where='Map.move')"
    assert run_without({"msgspec"}, CHECK.format(call=call)) == (
        "the msgspec backend needs install websockets-routes[msgspec]: Map.move"
    )


def test_falls_back_to_pydantic() -> None:
    """Without msgspec, a dataclass is validated by pydantic."""
    pytest.importorskip("pydantic", reason="pydantic is not installed")
    call = "print(validator(Point)({'x': 1}))"
    assert run_without({"msgspec"}, CHECK.format(call=call)) == "Point(x=1)"


def test_import_is_lazy() -> None:
    """Importing the module imports neither msgspec nor pydantic."""
    code = """
        import sys
        import websockets_routes.payloads
        from websockets_routes.payloads import validator, to_json
        assert validator(dict) is None and validator(int) is not None
        assert to_json({"a": 1}) == {"a": 1}
        print(sorted({"msgspec", "pydantic"} & set(sys.modules)))
    """
    assert run_without(set(), code) == "[]"


def test_asdict_without_library() -> None:
    """Without msgspec and pydantic, a dataclass reply goes through asdict."""
    code = """
        import dataclasses
        from websockets_routes.payloads import to_json

        @dataclasses.dataclass
        class Point:
            x: int

        print(to_json(Point(1)))
    """
    assert run_without({"msgspec", "pydantic"}, code) == "{'x': 1}"


# Replies


def test_to_json_mapping() -> None:
    """A mapping becomes a new dict, which the caller may change."""
    reply = {"a": 1}
    assert to_json(reply) == reply
    assert to_json(reply) is not reply
    assert to_json(typing.cast(Mapping[str, int], {"b": 2}.items().mapping)) == {"b": 2}


@pytest.mark.skipif(
    not (has("msgspec") or has("pydantic")), reason="needs msgspec or pydantic"
)
def test_to_json_dataclass() -> None:
    """A dataclass becomes JSON types: nested dicts, enum values."""
    reply = to_json(Send(User("a"), ["x"], Color.RED))
    assert reply == {
        "user": {"name": "a", "age": 0},
        "tags": ["x"],
        "color": "red",
        "ref": 0,
    }


def test_to_json_models() -> None:
    """A pydantic model and a msgspec Struct become dicts of JSON types."""
    pydantic = pytest.importorskip("pydantic", reason="pydantic is not installed")
    msgspec = pytest.importorskip("msgspec", reason="msgspec is not installed")

    class Model(pydantic.BaseModel):
        color: Color

    class Struct(msgspec.Struct):
        color: Color

    assert to_json(Model(color=Color.BLUE)) == {"color": "blue"}
    assert to_json(Struct(Color.BLUE)) == {"color": "blue"}


def test_to_json_refuses_others() -> None:
    """A reply that is no mapping, dataclass or model raises TypeError."""
    with pytest.raises(TypeError, match=r"^reply must be .* a model: list$"):
        to_json([1])
    with pytest.raises(TypeError, match="a model: type"):
        to_json(User)


# Converters for receive


def test_convert_text_and_binary() -> None:
    """str takes a text frame, bytes a binary one; the other is a FrameKindError."""
    assert converter(str)("a") == "a"
    assert converter(bytes)(b"a") == b"a"
    with pytest.raises(FrameKindError, match="expected text frame, got binary"):
        converter(str)(b"a")
    with pytest.raises(FrameKindError, match="expected binary frame, got text"):
        converter(bytes)("a")
    assert converter(Any)(b"a") == b"a"


@pytest.mark.parametrize(
    ("annotation", "frame", "value"),
    [
        (int, "42", 42),
        (float, "42", 42.0),
        (float, "4.5", 4.5),
        (bool, "true", True),
        (dict, '{"a": 1}', {"a": 1}),
        (dict[str, Any], "{}", {}),
    ],
)
def test_convert_json(annotation: Any, frame: str, value: Any) -> None:
    """int, float, bool and dict read a text frame as JSON."""
    converted = converter(annotation)(frame)
    assert converted == value
    assert type(converted) is type(value)


@pytest.mark.parametrize(
    ("annotation", "frame", "message"),
    [
        (int, '"42"', "expected int, got str"),
        (int, "4.2", "expected int, got float"),
        (int, "true", "expected int, got bool"),
        (float, "true", "expected float, got bool"),
        (float, "1e999", "number out of range"),
        (float, "NaN", "invalid json: NaN is not allowed"),
        (bool, "1", "expected bool, got int"),
        (dict, "[]", "expected object, got array"),
        (int, "forty", "invalid json: expecting value"),
        (dict, "[" * 100_000, "invalid json"),
    ],
)
def test_convert_fails(annotation: Any, frame: str, message: str) -> None:
    """A frame that does not convert raises PayloadError, not FrameKindError."""
    with pytest.raises(PayloadError) as exc_info:
        converter(annotation)(frame)
    assert type(exc_info.value) is PayloadError
    assert str(exc_info.value).startswith(f"invalid payload: {message}")


def test_convert_json_needs_text() -> None:
    """A binary frame where JSON is expected is a FrameKindError."""
    with pytest.raises(FrameKindError):
        converter(int)(b"42")


@pytest.mark.parametrize("backend", BACKENDS)
def test_convert_dataclass(backend: str) -> None:
    """A dataclass is parsed and validated from a text frame in one pass."""
    convert = converter(Send, backend=backend)
    assert convert('{"user": {"name": "a"}, "tags": []}') == Send(User("a"), [])
    with pytest.raises(PayloadError) as exc_info:
        convert('{"user": {"name": 1}, "tags": []}')
    assert exc_info.value.field == "user.name"
    with pytest.raises(PayloadError, match=r"^invalid payload: invalid json: "):
        convert('{"user": ')
    with pytest.raises(FrameKindError):
        convert(b"{}")


def test_converters_are_cached() -> None:
    """converter() returns the same function for the same type."""
    assert converter(int) is converter(int)
    assert converter(dict[str, Any]) is converter(dict[str, Any])


@dataclasses.dataclass
class Tree:
    name: str
    children: list[Tree] = dataclasses.field(default_factory=list)


@pytest.mark.parametrize("backend", BACKENDS)
def test_recursive_dataclass(backend: str) -> None:
    """A recursive dataclass validates, and errors name the nested path."""
    validate = validator(Tree, backend=backend)
    assert validate is not None
    assert validate({"name": "a", "children": [{"name": "b"}]}) == Tree(
        "a", [Tree("b")]
    )
    with pytest.raises(PayloadError) as exc_info:
        validate({"name": "a", "children": [{"name": 1}]})
    assert exc_info.value.field == "children[0].name"


@pytest.mark.parametrize("backend", BACKENDS)
def test_unhashable_annotation(backend: str) -> None:
    """An annotation that cannot be hashed is converted all the same."""
    annotation = typing.Annotated[User, {"unhashable": []}]
    assert converter(annotation, backend=backend)('{"name": "a"}') == User("a")


def test_scalar_errors() -> None:
    """The scalar checks name the JSON type they got."""
    with pytest.raises(PayloadError, match=r"^invalid payload: expected str, got int$"):
        validator(str)(1)  # type: ignore[misc]
    with pytest.raises(PayloadError, match=r"number out of range$"):
        validator(float)(10**400)  # type: ignore[misc]


def test_to_json_pydantic_dataclass() -> None:
    """A pydantic dataclass reply becomes a dict of JSON types."""
    pydantic = pytest.importorskip("pydantic", reason="pydantic is not installed")

    @pydantic.dataclasses.dataclass
    class Paint:
        color: Color

    assert to_json(Paint(Color.RED)) == {"color": "red"}
    validate = validator(Paint)
    assert validate is not None
    assert validate({"color": "blue"}) == Paint(Color.BLUE)
