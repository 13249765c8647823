"""Tests for the command line, ``python -m websockets_routes``.

Most tests run the command as users do, in a subprocess whose current
directory holds a small application written by the test; the error cases
also run in-process, through :func:`websockets_routes.cli.main`, so that
coverage sees them. Documents the command writes are checked with both
AsyncAPI validators (``asyncapi_validators``). The last tests keep
README.rst's AsyncAPI section in step with the demo.

"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import pathlib
import re
import runpy
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import websockets_routes
from websockets_routes import cli

from asyncapi_validators import validate_with_parser, validate_with_schema
from support import http_get

ROOT = pathlib.Path(__file__).parent.parent
README = ROOT / "README.rst"
#: Seconds the command may take: it imports the package and the application.
TIMEOUT = 60

APP = '''
import dataclasses
import enum

from websockets_routes import Endpoint, Router, on


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Draw:
    points: list[Point]
    color: Color
    label: str | None = None


router = Router()


@router.route("/boards/{board:int}", name="board")
class Board(Endpoint):
    encoding = "json"

    @on("draw")
    async def draw(self, ws, path, message: Draw) -> Point:
        """Draw a line; the reply is its last point."""
        return message.points[-1]


@router.route("/echo", name="echo")
async def echo(ws, path):
    async for message in ws:
        await ws.send(message)


def create_router():
    return router


not_a_router = 42
'''

ADDED_ROUTE = """

@router.route("/news", name="news")
async def news(ws, path):
    await ws.send("nothing new")
"""


def run(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m websockets_routes ARGS`` in a directory."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "websockets_routes", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture
def app_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    """A directory holding the application module ``drawing``."""
    (tmp_path / "drawing.py").write_text(APP, encoding="utf-8")
    return tmp_path


@pytest.fixture
def in_app_dir(
    app_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pathlib.Path]:
    """The application directory as the current one, for in-process runs."""
    monkeypatch.chdir(app_dir)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield app_dir
    sys.modules.pop("drawing", None)


def test_writes_json_to_stdout(app_dir: pathlib.Path) -> None:
    """asyncapi writes the router's AsyncAPI 3.0.0 document as JSON on stdout."""
    result = run("asyncapi", "drawing:router", "--title", "Drawing", cwd=app_dir)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    document = json.loads(result.stdout)
    assert result.stdout == json.dumps(document, indent=2) + "\n"
    assert document["asyncapi"] == "3.0.0"
    assert document["info"] == {"title": "Drawing", "version": "0.0.0"}
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {"/boards/{board}", "/echo"}


def test_json_output_is_valid(app_dir: pathlib.Path) -> None:
    """The JSON document, with servers, passes the schema and the parser."""
    result = run(
        "asyncapi",
        "drawing:router",
        "--version",
        "2.1.0",
        "--description",
        "Boards to draw on.",
        "--server",
        "dev=ws://127.0.0.1:8765",
        "--server",
        "prod=wss://draw.example/ws",
        "--output",
        "asyncapi.json",
        cwd=app_dir,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    document = json.loads((app_dir / "asyncapi.json").read_text(encoding="utf-8"))
    assert document["info"] == {
        "title": "drawing",
        "version": "2.1.0",
        "description": "Boards to draw on.",
    }
    assert set(document["servers"]) == {"dev", "prod"}
    validate_with_schema(document)
    validate_with_parser(document)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("--output", "asyncapi.yaml"), "asyncapi.yaml"),
        (("--output", "contract.yml"), "contract.yml"),
        (("--format", "yaml", "--output", "contract.txt"), "contract.txt"),
    ],
)
def test_writes_yaml(app_dir: pathlib.Path, args: tuple[str, ...], name: str) -> None:
    """--format yaml, or a .yaml or .yml output file, writes valid YAML."""
    result = run("asyncapi", "drawing:create_router", *args, cwd=app_dir)
    assert result.returncode == 0, result.stderr
    text = (app_dir / name).read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    assert text == yaml.safe_dump(document, sort_keys=False)
    assert text.startswith("asyncapi: 3.0.0\n")
    # An object the document holds twice is written twice, not as an alias.
    assert "&id" not in text and "*id" not in text
    validate_with_schema(document)
    validate_with_parser(document)


def test_factory_gives_same_document(app_dir: pathlib.Path) -> None:
    """A factory that returns the router gives the router's document."""
    by_router = run("asyncapi", "drawing:router", cwd=app_dir)
    by_factory = run("asyncapi", "drawing:create_router", cwd=app_dir)
    assert by_factory.stdout == by_router.stdout != ""


