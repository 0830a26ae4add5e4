"""Helpers of the bad-input suite (tests/test_bad_input.py): the world of files the cases run
against, damaged model files, and a snapshot of a folder tree to prove nothing was left behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from bs4nn.trainer.model import model_from_arrays


def tiny_model(thetas=(8.0, 1.5), weight_kind="binary", dataset="mnist", inputs=784, outputs=10):
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((16, inputs)), rng.standard_normal((outputs, 16))]
    return model_from_arrays(
        weights, [1.0, 0.5], list(thetas), weight_kind=weight_kind, dataset=dataset
    )


def npy(values) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(values), allow_pickle=False)
    return buf.getvalue()


def npy_claiming(shape, values) -> bytes:
    """A .npy entry whose header claims `shape` but holds only `values`."""
    buf = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + np.asarray(values, "<f8").tobytes()


def edited(
    good: Path,
    path: Path,
    meta: dict | None = None,
    drop: tuple[str, ...] = (),
    entries: dict[str, bytes] | None = None,
) -> Path:
    """A copy of model file `good` at `path` with meta.json keys changed (value None: key
    removed), entries dropped and entries replaced by raw bytes."""
    with zipfile.ZipFile(good) as zf:
        old = {name: zf.read(name) for name in zf.namelist()}
    if meta is not None:
        data = json.loads(old["meta.json"])
        for key, value in meta.items():
            if value is None:
                data.pop(key)
            else:
                data[key] = value
        old["meta.json"] = json.dumps(data).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, raw in {**old, **(entries or {})}.items():
            if name not in drop:
                zf.writestr(name, raw)
    return path


def central_entry_changed(data: bytes, field: str, value: int) -> bytes:
    """The zip archive `data` with one field of its first entry's central directory record set
    to `value`, as one damaged byte there does: "flags" (bit 0 claims encryption), "version"
    (the zip version needed to extract) or "method" (compression)."""
    at = data.index(b"PK\x01\x02") + {"version": 6, "flags": 8, "method": 10}[field]
    return data[:at] + value.to_bytes(2, "little") + data[at + 2 :]


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root (symlinks not followed) with its kind and content digest."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = "link " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
