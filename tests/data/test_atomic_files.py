"""Files written whole or not at all: a clean exit renames, any exception or a kill leaves
nothing under the final name."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ignn_pyg.data import read_image, write_image
from ignn_pyg.data.atomic_files import atomic_output, partial_name, write_text_atomic
from tests.cli_process import cli_env


def test_clean_exit_renames_and_leaves_no_partial(tmp_path):
    target = tmp_path / "sub" / "out.txt"  # the folder is created
    with atomic_output(target) as partial:
        assert partial.parent == target.parent and partial.suffix == ".txt" and partial.name.startswith(".")
        partial.write_text("whole")
        assert not target.exists()  # nothing under the final name while it is written
    assert target.read_text() == "whole"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, OSError])
def test_an_exception_keeps_the_previous_file_and_removes_the_partial(tmp_path, interrupt):
    target = tmp_path / "out.txt"
    target.write_text("before")
    with pytest.raises(interrupt):
        with atomic_output(target) as partial:
            partial.write_text("half")
            raise interrupt()
    assert target.read_text() == "before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_write_text_atomic_replaces(tmp_path):
    write_text_atomic(tmp_path / "a.json", "1")
    write_text_atomic(tmp_path / "a.json", "2")
    assert (tmp_path / "a.json").read_text() == "2"


def test_write_image_picks_the_format_from_the_final_suffix(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    write_image(tmp_path / "x.png", pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "x.png"), pixels)
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    write_image(tmp_path / "x.jpg", pixels)
    assert (tmp_path / "x.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jpg", "x.png"]


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_a_process_killed_mid_write_leaves_no_file_under_the_final_name(tmp_path, how):
    """A real process writing a PNG is stopped after half the bytes are on disk: killed
    outright (its hidden partial file may stay, the final name does not appear) or
    interrupted (the partial file is removed too)."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        import imageio.v3 as iio
        import numpy as np
        from ignn_pyg.data import write_image

        encode = iio.imwrite

        def half_then_{how.lower()}(path, img, **kwargs):
            encoded = encode("<bytes>", img, extension=".png")
            with open(path, "wb") as handle:
                handle.write(encoded[: len(encoded) // 2])
                handle.flush()
                os.kill(os.getpid(), signal.{how})
                handle.write(encoded[len(encoded) // 2:])

        iio.imwrite = half_then_{how.lower()}
        write_image(sys.argv[1], np.zeros((64, 64, 3), np.uint8))
    """)
    target = tmp_path / "out.png"
    done = subprocess.run([sys.executable, "-c", script, str(target)], env=cli_env(), capture_output=True)
    assert done.returncode == -getattr(signal, how), done.stderr  # Python re-raises an unhandled SIGINT
    assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    if how == "SIGINT":
        assert leftovers == []  # KeyboardInterrupt: the partial file is removed
    else:
        assert all(name.startswith(".out.png.partial-") for name in leftovers)


def test_partial_name_is_hidden_and_keeps_the_suffix(tmp_path):
    partial = partial_name(tmp_path / "a.b.png")
    assert partial.parent == tmp_path
    assert partial.name == f".a.b.png.partial-{os.getpid()}.png"
