"""The checks commands make on their outputs before any work."""

import os

import pytest

from ignn_pyg.data.output_checks import check_new, check_not_inputs, check_unique, check_writable


def test_an_input_is_never_an_output(tmp_path):
    source = tmp_path / "s.png"
    source.write_bytes(b"x")
    with pytest.raises(ValueError, match="refusing to write over an input"):
        check_not_inputs([tmp_path / "s.png"], [source])
    with pytest.raises(ValueError, match="is the input"):  # the same file under another spelling
        check_not_inputs([tmp_path / "sub" / ".." / "s.png"], [source])
    (tmp_path / "link.png").symlink_to(source)
    with pytest.raises(ValueError, match="is the input"):  # or through a link
        check_not_inputs([tmp_path / "link.png"], [source])
    os.link(source, tmp_path / "hard.png")
    with pytest.raises(ValueError, match="is the input"):  # or a hard link
        check_not_inputs([tmp_path / "hard.png"], [source])
    (tmp_path / "other.png").write_bytes(b"x")  # an existing output that is no input is not this check's
    check_not_inputs([tmp_path / "s_x2.png", tmp_path / "other.png"], [source])


def test_outputs_named_twice_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"1 output name\(s\) would be written twice: .*a_x2.png"):
        check_unique([tmp_path / "a_x2.png", tmp_path / "b_x2.png", tmp_path / "." / "a_x2.png"])
    check_unique([tmp_path / "a_x2.png", tmp_path / "b_x2.png"])


def test_existing_outputs_need_overwrite(tmp_path):
    outputs = [tmp_path / f"{i}.png" for i in range(5)]
    for path in outputs[:4]:
        path.write_bytes(b"x")
    with pytest.raises(ValueError) as err:
        check_new(outputs, overwrite=False)
    message = str(err.value)
    assert message.startswith("4 output file(s) exist already: ") and "and 1 more" in message
    assert message.endswith("give --overwrite to replace them") and "\n" not in message
    check_new(outputs, overwrite=True)
    check_new(outputs[4:], overwrite=False)


def test_writable_folders_pass_and_leave_nothing(tmp_path):
    check_writable(tmp_path)
    check_writable(tmp_path / "new" / "deeper")  # created later, under a writable folder
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=f"cannot write to {tmp_path / 'file' / 'out'}: .* is a file"):
        check_writable(tmp_path / "file" / "out")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_an_unwritable_folder_is_refused_even_for_root():
    """/proc refuses new files to every user, root included, whose permission bits a
    chmod-based check would not see."""
    with pytest.raises(ValueError, match="cannot write to /proc/self"):
        check_writable(__import__("pathlib").Path("/proc/self"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="cannot write to .*ro"):
            check_writable(folder)
    finally:
        folder.chmod(0o755)
