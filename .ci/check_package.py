"""Build the sdist and the wheel, check them, and try the wheel in a fresh venv.

Usage: ``python .ci/check_package.py WORKDIR`` (tox's ``package`` env passes
its ``{envtmpdir}``). Steps, each bounded by a timeout:

1. a copy of the source tree in ``WORKDIR/src``, without ``.git``, virtual
   environments, caches and build output: the build then starts from what a
   fresh clone has (a stale ``*.egg-info`` would add its files to the sdist)
   and writes nothing into the tree, where others may be editing;
   ``python -m build`` builds it into ``WORKDIR/dist`` with warnings shown,
   and any line of its output that mentions a warning or a deprecation fails
   the check;
2. the contents: the sdist carries LICENSE, README.rst, CHANGES.rst, the
   tests, the examples and every module with ``py.typed``; the wheel carries
   every module, ``py.typed`` and the LICENSE in its ``.dist-info``; both
   say ``License-Expression: MIT`` and a version after 0.2;
3. ``twine check --strict`` on both, which also checks that README.rst
   renders;
4. a fresh virtualenv in ``WORKDIR/venv``: the wheel and its dependencies
   installed from the package index, then ``.ci/quickstart.py`` run there
   from ``WORKDIR``, away from the sources.

It exits with status 0 when every step passes and stops at the first failure
with a one-line reason on stderr. The build tools come from the calling
Python, which needs ``build``, ``twine`` and ``packaging``.
"""

from __future__ import annotations

import email.parser
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Sequence
from email.message import Message

from packaging.version import Version

Command = list[str | os.PathLike[str]]

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAME = "websockets_routes"
PREDECESSOR = Version("0.2")
SUSPICIOUS = re.compile(r"deprecat|warning", re.IGNORECASE)
# Not sources: what git, tools, virtual environments and builds leave behind.
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".tox",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    ".coverage",
)


class CheckFailed(Exception):
    """A step of the check failed; the message says why."""


