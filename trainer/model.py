"""The model file: one zip archive with the arrays (`.npy`) and a `meta.json` (docs/design.md 2).

Archive entries: `weights_<l>.npy` (n_out, n_in) per weight layer, `alphas.npy`, `thetas.npy`
(float64), `meta.json` with format name "bs4nn-model", format version, layer sizes, metadata
and the content hash. `Model.load` checks all of it; any problem is one `Bs4nnError`.

Content hash (what the firmware header and the bench reports name a model by): SHA-256 over
`b"bs4nn-model-content-v1\n"`, then the compact sorted-key JSON of {encoding, layer_sizes, tmax,
weight_kind}, then per layer its shape as two uint64 LE and its weights as float64 LE (C order),
then alphas and thetas as float64 LE. Training metadata (dataset, seed, config, metrics) is not
part of it, and neither is the dtype the weights are stored in.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import (
    ZIP_DAMAGE,
    check_input_file,
    check_replaced_file,
    user_path,
    write_atomic,
)
from bs4nn.trainer.presets import DATASETS
from bs4nn.trainer.semantics import TMAX, binarize, threshold_count

FORMAT_NAME = "bs4nn-model"
FORMAT_VERSION = 1
ENCODING = "ttfs-255-minus-I"
WEIGHT_KINDS = ("binary", "real")
_META = "meta.json"
_ZIP_MAGIC = b"PK\x03\x04"
_META_TYPES = {  # meta.json keys besides format and format_version: the JSON types they hold
    "layer_sizes": (list,),
    "content_hash": (str,),
    "weight_kind": (str,),
    "encoding": (str,),
    "tmax": (int,),
    "dataset": (str, type(None)),
    "dataset_sha256": (str, type(None)),
    "seed": (int, type(None)),
    "train_config": (dict,),
    "metrics": (dict,),
}
_META_KEYS = tuple(_META_TYPES)
_META_OPTIONAL = ("dataset_sha256",)  # absent from files written before own datasets


@dataclass
class Model:
    """A trained network: real proxy weights per layer plus the per-layer alpha and theta."""

    weights: list[np.ndarray]
    alphas: np.ndarray
    thetas: np.ndarray
    tmax: int = TMAX
    weight_kind: str = "binary"
    encoding: str = ENCODING
    dataset: str | None = None
    # a user's own dataset: SHA-256 of its test split (owndata.OwnData.test_sha256)
    dataset_sha256: str | None = None
    seed: int | None = None
    train_config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weights = [_as_weight(w, i) for i, w in enumerate(self.weights)]
        self.alphas = np.array(self.alphas, dtype=np.float64).reshape(-1)
        self.thetas = np.array(self.thetas, dtype=np.float64).reshape(-1)
        _validate(self)

    @property
    def layer_sizes(self) -> list[int]:
        """[n_in, h_1, ..., n_out]."""
        return [int(self.weights[0].shape[1])] + [int(w.shape[0]) for w in self.weights]

    @property
    def content_hash(self) -> str:
        """SHA-256 hex of what inference depends on; independent of the weights' dtype."""
        h = hashlib.sha256()
        head = {
            "encoding": self.encoding,
            "layer_sizes": self.layer_sizes,
            "tmax": int(self.tmax),
            "weight_kind": self.weight_kind,
        }
        h.update(b"bs4nn-model-content-v1\n")
        h.update(json.dumps(head, sort_keys=True, separators=(",", ":")).encode())
        for w in self.weights:
            h.update(np.array(w.shape, dtype="<u8").tobytes())
            h.update(np.ascontiguousarray(w, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(self.alphas, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(self.thetas, dtype="<f8").tobytes())
        return h.hexdigest()

    def binary_weights(self) -> list[np.ndarray]:
        """B = sign(W) per layer, int8 +1/-1, shape (n_out, n_in)."""
        return [binarize(w) for w in self.weights]

    def thresholds(self) -> list[int]:
        """Integer threshold K_l = ceil(theta_l / alpha_l) per layer (binary models only)."""
        if self.weight_kind != "binary":
            raise Bs4nnError(
                f"integer thresholds exist only for binary models; this one has "
                f"weight_kind={self.weight_kind!r} (train with --weights binary)"
            )
        return [threshold_count(t, a) for t, a in zip(self.thetas, self.alphas, strict=True)]

    def dataset_to_run(self, requested: str | None = None) -> str:
        """The dataset to run this model on: the one it records. An explicit `requested` must
        be the same one (an MNIST model scores 10% on Fashion-MNIST, silently); a user's own
        data must be named (a .npz file or IDX folder) and have the recorded test split; a
        model that records no dataset (made from arrays) needs one named."""
        from bs4nn.trainer.datasets import check_spec, dataset_fields

        if requested is None:
            if self.dataset is None:
                raise Bs4nnError(
                    f"the model records no dataset; name one with --dataset "
                    f"({' or '.join(DATASETS)}, or a .npz file or IDX folder)"
                )
            if self.dataset_sha256 is not None:
                raise Bs4nnError(
                    f"the model was made from own data "
                    f"{_describe_dataset(self.dataset, self.dataset_sha256)}; give its file or "
                    "folder with --data"
                )
            return self.dataset
        check_spec(requested)
        if self.dataset is not None:
            got = dataset_fields(requested)
            if self.dataset_sha256 is not None:  # own data: the same test split, by any name
                same = got["dataset_sha256"] == self.dataset_sha256
            else:
                same = got == {"dataset": self.dataset, "dataset_sha256": None}
            if not same:
                theirs = _describe_dataset(got["dataset"], got["dataset_sha256"])
                ours = _describe_dataset(self.dataset, self.dataset_sha256)
                hint = (
                    "give the data it was made from"
                    if self.dataset_sha256
                    else f"leave --dataset out to use {self.dataset}"
                )
                raise Bs4nnError(f"--dataset {theirs} is not the model's dataset ({ours}); {hint}")
        return requested

    def save(self, path: str | Path) -> Path:
        """Write the model as one file, atomically (temp file then rename). Returns the path."""
        _validate(self)
        path = Path(path)
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "layer_sizes": self.layer_sizes,
            "weight_kind": self.weight_kind,
            "encoding": self.encoding,
            "tmax": int(self.tmax),
            "dataset": self.dataset,
            "dataset_sha256": self.dataset_sha256,
            "seed": self.seed,
            "train_config": self.train_config,
            "metrics": self.metrics,
            "content_hash": self.content_hash,
        }
        try:
            meta_json = json.dumps(meta, indent=1, sort_keys=True, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise Bs4nnError(
                f"cannot save the model: train_config/metrics must hold JSON values ({exc})"
            ) from None
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_META, meta_json)
            for i, w in enumerate(self.weights):
                zf.writestr(f"weights_{i}.npy", _npy_bytes(w))
            zf.writestr("alphas.npy", _npy_bytes(self.alphas))
            zf.writestr("thetas.npy", _npy_bytes(self.thetas))
        with user_path(path, "write the model file"):
            write_atomic(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read and verify a model file (format, version, shapes, content hash)."""
        path = Path(path)
        check_input_file(path, "model file", "; check the path, or train one with `bs4nn train`")
        try:
            with zipfile.ZipFile(path) as zf:
                return _read(zf, path)
        except ZIP_DAMAGE as exc:
            with open(path, "rb") as f:
                head = f.read(4)
            if head != _ZIP_MAGIC:
                raise Bs4nnError(_foreign(path, "not a zip archive")) from None
            raise Bs4nnError(_corrupt(path, f"damaged archive: {exc}")) from None
        except OSError as exc:
            raise Bs4nnError(_corrupt(path, f"unreadable: {exc}")) from None


def model_from_arrays(
    weights: list[np.ndarray] | tuple[np.ndarray, ...],
    alphas: Any,
    thetas: Any,
    tmax: int = TMAX,
    **meta: Any,
) -> Model:
    """Build a Model from arrays trained elsewhere; validates shapes and values.

    weights: one (n_out, n_in) array per weight layer, consecutive layers chained; alphas and
    thetas: one value each per layer. `meta` may set weight_kind, encoding, dataset, seed,
    train_config, metrics.
    """
    allowed = {
        "weight_kind",
        "encoding",
        "dataset",
        "dataset_sha256",
        "seed",
        "train_config",
        "metrics",
    }
    unknown = sorted(set(meta) - allowed)
    if unknown:
        raise Bs4nnError(
            f"unknown model field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    if isinstance(weights, np.ndarray):
        raise Bs4nnError("weights must be a list with one (n_out, n_in) array per layer")
    # copies: the model is a snapshot, later changes to the caller's arrays do not reach it
    return Model(
        [np.array(w) for w in weights],
        _as_vector(alphas, "alphas"),
        _as_vector(thetas, "thetas"),
        tmax=tmax,
        **meta,
    )


RECORD_FIELDS = ("dataset_sha256", "seed", "train_config", "metrics")


def training_record(model: Model) -> str:
    """What a model file holds beyond the network (the training record: RECORD_FIELDS), as
    JSON: carried through formats that have no place for it, such as NIR."""
    record = {key: getattr(model, key) for key in RECORD_FIELDS}
    return json.dumps(record, sort_keys=True, default=_json_default)


def parse_training_record(text: str) -> dict[str, Any] | None:
    """The fields of a `training_record`, or None if `text` is not one."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or set(record) != set(RECORD_FIELDS):
        return None
    if not all(_is(record[key], _META_TYPES[key]) for key in RECORD_FIELDS):
        return None
    return record


# ---------------------------------------------------------------- helpers


def _as_vector(values: Any, what: str) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise Bs4nnError(f"{what} must be numbers, one per weight layer ({exc})") from None


def _as_weight(w: Any, i: int) -> np.ndarray:
    arr = np.asarray(w)
    if arr.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
            raise Bs4nnError(f"weights[{i}] has dtype {arr.dtype}; give float32 or float64")
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise Bs4nnError(
            f"weights[{i}] has shape {arr.shape}; each layer must be 2-D (n_out, n_in)"
        )
    return arr


def _validate(m: Model) -> None:
    n = len(m.weights)
    _validate_weights(m.weights)
    for what, vec in (("alphas", m.alphas), ("thetas", m.thetas)):
        if vec.shape != (n,):
            raise Bs4nnError(f"{what} has {vec.size} values; give one per weight layer ({n})")
        if not np.isfinite(vec).all():
            raise Bs4nnError(f"{what} holds NaN or infinite values")
    if m.weight_kind not in WEIGHT_KINDS:
        raise Bs4nnError(
            f"weight_kind {m.weight_kind!r} is unknown; use one of {', '.join(WEIGHT_KINDS)}"
        )
    if not (m.alphas > 0).all():  # design 1: alpha_l > 0 always, so K is defined
        raise Bs4nnError(f"alphas must be positive, got {m.alphas.tolist()}")
    _check_dataset(m.dataset, m.dataset_sha256)
    if m.encoding != ENCODING:
        raise Bs4nnError(f"encoding {m.encoding!r} is not supported; only {ENCODING!r}")
    if isinstance(m.tmax, bool) or not isinstance(m.tmax, int | np.integer) or m.tmax < 1:
        raise Bs4nnError(f"tmax must be a positive integer, got {m.tmax!r}")
    m.tmax = int(m.tmax)
    if m.tmax != TMAX:
        raise Bs4nnError(f"tmax {m.tmax} is not supported; the input coding needs {TMAX}")


def _validate_weights(weights: list[np.ndarray]) -> None:
    """At least one layer; each non-empty, finite and fed by the one before."""
    if len(weights) == 0:
        raise Bs4nnError("a model needs at least one weight layer")
    for i, w in enumerate(weights):
        if min(w.shape) == 0:
            raise Bs4nnError(f"weights[{i}] has shape {w.shape}; layers cannot be empty")
        if i > 0 and w.shape[1] != weights[i - 1].shape[0]:
            raise Bs4nnError(
                f"weights[{i}] has {w.shape[1]} inputs but weights[{i - 1}] has "
                f"{weights[i - 1].shape[0]} outputs; layer l must have shape "
                f"(n_out, n_in) with n_in = n_out of layer l-1"
            )
        if not np.isfinite(w).all():
            raise Bs4nnError(f"weights[{i}] holds NaN or infinite values")


def _describe_dataset(name: str, sha256: str | None) -> str:
    return name if sha256 is None else f"{name} (test split SHA-256 {sha256[:16]}...)"


def _check_dataset(name: object, sha256: object) -> None:
    """None, a built-in dataset, or a user's own named by its file and test-split SHA-256."""
    if sha256 is None:
        if name is not None and name not in DATASETS:
            raise Bs4nnError(
                f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)} "
                "(or own data with its dataset_sha256)"
            )
    elif not (
        isinstance(name, str)
        and name
        and isinstance(sha256, str)
        and len(sha256) == 64
        and all(c in "0123456789abcdef" for c in sha256)
    ):
        raise Bs4nnError(
            f"own dataset {name!r} needs a name and a 64-hex dataset_sha256, got {sha256!r}"
        )


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def is_model_file(path: Path) -> bool:
    """Whether `path` is a bs4nn model file (a zip archive holding meta.json), unverified."""
    try:
        with zipfile.ZipFile(path) as zf:
            return _META in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def check_model_out(path: str | Path) -> None:
    """Refuse an --out that is a file but no bs4nn model: saving the model would replace it."""
    check_replaced_file(path, "bs4nn model", is_model_file)


