"""A user's own dataset: .npz and IDX folders of any image size, exact checks and messages."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.owndata import TO_UINT8, load_own_data


def arrays(n_train=40, n_test=12, shape=(10, 10), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": np.arange(n_train) % classes,
        "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": np.arange(n_test) % classes,
    }


def npz(tmp_path: Path, name="sensors.npz", **data) -> Path:
    path = tmp_path / name
    np.savez(path, **data)
    return path


def test_npz_with_class_names_and_validation(tmp_path):
    data = arrays()
    data.update(x_val=data["x_train"][:5], y_val=data["y_train"][:5],
                class_names=np.array(["idle", "walk", "run", "fall"]))
    own = load_own_data(npz(tmp_path, **data))
    assert (own.name, own.image_shape, own.n_inputs, own.n_classes) == (
        "sensors.npz", (10, 10), 100, 4)
    assert own.class_names == ("idle", "walk", "run", "fall")
    x, y = own.splits["train"]
    assert x.shape == (40, 100) and x.dtype == np.uint8 and not x.flags.writeable
    assert np.array_equal(x, data["x_train"].reshape(40, 100)) and y.tolist() == list(
        np.arange(40) % 4)
    assert sorted(own.splits) == ["test", "train", "val"]
    assert load_own_data(tmp_path / "sensors.npz") is own  # cached while the file is unchanged


def test_test_split_fingerprint(tmp_path):
    data = arrays()
    first = load_own_data(npz(tmp_path, "a.npz", **data)).test_sha256
    assert first == load_own_data(npz(tmp_path, "b.npz", **data)).test_sha256
    data["y_test"] = data["y_test"].copy()
    data["y_test"][-1] = 0
    assert load_own_data(npz(tmp_path, "c.npz", **data)).test_sha256 != first
    assert len(first) == 64


def test_idx_folder_of_any_image_size(tmp_path):
    folder = tmp_path / "tiny-idx"
    folder.mkdir()
    data = arrays(shape=(5, 7), classes=3)
    for stem, x, y in (("train", data["x_train"], data["y_train"]),
                       ("t10k", data["x_test"], data["y_test"])):
        head = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in x.shape)
        (folder / f"{stem}-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + x.tobytes()))
        head = (0x801).to_bytes(4, "big") + len(y).to_bytes(4, "big")
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(head + y.astype(np.uint8).tobytes())
    own = load_own_data(folder)
    assert (own.name, own.image_shape, own.n_classes) == ("tiny-idx", (5, 7), 3)
    assert np.array_equal(own.splits["test"][0], data["x_test"].reshape(12, 35))
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(Bs4nnError, match=r"^dataset folder .*tiny-idx lacks "
                                         r"t10k-labels-idx1-ubyte\[\.gz\] \(the MNIST layout: "):
        load_own_data(folder)


def message(path) -> str:
    with pytest.raises(Bs4nnError) as exc:
        load_own_data(path)
    return str(exc.value)


def test_float_images_are_refused_with_the_conversion(tmp_path):
    data = arrays()
    data["x_train"] = data["x_train"] / 255.0
    path = npz(tmp_path, **data)
    assert message(path) == (f"dataset {path}: x_train is float64, not uint8 intensities 0..255; "
                             f"convert it first, e.g. {TO_UINT8}")


@pytest.mark.parametrize("change,expected", [
    (lambda d: d.pop("y_test"), "lacks y_test (keys: x_train, y_train, x_test, y_test; optional "
                                "x_val, y_val, class_names)"),
    (lambda d: d.update(x_val=d["x_train"][:2]), "has only one of x_val, y_val; give both or "
                                                 "neither"),
    (lambda d: d.update(x_test=d["x_test"][:, :5]), "x_test images are (5, 10), x_train's are "
                                                    "(10, 10)"),
    (lambda d: d.update(y_train=d["y_train"][:3]), "y_train must be 40 integer labels (one per "
                                                   "image), got int64 of shape (3,)"),
    (lambda d: d.update(y_train=d["y_train"] - 1), "y_train holds negative labels; use 0..C-1"),
    (lambda d: d.update(class_names=np.array(["a", "b"])), "2 class_names but labels up to 3"),
    (lambda d: d.update(y_train=np.arange(40) * 10), "391 classes; the firmware takes 2..255"),
    (lambda d: d.update(x_train=np.zeros((40, 300, 300), np.uint8),
                        x_test=np.zeros((12, 300, 300), np.uint8)),
     "images of 90000 inputs; the firmware takes 1..65535"),
])
def test_bad_datasets_are_refused(tmp_path, change, expected):
    data = arrays()
    change(data)
    path = npz(tmp_path, **data)
    assert message(path) == f"dataset {path}: {expected}"


def test_missing_and_foreign_files(tmp_path):
    assert message(tmp_path / "nope.npz") == (
        f"dataset {tmp_path / 'nope.npz'} not found: give a .npz file or a folder of IDX files")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    assert message(junk).startswith(f"dataset {junk} is not a readable .npz file (")
