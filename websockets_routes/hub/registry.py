"""Who is in which group, in this process.

:class:`Registry` indexes local connections by group and by user. It knows no
I/O: the hub backends deliver messages to the connections it returns and
mirror its changes elsewhere (Redis subscriptions and counts). It's tested
without sockets.

"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

__all__ = [
    "Entry",
    "Registry",
]

C = TypeVar("C", bound=Hashable)


class Entry:
    """The groups and the user of one registered connection."""

    __slots__ = ("groups", "user")

    def __init__(self, user: str | None) -> None:
        self.groups: set[str] = set()
        self.user = user


class Registry(Generic[C]):
    """Index of local connections by group and by user.

    Every registered connection receives broadcasts, even if it's in no group.

    Example::

        >>> registry = Registry()
        >>> registry.add("conn", ["room:1"], "alice")
        (['room:1'], True)
        >>> registry.groups
        {'room:1': {'conn'}}

    """

    def __init__(self) -> None:
        self.entries: dict[C, Entry] = {}
        self.groups: dict[str, set[C]] = {}
        self.users: dict[str, set[C]] = {}

    def add(
        self, connection: C, groups: Iterable[str], user: str | None
    ) -> tuple[list[str], bool]:
        """Register a connection in groups, as a user.

        Args:
            connection: Connection to register.
            groups: Groups to add it to; it may already be in some.
            user: User the connection belongs to, or :obj:`None` to keep the
                user it was registered with, if any.

        Returns:
            The groups the connection was added to, and whether the
            connection was registered by this call.

        Raises:
            ValueError: If the connection is registered as another user.

        """
        entry = self.entries.get(connection)
        created = entry is None
        if entry is None:
            entry = self.entries[connection] = Entry(None)
        try:
            self._set_user(connection, entry, user)
        except ValueError:
            if created:
                del self.entries[connection]
            raise
        added = [group for group in dict.fromkeys(groups) if group not in entry.groups]
        for group in added:
            entry.groups.add(group)
            self.groups.setdefault(group, set()).add(connection)
        return added, created

    def _set_user(self, connection: C, entry: Entry, user: str | None) -> None:
        if user is None or user == entry.user:
            return
        if entry.user is not None:
            raise ValueError(f"connection joined as another user: {entry.user!r}")
        entry.user = user
        self.users.setdefault(user, set()).add(connection)

    def remove(self, connection: C, groups: Iterable[str]) -> list[str]:
        """Remove a connection from groups; it stays registered.

        Args:
            connection: Registered connection.
            groups: Groups to remove it from; it may not be in some.

        Returns:
            The groups the connection was removed from.

        """
        entry = self.entries.get(connection)
        if entry is None:
            return []
        removed = [group for group in dict.fromkeys(groups) if group in entry.groups]
        for group in removed:
            entry.groups.discard(group)
            _discard(self.groups, group, connection)
        return removed

    def discard(self, connection: C) -> Entry | None:
        """Unregister a connection from all its groups and its user.

        Args:
            connection: Connection to unregister; it may not be registered.

        Returns:
            What the connection was registered in, or :obj:`None`.

        """
        entry = self.entries.pop(connection, None)
        if entry is None:
            return None
        for group in entry.groups:
            _discard(self.groups, group, connection)
        if entry.user is not None:
            _discard(self.users, entry.user, connection)
        return entry


def _discard(index: dict[str, set[C]], key: str, connection: C) -> None:
    # Drop empty sets so that a key in the index means "has local members";
    # the Redis hub subscribes exactly to those keys.
    members = index[key]
    members.discard(connection)
    if not members:
        del index[key]
