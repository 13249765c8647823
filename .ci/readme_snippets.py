"""README.rst's Python snippets: extract them, run one, or write them out for mypy.

Usage::

    python .ci/readme_snippets.py list                 # every snippet, one a line
    python .ci/readme_snippets.py run LINE             # run the snippet at LINE
    python .ci/readme_snippets.py write DIRECTORY      # one module per section

A snippet is a ``.. code-block:: python`` block or a ``>>>`` doctest block
(either a plain RST doctest block or a Python code block that starts with
``>>>``). Snippets belong to the section of the nearest heading above them.

**Running.** ``run`` executes a snippet as a reader would after reading its
section: in a fresh interpreter, in one namespace, after the section's
preamble (see :data:`PREAMBLES`) and the section's earlier snippets, in
README order; a section that goes on from an earlier one (see
:data:`CONTINUES`) first runs that one's preamble and snippets. Code runs as
shown: top-level ``await`` and ``async with`` run in an event loop, as in
``python -m asyncio``; a ``>>>`` block runs under :mod:`doctest` and its
output must match. An earlier snippet that serves forever is not replayed
(it would never return). Every warning is an error, except those
:data:`ALLOWED_WARNINGS` lists; tracebacks name README.rst and its line
numbers. ``tests/test_readme.py`` runs every snippet this way.

**Type checking.** ``write`` writes one module per section: the preamble at
the top, then each snippet at its README line, so that mypy's line numbers
are README.rst's. A comment at the top of each module lets ``mypy --strict``
accept functions without annotations (snippets are untyped user code) while
it still checks their bodies and every call into the package. mypy rejects
``async with`` outside a coroutine function, so a snippet with top-level
``await`` is written as the body of an ``async def`` on the line above it;
the names it binds stay local to it. A ``>>>`` block is written without
prompts and output. tox's ``typing`` envs run mypy on the result.

It only needs the standard library, so that tox's typing envs can run it.

"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import doctest
import inspect
import pathlib
import re
import sys
import textwrap
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = [
    "ALLOWED_WARNINGS",
    "CONTINUES",
    "PREAMBLES",
    "README",
    "Snippet",
    "context",
    "parse",
    "program",
    "run",
    "sections",
    "write",
]

README = pathlib.Path(__file__).resolve().parent.parent / "README.rst"

# Context that the README's prose gives the snippets of a section, and no
# more. Most sections add routes to "the router" of the Quickstart; a snippet
# that needs anything else (an import, a helper) must show it.
ROUTER = "import websockets_routes\n\nrouter = websockets_routes.Router()\n"

# The reader's own lookup, which the snippet calls without showing it.
FIND_ITEM = "\n\ndef find_item(id):\n    return None\n"

#: Code run before a section's snippets, by section title.
PREAMBLES: dict[str, str] = {
    "Routes": ROUTER,
    "Class views": ROUTER + FIND_ITEM,
    "Serving": ROUTER,
    "Plain websockets servers": ROUTER,
    "Customising the connection": ROUTER,
    "Typed parameters": ROUTER,
    "Defaults": ROUTER,
    "Reverse URLs": ROUTER,
    "Redirects": ROUTER,
    "Sub-routers": ROUTER,
    "HTTP endpoints": ROUTER,
    "Per-route options": ROUTER,
    "Typed receives": ROUTER,
    "Introspection": ROUTER,
    "Security": ROUTER,
    "Migrating from websockets-routes 0.2": ROUTER,
}

#: Sections that continue another one: its preamble and snippets run first.
#: "The routed path" matches against the ``user`` route of "Routes"; a
#: redirect's target must match a route, the ``thing`` route of "Reverse URLs".
CONTINUES: dict[str, str] = {
    "The routed path": "Routes",
    "Redirects": "Reverse URLs",
}

#: Warnings that a section's snippets may raise, as (category, message regex).
#: The README says that importing websockets.legacy warns.
ALLOWED_WARNINGS: dict[str, list[tuple[type[Warning], str]]] = {
    "Migrating from websockets-routes 0.2": [
        (DeprecationWarning, r"websockets\.legacy is deprecated"),
    ],
}

HEADING = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")
CODE_BLOCK = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode)::\s*(\w+)?\s*$")
LOCALHOST_PORT = re.compile(r"""["']127\.0\.0\.1["'],\s*(\d+)""")


@dataclasses.dataclass(frozen=True)
class Snippet:
    """A Python snippet of README.rst.

    Attributes:
        section: Title of the nearest heading above the snippet.
        line: README line number of the snippet's first line (from 1).
        source: The snippet, dedented.
        doctest: Whether the snippet is a ``>>>`` session.

    """

    section: str
    line: int
    source: str
    doctest: bool

    @property
    def slug(self) -> str:
        """The section's title, in lowercase letters, digits and dashes."""
        return re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")

    @property
    def id(self) -> str:
        """A name for test reports: the section and the line."""
        return f"{self.slug}-L{self.line}"

    @property
    def serves_forever(self) -> bool:
        """Whether the snippet runs a server until it is stopped."""
        return "serve_forever()" in self.source

    @property
    def ports(self) -> list[int]:
        """The ports on 127.0.0.1 that the snippet names."""
        return sorted({int(port) for port in LOCALHOST_PORT.findall(self.source)})

    def compile(self, filename: str) -> Any:
        """Compile the snippet with README line numbers; top-level await allowed."""
        padded = "\n" * (self.line - 1) + self.source
        return compile(padded, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)

    @property
    def awaits(self) -> bool:
        """Whether the snippet uses ``await`` (or ``async with``) at top level."""
        if self.doctest:
            return False  # doctest has no top-level await
        code = self.compile("README.rst")
        return bool(code.co_flags & inspect.CO_COROUTINE)

    def code_lines(self) -> list[str]:
        """The snippet's lines as code: a ``>>>`` session loses prompts and output."""
        lines = self.source.splitlines()
        if not self.doctest:
            return lines
        return [_strip_prompt(line) for line in lines]


def _strip_prompt(line: str) -> str:
    """A line of a ``>>>`` session as code; output becomes a blank line."""
    return line[4:] if line.startswith((">>> ", "... ")) else ""


def parse(text: str) -> list[Snippet]:
    """Extract the Python snippets of an RST document, in order."""
    lines = text.splitlines()
    snippets: list[Snippet] = []
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        directive = CODE_BLOCK.match(line)
        if line.strip() and HEADING.match(following) and not line.startswith(" "):
            section = line.strip()
            index += 2
        elif directive:
            start, block = _indented_block(lines, index + 1, len(directive[1]))
            if directive[2] == "python" and block:
                source = textwrap.dedent("\n".join(block)) + "\n"
                is_doctest = source.startswith(">>>")
                snippets.append(Snippet(section, start + 1, source, is_doctest))
            index = start + len(block) if block else index + 1
        elif line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            # A literal block (shell commands, JSON): not Python, skipped.
            start, block = _indented_block(lines, index + 1, _indent(line))
            index = start + len(block) if block else index + 1
        elif line.lstrip().startswith(">>>"):
            end = index
            while end < len(lines) and lines[end].strip():
                end += 1
            source = textwrap.dedent("\n".join(lines[index:end])) + "\n"
            snippets.append(Snippet(section, index + 1, source, True))
            index = end
        else:
            index += 1
    return snippets


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indented_block(lines: list[str], index: int, indent: int) -> tuple[int, list[str]]:
    """Find the block indented deeper than ``indent``, from ``index`` on.

    Returns the index of the block's first line and its lines: a directive's
    options and the blank lines around the block are left out.

    """
    while index < len(lines) and lines[index].lstrip().startswith(":"):
        index += 1  # a directive's options, like :linenos:
    while index < len(lines) and not lines[index].strip():
        index += 1
    end = index
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    while end > index and not lines[end - 1].strip():
        end -= 1
    return index, lines[index:end]


def sections(snippets: list[Snippet]) -> dict[str, list[Snippet]]:
    """Group snippets by section, in README order."""
    grouped: dict[str, list[Snippet]] = {}
    for snippet in snippets:
        grouped.setdefault(snippet.section, []).append(snippet)
    return grouped


def context(snippets: list[Snippet], section: str) -> tuple[str, list[Snippet]]:
    """A section's preamble, and the snippets that its code sees, in order.

    Those are the snippets of the sections that it continues, then its own.

    """
    grouped = sections(snippets)
    chain = [section]
    while chain[0] in CONTINUES:
        chain.insert(0, CONTINUES[chain[0]])
    return PREAMBLES.get(chain[0], ""), [s for t in chain for s in grouped.get(t, [])]


def program(snippets: list[Snippet], target: Snippet) -> tuple[str, list[Snippet]]:
    """What runs for ``target``: a preamble, then snippets in README order.

    The snippets are those of :func:`context` up to ``target``, but for
    earlier ones that serve forever.

    """
    preamble, seen = context(snippets, target.section)
    before = seen[: seen.index(target)]
    return preamble, [*(s for s in before if not s.serves_forever), target]


def run(snippets: list[Snippet], target: Snippet, filename: str) -> int:
    """Run ``target`` as :func:`program` says; return an exit status."""
    preamble, pieces = program(snippets, target)
    warnings.simplefilter("error")
    for category, message in ALLOWED_WARNINGS.get(target.section, []):
        warnings.filterwarnings("ignore", message, category)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(preamble, f"<preamble of {target.section}>", "exec"), namespace)
    loop = asyncio.new_event_loop()
    try:
        for piece in pieces:
            if piece.doctest:
                if not _run_doctest(piece, namespace, filename):
                    return 1
                continue
            result = eval(piece.compile(filename), namespace)
            if inspect.iscoroutine(result):
                loop.run_until_complete(result)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