def _foreign(path: Path, why: str) -> str:
    return (
        f"{path} is not a bs4nn model file ({why}); give a file written by `bs4nn train` or "
        f"bs4nn.trainer.model.Model.save"
    )


def _corrupt(path: Path, why: str) -> str:
    return (
        f"model file {path} is corrupt or truncated ({why}); copy it again from its source, "
        f"or re-train / re-save it"
    )


def _read(zf: zipfile.ZipFile, path: Path) -> Model:
    names = set(zf.namelist())
    meta = _read_meta(zf, path, names)
    sizes = meta["layer_sizes"]
    arrays = [f"weights_{i}.npy" for i in range(len(sizes) - 1)] + ["alphas.npy", "thetas.npy"]
    *weights, alphas, thetas = _read_arrays(zf, path, names, arrays)
    stored_hash = meta["content_hash"]
    fields = {k: meta[k] for k in _META_KEYS if k not in ("layer_sizes", "content_hash")}
    for i, w in enumerate(weights):
        if w.shape != (sizes[i + 1], sizes[i]):
            raise Bs4nnError(
                _corrupt(
                    path,
                    f"weights_{i} has shape {w.shape}, layer sizes say {(sizes[i + 1], sizes[i])}",
                )
            )
    try:
        model = Model(weights, alphas, thetas, **fields)
    except Bs4nnError as exc:
        raise Bs4nnError(_corrupt(path, str(exc))) from None
    if model.content_hash != stored_hash:
        raise Bs4nnError(
            f"model file {path} fails its content check (hash {model.content_hash[:16]}... "
            f"differs from the stored {stored_hash[:16]}...): it was modified after it was "
            f"saved. Use the original file, or re-train / re-save the model"
        )
    return model


