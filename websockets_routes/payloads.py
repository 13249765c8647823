"""Payload validation: from decoded JSON to typed objects, and back.

This module knows no I/O. An :class:`~websockets_routes.views.Endpoint` reads
the annotation of a handler's ``message`` parameter once, when the handler is
registered, and turns it into a validator with :func:`validator`; each message
then costs one call. :func:`converter` does the same for
:func:`websockets_routes.receive`, from a raw frame. :func:`to_json` turns a
handler's reply into a dict ready for :func:`json.dumps`.

Validation uses a real library: msgspec (``websockets-routes[msgspec]``) or
pydantic (``websockets-routes[pydantic]``), both optional and imported only
when an annotation needs one: ``import websockets_routes`` imports neither.

Which library validates an annotation:

* a pydantic model (or a pydantic dataclass): pydantic, with the model's own
  configuration, lax by default as in pydantic;
* a msgspec ``Struct``: msgspec, with its own configuration;
* anything else that needs validation (a dataclass, a ``TypedDict``, an enum,
  ``list[int]``, ``Point | None``...): msgspec if it is installed and supports
  the type, else pydantic; ``backend="msgspec"`` or ``backend="pydantic"``
  forces one.

msgspec comes first because it is strict by default and faster where it
counts. Per call, on a dataclass of three fields (``int``, ``float``,
``str``), CPython 3.11, msgspec 0.23, pydantic 2.14, timeit on a loaded
machine: from a text frame (:func:`converter`), msgspec 0.4 to 0.7 µs,
pydantic 1.0 to 1.6 µs; from a decoded dict (:func:`validator`), msgspec
0.5 to 1.8 µs, pydantic 1.0 to 1.9 µs, since pydantic encodes the dict back
to JSON (see below). A msgspec ``Struct`` takes 0.2 to 0.6 µs from a dict.

Both libraries apply the same rules, those of JSON: no coercion from strings
(``"1"`` is no ``int``, ``1`` is no ``bool``, ``1.0`` is no ``int``; an
``int`` is a fine ``float``), but an enum from its value and a ``datetime``,
``date``, ``UUID`` or ``Decimal`` from its usual string. msgspec does this by
default. pydantic does it in *JSON* strict mode only: its Python strict mode
refuses a dict for a dataclass and a string for an enum, and its lax mode
turns ``"1"`` into 1. So the pydantic backend encodes the decoded value back
to JSON with :func:`pydantic_core.to_json` and validates that with
``strict=True``; pydantic models and pydantic dataclasses are validated with
``strict`` left to their own configuration instead. One difference remains: a
``bytes`` field reads base64 with msgspec and UTF-8 text with pydantic.

Keys that the type does not declare are ignored, as both libraries do by
default; a ``Struct`` with ``forbid_unknown_fields=True`` or a model with
``extra="forbid"`` refuses them.

Errors: a value that does not validate raises :exc:`PayloadError`, whose
message is one line, lowercase, naming the field as a path (``user.name``,
``tags[1]``): ``invalid payload at 'count': expected int, got str``. Only the
first error is reported, as msgspec does. Parts that may echo the payload are
cut to 100 characters. A frame of the wrong kind for :func:`converter` raises
:exc:`FrameKindError`, so that a server can close with 1003 (unsupported
data) rather than 1007 (invalid payload data).

"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import sys
import typing
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from .exceptions import InvalidRoute, RoutingError

if TYPE_CHECKING:
    import msgspec
    import pydantic

__all__ = [
    "FrameKindError",
    "PayloadError",
    "converter",
    "json_schema",
    "to_json",
    "validator",
]

EXTRAS = "install websockets-routes[msgspec] or websockets-routes[pydantic]"

# Parts of a message that may come from the payload are cut to this length.
LIMIT = 100

Validate = Callable[[Any], Any]
Convert = Callable[[str | bytes], Any]


class PayloadError(RoutingError, ValueError):
    """A payload does not validate against its type.

    The message names the field, then says what is wrong:
    ``invalid payload at 'user.name': expected str, got int``.

    Attributes:
        field: The path of the field (``user.name``, ``tags[1]``), or
            :obj:`None` when the payload as a whole is wrong.
        reason: What is wrong, without the field.

    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = _cut(reason)
        self.field = None if field is None else _cut(field)
        where = "" if self.field is None else f" at {self.field!r}"
        super().__init__(f"invalid payload{where}: {self.reason}")