@pytest.mark.parametrize("name", ["asyncapi.json", "asyncapi.yaml"])
def test_check_passes_then_fails_on_drift(app_dir: pathlib.Path, name: str) -> None:
    """--check exits 0 on a fresh document, 1 with a diff once a route is added."""
    assert (
        run("asyncapi", "drawing:router", "--output", name, cwd=app_dir).returncode == 0
    )
    result = run("asyncapi", "drawing:router", "--check", name, cwd=app_dir)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

    with (app_dir / "drawing.py").open("a", encoding="utf-8") as file:
        file.write(ADDED_ROUTE)
    result = run("asyncapi", "drawing:router", "--check", name, cwd=app_dir)
    assert result.returncode == 1
    assert result.stdout.startswith(f"--- {name} (committed)\n+++ generated\n@@ ")
    added = [line for line in result.stdout.splitlines() if line.startswith("+")]
    assert any("/news" in line for line in added), result.stdout
    assert not any(line.startswith("-") for line in result.stdout.splitlines()[2:])
    assert result.stderr == (
        f"{name} does not match the code: write it again with --output\n"
    )


def test_check_ignores_key_order_and_layout(app_dir: pathlib.Path) -> None:
    """--check compares documents as data: key order and indentation don't matter."""
    document = json.loads(run("asyncapi", "drawing:router", cwd=app_dir).stdout)
    reordered = dict(reversed(list(document.items())))
    (app_dir / "contract").write_text(json.dumps(reordered), encoding="utf-8")
    result = run("asyncapi", "drawing:router", "--check", "contract", cwd=app_dir)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_check_uses_the_same_options(app_dir: pathlib.Path) -> None:
    """--check fails when the document was written with another title."""
    run("asyncapi", "drawing:router", "--output", "a.json", cwd=app_dir)
    result = run(
        "asyncapi",
        "drawing:router",
        "--title",
        "Other",
        "--check",
        "a.json",
        cwd=app_dir,
    )
    assert result.returncode == 1
    assert '-    "title": "drawing",\n+    "title": "Other",\n' in result.stdout