def _read_meta(zf: zipfile.ZipFile, path: Path, names: set[str]) -> dict:
    """meta.json of a model archive: format, version, every key with its JSON type, and layer
    sizes that make a network (optional keys absent from older files are None)."""
    if _META not in names:
        raise Bs4nnError(_foreign(path, f"no {_META} in the archive"))
    try:
        meta = json.loads(zf.read(_META))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Bs4nnError(_corrupt(path, f"unreadable {_META}: {exc}")) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise Bs4nnError(_foreign(path, f"{_META} does not say format {FORMAT_NAME!r}"))
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise Bs4nnError(
            f"model file {path} has format version {version!r}; this bs4nn reads version "
            f"{FORMAT_VERSION}: use the bs4nn release that wrote it, or re-save the model"
        )
    missing = [k for k in _META_KEYS if k not in meta and k not in _META_OPTIONAL]
    if missing:
        raise Bs4nnError(_corrupt(path, f"{_META} lacks {', '.join(missing)}"))
    meta = {**dict.fromkeys(_META_OPTIONAL), **meta}
    for key, kinds in _META_TYPES.items():
        if not _is(meta[key], kinds):
            raise Bs4nnError(
                _corrupt(
                    path,
                    f"{_META} has {key} = {_short(meta[key])}, not "
                    f"{' or '.join(k.__name__ for k in kinds)}",
                )
            )
    sizes = meta["layer_sizes"]
    if len(sizes) < 2 or not all(_is(n, (int,)) and n > 0 for n in sizes):
        raise Bs4nnError(_corrupt(path, f"bad layer_sizes {_short(sizes)}"))
    return meta