def run(
    cmd: Command,
    *,
    timeout: float,
    capture: bool = False,
    cwd: pathlib.Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run cmd within timeout seconds; return its output when captured.

    The command runs in its own process group, so a timeout also ends what it
    started (the build's isolated environment, pip's children).

    Raises:
        CheckFailed: if the command times out or exits with a nonzero status.
    """
    args = [os.fspath(arg) for arg in cmd]
    print("$", " ".join(args), flush=True)
    with subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            print(output or "", end="")
            raise CheckFailed(
                f"timed out after {timeout} s: {' '.join(args)}"
            ) from None
    if process.returncode != 0:
        print(output or "", end="")
        raise CheckFailed(f"exit status {process.returncode}: {' '.join(args)}")
    return output or ""


def copy_sources(src: pathlib.Path) -> None:
    """Copy the source tree to src, leaving out what is not a source."""
    shutil.rmtree(src, ignore_errors=True)

    def ignore(directory: str, names: list[str]) -> set[str]:
        # WORKDIR may lie inside the tree: never copy it into itself.
        inside = {name for name in names if pathlib.Path(directory, name) == src.parent}
        return NOT_SOURCES(directory, names) | inside

    shutil.copytree(ROOT, src, ignore=ignore)


def build(src: pathlib.Path, dist: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """Build the sdist of src, then the wheel from it; fail on any warning.

    Returns:
        The paths of the sdist and the wheel.
    """
    shutil.rmtree(dist, ignore_errors=True)
    env = dict(os.environ, PYTHONWARNINGS="default")
    # With it, setuptools warns that byte-compiling is disabled: a fact about
    # this machine, not about the package.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd: Command = [sys.executable, "-m", "build", "--outdir", dist, src]
    output = run(cmd, timeout=180, capture=True, env=env)
    flagged = [line for line in output.splitlines() if SUSPICIOUS.search(line)]
    if flagged:
        print(output, end="")
        raise CheckFailed(f"the build printed warnings: {flagged}")
    sdists, wheels = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise CheckFailed(f"expected one sdist and one wheel: {sdists + wheels}")
    return sdists[0], wheels[0]


def sources(src: pathlib.Path, directory: str) -> set[str]:
    """Return the .py files under directory of src, as posix paths."""
    return {
        path.relative_to(src).as_posix() for path in (src / directory).rglob("*.py")
    }


def require(kind: str, names: set[str], expected: set[str]) -> None:
    """Fail unless every expected name is among names."""
    missing = sorted(expected - names)
    if missing:
        raise CheckFailed(f"{kind} lacks {missing}")


def check_metadata(kind: str, metadata: Message) -> None:
    """Fail unless metadata says MIT as an SPDX expression and succeeds 0.2."""
    if metadata["License-Expression"] != "MIT":
        raise CheckFailed(
            f"{kind}: License-Expression: {metadata['License-Expression']}"
        )
    classifiers = metadata.get_all("Classifier") or []
    if any(classifier.startswith("License ::") for classifier in classifiers):
        raise CheckFailed(f"{kind}: license classifiers are deprecated: {classifiers}")
    version = Version(metadata["Version"])
    if not version > PREDECESSOR:
        raise CheckFailed(f"{kind}: version does not succeed {PREDECESSOR}: {version}")


def check_sdist(sdist: pathlib.Path, modules: set[str], others: set[str]) -> None:
    """Check the files and the metadata of the sdist.

    Args:
        sdist: the sdist.
        modules: the package's .py files.
        others: the .py files of the tests and the examples.
    """
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        names = {name.partition("/")[2] for name in archive.getnames()}
        pkg_info = archive.extractfile(f"{top}/PKG-INFO")
        if pkg_info is None:
            raise CheckFailed("the sdist lacks PKG-INFO")
        metadata = email.parser.BytesParser().parse(pkg_info)
    expected = {"LICENSE", "README.rst", "CHANGES.rst", f"{NAME}/py.typed"}
    expected |= modules | others
    require("the sdist", names, expected)
    check_metadata("the sdist", metadata)


def check_wheel(wheel: pathlib.Path, modules: set[str]) -> None:
    """Check the files and the metadata of the wheel.

    Args:
        wheel: the wheel.
        modules: the package's .py files.
    """
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = next(name for name in names if ".dist-info/" in name)
        dist_info = dist_info.partition("/")[0]
        metadata = email.parser.BytesParser().parsebytes(
            archive.read(f"{dist_info}/METADATA")
        )
    expected = {f"{NAME}/py.typed", f"{dist_info}/licenses/LICENSE"} | modules
    require("the wheel", names, expected)
    check_metadata("the wheel", metadata)


def try_wheel(
    wheel: pathlib.Path, quickstart: pathlib.Path, workdir: pathlib.Path
) -> None:
    """Install the wheel in a fresh virtualenv and run the quickstart there."""
    venv = workdir / "venv"
    run([sys.executable, "-m", "venv", "--clear", venv], timeout=60)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    pip: Command = [python, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    run([*pip, "install", wheel], timeout=180)
    # -I keeps PYTHON* variables, and with them the sources, off sys.path.
    run([python, "-I", quickstart], timeout=30, cwd=workdir)


def main(argv: Sequence[str]) -> int:
    """Run every step in WORKDIR; return the exit status."""
    if len(argv) != 1:
        print("usage: python .ci/check_package.py WORKDIR", file=sys.stderr)
        return 2
    workdir = pathlib.Path(argv[0]).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    src = workdir / "src"
    copy_sources(src)
    modules = sources(src, NAME)
    others = sources(src, "tests") | sources(src, "examples")
    try:
        sdist, wheel = build(src, workdir / "dist")
        check_sdist(sdist, modules, others)
        check_wheel(wheel, modules)
        run(
            [sys.executable, "-m", "twine", "check", "--strict", sdist, wheel],
            timeout=60,
        )
        try_wheel(wheel, src / ".ci" / "quickstart.py", workdir)
    except CheckFailed as exc:
        print(f"check_package: {exc}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - start
    print(f"check_package: ok in {elapsed:.0f} s: {sdist.name}, {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