class FrameKindError(PayloadError):
    """A frame is text where binary is expected, or the other way around."""


def validator(
    annotation: Any,
    *,
    backend: str | None = None,
    where: str = "",
) -> Validate | None:
    """Build a validator for the annotation of a handler's ``message``.

    Call it once, when the handler is registered: it raises then if the
    annotation cannot be validated. Resolve string annotations first, e.g.
    with :func:`typing.get_type_hints`.

    Args:
        annotation: The type of the payload. ``Any``, ``object``, ``dict``,
            ``dict[str, Any]``, ``Mapping`` and a missing annotation
            (:attr:`inspect.Parameter.empty`) need no validation. ``str``,
            ``int``, ``float`` and ``bool`` are checked without a library,
            strictly (see the module's documentation). Other types are
            validated by msgspec or pydantic.
        backend: ``"msgspec"`` or ``"pydantic"`` to choose the library for a
            type that both support; :obj:`None` to let this module choose.
        where: What to name in errors, e.g. the handler's qualified name.

    Returns:
        :obj:`None` if no validation is needed, else a callable that takes a
        decoded JSON value and returns the validated object or raises
        :exc:`PayloadError`.

    Raises:
        InvalidRoute: If the annotation cannot be validated: the library it
            needs is missing (the message names the extra to install), or no
            library supports it.

    Example::

        @dataclasses.dataclass
        class Send:
            text: str

        validate = validator(Send, where="Chat.send")
        validate({"text": "hi"})  # Send(text='hi')
        validate({"text": 1})  # PayloadError: invalid payload at 'text': ...

    """
    if _needs_nothing(annotation):
        return None
    if annotation in (str, int, float, bool):
        return _SCALARS[annotation]
    if annotation is bytes:
        raise InvalidRoute(f"a JSON value is never bytes: {where or 'bytes'}")
    return _build(annotation, backend, where)[0]


def converter(
    annotation: Any,
    *,
    backend: str | None = None,
    where: str = "",
) -> Convert:
    """Build a function that turns a frame into the given type.

    ``str`` takes a text frame as it is and ``bytes`` a binary frame; ``Any``
    and ``object`` take either as it is. Every other type reads a text frame
    as JSON, then validates it like :func:`validator`: ``int`` takes ``42``
    but not ``"42"``, ``42.0`` nor ``true``; ``dict`` takes a JSON object.
    A library parses and validates its types in one pass. Converters are
    cached: calling this for every message costs a dict lookup.

    Args:
        annotation: The type wanted.
        backend: As for :func:`validator`.
        where: As for :func:`validator`.

    Returns:
        A callable that takes a frame (:class:`str` or :class:`bytes`) and
        returns the converted value, or raises :exc:`FrameKindError` for a
        frame of the wrong kind and :exc:`PayloadError` for a frame that does
        not convert.

    Raises:
        InvalidRoute: As for :func:`validator`.

    Example::

        convert = converter(int)
        convert("42")  # 42
        convert("4.2")  # PayloadError: invalid payload: expected int, got float
        convert(b"42")  # FrameKindError: ...: expected text frame, got binary frame

    """
    try:
        hash(annotation)
    except TypeError:  # Annotated[int, {...}], say: build it every time.
        return _converter(annotation, backend, where)
    return _cached_converter(annotation, backend, where)


def _converter(annotation: Any, backend: str | None, where: str) -> Convert:
    if annotation is str:
        return _text
    if annotation is bytes:
        return _binary
    if annotation in (inspect.Parameter.empty, Any, object):
        return _frame
    if _needs_nothing(annotation):  # A mapping of anything.
        check: Validate = _mapping
    elif annotation in (int, float, bool):
        check = _SCALARS[annotation]
    else:
        parse = _build(annotation, backend, where)[1]
        return lambda frame: parse(_text(frame))
    return lambda frame: check(_loads(_text(frame)))


_cached_converter = functools.lru_cache(maxsize=256)(_converter)


