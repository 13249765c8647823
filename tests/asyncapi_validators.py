"""Check AsyncAPI documents twice: with the official JSON Schema and parser.

Both come from the npm registry, pinned in ``tests/clients/package.json`` and
installed by ``npm ci`` in ``tests/clients`` (``.ci/run`` does it):

* :func:`validate_with_schema` validates a document with Python's
  ``jsonschema`` against the AsyncAPI 3.0.0 JSON Schema of ``@asyncapi/specs``
  (``schemas/3.0.0.json``: one file that embeds every definition it needs,
  each under its ``$id``). Its ``$ref`` resolve offline: the schema's own
  definitions and the JSON Schema draft-07 meta-schema (which ``jsonschema``
  ships) are in a ``referencing`` registry that refuses to fetch anything else.
* :func:`validate_with_parser` runs ``@asyncapi/parser``, the parser AsyncAPI
  tools are built on, under Node.js (``tests/clients/asyncapi_parse.js``):
  it validates the document with its own rules as well as the schema.

Either raises ``AssertionError`` listing every error it found. When
``tests/clients/node_modules`` lacks the packages (or ``node`` is not on
``PATH``), they skip the calling test, saying why; when the ``CI``
environment variable is set, they fail it instead: CI must run them.

"""

from __future__ import annotations

import functools
import json
import pathlib
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from typing import Any

from support import need

__all__ = [
    "CLIENTS",
    "PARSER",
    "SCHEMA",
    "validate_with_parser",
    "validate_with_schema",
]

CLIENTS = pathlib.Path(__file__).parent / "clients"
SCHEMA = CLIENTS / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
PARSER = CLIENTS / "node_modules" / "@asyncapi" / "parser" / "package.json"
PARSE_JS = CLIENTS / "asyncapi_parse.js"
#: Seconds node may take to start, load the parser and parse one document.
TIMEOUT = 60
#: Severities of @asyncapi/parser's diagnostics (Spectral's).
ERROR, WARNING = 0, 1


@functools.cache
def _schema_validator() -> Any:
    """A jsonschema validator for AsyncAPI 3.0.0 that resolves $ref offline."""
    import jsonschema
    import referencing
    import referencing.exceptions
    import referencing.jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))

    def retrieve(uri: str) -> referencing.Resource[Any]:
        # jsonschema would otherwise fetch unknown references from the network.
        raise referencing.exceptions.NoSuchResource(ref=uri)

    resource = referencing.jsonschema.DRAFT7.create_resource(schema)
    registry: referencing.Registry[Any] = referencing.Registry(retrieve=retrieve)
    registry = registry.with_resource(schema["$id"], resource).crawl()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def validate_with_schema(document: Mapping[str, Any]) -> None:
    """Validate a document against the official AsyncAPI 3.0.0 JSON Schema.

    Args:
        document: The AsyncAPI document, as JSON-compatible data.

    Raises:
        AssertionError: The document is invalid; the message lists every
            error, one a line, as ``/json/pointer: message``.

    """
    need(
        SCHEMA.is_file(),
        "@asyncapi/specs is not installed: run npm ci in tests/clients",
    )
    validator = _schema_validator()
    errors = sorted(
        validator.iter_errors(document), key=lambda error: list(error.absolute_path)
    )
    if errors:
        lines = [_schema_error(error) for error in errors]
        raise AssertionError(
            f"{len(errors)} AsyncAPI 3.0.0 schema error(s):\n" + "\n".join(lines)
        )


def validate_with_parser(document: Mapping[str, Any]) -> None:
    """Parse a document with the official @asyncapi/parser, under Node.js.

    Args:
        document: The AsyncAPI document, as JSON-compatible data.

    Raises:
        AssertionError: The parser reported errors (severity 0); the message
            lists them, then the warnings, as ``/json/pointer: message [code]``.

    """
    node = shutil.which("node")
    need(node is not None, "node is not on PATH")
    need(
        PARSER.is_file(),
        "@asyncapi/parser is not installed: run npm ci in tests/clients",
    )
    assert node is not None
    diagnostics = _parse(node, document)
    errors = [d for d in diagnostics if d["severity"] == ERROR]
    if errors:
        warnings = [d for d in diagnostics if d["severity"] == WARNING]
        lines = [_diagnostic(d) for d in errors]
        lines += [f"(warning) {_diagnostic(d)}" for d in warnings]
        raise AssertionError(
            f"{len(errors)} @asyncapi/parser error(s):\n" + "\n".join(lines)
        )


def _parse(node: str, document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Run asyncapi_parse.js on a document; return its diagnostics."""
    with tempfile.TemporaryDirectory() as directory:
        path = pathlib.Path(directory) / "asyncapi.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        result = subprocess.run(
            [node, str(PARSE_JS), str(path)],
            cwd=CLIENTS,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    if result.returncode != 0:
        raise AssertionError(
            f"asyncapi_parse.js exited with {result.returncode}: {result.stderr}"
        )
    diagnostics: list[dict[str, Any]] = json.loads(result.stdout)
    return diagnostics


def _schema_error(error: Any) -> str:
    """One line for a schema error, with the deepest cause of a failed oneOf."""
    line = f"{_pointer(error.absolute_path)}: {error.message}"
    if error.context:
        # The branch that got furthest into the instance is the one meant.
        cause = max(error.context, key=lambda sub: len(sub.absolute_path))
        line += f" (likely: {_pointer(cause.absolute_path)}: {cause.message})"
    return line


def _diagnostic(diagnostic: Mapping[str, Any]) -> str:
    """One line for a parser diagnostic."""
    pointer = _pointer(diagnostic.get("path") or [])
    return f"{pointer}: {diagnostic['message']} [{diagnostic['code']}]"


def _pointer(path: Any) -> str:
    """A JSON pointer for a path of keys and indexes ("/" for the root)."""
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in path]
    return "/" + "/".join(parts)
