"""The envelope format, tested without sockets."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from websockets_routes.hub.envelope import decode, encode, unwrap
from websockets_routes.hub.exceptions import InvalidEnvelope

text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]))
# Any text, with lone surrogates, controls, quotes and backslashes often.
any_text = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=()),
        st.sampled_from('\ud800\udfff\x00\x1f"\\é'),
    )
)


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


@given(any_text)
def test_encode_text_as_json_dumps(message: str) -> None:
    """encode() writes text exactly as json.dumps() would, or fails as it does."""
    for extra in [{}, {"presence": True}]:
        envelope = {"v": 1, "type": "text", "data": message, **extra}
        dumped = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
        try:
            written = dumped.encode()
        except UnicodeEncodeError:  # a lone surrogate
            with pytest.raises(UnicodeEncodeError):
                encode(message, extra)
        else:
            assert encode(message, extra) == written


tails = st.sampled_from(
    ["}", "} ", "}}", "", '"}', ',"id":"1-0"}', ',"data":"y"}', ',"v":2}', "]"]
)


@given(any_text, st.booleans(), tails, st.just(b"") | st.binary(max_size=3))
@example("\ud800", True, "}", b"")
@example("\udfff", False, "}", b"")
@example("x", True, ',"id":"1-0"}', b"")
def test_unwrap_text_as_json_loads(
    message: str, ascii: bool, tail: str, junk: bytes
) -> None:
    """unwrap() reads text envelopes as json.loads() does, whatever follows the text."""
    head = '{"v":1,"type":"text","data":'
    data = json.dumps(message, ensure_ascii=ascii)
    envelope = (head + data + tail).encode("utf-8", "surrogatepass") + junk
    # json.loads() reads a bytearray too; unwrap() takes no shortcut for it.
    try:
        expected = unwrap(bytearray(envelope))
    except InvalidEnvelope as exc:
        with pytest.raises(InvalidEnvelope) as raised:
            unwrap(envelope)
        assert str(raised.value) == str(exc)
    else:
        assert unwrap(envelope) == expected


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
