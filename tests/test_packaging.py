"""Tests for the packaging metadata that can be checked without a build.

tox's ``package`` env (``.ci/check_package.py``) builds the sdist and the
wheel and checks the built metadata and files; these tests give the same
answers about the version and the license in a second.
"""

from __future__ import annotations

import configparser
import pathlib

from packaging.version import Version

import websockets_routes

ROOT = pathlib.Path(__file__).parent.parent


def metadata() -> configparser.SectionProxy:
    """Return the [metadata] section of setup.cfg."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config["metadata"]


def test_version_succeeds_0_2() -> None:
    """The version sorts after 0.2, the last release of websockets-routes."""
    assert Version(websockets_routes.__version__) > Version("0.2")


def test_version_is_normalized() -> None:
    """The version is spelled as PEP 440 normalizes it, as built files name it."""
    version = websockets_routes.__version__
    assert str(Version(version)) == version


def test_setup_cfg_reads_version_from_package() -> None:
    """setup.cfg takes the version from websockets_routes.__version__."""
    assert metadata()["version"] == "attr: websockets_routes.__version__"


def test_license_is_spdx_expression() -> None:
    """The license is the SPDX expression MIT, with no deprecated classifier."""
    assert metadata()["license_expression"] == "MIT"
    assert "license" not in metadata()
    assert "License ::" not in metadata()["classifiers"]


def test_license_file() -> None:
    """setup.cfg ships LICENSE, which holds the MIT license."""
    assert metadata()["license_files"] == "LICENSE"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2019-2026 ")
