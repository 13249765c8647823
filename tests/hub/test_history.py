"""History policies and replay plans, without sockets."""

from __future__ import annotations

import datetime

import pytest

from websockets_routes.hub.history import (
    LocalHistory,
    Policies,
    Policy,
    gap_notice,
    id_order,
    plan_replay,
    wrap,
)


def test_policy_of_count_and_age() -> None:
    """history= is a count of messages or a timedelta."""
    assert Policy.of(5) == Policy(5, None)
    assert Policy.of(datetime.timedelta(minutes=1)) == Policy(None, 60.0)


@pytest.mark.parametrize(
    "value, error, message",
    [
        (0, ValueError, "history must be positive: 0"),
        (datetime.timedelta(0), ValueError, "history must be positive"),
        (True, TypeError, "history must be an int or a timedelta: True"),
        ("5", TypeError, "history must be an int or a timedelta: '5'"),
    ],
)
def test_policy_rejects(value: object, error: type[Exception], message: str) -> None:
    """history= refuses values that aren't a positive count or age."""
    with pytest.raises(error, match=message):
        Policy.of(value)  # type: ignore[arg-type]


def test_policies_match_names_then_patterns() -> None:
    """A room's policy comes from its name, then a pattern, then first use."""
    policies = Policies({"chat:lobby": 1, "chat:*": 2})
    assert policies.get("chat:lobby") == Policy(1, None)
    assert policies.get("chat:x") == Policy(2, None)
    assert policies.get("other") is None
    policies.set(["other"], Policy(3, None))
    assert policies.get("other") == Policy(3, None)


def test_frames() -> None:
    """Messages with history and gap notices are compact JSON."""
    assert (
        wrap("r", "1-0", "é") == '{"type":"message","room":"r","id":"1-0","data":"é"}'
    )
    assert gap_notice("r", "x") == '{"type":"history_gap","room":"r","since":"x"}'


def test_local_history_trims_by_count() -> None:
    """The in-process history keeps the last N messages and spots the gap."""
    history, policy = LocalHistory(), Policy(2, None)
    ids = [history.append("r", policy, f"m{i}") for i in range(4)]
    assert ids == ["1", "2", "3", "4"]
    assert history.since("r", "2", policy) == (False, [("3", "m2"), ("4", "m3")])
    assert history.since("r", "1", policy) == (True, [("3", "m2"), ("4", "m3")])
    assert history.since("r", "4", policy) == (False, [])


def test_id_order() -> None:
    """Ids of the in-process hub and of Redis streams sort as they were given."""
    assert id_order("9") < id_order("10")
    assert id_order("1718000000000-9") < id_order("1718000000000-10")
    assert id_order("1718000000000-9") < id_order("1718000000001-0")
    assert id_order("nonsense") < id_order("0") == id_order("0-0")


def _entry(id: str, prev: str) -> tuple[str, dict[str, str]]:
    return id, {"d": id, "p": prev}


@pytest.mark.parametrize(
    "since, after, first, gap",
    [
        # "since" is kept: replay what follows.
        (
            "1-0",
            [_entry("1-0", "0-0"), _entry("2-0", "1-0")],
            [_entry("1-0", "0-0")],
            False,
        ),
        # "since" was trimmed, and so was nothing after it.
        ("1-0", [_entry("2-0", "1-0")], [_entry("2-0", "1-0")], False),
        # "since" was trimmed, and so was the entry after it.
        ("1-0", [_entry("3-0", "2-0")], [_entry("3-0", "2-0")], True),
        # The stream restarted: its first entry has nothing before it.
        ("1-0", [_entry("5-0", "0-0")], [_entry("5-0", "0-0")], True),
        # An id past the last one, an empty stream, an invalid id.
        ("9-0", [], [_entry("1-0", "0-0")], True),
        ("1-0", [], [], True),
        ("x", [], [_entry("1-0", "0-0")], True),
    ],
)
def test_plan_replay(since: str, after: list, first: list, gap: bool) -> None:  # type: ignore[type-arg]
    """A resume reports a gap exactly when messages after since are lost."""
    assert plan_replay(since, after, first)[0] is gap
