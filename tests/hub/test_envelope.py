"""The envelope format, tested without sockets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websockets_routes.hub.envelope import decode, encode
from websockets_routes.hub.exceptions import InvalidEnvelope

text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]))


@given(text)
def test_text_round_trip(message: str) -> None:
    """Any text survives encode() then decode() as text."""
    assert decode(encode(message)) == message


@given(st.binary())
def test_binary_round_trip(message: bytes) -> None:
    """Any bytes survive encode() then decode() as bytes."""
    assert decode(encode(message)) == message


def test_format() -> None:
    """encode() writes a compact, versioned JSON object."""
    assert encode("hé") == '{"v":1,"type":"text","data":"hé"}'.encode()
    assert encode(b"hi") == b'{"v":1,"type":"binary","data":"aGk="}'
    assert decode('{"v":1,"type":"text","data":"x","later":true}') == "x"


def test_encode_rejects_other_types() -> None:
    """encode() rejects messages that are neither text nor binary."""
    with pytest.raises(TypeError, match="unsupported message type: int"):
        encode(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        (b"\x80\x04K*.", "invalid JSON"),
        (b"[1]", "not a JSON object: list"),
        (b'{"v":2,"type":"text","data":"x"}', "unsupported envelope version: 2"),
        (b'{"type":"text","data":"x"}', "unsupported envelope version: None"),
        (b'{"v":1,"type":"text","data":1}', "data must be a string: int"),
        (b'{"v":1,"type":"pickle","data":"x"}', "unsupported message type: 'pickle'"),
        (b'{"v":1,"type":"binary","data":"!!"}', "invalid base64"),
        (json.dumps({"v": 1, "type": "text", "data": "\ud800"}), "invalid text"),
        (b"[" * 100_000, "invalid JSON: nested too deep"),
        (b'{"v":' * 100_000, "invalid JSON: nested too deep"),
    ],
)
def test_decode_rejects_invalid(envelope: bytes | str, error: str) -> None:
    """decode() rejects malformed, foreign and future envelopes."""
    with pytest.raises(InvalidEnvelope, match=error):
        decode(envelope)
