"""A user's own dataset: .npz and IDX folders of any image size, exact checks and messages."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from badinput import central_entry_changed
from helpers import run_bs4nn

from bs4nn.trainer.datasets import dataset_fields
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model, model_from_arrays
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
    data.update(
        x_val=data["x_train"][:5],
        y_val=data["y_train"][:5],
        class_names=np.array(["idle", "walk", "run", "fall"]),
    )
    own = load_own_data(npz(tmp_path, **data))
    assert (own.name, own.image_shape, own.n_inputs, own.n_classes) == (
        "sensors.npz",
        (10, 10),
        100,
        4,
    )
    assert own.class_names == ("idle", "walk", "run", "fall")
    x, y = own.splits["train"]
    assert x.shape == (40, 100) and x.dtype == np.uint8 and not x.flags.writeable
    assert np.array_equal(x, data["x_train"].reshape(40, 100)) and y.tolist() == list(
        np.arange(40) % 4
    )
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
    for stem, x, y in (
        ("train", data["x_train"], data["y_train"]),
        ("t10k", data["x_test"], data["y_test"]),
    ):
        head = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in x.shape)
        (folder / f"{stem}-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + x.tobytes()))
        head = (0x801).to_bytes(4, "big") + len(y).to_bytes(4, "big")
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(head + y.astype(np.uint8).tobytes())
    own = load_own_data(folder)
    assert (own.name, own.image_shape, own.n_classes) == ("tiny-idx", (5, 7), 3)
    assert np.array_equal(own.splits["test"][0], data["x_test"].reshape(12, 35))
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(
        Bs4nnError,
        match=r"^dataset folder .*tiny-idx lacks "
        r"t10k-labels-idx1-ubyte\[\.gz\] \(the MNIST layout: ",
    ):
        load_own_data(folder)


def message(path) -> str:
    with pytest.raises(Bs4nnError) as exc:
        load_own_data(path)
    return str(exc.value)


def test_float_images_are_refused_with_the_conversion(tmp_path):
    data = arrays()
    data["x_train"] = data["x_train"] / 255.0
    path = npz(tmp_path, **data)
    assert message(path) == (
        f"dataset {path}: x_train is float64, not uint8 intensities 0..255; "
        f"convert it first, e.g. {TO_UINT8}"
    )


@pytest.mark.parametrize(
    "change,expected",
    [
        (
            lambda d: d.pop("y_test"),
            "lacks y_test (keys: x_train, y_train, x_test, y_test; optional "
            "x_val, y_val, class_names)",
        ),
        (
            lambda d: d.update(x_val=d["x_train"][:2]),
            "has only one of x_val, y_val; give both or neither",
        ),
        (
            lambda d: d.update(x_test=d["x_test"][:, :5]),
            "x_test images are (5, 10), x_train's are (10, 10)",
        ),
        (
            lambda d: d.update(y_train=d["y_train"][:3]),
            "y_train must be 40 integer labels (one per image), got int64 of shape (3,)",
        ),
        (lambda d: d.update(y_train=d["y_train"] - 1), "y_train holds negative labels; use 0..C-1"),
        (lambda d: d.update(class_names=np.array(["a", "b"])), "2 class_names but labels up to 3"),
        (
            lambda d: d.update(y_train=np.arange(40) * 10),
            "y_train holds label 390; the firmware takes at most 255 classes, labels 0..254",
        ),
        (  # refused at once: it once built ten to the twelfth class names first
            lambda d: d.update(y_test=np.full(12, 10**12)),
            "y_test holds label 1000000000000; the firmware takes at most 255 classes, labels "
            "0..254",
        ),
        (  # not wrapped to a negative int64
            lambda d: d.update(y_train=np.full(40, 2**63 + 5, np.uint64)),
            "y_train holds label 9223372036854775813; the firmware takes at most 255 classes, "
            "labels 0..254",
        ),
        (
            lambda d: d.update(class_names=np.array([str(c) for c in range(256)])),
            "256 classes; the firmware takes 2..255",
        ),
        (  # all labels 0: one class, said in the singular
            lambda d: d.update(y_train=d["y_train"] * 0, y_test=d["y_test"] * 0),
            "1 class; the firmware takes 2..255",
        ),
        (
            lambda d: d.update(
                x_train=np.zeros((40, 300, 300), np.uint8),
                x_test=np.zeros((12, 300, 300), np.uint8),
            ),
            "images of 90000 inputs; the firmware takes 1..65535",
        ),
    ],
)
def test_bad_datasets_are_refused(tmp_path, change, expected):
    data = arrays()
    change(data)
    path = npz(tmp_path, **data)
    assert message(path) == f"dataset {path}: {expected}"


def test_missing_and_foreign_files(tmp_path):
    assert message(tmp_path / "nope.npz") == (
        f"dataset {tmp_path / 'nope.npz'} not found: give a .npz file or a folder of IDX files"
    )
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n not a zip")
    assert message(junk) == (
        f"dataset {junk} is not a .npz file (a zip archive of arrays, as numpy.savez writes)"
    )
    cut = tmp_path / "cut.npz"
    np.savez(cut, x_train=np.zeros((2, 4), np.uint8))
    cut.write_bytes(cut.read_bytes()[:40])  # a zip cut short
    assert message(cut).startswith(f"dataset {cut} is not a readable .npz file (")
    locked = tmp_path / "locked.npz"  # a damaged byte claims the entry is encrypted
    np.savez(locked, x_train=np.zeros((2, 4), np.uint8))
    locked.write_bytes(central_entry_changed(locked.read_bytes(), "flags", 1))
    assert message(locked) == (
        f"dataset {locked} is not a readable .npz file (File 'x_train.npy' is encrypted, password "
        "required for extraction)"
    )


# ---------------------------------------------------------------- the chain on own data


def quadrant_data(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """10x10 images, 4 classes: a bright 5x5 block in the class's quadrant over dim noise."""
    y = rng.integers(0, 4, n)
    x = np.where(rng.random((n, 10, 10)) < 0.5, 0, rng.integers(0, 90, (n, 10, 10)))
    for i, c in enumerate(y):
        r, q = divmod(int(c), 2)
        block = rng.integers(150, 256, (5, 5))
        block[rng.random((5, 5)) < 0.3] = 0
        x[i, 5 * r : 5 * r + 5, 5 * q : 5 * q + 5] = block
    return x.astype(np.uint8), y