def json_schema(
    annotation: Any, *, backend: str | None = None, where: str = ""
) -> dict[str, Any] | None:
    """The JSON Schema of a payload type, as its validation library writes it.

    The library is the one :func:`validator` picks for the annotation. Its
    schema may put definitions under ``$defs`` and refer to them with
    ``#/$defs/...``; :mod:`websockets_routes.asyncapi` moves them.

    Returns:
        :obj:`None` for an annotation that needs no validation (any JSON
        object), else the schema.

    Raises:
        InvalidRoute: As for :func:`validator`.

    Example::

        json_schema(Send)  # {'$ref': '#/$defs/Send', '$defs': {'Send': {...}}}

    """
    if _needs_nothing(annotation):
        return None
    if annotation in _SCALAR_SCHEMAS:
        return dict(_SCALAR_SCHEMAS[annotation])
    label = where or _name(annotation)
    installed, _ = _libraries(annotation, backend, label)
    errors = []
    for name in installed:
        try:
            if name == "msgspec":
                import msgspec.json

                return msgspec.json.schema(annotation)
            import pydantic

            return pydantic.TypeAdapter(annotation).json_schema()
        except Exception as exc:
            errors.append(exc)
    raise InvalidRoute(f"unsupported payload annotation: {label}") from errors[-1]


_SCALAR_SCHEMAS: dict[Any, dict[str, str]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
}


def to_json(value: Any) -> dict[str, Any]:
    """Turn a handler's reply into a dict that :func:`json.dumps` can encode.

    A mapping is copied, so that the caller may add the request's ``id``.
    A pydantic model is dumped with ``model_dump(mode="json")`` and a msgspec
    ``Struct`` with :func:`msgspec.to_builtins`. A dataclass goes through
    :func:`msgspec.to_builtins`, else :func:`pydantic_core.to_jsonable_python`,
    else, when neither library is installed, :func:`dataclasses.asdict`,
    which leaves enums and dates as they are.

    Args:
        value: The reply.

    Returns:
        A new dict.

    Raises:
        TypeError: If the reply is none of these, or does not become a JSON
            object (e.g. an ``array_like`` Struct).

    Example::

        to_json(Send(text="hi"))  # {'text': 'hi'}

    """
    if type(value) is dict:
        return dict(value)
    dump = _dumpers.get(type(value))
    if dump is None:
        dump = _dumpers[type(value)] = _dumper(value)
    result = dump(value)
    if type(result) is not dict:
        raise TypeError(f"reply must become a JSON object: {type(value).__name__}")
    return result


# Annotations


def _needs_nothing(annotation: Any) -> bool:
    if annotation in (inspect.Parameter.empty, Any, object):
        return True
    if not _is_mapping(annotation):
        return False
    args = typing.get_args(annotation)
    return not args or args[-1] is Any


def _is_mapping(annotation: Any) -> bool:
    plain = (dict, Mapping, MutableMapping)
    return annotation in plain or typing.get_origin(annotation) in plain


def _is_typeddict(annotation: Any) -> bool:
    extensions = sys.modules.get("typing_extensions")
    if extensions is not None and extensions.is_typeddict(annotation):
        return True
    return typing.is_typeddict(annotation)


def _owner(annotation: Any) -> str | None:
    """Name the library that defines a model class, if one does."""
    if not isinstance(annotation, type):
        return None
    # A model's class comes from a library already imported: no import here.
    if "pydantic" in sys.modules:
        from pydantic import BaseModel
        from pydantic.dataclasses import is_pydantic_dataclass

        if issubclass(annotation, BaseModel) or is_pydantic_dataclass(annotation):
            return "pydantic"
    msgspec = sys.modules.get("msgspec")
    if msgspec is not None and issubclass(annotation, msgspec.Struct):
        return "msgspec"
    return None


def _kind(annotation: Any) -> str:
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return "dataclass"
    if _is_typeddict(annotation):
        return "TypedDict"
    return "typed"


def _name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__qualname__
    return repr(annotation).removeprefix("typing.")


# Backends


class _Unsupported(Exception):
    """A library cannot validate an annotation."""


Pair = tuple[Validate, Convert]


def _build(annotation: Any, backend: str | None, where: str) -> Pair:
    label = where or _name(annotation)
    installed, owner = _libraries(annotation, backend, label)
    errors = []
    for name in installed:
        try:
            return _BUILDERS[name](annotation, owner == name)
        except _Unsupported as exc:
            errors.append(exc)
    raise InvalidRoute(f"unsupported payload annotation: {label}") from errors[-1]


