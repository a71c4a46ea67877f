"""What the installed package declares: one version, its licence, its type information."""

import importlib.metadata
import importlib.resources
from pathlib import Path

import ignn_pyg

ROOT = Path(__file__).parents[1]


def test_the_version_is_written_once():
    """The installed metadata reads the version from ``ignn_pyg.__version__``; the project
    file names no version of its own."""
    assert importlib.metadata.version("ignn-pyg") == ignn_pyg.__version__
    assert 'dynamic = ["version"]' in (ROOT / "pyproject.toml").read_text()
    assert "\nversion = " not in (ROOT / "pyproject.toml").read_text().split("[tool.setuptools.dynamic]")[0]


def test_the_package_ships_py_typed_and_the_licence_is_mit():
    assert (importlib.resources.files("ignn_pyg") / "py.typed").is_file()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