def _run_doctest(snippet: Snippet, namespace: dict[str, Any], filename: str) -> bool:
    parser = doctest.DocTestParser()
    name = f"README.rst line {snippet.line}"
    test = parser.get_doctest(
        snippet.source, namespace, name, filename, snippet.line - 1
    )
    runner = doctest.DocTestRunner(verbose=False)
    runner.run(test, out=sys.stderr.write, clear_globs=False)
    return runner.failures == 0


def write(snippets: list[Snippet], directory: pathlib.Path) -> list[pathlib.Path]:
    """Write one module per section, each snippet at its README line.

    Returns the paths written.

    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for title, own in sections(snippets).items():
        path = (
            directory / f"readme_{own[0].line:04d}_{own[0].slug.replace('-', '_')}.py"
        )
        path.write_text(_module(*context(snippets, title)), encoding="utf-8")
        paths.append(path)
    return paths


def _module(preamble: str, pieces: list[Snippet]) -> str:
    lines = [
        f"# README.rst: {pieces[-1].section}",
        # Snippets are untyped code that calls a typed API: mypy --strict
        # checks the calls and the bodies, not the missing annotations.
        "# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls",
        *preamble.splitlines(),
    ]
    if any(piece.doctest for piece in pieces):
        # A session shows the value it got: narrowing an Optional isn't its point.
        lines.insert(2, '# mypy: disable-error-code="union-attr"')
    for piece in pieces:
        first = piece.line - 1  # index of the snippet's first line
        if piece.awaits:
            first -= 1
        if len(lines) > first:
            raise ValueError(f"no room for README line {piece.line} in its module")
        lines += [""] * (first - len(lines))
        if piece.awaits:
            lines.append(f"async def _snippet_{piece.line}() -> None:")
            lines += [f"    {line}" if line else "" for line in piece.code_lines()]
        else:
            lines += piece.code_lines()
    return "\n".join(lines) + "\n"


def find(snippets: list[Snippet], line: int) -> Snippet:
    """The snippet that starts at a README line."""
    for snippet in snippets:
        if snippet.line == line:
            return snippet
    raise LookupError(f"no snippet starts at README.rst line {line}")


def _iter_listing(snippets: list[Snippet]) -> Iterator[str]:
    for snippet in snippets:
        flags = " serves-forever" if snippet.serves_forever else ""
        flags += " doctest" if snippet.doctest else ""
        yield f"{snippet.line}\t{snippet.section}{flags}"


def main(argv: list[str]) -> int:
    """Run the command line; return an exit status."""
    snippets = parse(README.read_text(encoding="utf-8"))
    if argv[:1] == ["list"] and len(argv) == 1:
        print("\n".join(_iter_listing(snippets)))
        return 0
    if argv[:1] == ["run"] and len(argv) == 2:
        return run(snippets, find(snippets, int(argv[1])), str(README))
    if argv[:1] == ["write"] and len(argv) == 2:
        for path in write(snippets, pathlib.Path(argv[1])):
            print(path)
        return 0
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
