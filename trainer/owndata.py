"""A user's own dataset: one `.npz` file, or a folder of IDX files in the MNIST layout.

`.npz` keys: `x_train`, `y_train`, `x_test`, `y_test` (optionally `x_val`, `y_val`; otherwise
the trainer holds out a seeded validation split), optional `class_names`. Images are uint8
intensities of any shape (flattened; the shape is kept for plots), labels integers 0..C-1.
Data that is not uint8 is refused, never rescaled. An IDX folder holds the four files of the
MNIST layout (raw or .gz) with images of any size. The dataset's name is the file or folder
name; `test_sha256` fingerprints its test split so a model can check it runs on its own data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import ZIP_DAMAGE
from bs4nn.trainer.semantics import MAX_INPUTS, MAX_OUTPUTS

SPLIT_KEYS = {
    "train": ("x_train", "y_train"),
    "test": ("x_test", "y_test"),
    "val": ("x_val", "y_val"),
}
TO_UINT8 = "x = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)  # floats in [0, 1]"


@dataclass(frozen=True)
class OwnData:
    name: str
    source: Path
    splits: dict[str, tuple[np.ndarray, np.ndarray]]  # "train", "test" and maybe "val"
    image_shape: tuple[int, ...]
    class_names: tuple[str, ...]

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.image_shape))

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def test_sha256(self) -> str:
        """SHA-256 over the test images' shape and bytes, then the labels as int64 LE."""
        images, labels = self.splits["test"]
        h = hashlib.sha256(b"bs4nn-test-split-v1\n")
        h.update(np.array(images.shape, "<u8").tobytes())
        h.update(np.ascontiguousarray(images).tobytes())
        h.update(np.ascontiguousarray(labels, "<i8").tobytes())
        return h.hexdigest()


_cache: dict[tuple[str, int, int], OwnData] = {}


def load_own_data(path: str | Path) -> OwnData:
    """Read and check a `.npz` file or an IDX folder (cached per file state)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise Bs4nnError(f"dataset {path} not found: give a .npz file or a folder of IDX files")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _cache:
        arrays = _read_idx_folder(path) if path.is_dir() else _read_npz(path)
        _cache[key] = _check(path, arrays)
    return _cache[key]


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # else numpy's hint is about pickles
            raise Bs4nnError(
                f"dataset {path} is not a .npz file (a zip archive of arrays, as numpy.savez "
                "writes)"
            )
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, *ZIP_DAMAGE) as exc:
        raise Bs4nnError(f"dataset {path} is not a readable .npz file ({exc})") from None


def _read_idx_folder(path: Path) -> dict[str, np.ndarray]:
    from bs4nn.trainer.datasets import FILES, read_idx

    arrays = {}
    for split, (img_name, lbl_name) in FILES.items():
        x_key, y_key = SPLIT_KEYS[split]
        for key, fname in ((x_key, img_name), (y_key, lbl_name)):
            found = [p for p in (path / fname, path / (fname + ".gz")) if p.is_file()]
            if not found:
                raise Bs4nnError(
                    f"dataset folder {path} lacks {fname}[.gz] (the MNIST layout: "
                    f"{', '.join(n for pair in FILES.values() for n in pair)})"
                )
            arrays[key] = read_idx(found[0], fname)
    return arrays


def _check_split(where: str, x_key: str, x: np.ndarray, y_key: str, y: np.ndarray, shape) -> None:
    """One split: uint8 images of the same shape as the splits before (`shape`, None for the
    first), one non-negative integer label each."""
    if x.dtype != np.uint8:
        raise Bs4nnError(
            f"{where}: {x_key} is {x.dtype}, not uint8 intensities 0..255; "
            f"convert it first, e.g. {TO_UINT8}"
        )
    if x.ndim < 2 or len(x) == 0:
        raise Bs4nnError(f"{where}: {x_key} has shape {x.shape}; give (N, ...) with N >= 1")
    if shape is not None and x.shape[1:] != shape:
        raise Bs4nnError(f"{where}: {x_key} images are {x.shape[1:]}, x_train's are {shape}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise Bs4nnError(
            f"{where}: {y_key} must be {len(x)} integer labels (one per image), "
            f"got {y.dtype} of shape {y.shape}"
        )
    if len(y) and y.min() < 0:
        raise Bs4nnError(f"{where}: {y_key} holds negative labels; use 0..C-1")
    if len(y) and int(y.max()) >= MAX_OUTPUTS:  # before anything is sized by the largest label
        raise Bs4nnError(
            f"{where}: {y_key} holds label {int(y.max())}; the firmware takes at most "
            f"{MAX_OUTPUTS} classes, labels 0..{MAX_OUTPUTS - 1}"
        )


def _check(path: Path, arrays: dict[str, np.ndarray]) -> OwnData:
    where = f"dataset {path}"
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise Bs4nnError(
            f"{where}: lacks {', '.join(missing)} (keys: x_train, y_train, x_test, "
            "y_test; optional x_val, y_val, class_names)"
        )
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise Bs4nnError(f"{where}: has only one of x_val, y_val; give both or neither")
    splits, shape = {}, None
    for split, (x_key, y_key) in SPLIT_KEYS.items():
        if x_key not in arrays:
            continue
        x, y = arrays[x_key], arrays[y_key]
        _check_split(where, x_key, x, y_key, y, shape)
        shape = x.shape[1:]
        splits[split] = (np.ascontiguousarray(x.reshape(len(x), -1)), y.astype(np.int64))
    n_classes = 1 + max(int(y.max()) for _, y in splits.values())
    if "class_names" in arrays:
        names = tuple(str(c) for c in np.asarray(arrays["class_names"]).reshape(-1))
        if len(names) < n_classes:
            raise Bs4nnError(f"{where}: {len(names)} class_names but labels up to {n_classes - 1}")
    else:
        names = tuple(str(c) for c in range(n_classes))
    n_inputs = int(np.prod(shape))
    if not 1 <= n_inputs <= MAX_INPUTS:
        raise Bs4nnError(
            f"{where}: images of {n_inputs} inputs; the firmware takes 1..{MAX_INPUTS}"
        )
    if not 2 <= len(names) <= MAX_OUTPUTS:
        classes = "1 class" if len(names) == 1 else f"{len(names)} classes"
        raise Bs4nnError(f"{where}: {classes}; the firmware takes 2..{MAX_OUTPUTS}")
    for x, _ in splits.values():
        x.flags.writeable = False
    return OwnData(path.name, path, splits, tuple(int(s) for s in shape), names)
