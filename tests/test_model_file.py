"""Model file: round trip, content hash, validation and rejection of bad files."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model, model_from_arrays, parse_training_record, training_record

W0 = np.array([[0.5, -0.25, 0.0], [-1.0, 2.0, 0.125]])
W1 = np.array([[1.0, -1.0], [0.0, -0.5]])
TINY_HASH = "c156956ec055061790a8445d2f0ca128fcfc37cdc054f427bd123192fd498a48"


def tiny(**meta) -> Model:
    return model_from_arrays([W0.copy(), W1.copy()], [0.5, 0.25], [1.0, 0.3], **meta)


def rewrite(path: Path, replace: dict[str, bytes | None]) -> None:
    """Rebuild the archive with some entries replaced (bytes) or removed (None)."""
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    for name, data in replace.items():
        if data is None:
            entries.pop(name)
        else:
            entries[name] = data
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def load_error(path: Path) -> str:
    with pytest.raises(Bs4nnError) as exc:
        Model.load(path)
    return str(exc.value)


# ---------------------------------------------------------------- content


def test_layer_sizes_thresholds_and_binary_weights():
    m = tiny()
    assert m.layer_sizes == [3, 2, 2]
    assert m.thresholds() == [2, 2]  # ceil(1.0/0.5) = 2 exactly; ceil(0.3/0.25) = ceil(1.2) = 2
    b = m.binary_weights()
    assert [x.dtype for x in b] == [np.int8, np.int8]
    assert b[0].tolist() == [[1, -1, 1], [-1, 1, 1]]  # sign(0) = +1
    assert b[1].tolist() == [[1, -1], [1, -1]]
    m3 = model_from_arrays([W0], [0.25], [0.75])
    assert m3.thresholds() == [3]


def test_thresholds_only_for_binary_models():
    with pytest.raises(
        Bs4nnError,
        match="integer thresholds exist only for binary models; this one has weight_kind='real'",
    ):
        tiny(weight_kind="real").thresholds()


def test_content_hash_is_stable_and_covers_inference_content():
    m = tiny()
    assert m.content_hash == TINY_HASH
    # the dtype of the weights does not matter; metadata does not matter
    m32 = model_from_arrays(
        [W0.astype(np.float32), W1],
        [0.5, 0.25],
        [1.0, 0.3],
        dataset="mnist",
        seed=3,
        metrics={"val_accuracy": 0.5},
    )
    assert m32.weights[0].dtype == np.float32
    assert m32.content_hash == TINY_HASH
    changed = [
        model_from_arrays([W0 + np.eye(2, 3) * 1e-9, W1], [0.5, 0.25], [1.0, 0.3]),
        model_from_arrays([W0, W1], [0.5, 0.26], [1.0, 0.3]),
        model_from_arrays([W0, W1], [0.5, 0.25], [1.0, 0.31]),
        tiny(weight_kind="real"),
    ]
    hashes = {c.content_hash for c in changed}
    assert len(hashes) == 4 and TINY_HASH not in hashes
    w0 = W0.copy()
    snap = model_from_arrays([w0, W1], [0.5, 0.25], [1.0, 0.3])
    w0[0, 0] = -3.0  # model_from_arrays copied: the caller's array is not the model's
    assert snap.content_hash == TINY_HASH
    m.weights[1][0, 0] = 0.75  # mutation after construction is seen (hash not cached)
    assert m.content_hash != TINY_HASH


# ---------------------------------------------------------------- save / load


def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    m = model_from_arrays(
        [rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(3, 5))],
        [0.1, 0.2],
        [3.0, 1.5],
        dataset="fashion-mnist",
        seed=42,
        train_config={"preset": "fashion-1000", "lr": [0.1, 0.01], "epochs": 30},
        metrics={"val_accuracy": np.float64(0.875), "epochs": np.int64(12)},
    )
    path = m.save(tmp_path / "sub" / "m.bs4nn")
    assert path == tmp_path / "sub" / "m.bs4nn"
    assert [p.name for p in path.parent.iterdir()] == ["m.bs4nn"]  # no temp file left
    back = Model.load(path)
    assert [w.dtype for w in back.weights] == [np.float32, np.float64]
    for a, b in zip(back.weights, m.weights, strict=True):
        assert a.tobytes() == b.tobytes() and a.shape == b.shape
    assert back.alphas.tolist() == [0.1, 0.2] and back.thetas.tolist() == [3.0, 1.5]
    assert (back.tmax, back.weight_kind, back.encoding) == (256, "binary", "ttfs-255-minus-I")
    assert (back.dataset, back.seed) == ("fashion-mnist", 42)
    assert back.train_config == {"preset": "fashion-1000", "lr": [0.1, 0.01], "epochs": 30}
    assert back.metrics == {"val_accuracy": 0.875, "epochs": 12}
    assert back.content_hash == m.content_hash
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
        assert sorted(zf.namelist()) == [
            "alphas.npy",
            "meta.json",
            "thetas.npy",
            "weights_0.npy",
            "weights_1.npy",
        ]
    assert (meta["format"], meta["format_version"]) == ("bs4nn-model", 1)
    assert meta["layer_sizes"] == [4, 5, 3] and meta["content_hash"] == m.content_hash
    m.weights[0][0, 0] = 9.0  # saving again overwrites in place
    m.save(path)
    assert Model.load(path).weights[0][0, 0] == 9.0


def test_save_rejects_non_json_metadata(tmp_path):
    m = tiny(train_config={"callback": object()})
    with pytest.raises(
        Bs4nnError, match="cannot save the model: train_config/metrics must hold JSON values"
    ):
        m.save(tmp_path / "m.bs4nn")
    assert list(tmp_path.iterdir()) == []


def test_save_to_unwritable_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(
        Bs4nnError,
        match=f"^cannot write the model file {blocker / 'm.bs4nn'}: "
        "File exists; check the path, or choose another$",
    ):
        tiny().save(blocker / "m.bs4nn")


def test_load_missing_file(tmp_path):
    msg = load_error(tmp_path / "nope.bs4nn")
    assert msg == (
        f"model file {tmp_path / 'nope.bs4nn'} not found; check the path, or train "
        "one with `bs4nn train`"
    )


def test_load_rejects_foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert load_error(text) == (
        f"{text} is not a bs4nn model file (not a zip archive); give a file written by "
        "`bs4nn train` or bs4nn.trainer.model.Model.save"
    )
    npz = tmp_path / "random.npz"
    np.savez(npz, a=np.zeros(3))
    assert load_error(npz).startswith(
        f"{npz} is not a bs4nn model file (no meta.json in the archive)"
    )
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("meta.json", json.dumps({"format": "something-else"}))
    assert load_error(other).startswith(
        f"{other} is not a bs4nn model file (meta.json does not say format 'bs4nn-model')"
    )


def test_load_rejects_truncated_and_corrupt_files(tmp_path):
    path = tiny().save(tmp_path / "m.bs4nn")
    data = path.read_bytes()
    cut = tmp_path / "cut.bs4nn"
    cut.write_bytes(data[: len(data) // 2])
    msg = load_error(cut)
    assert msg.startswith(f"model file {cut} is corrupt or truncated (damaged archive: ")
    assert msg.endswith("copy it again from its source, or re-train / re-save it")
    # flip a byte inside the first stored array: the zip CRC catches it
    flipped = tmp_path / "flip.bs4nn"
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("weights_0.npy")
    pos = info.header_offset + 30 + len(info.filename) + len(info.extra) + 5
    flipped.write_bytes(data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :])
    assert load_error(flipped).startswith(
        f"model file {flipped} is corrupt or truncated (Bad CRC-32 for file 'weights_0.npy')"
    )


def test_load_rejects_tampered_content(tmp_path):
    path = tiny().save(tmp_path / "m.bs4nn")
    tampered = W1.copy()
    tampered[1, 1] = 0.5  # flips a sign: a different network with the same stored hash
    rewrite(path, {"weights_1.npy": npy(tampered)})
    msg = load_error(path)
    assert msg.startswith(f"model file {path} fails its content check (hash ")
    assert f"differs from the stored {TINY_HASH[:16]}...): it was modified after" in msg


def test_load_rejects_other_versions_missing_entries_and_bad_shapes(tmp_path):
    path = tiny().save(tmp_path / "m.bs4nn")
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
    rewrite(path, {"meta.json": json.dumps({**meta, "format_version": 2}).encode()})
    assert load_error(path) == (
        f"model file {path} has format version 2; this bs4nn reads version 1: use the bs4nn "
        "release that wrote it, or re-save the model"
    )
    path = tiny().save(tmp_path / "m.bs4nn")
    rewrite(path, {"thetas.npy": None})
    assert load_error(path).startswith(
        f"model file {path} is corrupt or truncated (the archive lacks thetas.npy); copy it again"
    )
    path = tiny().save(tmp_path / "m.bs4nn")
    stripped = {k: v for k, v in meta.items() if k not in ("content_hash", "seed")}
    rewrite(path, {"meta.json": json.dumps(stripped).encode()})
    assert load_error(path).startswith(
        f"model file {path} is corrupt or truncated (meta.json lacks content_hash, seed)"
    )
    path = tiny().save(tmp_path / "m.bs4nn")
    rewrite(path, {"meta.json": json.dumps({**meta, "layer_sizes": [3, 2, 3]}).encode()})
    assert load_error(path).startswith(
        f"model file {path} is corrupt or truncated (weights_1 has shape (2, 2), layer sizes "
        "say (3, 2))"
    )
    path = tiny().save(tmp_path / "m.bs4nn")
    rewrite(path, {"meta.json": b"{not json"})
    assert load_error(path).startswith(
        f"model file {path} is corrupt or truncated (unreadable meta.json: "
    )


@pytest.mark.parametrize(
    "key, value, why",
    [
        ("layer_sizes", [3], "bad layer_sizes [3]"),  # no weight layer
        ("layer_sizes", [3, 0, 2], "bad layer_sizes [3, 0, 2]"),
        ("layer_sizes", [3, True, 2], "bad layer_sizes [3, True, 2]"),  # JSON true is no size
        ("seed", True, "meta.json has seed = True, not int or NoneType"),
        ("tmax", False, "meta.json has tmax = False, not int"),
        ("layer_sizes", [3] + [0] * 20, "bad layer_sizes [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ..."),
    ],
)
def test_load_rejects_meta_values_no_save_writes(tmp_path, key, value, why):
    path = tiny().save(tmp_path / "m.bs4nn")
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
    rewrite(path, {"meta.json": json.dumps({**meta, key: value}).encode()})
    assert load_error(path) == (
        f"model file {path} is corrupt or truncated ({why}); copy it again from its source, "
        "or re-train / re-save it"
    )


def test_load_rejects_arrays_of_no_real_numbers_or_shorter_than_they_claim(tmp_path):
    path = tiny().save(tmp_path / "m.bs4nn")
    rewrite(path, {"alphas.npy": npy(np.array([0.5, 0.25], dtype=np.complex128))})
    assert load_error(path).startswith(
        f"model file {path} is corrupt or truncated (alphas.npy holds complex128 values, not "
        "numbers); "
    )
    path = tiny().save(tmp_path / "m.bs4nn")
    cut = npy(np.array([0.5, 0.25]))[:-8]  # the header and one of the two values
    rewrite(path, {"alphas.npy": cut})
    assert load_error(path).startswith(
        f"model file {path} is corrupt or truncated (alphas.npy claims shape (2,), more than "
        f"its {len(cut):,} bytes hold); "
    )


def test_load_never_unpickles(tmp_path):
    path = tiny().save(tmp_path / "m.bs4nn")
    rewrite(path, {"alphas.npy": npy(np.array([{"evil": 1}], dtype=object))})
    assert load_error(path).startswith(
        f"model file {path} is corrupt or truncated (Object "
        "arrays cannot be loaded when allow_pickle=False)"
    )


# ---------------------------------------------------------------- model_from_arrays validation


@pytest.mark.parametrize(
    "weights, alphas, thetas, message",
    [
        ([], [], [], "a model needs at least one weight layer"),
        (
            [W0, np.ones((2, 3))],
            [1, 1],
            [1, 1],
            "weights[1] has 3 inputs but weights[0] has 2 outputs; layer l must have shape "
            "(n_out, n_in) with n_in = n_out of layer l-1",
        ),
        ([np.ones(3)], [1], [1], "weights[0] has shape (3,); each layer must be 2-D (n_out, n_in)"),
        ([np.ones((0, 3))], [1], [1], "weights[0] has shape (0, 3); layers cannot be empty"),
        ([W0, W1], [1.0], [1, 1], "alphas has 1 values; give one per weight layer (2)"),
        ([W0, W1], [1, 1], [1, 1, 1], "thetas has 3 values; give one per weight layer (2)"),
        ([W0 * np.nan], [1], [1], "weights[0] holds NaN or infinite values"),
        ([W0], [np.inf], [1], "alphas holds NaN or infinite values"),
        ([W0], [1], [np.nan], "thetas holds NaN or infinite values"),
        ([W0], [0.0], [1], "alphas must be positive, got [0.0]"),
        ([W0.astype(str)], [1], [1], "weights[0] has dtype <U"),
        ([W0], ["a"], [1], "alphas must be numbers, one per weight layer"),
        (W0, [1], [1], "weights must be a list with one (n_out, n_in) array per layer"),
    ],
)
def test_model_from_arrays_rejects(weights, alphas, thetas, message):
    with pytest.raises(Bs4nnError) as exc:
        model_from_arrays(weights, alphas, thetas)
    assert str(exc.value).startswith(message)


def test_model_from_arrays_other_checks():
    with pytest.raises(Bs4nnError, match=r"^unknown model field\(s\) colour; allowed: dataset, "):
        model_from_arrays([W0], [1], [1], colour="red")
    with pytest.raises(Bs4nnError, match="^tmax 100 is not supported; the input coding needs 256"):
        model_from_arrays([W0], [1], [1], tmax=100)
    with pytest.raises(Bs4nnError, match="^tmax must be a positive integer, got 0$"):
        model_from_arrays([W0], [1], [1], tmax=0)
    with pytest.raises(
        Bs4nnError, match="^weight_kind 'ternary' is unknown; use one of binary, real"
    ):
        model_from_arrays([W0], [1], [1], weight_kind="ternary")
    with pytest.raises(Bs4nnError, match="^encoding 'rate' is not supported"):
        model_from_arrays([W0], [1], [1], encoding="rate")
    with pytest.raises(Bs4nnError, match=r"^alphas must be positive, got \[1.0, -0.5\]"):
        model_from_arrays([W0, W1], [1, -0.5], [1, 1], weight_kind="real")
    # integer weights are accepted and stored as float64
    m = model_from_arrays([np.array([[1, -1]], dtype=np.int8)], [1.0], [1], weight_kind="real")
    assert m.weights[0].dtype == np.float64 and m.layer_sizes == [2, 1]


def test_dataset_is_checked_when_the_model_is_made():
    w = [np.ones((3, 4))]
    with pytest.raises(
        Bs4nnError,
        match=r"^unknown dataset 'cifar'; choose one of: mnist, "
        r"fashion-mnist \(or own data with its dataset_sha256\)$",
    ):
        model_from_arrays(w, [1.0], [1.0], dataset="cifar")
    with pytest.raises(Bs4nnError) as exc:
        model_from_arrays(w, [1.0], [1.0], dataset="mine.npz", dataset_sha256="a" * 65)
    assert str(exc.value) == (
        f"own dataset 'mine.npz' needs a name and a 64-hex dataset_sha256, got '{'a' * 65}'"
    )
    assert model_from_arrays(w, [1.0], [1.0], dataset="mine.npz", dataset_sha256="a" * 64)


def test_dataset_to_run_is_the_models_own():
    w = [np.ones((3, 4))]
    fashion = model_from_arrays(w, [1.0], [1.0], dataset="fashion-mnist")
    assert fashion.dataset_to_run() == "fashion-mnist"
    assert fashion.dataset_to_run("fashion-mnist") == "fashion-mnist"
    with pytest.raises(Bs4nnError) as exc:
        fashion.dataset_to_run("mnist")
    assert str(exc.value) == (
        "--dataset mnist is not the model's dataset (fashion-mnist); "
        "leave --dataset out to use fashion-mnist"
    )
    unnamed = model_from_arrays(w, [1.0], [1.0])
    assert unnamed.dataset_to_run("mnist") == "mnist"
    with pytest.raises(Bs4nnError) as exc:
        unnamed.dataset_to_run()
    assert str(exc.value) == (
        "the model records no dataset; name one with --dataset "
        "(mnist or fashion-mnist, or a .npz file or IDX folder)"
    )


def test_a_training_record_reads_back_and_nothing_else_does():
    model = tiny(seed=3, train_config={"epochs": 2}, metrics={"test_accuracy": 0.5})
    record = {"dataset_sha256": None, "seed": 3, "train_config": {"epochs": 2}}
    record["metrics"] = {"test_accuracy": 0.5}
    assert parse_training_record(training_record(model)) == record
    for other in (
        {**record, "colour": "red"},  # a key more
        {k: v for k, v in record.items() if k != "seed"},  # a key less
        {**record, "seed": "3"},
        {**record, "seed": True},
        {**record, "metrics": []},
        [record],
    ):
        assert parse_training_record(json.dumps(other)) is None
    assert parse_training_record("{not json") is None
