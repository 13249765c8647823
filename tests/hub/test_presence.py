"""Presence bookkeeping and event frames, without sockets."""

from __future__ import annotations

import pytest

from websockets_routes.hub.presence import LocalPresence, check_meta, event, member_json


def test_check_meta() -> None:
    """Metadata is a JSON-serializable dict, kept as compact JSON."""
    assert check_meta(None) == "{}"
    assert check_meta({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    with pytest.raises(TypeError, match="meta must be a dict: 'x'"):
        check_meta("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="meta must be JSON-serializable"):
        check_meta({"a": {1, 2}})


def test_event_frame() -> None:
    """A presence event names the room, the change, the user and its metadata."""
    frame = event("leave", "r", member_json("bob", '{"x":1}'))
    assert frame == (
        '{"type":"presence","room":"r","event":"leave","user":"bob","meta":{"x":1}}'
    )


def test_local_presence_groups_connections_by_user() -> None:
    """Two connections of a user appear once, with two metadata dicts."""
    presence: LocalPresence[str] = LocalPresence()
    presence.add("c1", ["r"], "alice", '{"tab":1}', watch=True)
    presence.add("c2", ["r"], "alice", '{"tab":2}', watch=False)
    presence.add("c3", ["r"], None, "{}", watch=False)
    anonymous = presence.connection_id("c3")
    assert presence.members("r") == {
        "alice": [{"tab": 1}, {"tab": 2}],
        anonymous: [{}],
    }
    assert presence.watchers == {"r": {"c1"}}
    alice1 = member_json("alice", '{"tab":1}')
    assert presence.remove("c1", ["r", "s"]) == [("r", alice1)]
    assert presence.watchers == {}
    presence.remove("c2", ["r"])
    presence.remove("c3", ["r"])
    assert presence.rooms == {}