@pytest.fixture(scope="module")
def sensors(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    (xtr, ytr), (xte, yte) = quadrant_data(1200, rng), quadrant_data(300, rng)
    path = tmp_path_factory.mktemp("own") / "sensors.npz"
    np.savez(
        path,
        x_train=xtr,
        y_train=ytr,
        x_test=xte,
        y_test=yte,
        class_names=np.array(["north-west", "north-east", "south-west", "south-east"]),
    )
    return path


@pytest.mark.e2e
def test_own_data_trains_exports_and_runs_bit_exact_on_the_board(sensors, tmp_path):
    model = tmp_path / "m.bs4nn"
    proc = run_bs4nn(
        "train",
        "--preset",
        "generic",
        "--data",
        sensors,
        "--hidden",
        "20",
        "--epochs",
        "3",
        "--val-size",
        "200",
        "--out",
        model,
        "--no-plot",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("training 100-20-4 on ")
    trained = Model.load(model)
    assert (trained.dataset, trained.dataset_sha256) == (
        "sensors.npz",
        load_own_data(sensors).test_sha256,
    )
    assert trained.metrics["test_accuracy"] >= 0.9
    proc = run_bs4nn("export", model, "--out", tmp_path / "fw", "--data", sensors)
    assert proc.returncode == 0, proc.stderr
    assert f"integer model == trainer evaluation on 300 {sensors} test images" in proc.stdout
    proc = run_bs4nn(
        "bench",
        "--model",
        model,
        "--data",
        sensors,
        "--emulate",
        "--limit",
        "50",
        "--out",
        tmp_path / "bench",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert "\nmismatches    0  (" in proc.stdout
    proc = run_bs4nn("eval", model, "--data", sensors, "--plots", tmp_path / "plots")
    assert proc.returncode == 0 and (tmp_path / "plots" / "confusion.png").is_file()


def test_a_model_of_own_data_needs_that_data(sensors, tmp_path):
    rng = np.random.default_rng(1)
    model = model_from_arrays(
        [rng.normal(size=(8, 100)), rng.normal(size=(4, 8))],
        [1.0, 1.0],
        [3.0, 2.0],
        **dataset_fields(str(sensors)),
    )
    path = model.save(tmp_path / "m.bs4nn")
    sha = load_own_data(sensors).test_sha256
    proc = run_bs4nn("eval", path)
    assert proc.returncode == 2 and proc.stderr == (
        f"bs4nn eval: error: the model was made from own data sensors.npz (test split SHA-256 "
        f"{sha[:16]}...); give its file or folder with --data\n"
    )
    other = dict(np.load(sensors))
    other["y_test"] = (other["y_test"] + 1) % 4
    np.savez(tmp_path / "sensors.npz", **other)
    other_sha = load_own_data(tmp_path / "sensors.npz").test_sha256
    proc = run_bs4nn(
        "bench",
        "--model",
        path,
        "--data",
        tmp_path / "sensors.npz",
        "--port",
        "/dev/null",
        "--out",
        tmp_path / "b",
    )
    assert proc.returncode == 2 and proc.stderr == (
        f"bs4nn bench: error: --dataset sensors.npz (test split SHA-256 {other_sha[:16]}...) is "
        f"not the model's dataset (sensors.npz (test split SHA-256 {sha[:16]}...)); give the data "
        "it was made from\n"
    )
    assert not (tmp_path / "b").exists()
    proc = run_bs4nn(
        "bench",
        "--model",
        path,
        "--dataset",
        "mnist",
        "--port",
        "/dev/null",
        "--out",
        tmp_path / "b",
    )
    assert proc.returncode == 2 and "--dataset mnist is not the model's dataset" in proc.stderr
    # the same data under another name (a copy, a renamed file) is the model's data
    copy = tmp_path / "copy" / "sensor-data.npz"
    copy.parent.mkdir()
    copy.write_bytes(sensors.read_bytes())
    assert Model.load(path).dataset_to_run(str(copy)) == str(copy)


@pytest.mark.parametrize("own_data", [True, False], ids=["own-data", "no-dataset"])
def test_demo_refuses_a_model_not_of_mnist_or_fashion_before_any_step(
    sensors, tmp_path, capsys, own_data
):
    # demo has no --data: it must not tell the user to give one
    from bs4nn.cli import main

    rng = np.random.default_rng(1)
    meta = dataset_fields(str(sensors)) if own_data else {}
    model = model_from_arrays(
        [rng.normal(size=(8, 100)), rng.normal(size=(4, 8))], [1.0, 1.0], [3.0, 2.0], **meta
    )
    path = model.save(tmp_path / "m.bs4nn")
    assert main(["demo", "--model", str(path), "--out", str(tmp_path / "demo")]) == 2
    assert capsys.readouterr() == (
        "",
        f"bs4nn demo: error: the demo runs MNIST and Fashion-MNIST models, and {path} is not "
        f"one: bench it with `bs4nn bench --model {path} --data FILE`\n",
    )
    assert not (tmp_path / "demo").exists()


def test_images_no_request_frame_carries_are_refused_before_anything_is_made(tmp_path):
    """1,200 inputs: one INFER frame carries at most 869 non-zero pixels (bitmap: 150 + 869 =
    1,019 body bytes). bench and sweep check the images they send before any build, emulator,
    port or --out."""
    data = arrays(n_train=6, n_test=6, shape=(30, 40), classes=3)
    x = data["x_test"]
    x[:] = 0
    x.reshape(6, 1200)[0, :869] = 5  # exactly one frame
    x[1] = 255  # every pixel non-zero
    x[3] = 255
    path = npz(tmp_path, **data)
    rng = np.random.default_rng(1)
    model = model_from_arrays(
        [rng.normal(size=(8, 1200)), rng.normal(size=(3, 8))],
        [1.0, 1.0],
        [3.0, 2.0],
        **dataset_fields(str(path)),
    ).save(tmp_path / "m.bs4nn")
    refusal = (
        "error: test image 1 has 1,200 non-zero pixels of 1,200: too many for one INFER "
        "request, whose body of at most 1,019 bytes holds 869 of 1,200; give images with more "
        "zero pixels, or a model of at most 1,019 inputs\n"
    )
    for command, where in (("bench", ()), ("sweep", ("--port", "/dev/null"))):
        out = tmp_path / command
        proc = run_bs4nn(command, "--model", model, "--data", path, *where, "--out", out)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", f"bs4nn {command}: {refusal}")
        assert not out.exists()
