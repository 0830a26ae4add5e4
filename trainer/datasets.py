"""MNIST and Fashion-MNIST: locate, verify and read the IDX files (`bs4nn.trainer.fetch`
fetches missing ones).

Layout in every data root: `<root>/<dataset>/<idx file name>` raw or with `.gz`. Roots are
searched in order: `--data-dir`, `$BS4NN_DATA`, the per-user cache. Every file is checked
against the SHA-256 of its decompressed bytes (table below, so the product needs nothing
beside itself). Any problem a user can cause raises one `Bs4nnError` naming the file and
saying what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shlex
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.presets import DATASETS, is_own_data

# class names by label, for plots
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": [
        "T-shirt",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}
SPLITS = ("train", "test")
# split -> (images file, labels file), the same names for both datasets
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_FILES = tuple(f for split in SPLITS for f in FILES[split])

# SHA-256 of the decompressed IDX bytes (the same whatever compressed them)
SHA256 = {
    "fashion-mnist/t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",  # noqa: E501
    "fashion-mnist/t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",  # noqa: E501
    "fashion-mnist/train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",  # noqa: E501
    "fashion-mnist/train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",  # noqa: E501
    "mnist/t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",  # noqa: E501
    "mnist/t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",  # noqa: E501
    "mnist/train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",  # noqa: E501
    "mnist/train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",  # noqa: E501
}

IMAGE_MAGIC = 0x00000803  # ubyte, 3 dimensions
LABEL_MAGIC = 0x00000801  # ubyte, 1 dimension
ROWS = COLS = 28

# Per-process caches: verified files (path, size, mtime) and loaded arrays.
_verified: set[tuple[str, int, int]] = set()
_loaded: dict[tuple[str, str, str, str], tuple[np.ndarray, np.ndarray]] = {}


# ---------------------------------------------------------------- locating


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/bs4nn/datasets`, else `~/.cache/bs4nn/datasets`."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "bs4nn" / "datasets"


@dataclass(frozen=True)
class DataRoot:
    path: Path
    origin: str  # "--data-dir", "$BS4NN_DATA" or "user cache"


def data_roots(data_dir: str | Path | None = None) -> list[DataRoot]:
    """The roots searched, in order: --data-dir, $BS4NN_DATA, the user cache."""
    roots = []
    if data_dir is not None:
        roots.append(DataRoot(Path(data_dir).expanduser(), "--data-dir"))
    env = os.environ.get("BS4NN_DATA")
    if env:
        roots.append(DataRoot(Path(env).expanduser(), "$BS4NN_DATA"))
    roots.append(DataRoot(user_cache_dir(), "user cache"))
    return roots


def candidates(root: Path, name: str, fname: str) -> list[Path]:
    # raw first: it reads faster, and `fetch` never leaves a bad raw file shadowing a good .gz
    return [root / name / fname, root / name / (fname + ".gz")]


def find_file(name: str, fname: str, data_dir: str | Path | None = None) -> Path | None:
    """The first existing copy of `<name>/<fname>[.gz]` in the search order, or None."""
    for root in data_roots(data_dir):
        for path in candidates(root.path, name, fname):
            if path.is_file():
                return path
    return None


def check_name(name: str) -> None:
    if name not in DATASETS:
        raise Bs4nnError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


# ---------------------------------------------------------------- reading and verifying


def _read_bytes(path: Path) -> bytes:
    """Decompressed content; raises ValueError with a reason for an unreadable file."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except EOFError as exc:
        raise ValueError(f"truncated gzip data ({exc})") from None
    except (OSError, zlib.error) as exc:
        raise ValueError(f"corrupt or unreadable ({exc})") from None


