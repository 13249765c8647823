"""The AsyncAPI validators that the tests rely on can fail, and say why."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from asyncapi_validators import validate_with_parser, validate_with_schema
from support import need

VALID: dict[str, Any] = {
    "asyncapi": "3.0.0",
    "info": {"title": "Echo", "version": "1.0.0"},
    "servers": {"dev": {"host": "127.0.0.1:8765", "protocol": "ws"}},
    "channels": {
        "echo": {
            "address": "/echo/{room}",
            "parameters": {"room": {"description": "one path segment"}},
            "messages": {
                "text": {"payload": {"type": "string"}},
                "said": {"$ref": "#/components/messages/said"},
            },
        }
    },
    "operations": {
        "receive": {
            "action": "receive",
            "channel": {"$ref": "#/channels/echo"},
            "messages": [{"$ref": "#/channels/echo/messages/text"}],
            "reply": {
                "channel": {"$ref": "#/channels/echo"},
                "messages": [{"$ref": "#/channels/echo/messages/said"}],
            },
        }
    },
    "components": {
        "messages": {
            "said": {
                "contentType": "application/json",
                "payload": {
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"],
                },
            }
        }
    },
}


def invalid() -> dict[str, Any]:
    """VALID with an info lacking its version and an address that is a number."""
    document = copy.deepcopy(VALID)
    del document["info"]["version"]
    document["channels"]["echo"]["address"] = 5
    return document


def test_schema_accepts_valid_document() -> None:
    """The AsyncAPI 3.0.0 JSON Schema accepts a valid document."""
    validate_with_schema(VALID)


def test_schema_lists_every_error() -> None:
    """The JSON Schema validator lists each error with its JSON pointer."""
    with pytest.raises(AssertionError) as info:
        validate_with_schema(invalid())
    message = str(info.value)
    assert message.startswith("2 AsyncAPI 3.0.0 schema error(s):\n")
    assert "/info: 'version' is a required property" in message
    assert "/channels/echo/address: 5 is not of type 'string', 'null'" in message


def test_schema_refuses_wrong_asyncapi_version() -> None:
    """The 3.0.0 schema refuses a document that claims another version."""
    with pytest.raises(AssertionError, match=r"/asyncapi: '3\.0\.0' was expected"):
        validate_with_schema({**VALID, "asyncapi": "2.6.0"})


def test_parser_accepts_valid_document() -> None:
    """@asyncapi/parser finds no error in a valid document."""
    validate_with_parser(VALID)


def test_parser_lists_every_error() -> None:
    """The parser validator lists each error with its JSON pointer and code."""
    with pytest.raises(AssertionError) as info:
        validate_with_parser(invalid())
    message = str(info.value)
    assert message.startswith("2 @asyncapi/parser error(s):\n")
    assert '/info: "info" property must have required property "version"' in message
    assert '/channels/echo/address: "address" property type must be' in message


def test_parser_refuses_dangling_reference() -> None:
    """The parser catches a $ref to nothing, which no JSON Schema can."""
    document = copy.deepcopy(VALID)
    document["operations"]["receive"]["channel"] = {"$ref": "#/channels/nope"}
    validate_with_schema(document)
    with pytest.raises(AssertionError, match="'#/channels/nope' does not exist"):
        validate_with_parser(document)


def test_missing_validator_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing validator skips its test, and fails it instead under CI."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        need(False, "nothing is installed")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="nothing is installed"):
        need(False, "nothing is installed")
