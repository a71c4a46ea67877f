"""The photo table: the installed eval photos, hash checks and install hints.

Train photos are looked for below ``$IGNN_PYG_SYSTEM_ROOT`` (default ``/``), where the
Debian packages were installed or extracted with ``dpkg-deb -x``.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from ignn_pyg.data import photos
from ignn_pyg.data.image_io import write_image
from ignn_pyg.data.photos import (
    PHOTOS,
    Photo,
    PhotoChecksumError,
    PhotoNotInstalledError,
    downscale_photo,
    list_photos,
    load_photo,
    load_training_photo,
    photo_path,
)

SYSTEM_ROOT = Path(os.environ.get("IGNN_PYG_SYSTEM_ROOT", "/"))
TSV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos.tsv"


def _fake(tmp_path: Path, size: tuple[int, int] = (30, 45), **fields) -> Photo:
    """A table entry named "fake" for a small image in ``tmp_path``, with its true hash."""
    path = tmp_path / "fake.png"
    write_image(path, np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8))
    entry = Photo(
        "train",
        "fake-wallpapers",
        size[1],
        size[0],
        "CC0",
        str(path),
        hashlib.sha256(path.read_bytes()).hexdigest(),
    )
    return entry._replace(**fields)


@pytest.mark.skipif(not TSV.is_file(), reason="project checkout's shared/data/photos.tsv absent")
def test_table_matches_the_project_tsv():
    with open(TSV, newline="") as file:
        rows = [row for row in csv.DictReader(file, delimiter="\t") if row["split"] in ("train", "eval")]
    from_tsv = [photo for photo in PHOTOS if photo.split != "held_out"]
    assert len(rows) == len(from_tsv)
    for row, photo in zip(rows, from_tsv, strict=True):
        assert photo.path == row["installed_path"]
        assert Path(row["installed_path"]).stem == photo.name
        assert (photo.split, photo.package, photo.sha256, photo.licence) == (
            row["split"],
            row["package"],
            row["sha256"],
            row["licence"],
        )
        assert (photo.width, photo.height) == (int(row["width"]), int(row["height"]))


def test_names_are_unique_and_split():
    names = [photo.name for photo in PHOTOS]
    assert len(set(names)) == len(names)
    assert set(list_photos("eval")) | set(list_photos("train")) | set(list_photos("held_out")) == set(names)
    assert "astronaut" in list_photos("eval") and "motorcycle_right" not in names
    with pytest.raises(ValueError, match="'test'"):
        list_photos("test")
    with pytest.raises(ValueError, match="'no_such_photo'"):
        photo_path("no_such_photo")


@pytest.mark.skipif(not TSV.is_file(), reason="project checkout's shared/data/photos.tsv absent")
def test_held_out_photos_are_in_no_row_of_the_project_tsv():
    """Held out means in neither split and not excluded either: no row of the TSV has the
    file, its name or its bytes."""
    with open(TSV, newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    held_out = [p for p in PHOTOS if p.split == "held_out"]
    assert len(held_out) == 8
    for photo in held_out:
        for row in rows:
            assert photo.path != row["installed_path"] and photo.sha256 != row["sha256"]
            assert Path(row["installed_path"]).stem != photo.name


@pytest.mark.parametrize("name", list_photos("eval") + list_photos("held_out"))
def test_pip_installed_photos_load_and_verify(name):
    photo = next(p for p in PHOTOS if p.name == name)
    pytest.importorskip(
        {"scikit-image": "skimage", "scikit-learn": "sklearn", "matplotlib": "matplotlib"}[photo.package]
    )
    path = photo_path(name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == photo.sha256
    img = load_photo(name)
    assert img.dtype == np.uint8 and img.shape == (photo.height, photo.width, 3)


def test_installed_train_photos_verify():
    missing_packages = set()
    verified = 0
    for name in list_photos("train"):
        photo = next(p for p in PHOTOS if p.name == name)
        try:
            assert photo_path(name, SYSTEM_ROOT) == SYSTEM_ROOT / photo.path.lstrip("/")
            verified += 1
        except PhotoNotInstalledError:
            missing_packages.add(photo.package)
    if not verified:
        pytest.skip(f"no train photos installed: apt-get install {' '.join(sorted(missing_packages))}")


def test_training_photo_downscale_when_installed():
    name = "Picture_0B_by_freespace"  # 2572 x 1740 -> factor round(2572 / 1280) = 2
    try:
        img = load_training_photo(name, system_root=SYSTEM_ROOT)
    except PhotoNotInstalledError as error:
        pytest.skip(str(error))
    assert img.shape == (870, 1286, 3) and img.dtype == np.uint8


def test_missing_pip_package_says_what_to_install(monkeypatch, tmp_path):
    entry = _fake(
        tmp_path,
        split="eval",
        package="no-such-package",
        path="<site-packages>/no_such_package/fake.png",
    )
    monkeypatch.setattr(photos, "PHOTOS", (entry,))
    with pytest.raises(PhotoNotInstalledError, match="pip install no-such-package"):
        load_photo("fake")


def test_missing_debian_package_says_what_to_install(monkeypatch, tmp_path):
    entry = _fake(tmp_path, path=str(tmp_path / "absent" / "fake.jpg"))
    monkeypatch.setattr(photos, "PHOTOS", (entry,))
    with pytest.raises(PhotoNotInstalledError, match="apt-get install fake-wallpapers"):
        photo_path("fake")
    with pytest.raises(PhotoNotInstalledError, match="dpkg-deb -x fake-wallpapers_.*deb /opt/debs"):
        photo_path("fake", system_root="/opt/debs")


def test_hash_mismatch_is_a_different_error(monkeypatch, tmp_path):
    entry = _fake(tmp_path, sha256="0" * 64)
    monkeypatch.setattr(photos, "PHOTOS", (entry,))
    with pytest.raises(PhotoChecksumError, match="expected 0000"):
        photo_path("fake")


def test_training_photo_uses_the_nearest_integer_factor(monkeypatch, tmp_path):
    entry = _fake(tmp_path, size=(40, 70))
    monkeypatch.setattr(photos, "PHOTOS", (entry,))
    full = load_photo("fake")
    # 70 / 30 = 2.33 -> factor 2 (35 x 20);
    # 70 / 20 = 3.5 -> factor 4 (17 x 10, after modcrop to 68 x 40)
    np.testing.assert_array_equal(load_training_photo("fake", long_side=30), downscale_photo(full, 2))
    assert load_training_photo("fake", long_side=30).shape == (20, 35, 3)
    assert load_training_photo("fake", long_side=20).shape == (10, 17, 3)
    assert load_training_photo("fake", long_side=100).shape == (40, 70, 3)


def test_max_side_caps_the_long_side(monkeypatch, tmp_path):
    entry = _fake(tmp_path, size=(40, 70))
    monkeypatch.setattr(photos, "PHOTOS", (entry,))
    assert load_photo("fake", max_side=70).shape == (40, 70, 3)
    assert load_photo("fake", max_side=69).shape == (20, 35, 3)  # ceil(70 / 69) = 2
    assert load_photo("fake", max_side=23).shape == (10, 17, 3)  # ceil(70 / 23) = 4
    with pytest.raises(ValueError, match="0"):
        load_photo("fake", max_side=0)


def test_downscale_photo_preserves_a_flat_image():
    flat = np.full((12, 18, 3), 77, dtype=np.uint8)
    out = downscale_photo(flat, 3)
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, 77)