def _read_arrays(
    zf: zipfile.ZipFile, path: Path, names: set[str], arrays: list[str]
) -> list[np.ndarray]:
    """The numeric `.npy` entries `arrays` of a model archive."""
    missing = [a for a in arrays if a not in names]
    if missing:
        raise Bs4nnError(_corrupt(path, f"the archive lacks {', '.join(missing)}"))
    try:
        values = [_read_array(zf, a) for a in arrays]
    except (ValueError, TypeError, *ZIP_DAMAGE) as exc:
        raise Bs4nnError(_corrupt(path, str(exc))) from None
    for name, arr in zip(arrays, values, strict=True):
        if arr.dtype.kind not in "biuf":
            raise Bs4nnError(_corrupt(path, f"{name} holds {arr.dtype} values, not numbers"))
    return values


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    """isinstance for JSON values, where a bool is not a number."""
    return isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _read_array(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    with zf.open(name) as f:
        data = f.read()  # a damaged entry raises BadZipFile (CRC) here
    buf = io.BytesIO(data)
    version = np.lib.format.read_magic(buf)
    header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = header(buf)
    # a damaged header would have numpy allocate what it claims (terabytes) before reading
    if math.prod(shape) * dtype.itemsize > len(data) - buf.tell():
        raise ValueError(f"{name} claims shape {shape}, more than its {len(data):,} bytes hold")
    buf.seek(0)
    return np.lib.format.read_array(buf, allow_pickle=False)