def parse_idx(
    data: bytes, fname: str, image_size: tuple[int, int] | None = (ROWS, COLS)
) -> np.ndarray:
    """Header (magic, shape) and length checks; returns the payload as uint8 of its shape.
    Images must be `image_size` (rows, cols) unless it is None (a user's own IDX files)."""
    is_images = "images" in fname
    magic = IMAGE_MAGIC if is_images else LABEL_MAGIC
    ndim = 3 if is_images else 1
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(f"truncated: {len(data)} bytes, shorter than the IDX header")
    got_magic = int.from_bytes(data[:4], "big")
    if got_magic != magic:
        kind = "image" if is_images else "label"
        raise ValueError(
            f"not an IDX {kind} file (magic 0x{got_magic:08x}, expected 0x{magic:08x})"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if is_images and image_size is not None and shape[1:] != image_size:
        raise ValueError(f"images are {shape[1]}x{shape[2]}, expected {ROWS}x{COLS}")
    size = int(np.prod(shape))
    if len(data) - header_len != size:
        raise ValueError(
            f"truncated or padded: header says {size} data bytes, file has {len(data) - header_len}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


def read_idx(path: Path, fname: str) -> np.ndarray:
    """One IDX file of a user's own dataset (any image size, no known checksum)."""
    try:
        return parse_idx(_read_bytes(path), fname, image_size=None)
    except ValueError as exc:
        raise Bs4nnError(f"{path}: {exc}") from None


def check_file(path: Path, name: str, fname: str) -> tuple[np.ndarray | None, str | None]:
    """Read and verify one file: (array, None) when good, (None, problem) otherwise."""
    try:
        data = _read_bytes(path)
        arr = parse_idx(data, fname)
    except ValueError as exc:
        return None, str(exc)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[f"{name}/{fname}"]:
        return None, f"wrong content (SHA-256 {digest[:16]}... is not the expected one)"
    return arr, None


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def verify_file(path: Path, name: str, fname: str) -> str | None:
    """None when `path` is a good copy of `<name>/<fname>`, else the problem. Cached."""
    key = _stat_key(path)
    if key in _verified:
        return None
    _arr, problem = check_file(path, name, fname)
    if problem is None:
        _verified.add(key)
    return problem


def fetch_command(name: str, root: Path | None) -> str:
    """The `bs4nn data fetch` that puts good copies of `name` into `root` (None: the user
    cache), in backquotes."""
    words = ["data", "fetch", name]
    if root is not None and root.resolve() != user_cache_dir().resolve():
        words += ["--data-dir", str(root)]
    return f"`bs4nn {shlex.join(words)}`"


def fix_hint(name: str, root: Path | None) -> str:
    return (
        f"run {fetch_command(name, root)}, or point --data-dir or BS4NN_DATA at a folder "
        f"holding {name}/<file>[.gz]"
    )


def _missing_message(name: str, fname: str, data_dir: str | Path | None) -> str:
    searched = "; ".join(f"{r.origin} {r.path / name}" for r in data_roots(data_dir))
    return f"{name} file {fname}[.gz] not found (searched: {searched})"


def _load_file(name: str, fname: str, data_dir: str | Path | None) -> tuple[Path, np.ndarray]:
    path = find_file(name, fname, data_dir)
    if path is None:
        raise Bs4nnError(f"{_missing_message(name, fname, data_dir)}; {fix_hint(name, None)}")
    arr, problem = check_file(path, name, fname)
    if problem is not None:
        root = path.parent.parent
        raise Bs4nnError(f"{name} file {path}: {problem}; {fix_hint(name, root)}")
    _verified.add(_stat_key(path))
    return path, arr


def load_dataset(
    name: str, split: str, data_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, n_inputs) row-major and labels (N,), verified. Cached per process.

    `name` is a built-in dataset or a user's own (a .npz file or IDX folder, see owndata; its
    split may also be "val"). The returned arrays are read-only views shared between callers;
    copy before modifying.
    """
    own = own_data(name)
    if own is not None:
        if split not in own.splits:
            raise Bs4nnError(
                f"dataset {name} has no {split} split (it has {', '.join(sorted(own.splits))})"
            )
        return own.splits[split]
    check_name(name)
    if split not in SPLITS:
        raise Bs4nnError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    img_name, lbl_name = FILES[split]
    img_path = find_file(name, img_name, data_dir)
    lbl_path = find_file(name, lbl_name, data_dir)
    key = (name, split, str(img_path), str(lbl_path))
    if key in _loaded and img_path is not None and lbl_path is not None:
        if _stat_key(img_path) in _verified and _stat_key(lbl_path) in _verified:
            return _loaded[key]
    _, images = _load_file(name, img_name, data_dir)
    _, labels = _load_file(name, lbl_name, data_dir)
    if len(images) != len(labels):  # unreachable with verified files; kept as a guard
        raise Bs4nnError(f"{name} {split}: {len(images)} images but {len(labels)} labels")
    images = images.reshape(len(images), ROWS * COLS)
    images.flags.writeable = False
    labels.flags.writeable = False
    _loaded[key] = (images, labels)
    return images, labels


def own_data(spec: str):
    """The OwnData behind a dataset argument that names a file or folder, else None."""
    from bs4nn.trainer.owndata import load_own_data

    if spec in DATASETS or not is_own_data(spec):
        return None
    return load_own_data(spec)


def check_spec(spec: str) -> None:
    """A built-in dataset name or a readable own dataset; anything else is refused."""
    if own_data(spec) is None:
        check_name(spec)


def dataset_shape(spec: str) -> tuple[int, int]:
    """(inputs per image, number of classes) of a dataset."""
    own = own_data(spec)
    return (ROWS * COLS, len(CLASS_NAMES[spec])) if own is None else (own.n_inputs, own.n_classes)


def class_names(spec: str | None) -> list[str] | None:
    """Label -> class name for plots; None when the dataset is not known."""
    if spec is None:
        return None
    try:
        own = own_data(spec)
    except Bs4nnError:  # a model's record of data that is not here: plain class numbers
        return None
    return CLASS_NAMES.get(spec) if own is None else list(own.class_names)


def dataset_fields(spec: str) -> dict[str, str | None]:
    """What a model records of the data it was made from: the dataset's name and, for a
    user's own data, the SHA-256 of its test split (`Model.dataset`, `Model.dataset_sha256`)."""
    own = own_data(spec)
    if own is None:
        return {"dataset": spec, "dataset_sha256": None}
    return {"dataset": own.name, "dataset_sha256": own.test_sha256}


def train_val_split(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split of range(n): (train_idx, val_idx), both sorted int64."""
    if not 0 <= val_size < n:
        raise Bs4nnError(
            f"validation size {val_size} must be at least 0 and below the {n} training samples: "
            "give a smaller --val-size"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[val_size:]).astype(np.int64), np.sort(perm[:val_size]).astype(np.int64)
