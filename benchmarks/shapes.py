"""Route tables of realistic shapes, in each subject's syntax, and their probes.

A shape is a function of ``i`` giving the ``i``-th route's pattern, in Routes'
syntax (``{id}``, ``{rest:path}``), and a path that it matches. werkzeug's
syntax is derived from it. Probes are the first, a middle and the last route
of a table of ``n`` routes, and a miss.

"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["SHAPES", "probes", "werkzeug_rule"]

Shape = Callable[[int], tuple[str, str]]


def _mixed_api(i: int) -> tuple[str, str]:
    """An API: static pages, resources, typed ids, files, formats."""
    kind = i % 5
    if kind == 0:
        return f"/pages/page{i}", f"/pages/page{i}"
    if kind == 1:
        return f"/items{i}/{{id}}", f"/items{i}/abc"
    if kind == 2:
        return f"/users{i}/{{uid:int}}/posts/{{post}}", f"/users{i}/42/posts/p"
    if kind == 3:
        return f"/files{i}/{{rest:path}}", f"/files{i}/a/b/c.txt"
    return f"/v1/orders{i}/{{id}}.json", f"/v1/orders{i}/7.json"


def _tenant_first(i: int) -> tuple[str, str]:
    """Every pattern starts with a parameter."""
    return f"/{{tenant}}/r{i}/{{id}}", f"/acme/r{i}/abc"


def _shared_prefix(i: int) -> tuple[str, str]:
    """A shared prefix; a third of the routes end with {rest:path}."""
    kind = i % 3
    if kind == 0:
        return f"/api/v1/r{i}/{{id}}", f"/api/v1/r{i}/abc"
    if kind == 1:
        return f"/api/v1/s{i}/{{a}}/{{b}}", f"/api/v1/s{i}/x/y"
    return f"/api/v1/t{i}/{{rest:path}}", f"/api/v1/t{i}/x/y/z"


def _mixed_segments(i: int) -> tuple[str, str]:
    """Text and parameters share a segment."""
    return f"/{{tenant}}/item{i}-{{id}}", f"/acme/item{i}-abc"


def _deep(i: int) -> tuple[str, str]:
    """Parameters between static segments, the selective one deep inside."""
    return (
        f"/orgs/{{org}}/repos/{{repo}}/hooks{i}/{{id}}",
        f"/orgs/o/repos/r/hooks{i}/abc",
    )


def _channel(i: int) -> tuple[str, str]:
    """A unique first segment, then a static segment that every route shares."""
    return f"/chan{i}/{{chan}}/msg/{{mid:\\d+}}", f"/chan{i}/general/msg/42"


def _suffix(i: int) -> tuple[str, str]:
    """Routes that differ only in a segment's static suffix."""
    return f"/{{tenant}}/{{name}}.v{i}", f"/acme/report.v{i}"


SHAPES: dict[str, Shape] = {
    "mixed API": _mixed_api,
    "/{tenant}/...": _tenant_first,
    "/api/v1/..., a third {rest:path}": _shared_prefix,
    "/{tenant}/item{i}-{id}": _mixed_segments,
    "deep, /orgs/{org}/repos/{repo}/hooks{i}/{id}": _deep,
    "suffix, /{tenant}/{name}.v{i}": _suffix,
    "/chan{i}/{chan}/msg/{mid:\\d+}": _channel,
}


def probes(shape: Shape, n: int) -> dict[str, str]:
    """The first, a middle and the last route's path, and a miss."""
    return {
        "first": shape(0)[1],
        "middle": shape(n // 2)[1],
        "last": shape(n - 1)[1],
        "miss": shape(n + 7)[1],
    }


_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def werkzeug_rule(pattern: str) -> str:
    """werkzeug's syntax for a pattern: ``<id>``, ``<int:uid>``, ``<path:rest>``."""
    return _PARAM.sub(lambda m: f"<{m[2]}:{m[1]}>" if m[2] else f"<{m[1]}>", pattern)