def _libraries(
    annotation: Any, backend: str | None, label: str
) -> tuple[list[str], str | None]:
    """The installed libraries that may validate an annotation, in order."""
    if isinstance(annotation, str):
        raise InvalidRoute(
            "unresolved payload annotation, resolve it with "
            f"typing.get_type_hints(): {label}"
        )
    if backend not in (None, "msgspec", "pydantic"):
        raise InvalidRoute(f"unknown validation backend: {backend!r}")
    owner = _owner(annotation)
    if owner is not None and backend not in (None, owner):
        model = "pydantic model" if owner == "pydantic" else "msgspec Struct"
        raise InvalidRoute(f"{model} payloads need the {owner} backend: {label}")
    names = [owner or backend] if owner or backend else ["msgspec", "pydantic"]
    installed = [name for name in names if name is not None and _importable(name)]
    if not installed:
        if len(names) == 1:
            extra = f"install websockets-routes[{names[0]}]"
            raise InvalidRoute(f"the {names[0]} backend needs {extra}: {label}")
        need = f"{_kind(annotation)} payloads need a validation library"
        raise InvalidRoute(f"{need}: {EXTRAS}: {label}")
    return installed, owner


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def _msgspec(annotation: Any, own: bool) -> Pair:
    import msgspec
    import msgspec.inspect

    try:
        info = msgspec.inspect.type_info(annotation)
    except (TypeError, NameError) as exc:  # NameError: an unresolved name.
        raise _Unsupported(f"msgspec cannot validate {_name(annotation)}") from exc
    types = list(_types(info, set()))
    for item in types:
        if isinstance(item, msgspec.inspect.CustomType):
            raise _Unsupported(f"msgspec cannot validate {_name(item.cls)}")
    convert, decode = msgspec.convert, msgspec.json.Decoder(annotation).decode
    # As in JSON, dict keys are strings ("1" for 1): str_keys=True reads them
    # so, but costs three times as much; only dicts with other keys need it.
    str_keys = any(
        isinstance(item, msgspec.inspect.DictType)
        and not isinstance(item.key_type, msgspec.inspect.StrType)
        for item in types
    )

    def validate(value: Any) -> Any:
        try:
            return convert(value, annotation, str_keys=str_keys)
        except msgspec.ValidationError as exc:
            raise _from_msgspec(exc) from exc

    def parse(frame: str | bytes) -> Any:
        try:
            return decode(frame)
        except msgspec.DecodeError as exc:
            raise _from_msgspec(exc) from exc

    return validate, parse


def _types(
    info: msgspec.inspect.Type, seen: set[int]
) -> Iterator[msgspec.inspect.Type]:
    """Every type inside a msgspec type, itself included, recursive ones once."""
    import msgspec.inspect

    if id(info) in seen:
        return
    seen.add(id(info))
    yield info
    for field in msgspec.structs.fields(info):
        value = getattr(info, field.name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, msgspec.inspect.Field):
                item = item.type
            if isinstance(item, msgspec.inspect.Type):
                yield from _types(item, seen)


def _pydantic(annotation: Any, own: bool) -> Pair:
    import pydantic
    import pydantic_core

    try:
        # A type that is not fully defined fails when its validator is read.
        validate_json = pydantic.TypeAdapter(annotation).validator.validate_json
    except (pydantic.PydanticUserError, TypeError, NameError) as exc:
        raise _Unsupported(f"pydantic cannot validate {_name(annotation)}") from exc
    dumps = pydantic_core.to_json
    # A model's own configuration decides; other types get JSON's rules.
    strict = None if own else True

    def validate(value: Any) -> Any:
        try:
            return validate_json(dumps(value, inf_nan_mode="constants"), strict=strict)
        except pydantic.ValidationError as exc:
            raise _from_pydantic(exc) from exc

    def parse(frame: str | bytes) -> Any:
        try:
            return validate_json(frame, strict=strict)
        except pydantic.ValidationError as exc:
            raise _from_pydantic(exc) from exc

    return validate, parse


_BUILDERS: dict[str, Callable[[Any, bool], Pair]] = {
    "msgspec": _msgspec,
    "pydantic": _pydantic,
}


# Errors


