"""The registry of local connections, tested without sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websockets_routes.hub.registry import Registry


def test_add_and_discard() -> None:
    """add() indexes a connection by group and user; discard() forgets it."""
    registry: Registry[str] = Registry()
    assert registry.add("c1", ["a", "b", "a"], "alice") == (["a", "b"], True)
    assert registry.add("c1", ["b", "c"], None) == (["c"], False)
    assert registry.groups == {"a": {"c1"}, "b": {"c1"}, "c": {"c1"}}
    assert registry.users == {"alice": {"c1"}}
    entry = registry.discard("c1")
    assert entry is not None and entry.groups == {"a", "b", "c"}
    assert (registry.entries, registry.groups, registry.users) == ({}, {}, {})
    assert registry.discard("c1") is None


def test_remove_keeps_registration() -> None:
    """remove() takes a connection out of groups but keeps it registered."""
    registry: Registry[str] = Registry()
    registry.add("c1", ["a", "b"], None)
    assert registry.remove("c1", ["a", "z"]) == ["a"]
    assert registry.groups == {"b": {"c1"}}
    assert "c1" in registry.entries
    assert registry.remove("unknown", ["a"]) == []


def test_user_cannot_change() -> None:
    """add() refuses another user and leaves a new connection unregistered."""
    registry: Registry[str] = Registry()
    registry.add("c1", [], "alice")
    registry.add("c1", [], "alice")
    with pytest.raises(ValueError, match="another user: 'alice'"):
        registry.add("c1", ["a"], "bob")
    assert registry.groups == {}
    assert registry.users == {"alice": {"c1"}}


operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "discard"]),
        st.sampled_from(["c1", "c2", "c3"]),
        st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
        st.sampled_from([None, "u1", "u2"]),
    ),
    max_size=30,
)


@given(operations)
def test_indexes_match_entries(
    ops: list[tuple[str, str, list[str], str | None]],
) -> None:
    """After any operations, the indexes match the entries and hold no empty set."""
    registry: Registry[str] = Registry()
    for op, connection, groups, user in ops:
        if op == "add":
            try:
                registry.add(connection, groups, user)
            except ValueError:
                pass
        elif op == "remove":
            registry.remove(connection, groups)
        else:
            registry.discard(connection)
    groups_index: dict[str, set[str]] = {}
    users_index: dict[str, set[str]] = {}
    for connection, entry in registry.entries.items():
        for group in entry.groups:
            groups_index.setdefault(group, set()).add(connection)
        if entry.user is not None:
            users_index.setdefault(entry.user, set()).add(connection)
    assert registry.groups == groups_index
    assert registry.users == users_index