def test_app_dir_option(app_dir: pathlib.Path) -> None:
    """--app-dir imports the application from another directory."""
    elsewhere = app_dir / "elsewhere"
    elsewhere.mkdir()
    result = run("asyncapi", "drawing:router", "--app-dir", "..", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["info"]["title"] == "drawing"


ERRORS = [
    (["drawing"], "error: app must be module:attribute: 'drawing'"),
    (["drawing:"], "error: app must be module:attribute: 'drawing:'"),
    (
        ["nowhere:router"],
        "error: cannot import nowhere: ModuleNotFoundError: No module named 'nowhere'",
    ),
    (["broken:router"], "error: cannot import broken: RuntimeError: no config"),
    (["drawing:missing"], "error: no attribute 'missing' in drawing:missing"),
    (["drawing:router.nope"], "error: no attribute 'nope' in drawing:router.nope"),
    (
        ["drawing:not_a_router"],
        "error: not a router or a function returning one: drawing:not_a_router (int)",
    ),
    (
        ["drawing:Point"],
        "error: calling drawing:Point failed: TypeError: "
        "Point.__init__() missing 2 required positional arguments: 'x' and 'y'",
    ),
    (
        ["drawing:router", "--server", "dev"],
        "error: --server must be NAME=URL: 'dev'",
    ),
    (
        ["drawing:router", "--server", "dev=http://127.0.0.1"],
        "error: cannot describe drawing:router: ValueError: "
        "server URL must be ws:// or wss://: 'http://127.0.0.1'",
    ),
    (
        ["drawing:router", "--check", "missing.json"],
        "error: cannot read missing.json: No such file or directory",
    ),
    (
        ["drawing:router", "--check", "garbage.json"],
        "error: invalid JSON in garbage.json: "
        "Expecting value: line 1 column 1 (char 0)",
    ),
    (
        ["drawing:router", "--check", "garbage.yaml"],
        "error: invalid YAML in garbage.yaml: ScannerError: "
        "mapping values are not allowed here",
    ),
    (
        ["drawing:router", "--check", "latin1.json"],
        "error: cannot read latin1.json: 'utf-8' codec can't decode byte 0xe9 "
        "in position 1: invalid continuation byte",
    ),
    (
        ["drawing:router", "--output", "no/such/dir.json"],
        "error: cannot write no/such/dir.json: No such file or directory",
    ),
]


def write_error_fixtures(directory: pathlib.Path) -> None:
    """The files that the error cases read."""
    (directory / "broken.py").write_text(
        "raise RuntimeError('no config')\n", encoding="utf-8"
    )
    (directory / "garbage.json").write_text("<<<<<<< HEAD\n", encoding="utf-8")
    (directory / "garbage.yaml").write_text("a: b: c\n", encoding="utf-8")
    (directory / "latin1.json").write_bytes('"été"'.encode("latin-1"))


@pytest.mark.parametrize(("args", "error"), ERRORS)
def test_error_exits_2_with_one_line(
    app_dir: pathlib.Path, args: list[str], error: str
) -> None:
    """An error is one line on stderr, without a traceback, and exit status 2."""
    write_error_fixtures(app_dir)
    result = run("asyncapi", *args, cwd=app_dir)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == error + "\n"


@pytest.mark.parametrize(("args", "error"), ERRORS)
def test_error_in_process(
    in_app_dir: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    error: str,
) -> None:
    """main() returns 2 and prints the same line when called in-process."""
    write_error_fixtures(in_app_dir)
    sys.modules.pop("broken", None)
    assert cli.main(["asyncapi", *args]) == 2
    assert capsys.readouterr() == ("", error + "\n")


class BlockYaml:
    """A finder that fails every import of yaml, as if PyYAML were missing."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] == "yaml":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


@pytest.mark.parametrize(
    "args", [["--format", "yaml"], ["--output", "a.yml"], ["--check", "a.yaml"]]
)
def test_yaml_without_pyyaml(
    in_app_dir: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    """YAML without PyYAML is an error that names the [yaml] extra."""
    (in_app_dir / "a.yaml").write_text("asyncapi: 3.0.0\n", encoding="utf-8")
    for name in [name for name in sys.modules if name.partition(".")[0] == "yaml"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [BlockYaml(), *sys.meta_path])
    assert cli.main(["asyncapi", "drawing:router", *args]) == 2
    expected = "error: yaml needs PyYAML: install websockets-routes[yaml]\n"
    assert capsys.readouterr() == ("", expected)
    assert not (in_app_dir / "a.yml").exists()


def test_in_process_output_and_check(
    in_app_dir: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() writes, checks and reports drift in-process as the command does."""
    assert cli.main(["asyncapi", "drawing:router", "--output", "a.yaml"]) == 0
    assert cli.main(["asyncapi", "drawing:router", "--check", "a.yaml"]) == 0
    assert (
        cli.main(["asyncapi", "drawing:router", "--title", "T", "--check", "a.yaml"])
        == 1
    )
    out, err = capsys.readouterr()
    assert "-  title: drawing\n+  title: T\n" in out
    assert err == "a.yaml does not match the code: write it again with --output\n"
    assert cli.main(["asyncapi", "drawing:create_router"]) == 0
    assert json.loads(capsys.readouterr().out)["asyncapi"] == "3.0.0"


def test_usage_errors_exit_2(app_dir: pathlib.Path) -> None:
    """No command, or --output with --check, is a usage error with status 2."""
    result = run(cwd=app_dir)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m websockets_routes ")
    result = run("asyncapi", "a:b", "--output", "x", "--check", "y", cwd=app_dir)
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_commands(app_dir: pathlib.Path) -> None:
    """--help lists every command with its one-line help."""
    result = run("--help", cwd=app_dir)
    assert result.returncode == 0
    for command in cli.COMMANDS:
        assert re.search(
            rf"^\s+{command.name}\s+{re.escape(command.help[:30])}",
            result.stdout,
            re.MULTILINE,
        )


def test_main_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """python -m websockets_routes runs cli.main and exits with its status."""
    # pytest's assertion rewriter takes over the package (it ships a pytest
    # plugin) and cannot give runpy its code: leave it out for this run.
    from _pytest.assertion.rewrite import AssertionRewritingHook

    finders = [f for f in sys.meta_path if not isinstance(f, AssertionRewritingHook)]
    monkeypatch.setattr(sys, "meta_path", finders)
    monkeypatch.setattr(sys, "argv", ["__main__.py", "--help"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("websockets_routes", run_name="__main__")
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m websockets_routes ")


def test_console_script_entry_point() -> None:
    """The websockets-routes console script runs cli.main."""
    (entry_point,) = importlib.metadata.entry_points(
        group="console_scripts", name="websockets-routes"
    )
    assert entry_point.value == "websockets_routes.cli:main"
    assert entry_point.load() is cli.main


# README.rst's AsyncAPI section shows a command and the document it writes.

COMMAND = re.compile(r"^\s+\$ (python -m websockets_routes asyncapi .*)$", re.MULTILINE)


def readme_section() -> str:
    """The text of README.rst's AsyncAPI section."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\nAsyncAPI\n--------\n")
    end = text.index("\nIntrospection\n-------------\n", start)
    return text[start:end]


def readme_demo() -> tuple[list[str], Any]:
    """The command that README.rst runs on the demo, and the JSON it shows."""
    section = readme_section()
    commands = [shlex.split(match) for match in COMMAND.findall(section)]
    demo = [c for c in commands if "websockets_routes.demo:create_app" in c]
    assert len(demo) == 1, commands
    block = section.partition("\n.. code-block:: json\n\n")[2]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return demo[0][3:], json.loads(textwrap.dedent("\n".join(lines)))


def test_readme_shows_demo_document() -> None:
    """README.rst's demo document is what its command writes for the demo today."""
    args, shown = readme_demo()
    result = run(*args, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == shown, (
        "README.rst's AsyncAPI document is out of date: run "
        "python -m websockets_routes " + shlex.join(args)
    )
    validate_with_schema(shown)
    validate_with_parser(shown)


async def test_demo_serves_readme_document() -> None:
    """The demo serves the document of README.rst at /asyncapi.json."""
    from websockets_routes.demo import create_app

    async with create_app(hub=websockets_routes.Hub()).serve("127.0.0.1", 0) as server:
        status, headers, body = await http_get(server, "/asyncapi.json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == readme_demo()[1]
    assert json.loads(body)["info"]["version"] == websockets_routes.__version__