def _from_msgspec(exc: msgspec.DecodeError) -> PayloadError:
    import msgspec

    text = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return PayloadError(f"invalid json: {_lower(text)}")
    # "Expected `int`, got `str` - at `$.user.tags[0]`": the path comes last.
    message, sep, path = text.rpartition(" - at `")
    if path.startswith("key` in `"):  # A dict's key is wrong, not its value.
        message, path = (
            f"invalid key: {_lower(message)}",
            path.removeprefix("key` in `"),
        )
    if not sep or not path.startswith("$"):
        message, path = text, "$`"
    field = path[1:-1].removeprefix(".")
    missing = "Object missing required field `"
    if message.startswith(missing):
        name = message[len(missing) : -1]
        field = f"{field}.{name}" if field else name
        message = "field required"
    return PayloadError(_lower(message.replace("`", "")), field or None)


def _from_pydantic(exc: pydantic.ValidationError) -> PayloadError:
    error = exc.errors(include_url=False, include_input=False)[0]
    if error["type"] == "json_invalid":
        return PayloadError(f"invalid json: {error['ctx']['error']}")
    field = ""
    for item in error["loc"]:
        field += f"[{item}]" if isinstance(item, int) else f".{item}"
    return PayloadError(_lower(error["msg"]), field.removeprefix(".") or None)


def _lower(text: str) -> str:
    # "Expected" becomes "expected", but "JSON" stays "JSON".
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def _cut(text: str) -> str:
    return text if len(text) <= LIMIT else text[: LIMIT - 3] + "..."


# Scalars and frames


_JSON_TYPES = {
    type(None): "null",
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    list: "array",
    dict: "object",
}


def _expected(name: str, value: Any) -> PayloadError:
    got = _JSON_TYPES.get(type(value), type(value).__name__)
    return PayloadError(f"expected {name}, got {got}")


def _str(value: Any) -> str:
    if type(value) is str:
        return value
    raise _expected("str", value)


def _int(value: Any) -> int:
    if type(value) is int:
        return value
    raise _expected("int", value)


def _float(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            raise PayloadError("number out of range") from None
    raise _expected("float", value)


def _bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _expected("bool", value)


def _mapping(value: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise _expected("object", value)


_SCALARS: dict[Any, Validate] = {str: _str, int: _int, float: _float, bool: _bool}


def _text(frame: str | bytes) -> str:
    if isinstance(frame, str):
        return frame
    raise FrameKindError("expected text frame, got binary frame")


def _binary(frame: str | bytes) -> bytes:
    if isinstance(frame, bytes):
        return frame
    raise FrameKindError("expected binary frame, got text frame")


def _frame(frame: str | bytes) -> str | bytes:
    return frame


def _refuse(constant: str) -> Any:
    raise PayloadError(f"invalid json: {constant} is not allowed")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):  # 1e999, say.
        raise PayloadError("number out of range")
    return value


_INF = float("inf")

# NaN and Infinity are Python's extensions to JSON, which msgspec refuses too.
_decoder = json.JSONDecoder(parse_constant=_refuse, parse_float=_parse_float)


def _loads(text: str) -> Any:
    try:
        return _decoder.decode(text)
    except PayloadError:
        raise
    except ValueError as exc:  # JSONDecodeError and too long integers.
        raise PayloadError(f"invalid json: {_lower(str(exc))}") from exc
    except RecursionError:
        raise PayloadError("invalid json: too deeply nested") from None


# Replies


_dumpers: dict[type, Callable[[Any], Any]] = {}


def _dumper(value: Any) -> Callable[[Any], Any]:
    if isinstance(value, Mapping):
        return dict
    owner = _owner(type(value))
    if owner == "pydantic" and not _is_dataclass(value):
        return lambda model: model.model_dump(mode="json")
    if owner == "msgspec" or (owner is None and _is_dataclass(value)):
        if _importable("msgspec"):
            import msgspec

            return msgspec.to_builtins
    if _is_dataclass(value) and _importable("pydantic"):
        import pydantic_core

        return pydantic_core.to_jsonable_python
    if _is_dataclass(value):
        return dataclasses.asdict
    raise TypeError(
        f"reply must be a mapping, a dataclass or a model: {type(value).__name__}"
    )


def _is_dataclass(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)
