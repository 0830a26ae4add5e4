"""Bad input over every sub-command, as a careless or hostile user gives it (issue 18).

Each case runs `bs4nn ARGS` in a fresh working folder inside a world of files (a good model,
damaged models, a file where a folder belongs, a non-export folder, damaged exports, a damaged
dataset) and asserts: a non-zero exit, exactly one line on stderr and that it is the expected
message, no exception escaping (no traceback), and every file of the world exactly as before
(nothing created, nothing left behind). All CASES fail before any firmware is built or QEMU
started; a few of them also run through the console script in its own process, and two (marked
e2e) build the firmware and start QEMU before they fail. The resume and concurrency cases are in
test_bench_resume.py.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from badinput import central_entry_changed, edited, npy, npy_claiming, snapshot, tiny_model

from bs4nn.cli import build_parser, main
from bs4nn.codegen.export import EXPORT_MANIFEST
from bs4nn.trainer.run import write_checkpoint
from bs4nn.trainer.train import make_config

HASH = "0123456789abcdef" * 4
COMMANDS = ", ".join(repr(name) for name in build_parser()._subparsers._group_actions[0].choices)


@pytest.fixture(scope="module")
def world(tmp_path_factory, real_data):
    w = tmp_path_factory.mktemp("world")
    good = tiny_model().save(w / "good.bs4nn")
    tiny_model(thetas=(4e4, 1.5)).save(w / "bigk.bs4nn")  # K = 40000 > K_MAX
    tiny_model(thetas=(-3.0, 1.5)).save(w / "negk.bs4nn")  # K = -3 < K_MIN
    tiny_model(weight_kind="real").save(w / "real.bs4nn")
    tiny_model(dataset=None).save(w / "nodata.bs4nn")
    tiny_model(outputs=3).save(w / "threeout.bs4nn")  # MNIST has labels it has no output for
    tiny_model(inputs=5).save(w / "fivein.bs4nn")  # MNIST has more pixels than it has inputs
    (w / "runner").mkdir()
    (w / "runner" / "main.py").write_text("")
    (w / "afile").write_text("not a folder\n")
    (w / "empty.bs4nn").write_bytes(b"")
    (w / "text.bs4nn").write_text("hello\n")
    (w / "adir.bs4nn").mkdir()
    (w / "ckpt.bs4nn.ckpt").mkdir()
    (w / "plotdir.training.png").mkdir()
    (w / "cut.bs4nn").write_bytes(good.read_bytes()[:300])
    flipped = bytearray(good.read_bytes())
    flipped[200] ^= 0xFF
    (w / "flipped.bs4nn").write_bytes(bytes(flipped))
    # a damaged central directory that claims what Python's zipfile does not read
    for name, change in {"encrypted": ("flags", 1), "zip99": ("version", 99)}.items():
        (w / f"{name}.bs4nn").write_bytes(central_entry_changed(good.read_bytes(), *change))
    (w / "zipmethod.bs4nn").write_bytes(central_entry_changed(good.read_bytes(), "method", 99))
    models = {
        "nometa": dict(drop=("meta.json",)),
        "nothetas": dict(drop=("thetas.npy",)),
        "metajunk": dict(entries={"meta.json": b"{not json"}),
        "format": dict(meta={"format": "onnx"}),
        "version": dict(meta={"format_version": 9}),
        "nohash": dict(meta={"content_hash": None}),
        "sizesstr": dict(meta={"layer_sizes": ["784", "16", "10"]}),
        "sizesbool": dict(meta={"layer_sizes": [784, True, 10]}),
        "sizesneg": dict(meta={"layer_sizes": [784, -16, 10]}),
        "sizesone": dict(meta={"layer_sizes": [784]}),
        "sizesdict": dict(meta={"layer_sizes": {"a": 1}}),
        "tmaxstr": dict(meta={"tmax": "256"}),
        "tmaxnan": dict(meta={"tmax": float("nan")}),
        "tmax100": dict(meta={"tmax": 100}),
        "seedstr": dict(meta={"seed": "zero"}),
        "metricslist": dict(meta={"metrics": [1, 2]}),
        "configstr": dict(meta={"train_config": "x"}),
        "splitseedneg": dict(meta={"train_config": {"val_size": 300, "seed": -1}}),
        "splitsizebool": dict(meta={"train_config": {"val_size": True, "seed": 0}}),
        "splitsize0": dict(meta={"train_config": {"val_size": 0, "seed": 0}}),
        "datasetnum": dict(meta={"dataset": 7}),
        "datasetbad": dict(meta={"dataset": "cifar"}),
        "kindbad": dict(meta={"weight_kind": "ternary"}),
        "encodingbad": dict(meta={"encoding": "rate"}),
        "hashbad": dict(meta={"content_hash": HASH}),
        "thetastr": dict(entries={"thetas.npy": npy(["a", "b"])}),
        "alphastr": dict(entries={"alphas.npy": npy(["1", "2"])}),
        "thetanan": dict(entries={"thetas.npy": npy([np.nan, 1.0])}),
        "alphaneg": dict(entries={"alphas.npy": npy([-1.0, 0.5])}),
        "thetas3": dict(entries={"thetas.npy": npy([1.0, 2.0, 3.0])}),
        "weightsstr": dict(entries={"weights_1.npy": npy(np.full((10, 16), "x"))}),
        "weightsinf": dict(entries={"weights_1.npy": npy(np.full((10, 16), np.inf))}),
        "weightsshape": dict(entries={"weights_1.npy": npy(np.zeros((16, 10)))}),
        "weights3d": dict(entries={"weights_1.npy": npy(np.zeros((10, 16, 1)))}),
        "weightshuge": dict(entries={"weights_1.npy": npy_claiming((600000000, 784), [0.0] * 160)}),
        "thetascomplex": dict(entries={"thetas.npy": npy(np.array([1 + 1j, 2.0]))}),
    }
    for name, change in models.items():
        edited(good, w / f"{name}.bs4nn", **change)
    busy = w / "notexport"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine\n")
    for name, text in {
        "manifestjunk": "{not json",
        "manifestlist": "[1, 2]",
        "manifestnoboard": '{"model_hash": "ab"}',
        "manifestboard": '{"board": "pdp11", "model_hash": "ab"}',
        "manifesttarget": '{"target": "pdp11", "model_hash": "ab"}',  # the key's earlier name
    }.items():
        (w / name).mkdir()
        (w / name / EXPORT_MANIFEST).write_text(text)
    (w / "manifestbytes").mkdir()
    (w / "manifestbytes" / EXPORT_MANIFEST).write_bytes(b"\xff\xfe{")
    bad = w / "baddata" / "mnist"
    bad.mkdir(parents=True)
    images = real_data[("mnist", "t10k-images-idx3-ubyte")]
    with open(images, "rb") as f:
        head = f.read(16)
    if images.suffix == ".gz":
        import gzip

        head = gzip.decompress(images.read_bytes())[:16]
    (bad / "t10k-images-idx3-ubyte").write_bytes(head + b"\0" * 100)  # cut short
    (w / "ckjunk.bs4nn.ckpt").write_bytes(b"junk")
    (w / "ckcut.bs4nn.ckpt").write_bytes(good.read_bytes()[:300])
    cfg = make_config("mnist-600", val_size=5000, train_limit=None, seed=0, epochs=1).to_dict()
    write_checkpoint(w / "ckkeys.bs4nn.ckpt", cfg, {"epoch": 1}, {})
    write_checkpoint(w / "ckother.bs4nn.ckpt", {**cfg, "seed": 4}, {"epoch": 1}, {})
    write_checkpoint(w / "cknoconfig.bs4nn.ckpt", [1], {}, {})
    encrypted = central_entry_changed((w / "ckkeys.bs4nn.ckpt").read_bytes(), "flags", 1)
    (w / "ckencrypted.bs4nn.ckpt").write_bytes(encrypted)
    (w / "cwd").mkdir()
    return w


# (id, command line, the one line expected on stderr); {w} is the world folder, {pty} a port no
# one answers on, {commands} the sub-commands as argparse lists them
CASES = [
    # ---- numbers: bench
    (
        "bench-limit-0",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --limit 0",
        "bs4nn bench: error: argument --limit: expected a whole number of at least 1, got '0' "
        "(see `bs4nn bench --help`)",
    ),
    (
        "bench-limit-neg",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --limit -5",
        "bs4nn bench: error: argument --limit: expected a whole number of at least 1, got '-5' "
        "(see `bs4nn bench --help`)",
    ),
    (
        "bench-limit-word",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --limit ten",
        "bs4nn bench: error: argument --limit: expected a whole number of at least 1, got 'ten' "
        "(see `bs4nn bench --help`)",
    ),
    (
        "bench-limit-float",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --limit 2.5",
        "bs4nn bench: error: argument --limit: expected a whole number of at least 1, got '2.5' "
        "(see `bs4nn bench --help`)",
    ),
    (
        "bench-window-0",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --window 0",
        "bs4nn bench: error: argument --window: expected a whole number of at least 1, got '0' "
        "(see `bs4nn bench --help`)",
    ),
    (
        "bench-window-neg",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --window -1",
        "bs4nn bench: error: argument --window: expected a whole number of at least 1, got '-1' "
        "(see `bs4nn bench --help`)",
    ),
    (
        "bench-timeout-0",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --timeout 0",
        "bs4nn bench: error: argument --timeout: expected a number of seconds above 0 and at most "
        "86400, got '0' (see `bs4nn bench --help`)",
    ),
    (
        "bench-timeout-neg",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --timeout -1",
        "bs4nn bench: error: argument --timeout: expected a number of seconds above 0 and at most "
        "86400, got '-1' (see `bs4nn bench --help`)",
    ),
    (
        "bench-timeout-nan",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --timeout nan",
        "bs4nn bench: error: argument --timeout: expected a number of seconds above 0 and at most "
        "86400, got 'nan' (see `bs4nn bench --help`)",
    ),
    (
        "bench-timeout-inf",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --timeout inf",
        "bs4nn bench: error: argument --timeout: expected a number of seconds above 0 and at most "
        "86400, got 'inf' (see `bs4nn bench --help`)",
    ),
    (
        "bench-timeout-word",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --timeout soon",
        "bs4nn bench: error: argument --timeout: expected a number of seconds above 0 and at most "
        "86400, got 'soon' (see `bs4nn bench --help`)",
    ),
    (
        "bench-timeout-day",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --timeout 86401",
        "bs4nn bench: error: argument --timeout: expected a number of seconds above 0 and at most "
        "86400, got '86401' (see `bs4nn bench --help`)",
    ),
    (
        "bench-baud-0",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --baud 0",
        "bs4nn bench: error: argument --baud: expected a whole number of at least 1, got '0' "
        "(see `bs4nn bench --help`)",
    ),
    (
        "bench-baud-neg",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --baud -5",
        "bs4nn bench: error: argument --baud: expected a whole number of at least 1, got '-5' "
        "(see `bs4nn bench --help`)",
    ),
    (
        "bench-baud-float",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --baud 9600.5",
        "bs4nn bench: error: argument --baud: expected a whole number of at least 1, got "
        "'9600.5' (see `bs4nn bench --help`)",
    ),
    # ---- numbers: sweep
    (
        "sweep-limit-0",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --limit 0",
        "bs4nn sweep: error: argument --limit: expected a whole number of at least 1, got '0' "
        "(see `bs4nn sweep --help`)",
    ),
    (
        "sweep-limit-neg",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --limit -5",
        "bs4nn sweep: error: argument --limit: expected a whole number of at least 1, got '-5' "
        "(see `bs4nn sweep --help`)",
    ),
    (
        "sweep-window-0",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --window 0",
        "bs4nn sweep: error: argument --window: expected a whole number of at least 1, got '0' "
        "(see `bs4nn sweep --help`)",
    ),
    (
        "sweep-timeout-nan",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --timeout nan",
        "bs4nn sweep: error: argument --timeout: expected a number of seconds above 0 and at most "
        "86400, got 'nan' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-baud-neg",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --baud -1",
        "bs4nn sweep: error: argument --baud: expected a whole number of at least 1, got '-1' "
        "(see `bs4nn sweep --help`)",
    ),
    (
        "sweep-scales-empty",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --scales ''",
        "bs4nn sweep: error: argument --scales: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got '' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-scales-0",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --scales 0",
        "bs4nn sweep: error: argument --scales: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got '0' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-scales-neg",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --scales -1",
        "bs4nn sweep: error: argument --scales: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got '-1' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-scales-nan",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --scales nan",
        "bs4nn sweep: error: argument --scales: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got 'nan' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-scales-inf",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --scales 1,inf",
        "bs4nn sweep: error: argument --scales: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got '1,inf' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-budgets-past-the-last-step",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --budgets 40,999",
        "bs4nn sweep: error: argument --budgets: expected comma-separated mean decision steps "
        "above 0 and at most 255, got '40,999' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-budgets-0",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --budgets 0",
        "bs4nn sweep: error: argument --budgets: expected comma-separated mean decision steps "
        "above 0 and at most 255, got '0' (see `bs4nn sweep --help`)",
    ),
    (
        "bench-baud-without-port",
        "bench --model {w}/good.bs4nn --emulate --baud 9600",
        "bs4nn bench: error: --baud is the rate of --port's serial link; give --port with it",
    ),
    (
        "sweep-scales-gap",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --scales 1,,2",
        "bs4nn sweep: error: argument --scales: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got '1,,2' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-scales-trailing",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --scales 1,2,",
        "bs4nn sweep: error: argument --scales: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got '1,2,' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-scales-word",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --scales big",
        "bs4nn sweep: error: argument --scales: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got 'big' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-scales-huge",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --scales 1e6",
        "bs4nn sweep: error: setting 1e+06 gives thresholds [8000000, 3000000]; each K must be "
        "in 1..32767: choose other --thetas/--scales",
    ),
    (
        "sweep-thetas-inf",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --thetas inf",
        "bs4nn sweep: error: argument --thetas: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got 'inf' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-thetas-0",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --thetas 0",
        "bs4nn sweep: error: argument --thetas: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got '0' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-thetas-empty",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --thetas ,",
        "bs4nn sweep: error: argument --thetas: expected comma-separated finite numbers above 0, "
        "e.g. 0.8,1,1.2, got ',' (see `bs4nn sweep --help`)",
    ),
    (
        "sweep-thetas-beyond-words",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --thetas 1e300",
        "bs4nn sweep: error: setting 1e+300 gives thresholds [1e+300, 2e+300]; each K "
        "must be in 1..32767: choose other --thetas/--scales",
    ),
    (
        "sweep-thetas-huge",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --thetas 20,1e9",
        "bs4nn sweep: error: setting 1e+09 gives thresholds [1000000000, 2000000000]; each K "
        "must be in 1..32767: choose other --thetas/--scales",
    ),
    (
        "sweep-scales-twice",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --scales 1,0.8,1.0",
        "bs4nn sweep: error: setting 1 is given twice; give each setting once",
    ),
    (
        "sweep-thetas-twice",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --thetas 20,20",
        "bs4nn sweep: error: setting 20 is given twice; give each setting once",
    ),
    (
        "sweep-both",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --thetas 20 --scales 1",
        "bs4nn sweep: error: argument --scales: not allowed with argument --thetas (see `bs4nn "
        "sweep --help`)",
    ),
    # ---- numbers: export, eval, demo
    (
        "export-check-neg",
        "export {w}/good.bs4nn --out fw --check-images -5",
        "bs4nn export: error: argument --check-images: expected a whole number of at least 0, "
        "got '-5' (see `bs4nn export --help`)",
    ),
    (
        "export-check-word",
        "export {w}/good.bs4nn --out fw --check-images all",
        "bs4nn export: error: argument --check-images: expected a whole number of at least 0, "
        "got 'all' (see `bs4nn export --help`)",
    ),
    (
        "calibrate-no-budget",
        "calibrate {w}/good.bs4nn --out new.bs4nn",
        "bs4nn calibrate: error: the following arguments are required: --max-mean-step "
        "(see `bs4nn calibrate --help`)",
    ),
    (
        "calibrate-budget-neg",
        "calibrate {w}/good.bs4nn --max-mean-step -1 --out new.bs4nn",
        "bs4nn calibrate: error: argument --max-mean-step: expected a mean decision step from 0 "
        "to 255, got '-1' (see `bs4nn calibrate --help`)",
    ),
    (
        "calibrate-budget-past-the-last-step",
        "calibrate {w}/good.bs4nn --max-mean-step 300 --out new.bs4nn",
        "bs4nn calibrate: error: argument --max-mean-step: expected a mean decision step from 0 "
        "to 255, got '300' (see `bs4nn calibrate --help`)",
    ),
    (
        "calibrate-budget-nan",
        "calibrate {w}/good.bs4nn --max-mean-step nan --out new.bs4nn",
        "bs4nn calibrate: error: argument --max-mean-step: expected a mean decision step from 0 "
        "to 255, got 'nan' (see `bs4nn calibrate --help`)",
    ),
    (
        "calibrate-out-is-model",
        "calibrate {w}/good.bs4nn --max-mean-step 60 --out {w}/good.bs4nn",
        "bs4nn calibrate: error: --out is the input model; give another file for the calibrated "
        "one",
    ),
    (
        "calibrate-out-under-file",
        "calibrate {w}/good.bs4nn --max-mean-step 60 --out {w}/afile/new.bs4nn",
        "bs4nn calibrate: error: --out {w}/afile/new.bs4nn: {w}/afile is not a folder; choose "
        "another path",
    ),
    (
        "calibrate-real",
        "calibrate {w}/real.bs4nn --max-mean-step 60 --out new.bs4nn",
        "bs4nn calibrate: error: {w}/real.bs4nn has real weights (S4NN); calibration chooses the "
        "integer thresholds of a binary model",
    ),
    (
        "calibrate-no-split",
        "calibrate {w}/good.bs4nn --max-mean-step 60 --out new.bs4nn",
        "bs4nn calibrate: error: the model records no validation split (val_size and seed of "
        "bs4nn train); calibrate a model trained with bs4nn train",
    ),
    (
        "calibrate-splitseedneg",
        "calibrate {w}/splitseedneg.bs4nn --max-mean-step 60 --out new.bs4nn",
        "bs4nn calibrate: error: the model records no validation split (val_size and seed of "
        "bs4nn train); calibrate a model trained with bs4nn train",
    ),
    (
        "calibrate-splitsizebool",
        "calibrate {w}/splitsizebool.bs4nn --max-mean-step 60 --out new.bs4nn",
        "bs4nn calibrate: error: the model records no validation split (val_size and seed of "
        "bs4nn train); calibrate a model trained with bs4nn train",
    ),
    (
        "calibrate-splitsize0",
        "calibrate {w}/splitsize0.bs4nn --max-mean-step 60 --out new.bs4nn",
        "bs4nn calibrate: error: the model records no validation split (val_size and seed of "
        "bs4nn train); calibrate a model trained with bs4nn train",
    ),
    (
        "sweep-budgets-splitseedneg",
        "sweep --model {w}/splitseedneg.bs4nn --port /dev/nonexist --budgets 20",
        "bs4nn sweep: error: the model records no validation split (val_size and seed of bs4nn "
        "train); calibrate a model trained with bs4nn train",
    ),
    (
        "calibrate-model-flipped",
        "calibrate {w}/flipped.bs4nn --max-mean-step 60 --out new.bs4nn",
        "bs4nn calibrate: error: model file {w}/flipped.bs4nn is corrupt or truncated (damaged "
        "archive: Bad CRC-32 for file 'meta.json'); copy it again from its source, or re-train / "
        "re-save it",
    ),
    (
        "eval-limit-0",
        "eval {w}/good.bs4nn --limit 0",
        "bs4nn eval: error: argument --limit: expected a whole number of at least 1, got '0' "
        "(see `bs4nn eval --help`)",
    ),
    (
        "eval-limit-neg",
        "eval {w}/good.bs4nn --limit -3",
        "bs4nn eval: error: argument --limit: expected a whole number of at least 1, got '-3' "
        "(see `bs4nn eval --help`)",
    ),
    (
        "demo-limit-0",
        "demo --limit 0",
        "bs4nn demo: error: argument --limit: expected a whole number of at least 1, got '0' "
        "(see `bs4nn demo --help`)",
    ),
    (
        "demo-limit-neg",
        "demo --limit -1",
        "bs4nn demo: error: argument --limit: expected a whole number of at least 1, got '-1' "
        "(see `bs4nn demo --help`)",
    ),
    # ---- numbers: train
    (
        "train-epochs-0",
        "train --epochs 0",
        "bs4nn train: error: argument --epochs: expected a whole number of at least 1, got '0' "
        "(see `bs4nn train --help`)",
    ),
    (
        "train-epochs-neg",
        "train --epochs -1",
        "bs4nn train: error: argument --epochs: expected a whole number of at least 1, got '-1' "
        "(see `bs4nn train --help`)",
    ),
    (
        "train-hidden-0",
        "train --hidden 0",
        "bs4nn train: error: argument --hidden: expected a whole number of at least 1, got '0' "
        "(see `bs4nn train --help`)",
    ),
    (
        "train-hidden-neg",
        "train --hidden -3",
        "bs4nn train: error: argument --hidden: expected a whole number of at least 1, got '-3' "
        "(see `bs4nn train --help`)",
    ),
    (
        "train-theta-nan",
        "train --theta nan",
        "bs4nn train: error: argument --theta: expected a finite number above 0, got 'nan' (see "
        "`bs4nn train --help`)",
    ),
    (
        "train-theta-neg",
        "train --theta -5",
        "bs4nn train: error: argument --theta: expected a finite number above 0, got '-5' (see "
        "`bs4nn train --help`)",
    ),
    (
        "train-theta-0",
        "train --theta 0",
        "bs4nn train: error: argument --theta: expected a finite number above 0, got '0' (see "
        "`bs4nn train --help`)",
    ),
    (
        "train-theta-inf",
        "train --theta inf",
        "bs4nn train: error: argument --theta: expected a finite number above 0, got 'inf' (see "
        "`bs4nn train --help`)",
    ),
    (
        "train-train-limit-0",
        "train --train-limit 0",
        "bs4nn train: error: argument --train-limit: expected a whole number of at least 1, got "
        "'0' (see `bs4nn train --help`)",
    ),
    (
        "train-val-size-neg",
        "train --val-size -1",
        "bs4nn train: error: argument --val-size: expected a whole number of at least 0, got "
        "'-1' (see `bs4nn train --help`)",
    ),
    (
        "train-seed-neg",
        "train --seed -1",
        "bs4nn train: error: argument --seed: expected a whole number of at least 0, got '-1' "
        "(see `bs4nn train --help`)",
    ),
    (
        "train-ema-neg",
        "train --ema-samples -3",
        "bs4nn train: error: argument --ema-samples: expected a whole number of at least 0, got "
        "'-3' (see `bs4nn train --help`)",
    ),
    (
        "train-gamma-nan",
        "train --gamma nan",
        "bs4nn train: error: argument --gamma: expected a margin in steps from 0 to 256, got "
        "'nan' (see `bs4nn train --help`)",
    ),
    (
        "train-gamma-neg",
        "train --gamma -1",
        "bs4nn train: error: argument --gamma: expected a margin in steps from 0 to 256, got "
        "'-1' (see `bs4nn train --help`)",
    ),
    (
        "train-tie-lead-neg",
        "train --tie-lead -1",
        "bs4nn train: error: argument --tie-lead: expected a lead in steps from 0 to 255, got "
        "'-1' (see `bs4nn train --help`)",
    ),
    (
        "train-tie-lead-inf",
        "train --tie-lead inf",
        "bs4nn train: error: argument --tie-lead: expected a lead in steps from 0 to 255, got "
        "'inf' (see `bs4nn train --help`)",
    ),
    (
        "train-gamma-beyond-the-steps",
        "train --gamma 300",
        "bs4nn train: error: argument --gamma: expected a margin in steps from 0 to 256, got "
        "'300' (see `bs4nn train --help`)",
    ),
    (
        "train-tie-lead-beyond-the-steps",
        "train --tie-lead 999",
        "bs4nn train: error: argument --tie-lead: expected a lead in steps from 0 to 255, got "
        "'999' (see `bs4nn train --help`)",
    ),
    (
        "train-clip-neg",
        "train --clip -1",
        "bs4nn train: error: argument --clip: expected a finite number of at least 0, got '-1' "
        "(see `bs4nn train --help`)",
    ),
    (
        "train-clip-nan",
        "train --clip nan",
        "bs4nn train: error: argument --clip: expected a finite number of at least 0, got 'nan' "
        "(see `bs4nn train --help`)",
    ),
    (
        "train-levels-0",
        "train --rule surrogate --levels 0",
        "bs4nn train: error: argument --levels: expected a whole number of at least 1, got '0' "
        "(see `bs4nn train --help`)",
    ),
    (
        "train-shift-neg",
        "train --rule surrogate --shift -1",
        "bs4nn train: error: argument --shift: expected a whole number of at least 0, got '-1' "
        "(see `bs4nn train --help`)",
    ),
    (
        "train-count-loss-nan",
        "train --rule surrogate --count-loss nan",
        "bs4nn train: error: argument --count-loss: expected a finite number of at least 0, got "
        "'nan' (see `bs4nn train --help`)",
    ),
    (
        "train-count-loss-neg",
        "train --rule surrogate --count-loss -1",
        "bs4nn train: error: argument --count-loss: expected a finite number of at least 0, got "
        "'-1' (see `bs4nn train --help`)",
    ),
    # ---- options that parse but cannot run
    (
        "train-val-size-all",
        "train --epochs 1 --val-size 60000",
        "bs4nn train: error: validation size 60000 must be at least 0 and below the 60000 "
        "training samples: give a smaller --val-size",
    ),
    (
        "train-val-size-0-calibrate",
        "train --epochs 1 --val-size 0 --train-limit 10",
        "bs4nn train: error: --calibrate (on in every preset) chooses the thresholds on a "
        "validation split: --val-size must be at least 1, or give --no-calibrate",
    ),
    (
        "train-val-size-0-ema",
        "train --epochs 1 --val-size 0 --train-limit 10 --no-calibrate",
        "bs4nn train: error: --ema-samples (30000 here) lets a validation split choose between "
        "the weights and their moving average: --val-size must be at least 1, or give "
        "--ema-samples 0",
    ),
    (
        "train-levels-1",
        "train --rule surrogate --levels 1",
        "bs4nn train: error: --levels must be within 2..256, got 1",
    ),
    (
        "train-levels-big",
        "train --rule surrogate --levels 300",
        "bs4nn train: error: --levels must be within 2..256, got 300",
    ),
    (
        "train-shift-big",
        "train --rule surrogate --shift 20",
        "bs4nn train: error: --shift must be within 0..13, got 20",
    ),
    (
        "train-surrogate-batch",
        "train --rule surrogate --train-limit 10",
        "bs4nn train: error: --train-limit must be at least the batch (128), got 10",
    ),
    (
        "train-surrogate-theta",
        "train --rule surrogate --theta 5",
        "bs4nn train: error: --theta: for the paper's rule only, not with --rule surrogate",
    ),
    (
        "train-surrogate-real",
        "train --rule surrogate --weights real",
        "bs4nn train: error: --rule surrogate trains binary weights only (drop --weights real)",
    ),
    (
        "train-paper-levels",
        "train --levels 16",
        "bs4nn train: error: --levels: for --rule surrogate only, not with --rule paper",
    ),
    (
        "train-calibrate-real",
        "train --weights real --calibrate",
        "bs4nn train: error: threshold calibration needs binary weights (integer thresholds)",
    ),
    (
        "train-theta-count",
        "train --theta 1 --theta 2 --theta 3",
        "bs4nn train: error: give --theta once (all layers) or 2 times (one per weight layer), "
        "got 3 values",
    ),
    (
        "train-theta-big",  # 163835 / 5 = 32767 is allowed; the output layer's alpha is 5 too
        "train --theta 163835 --theta 163836",
        "bs4nn train: error: theta 163836 over the starting alpha 5 of weight layer 2 of 2 gives "
        "a threshold K = ceil(theta/alpha) above 32767, more than the board's int16 counter "
        "holds; give a smaller --theta",
    ),
    (
        "train-theta-huge",
        "train --theta 1e300",
        "bs4nn train: error: theta 1e+300 over the starting alpha 5 of weight layer 1 of 2 gives "
        "a threshold K = ceil(theta/alpha) above 32767, more than the board's int16 counter "
        "holds; give a smaller --theta",
    ),
    (
        "train-clip-count",
        "train --clip 1 --clip 2 --clip 3",
        "bs4nn train: error: give --clip once (all layers) or 2 times (one per weight layer), "
        "got 3 values",
    ),
    (
        "train-preset",
        "train --preset cifar-10",
        "bs4nn train: error: argument --preset: invalid choice: 'cifar-10' (choose from "
        "'fashion-1000', 'fashion-600-600', 'generic', 'mnist-600') (see `bs4nn train --help`)",
    ),
    (
        "train-rule",
        "train --rule backprop",
        "bs4nn train: error: argument --rule: invalid choice: 'backprop' (choose from 'paper', "
        "'surrogate') (see `bs4nn train --help`)",
    ),
    (
        "train-unknown-argument",
        "train --hidden 40 30 --bogus",
        "bs4nn train: error: unrecognized arguments: 30 --bogus (see `bs4nn train --help`)",
    ),
    (
        "train-resume-none",
        "train --resume --out {w}/cwd/none.bs4nn",
        "bs4nn train: error: no checkpoint {w}/cwd/none.bs4nn.ckpt to resume from; run without "
        "--resume to start",
    ),
    (
        "train-resume-junk",
        "train --resume --out {w}/ckjunk.bs4nn --epochs 1",
        "bs4nn train: error: checkpoint {w}/ckjunk.bs4nn.ckpt is unreadable (not a checkpoint "
        "written by bs4nn train); delete it and start again without --resume",
    ),
    (
        "train-resume-cut",
        "train --resume --out {w}/ckcut.bs4nn --epochs 1",
        "bs4nn train: error: checkpoint {w}/ckcut.bs4nn.ckpt is unreadable (File is not a zip "
        "file); delete it and start again without --resume",
    ),
    (
        "train-resume-encrypted",
        "train --resume --out {w}/ckencrypted.bs4nn --epochs 1",
        "bs4nn train: error: checkpoint {w}/ckencrypted.bs4nn.ckpt is unreadable (File "
        "'meta.npy' is encrypted, password required for extraction); delete it and start again "
        "without --resume",
    ),
    (
        "train-resume-keys",
        "train --resume --out {w}/ckkeys.bs4nn --epochs 1",
        "bs4nn train: error: checkpoint {w}/ckkeys.bs4nn.ckpt is unreadable (KeyError: 'v'); "
        "delete it and start again without --resume",
    ),
    (
        "train-resume-other",
        "train --resume --out {w}/ckother.bs4nn --epochs 1",
        "bs4nn train: error: checkpoint {w}/ckother.bs4nn.ckpt was made with different settings "
        "(seed); resume with the same options, or delete it and start again without --resume",
    ),
    (
        "train-over-a-checkpoint",
        "train --out {w}/ckother.bs4nn --epochs 1",
        "bs4nn train: error: checkpoint {w}/ckother.bs4nn.ckpt holds an earlier run's epochs: "
        "add --resume to continue that run, or delete the checkpoint to start again",
    ),
    (
        "train-resume-noconfig",
        "train --resume --out {w}/cknoconfig.bs4nn --epochs 1",
        "bs4nn train: error: checkpoint {w}/cknoconfig.bs4nn.ckpt is unreadable (no run "
        "settings); delete it and start again without --resume",
    ),
    # ---- choices and missing arguments
    (
        "no-command",
        "",
        "bs4nn: error: the following arguments are required: COMMAND (see `bs4nn --help`)",
    ),
    (
        "unknown-command",
        "flash",
        "bs4nn: error: argument COMMAND: invalid choice: 'flash' (choose from {commands}) (see "
        "`bs4nn --help`)",
    ),
    (
        "bench-no-model",
        "bench --port /dev/nonexist",
        "bs4nn bench: error: the following arguments are required: MODEL (first, or as --model) "
        "(see `bs4nn bench --help`)",
    ),
    (
        "eval-no-model",
        "eval --limit 5",
        "bs4nn eval: error: the following arguments are required: MODEL (first, or as --model) "
        "(see `bs4nn eval --help`)",
    ),
    (
        "export-model-twice",
        "export {w}/good.bs4nn --model {w}/other.bs4nn --out fw",
        "bs4nn export: error: the model file is given twice ('{w}/good.bs4nn' and "
        "'{w}/other.bs4nn'); give it once, first or as --model (see `bs4nn export --help`)",
    ),
    (
        # the value of a mistyped option is not taken for a second model file
        "eval-mistyped-option",
        "eval --model {w}/good.bs4nn --limt 5",
        "bs4nn eval: error: unrecognized arguments: --limt 5 (see `bs4nn eval --help`)",
    ),
    (
        "bench-unknown-option",
        "bench --model {w}/good.bs4nn --firmware fw",
        "bs4nn bench: error: unrecognized arguments: --firmware fw (see `bs4nn bench --help`)",
    ),
    (
        "bench-port-and-emulate",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --emulate",
        "bs4nn bench: error: argument --emulate: not allowed with argument --port (see `bs4nn "
        "bench --help`)",
    ),
    (
        "bench-dataset-unknown",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --dataset cifar",
        "bs4nn bench: error: argument --dataset/--data: expected mnist or fashion-mnist, or a .npz "
        "file or IDX folder of your own, got 'cifar' (see `bs4nn bench --help`)",
    ),
    (
        "bench-dataset-other",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --dataset fashion-mnist",
        "bs4nn bench: error: --dataset fashion-mnist is not the model's dataset (mnist); leave "
        "--dataset out to use mnist",
    ),
    (
        "sweep-dataset-other",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --dataset fashion-mnist",
        "bs4nn sweep: error: --dataset fashion-mnist is not the model's dataset (mnist); leave "
        "--dataset out to use mnist",
    ),
    (
        "export-dataset-other",
        "export {w}/good.bs4nn --out fw --dataset fashion-mnist",
        "bs4nn export: error: --dataset fashion-mnist is not the model's dataset (mnist); leave "
        "--dataset out to use mnist",
    ),
    (
        "eval-dataset-other",
        "eval {w}/good.bs4nn --dataset fashion-mnist",
        "bs4nn eval: error: --dataset fashion-mnist is not the model's dataset (mnist); leave "
        "--dataset out to use mnist",
    ),
    (
        "eval-no-dataset",
        "eval {w}/nodata.bs4nn",
        "bs4nn eval: error: the model records no dataset; name one with --dataset (mnist or "
        "fashion-mnist, or a .npz file or IDX folder)",
    ),
    # a model that does not fit its dataset: refused before anything is built or run
    *[
        (
            f"{command}-{model}",
            f"{command} {args.format(model=model)}",
            f"bs4nn {command}: error: {message}",
        )
        for command, args in [
            ("bench", "--model {{w}}/{model}.bs4nn --port /dev/nonexist"),
            ("sweep", "--model {{w}}/{model}.bs4nn --port /dev/nonexist --budgets 20"),
            ("eembc", "--model {{w}}/{model}.bs4nn --runner {{w}}/runner --port /dev/nonexist"),
            ("export", "{{w}}/{model}.bs4nn --out fw"),
            ("eval", "{{w}}/{model}.bs4nn"),
        ]
        for model, message in [
            ("threeout", "label 9 does not exist in a model with 3 outputs"),
            ("fivein", "images have 784 pixels but the model expects 5"),
        ]
        if not (command == "export" and model == "threeout")  # export runs no labels
    ],
    (
        "export-no-dataset",
        "export {w}/nodata.bs4nn --out fw",
        "bs4nn export: error: the model records no dataset; name one with --dataset (mnist or "
        "fashion-mnist, or a .npz file or IDX folder)",
    ),
    (
        "bench-no-dataset",
        "bench --model {w}/nodata.bs4nn --port /dev/nonexist",
        "bs4nn bench: error: the model records no dataset; name one with --dataset (mnist or "
        "fashion-mnist, or a .npz file or IDX folder)",
    ),
    (
        "train-dataset-unknown",
        "train --dataset cifar",
        "bs4nn train: error: argument --dataset/--data: expected mnist or fashion-mnist, or a .npz "
        "file or IDX folder of your own, got 'cifar' (see `bs4nn train --help`)",
    ),
    (
        "eval-split",
        "eval {w}/good.bs4nn --split validation",
        "bs4nn eval: error: argument --split: invalid choice: 'validation' (choose from 'test', "
        "'train') (see `bs4nn eval --help`)",
    ),
    (
        "export-unknown-board",
        "export {w}/good.bs4nn --out fw --board pdp11",
        "bs4nn export: error: unknown board 'pdp11'; choose one of: nrf52840_dk, nucleo_f446re, "
        "nucleo_l476rg, pico, qemu-microbit, qemu-mps2-an386, qemu-mps3-an547, qemu-netduinoplus2, "
        "rp2040js-pico, teensy41",
    ),
    (
        "export-no-out",
        "export {w}/good.bs4nn",
        "bs4nn export: error: the following arguments are required: --out (see `bs4nn export "
        "--help`)",
    ),
    (
        "data-fetch-unknown",
        "data fetch cifar",
        "bs4nn data fetch: error: argument name: invalid choice: 'cifar' (choose from 'mnist', "
        "'fashion-mnist') (see `bs4nn data fetch --help`)",
    ),
    (
        "data-no-action",
        "data",
        "bs4nn data: error: the following arguments are required: ACTION (see `bs4nn data --help`)",
    ),
    (
        "build-no-dir",
        "build",
        "bs4nn build: error: the following arguments are required: OUT_DIR (see `bs4nn build "
        "--help`)",
    ),
    # ---- output paths
    (
        "bench-out-under-file",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --out {w}/afile/x",
        "bs4nn bench: error: --out {w}/afile/x: {w}/afile is not a folder; choose another path",
    ),
    (
        "bench-out-is-file",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --out {w}/afile",
        "bs4nn bench: error: --out {w}/afile is a file, not a folder; choose another path",
    ),
    (
        "bench-out-devnull",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --out /dev/null/x",
        "bs4nn bench: error: --out /dev/null/x: /dev/null is not a folder; choose another path",
    ),
    (
        "bench-out-proc",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --out /proc/bs4nn",
        "bs4nn bench: error: --out /proc/bs4nn: cannot write in /proc (No such file or "
        "directory); choose another path",
    ),
    (
        "bench-out-empty",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --out ''",
        "bs4nn bench: error: argument --out: expected a path, got '' (see `bs4nn bench --help`)",
    ),
    (
        "bench-out-not-bench",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --out {w}/notexport",
        "bs4nn bench: error: --out {w}/notexport is a non-empty folder that is not a bs4nn bench "
        "folder; choose an empty or new folder, or the --out of an earlier `bs4nn bench`",
    ),
    (
        "sweep-out-under-file",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --out {w}/afile/x",
        "bs4nn sweep: error: --out {w}/afile/x: {w}/afile is not a folder; choose another path",
    ),
    (
        "sweep-out-is-file",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --out {w}/afile",
        "bs4nn sweep: error: --out {w}/afile is a file, not a folder; choose another path",
    ),
    (
        "sweep-out-proc",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --out /proc/bs4nn",
        "bs4nn sweep: error: --out /proc/bs4nn: cannot write in /proc (No such file or "
        "directory); choose another path",
    ),
    (
        "sweep-out-export",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --out {w}/manifestjunk",
        "bs4nn sweep: error: --out {w}/manifestjunk is a non-empty folder that is not a bs4nn "
        "sweep folder; choose an empty or new folder, or the --out of an earlier `bs4nn sweep`",
    ),
    (
        "export-out-under-file",
        "export {w}/good.bs4nn --out {w}/afile/fw --check-images 0",
        "bs4nn export: error: --out {w}/afile/fw: {w}/afile is not a folder; choose another path",
    ),
    (
        "export-out-is-file",
        "export {w}/good.bs4nn --out {w}/afile --check-images 0",
        "bs4nn export: error: --out {w}/afile is a file, not a folder; choose another path",
    ),
    (
        "export-out-devnull",
        "export {w}/good.bs4nn --out /dev/null/x --check-images 0",
        "bs4nn export: error: --out /dev/null/x: /dev/null is not a folder; choose another path",
    ),
    (
        "export-out-proc",
        "export {w}/good.bs4nn --out /proc/fw --check-images 0",
        "bs4nn export: error: --out /proc/fw: cannot write in /proc (No such file or directory); "
        "choose another path",
    ),
    (
        "export-out-not-export",
        "export {w}/good.bs4nn --out {w}/notexport --check-images 0",
        "bs4nn export: error: --out {w}/notexport is a non-empty folder that is not a bs4nn "
        "export folder; choose an empty or new folder, or the --out of an earlier `bs4nn export`",
    ),
    (
        "export-out-empty",
        "export {w}/good.bs4nn --out '' --check-images 0",
        "bs4nn export: error: argument --out: expected a path, got '' (see `bs4nn export --help`)",
    ),
    (
        "train-out-under-file",
        "train --out {w}/afile/m.bs4nn",
        "bs4nn train: error: --out {w}/afile/m.bs4nn: {w}/afile is not a folder; choose another "
        "path",
    ),
    (
        "train-out-devnull",
        "train --out /dev/null/x",
        "bs4nn train: error: --out /dev/null/x: /dev/null is not a folder; choose another path",
    ),
    (
        "train-out-proc",
        "train --out /proc/m.bs4nn",
        "bs4nn train: error: --out /proc/m.bs4nn: cannot write in /proc (No such file or "
        "directory); choose another path",
    ),
    ("train-out-dot", "train --out .", "bs4nn train: error: --out . is a folder; give a file name"),
    (  # found before training, not after the model is saved
        "train-out-plot-dir",
        "train --out {w}/plotdir.bs4nn",
        "bs4nn train: error: --out's training plot {w}/plotdir.training.png is a folder; give a "
        "file name",
    ),
    (
        "train-out-dir",
        "train --out {w}/notexport",
        "bs4nn train: error: --out {w}/notexport is a folder; give a file name",
    ),
    (
        "train-out-checkpoint-dir",
        "train --out {w}/ckpt.bs4nn",
        "bs4nn train: error: --out's checkpoint {w}/ckpt.bs4nn.ckpt is a folder; give a file name",
    ),
    (
        "train-out-empty",
        "train --out ''",
        "bs4nn train: error: argument --out: expected a path, got '' (see `bs4nn train --help`)",
    ),
    (
        "eval-plots-file",
        "eval {w}/good.bs4nn --plots {w}/afile",
        "bs4nn eval: error: --plots {w}/afile is a file, not a folder; choose another path",
    ),
    (
        "eval-plots-under-file",
        "eval {w}/good.bs4nn --plots {w}/afile/plots",
        "bs4nn eval: error: --plots {w}/afile/plots: {w}/afile is not a folder; choose another "
        "path",
    ),
    (
        "eval-plots-proc",
        "eval {w}/good.bs4nn --plots /proc/plots",
        "bs4nn eval: error: --plots /proc/plots: cannot write in /proc (No such file or "
        "directory); choose another path",
    ),
    (
        "demo-out-under-file",
        "demo --out {w}/afile/demo",
        "bs4nn demo: error: --out {w}/afile/demo: {w}/afile is not a folder; choose another path",
    ),
    (
        "demo-out-proc",
        "demo --out /proc/demo",
        "bs4nn demo: error: --out /proc/demo: cannot write in /proc (No such file or directory); "
        "choose another path",
    ),
    (
        "data-fetch-under-file",
        "data fetch mnist --data-dir {w}/afile",
        "bs4nn data: error: --data-dir {w}/afile/mnist: {w}/afile is not a folder; choose "
        "another path",
    ),
    # ---- model files
    (
        "eval-model-missing",
        "eval {w}/none.bs4nn",
        "bs4nn eval: error: model file {w}/none.bs4nn not found; check the path, or train one "
        "with `bs4nn train`",
    ),
    (
        "eval-model-dir",
        "eval {w}/adir.bs4nn",
        "bs4nn eval: error: model file {w}/adir.bs4nn is a folder; give the model file itself",
    ),
    (
        "eval-model-devzero",
        "eval /dev/zero",
        "bs4nn eval: error: model file /dev/zero is not a regular file; give the model file",
    ),
    (
        "eval-model-empty",
        "eval {w}/empty.bs4nn",
        "bs4nn eval: error: {w}/empty.bs4nn is not a bs4nn model file (not a zip archive); give "
        "a file written by `bs4nn train` or bs4nn.trainer.model.Model.save",
    ),
    (
        "eval-model-text",
        "eval {w}/text.bs4nn",
        "bs4nn eval: error: {w}/text.bs4nn is not a bs4nn model file (not a zip archive); give a "
        "file written by `bs4nn train` or bs4nn.trainer.model.Model.save",
    ),
    (
        "eval-model-cut",
        "eval {w}/cut.bs4nn",
        "bs4nn eval: error: model file {w}/cut.bs4nn is corrupt or truncated (damaged archive: "
        "File is not a zip file); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-flipped",
        "eval {w}/flipped.bs4nn",
        "bs4nn eval: error: model file {w}/flipped.bs4nn is corrupt or truncated (damaged "
        "archive: Bad CRC-32 for file 'meta.json'); copy it again from its source, or re-train / "
        "re-save it",
    ),
    (
        "eval-model-encrypted",
        "eval {w}/encrypted.bs4nn",
        "bs4nn eval: error: model file {w}/encrypted.bs4nn is corrupt or truncated (damaged "
        "archive: File 'meta.json' is encrypted, password required for extraction); copy it "
        "again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-zip-version",
        "eval {w}/zip99.bs4nn",
        "bs4nn eval: error: model file {w}/zip99.bs4nn is corrupt or truncated (damaged "
        "archive: zip file version 9.9); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-zip-method",
        "eval {w}/zipmethod.bs4nn",
        "bs4nn eval: error: model file {w}/zipmethod.bs4nn is corrupt or truncated (damaged "
        "archive: That compression method is not supported); copy it again from its source, or "
        "re-train / re-save it",
    ),
    (
        "eval-model-nometa",
        "eval {w}/nometa.bs4nn",
        "bs4nn eval: error: {w}/nometa.bs4nn is not a bs4nn model file (no meta.json in the "
        "archive); give a file written by `bs4nn train` or bs4nn.trainer.model.Model.save",
    ),
    (
        "eval-model-nothetas",
        "eval {w}/nothetas.bs4nn",
        "bs4nn eval: error: model file {w}/nothetas.bs4nn is corrupt or truncated (the archive "
        "lacks thetas.npy); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-metajunk",
        "eval {w}/metajunk.bs4nn",
        "bs4nn eval: error: model file {w}/metajunk.bs4nn is corrupt or truncated (unreadable "
        "meta.json: Expecting property name enclosed in double quotes: line 1 column 2 (char "
        "1)); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-format",
        "eval {w}/format.bs4nn",
        "bs4nn eval: error: {w}/format.bs4nn is not a bs4nn model file (meta.json does not say "
        "format 'bs4nn-model'); give a file written by `bs4nn train` or "
        "bs4nn.trainer.model.Model.save",
    ),
    (
        "eval-model-version",
        "eval {w}/version.bs4nn",
        "bs4nn eval: error: model file {w}/version.bs4nn has format version 9; this bs4nn reads "
        "version 1: use the bs4nn release that wrote it, or re-save the model",
    ),
    (
        "eval-model-nohash",
        "eval {w}/nohash.bs4nn",
        "bs4nn eval: error: model file {w}/nohash.bs4nn is corrupt or truncated (meta.json lacks "
        "content_hash); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-sizesstr",
        "eval {w}/sizesstr.bs4nn",
        "bs4nn eval: error: model file {w}/sizesstr.bs4nn is corrupt or truncated (bad "
        "layer_sizes ['784', '16', '10']); copy it again from its source, or re-train / re-save "
        "it",
    ),
    (
        "eval-model-sizesbool",
        "eval {w}/sizesbool.bs4nn",
        "bs4nn eval: error: model file {w}/sizesbool.bs4nn is corrupt or truncated (bad "
        "layer_sizes [784, True, 10]); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-sizesneg",
        "eval {w}/sizesneg.bs4nn",
        "bs4nn eval: error: model file {w}/sizesneg.bs4nn is corrupt or truncated (bad "
        "layer_sizes [784, -16, 10]); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-sizesone",
        "eval {w}/sizesone.bs4nn",
        "bs4nn eval: error: model file {w}/sizesone.bs4nn is corrupt or truncated (bad "
        "layer_sizes [784]); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-sizesdict",
        "eval {w}/sizesdict.bs4nn",
        "bs4nn eval: error: model file {w}/sizesdict.bs4nn is corrupt or truncated (meta.json "
        "has layer_sizes = {{'a': 1}}, not list); copy it again from its source, or re-train / "
        "re-save it",
    ),
    (
        "eval-model-tmaxstr",
        "eval {w}/tmaxstr.bs4nn",
        "bs4nn eval: error: model file {w}/tmaxstr.bs4nn is corrupt or truncated (meta.json has "
        "tmax = '256', not int); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-tmaxnan",
        "eval {w}/tmaxnan.bs4nn",
        "bs4nn eval: error: model file {w}/tmaxnan.bs4nn is corrupt or truncated (meta.json has "
        "tmax = nan, not int); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-tmax100",
        "eval {w}/tmax100.bs4nn",
        "bs4nn eval: error: model file {w}/tmax100.bs4nn is corrupt or truncated (tmax 100 is "
        "not supported; the input coding needs 256); copy it again from its source, or re-train "
        "/ re-save it",
    ),
    (
        "eval-model-seedstr",
        "eval {w}/seedstr.bs4nn",
        "bs4nn eval: error: model file {w}/seedstr.bs4nn is corrupt or truncated (meta.json has "
        "seed = 'zero', not int or NoneType); copy it again from its source, or re-train / "
        "re-save it",
    ),
    (
        "eval-model-metricslist",
        "eval {w}/metricslist.bs4nn",
        "bs4nn eval: error: model file {w}/metricslist.bs4nn is corrupt or truncated (meta.json "
        "has metrics = [1, 2], not dict); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-configstr",
        "eval {w}/configstr.bs4nn",
        "bs4nn eval: error: model file {w}/configstr.bs4nn is corrupt or truncated (meta.json "
        "has train_config = 'x', not dict); copy it again from its source, or re-train / re-save "
        "it",
    ),
    (
        "eval-model-datasetnum",
        "eval {w}/datasetnum.bs4nn",
        "bs4nn eval: error: model file {w}/datasetnum.bs4nn is corrupt or truncated (meta.json "
        "has dataset = 7, not str or NoneType); copy it again from its source, or re-train / "
        "re-save it",
    ),
    (
        "eval-model-datasetbad",
        "eval {w}/datasetbad.bs4nn",
        "bs4nn eval: error: model file {w}/datasetbad.bs4nn is corrupt or truncated (unknown "
        "dataset 'cifar'; choose one of: mnist, fashion-mnist (or own data with its "
        "dataset_sha256)); copy it again from its source, "
        "or re-train / re-save it",
    ),
    (
        "eval-model-kindbad",
        "eval {w}/kindbad.bs4nn",
        "bs4nn eval: error: model file {w}/kindbad.bs4nn is corrupt or truncated (weight_kind "
        "'ternary' is unknown; use one of binary, real); copy it again from its source, or "
        "re-train / re-save it",
    ),
    (
        "eval-model-encodingbad",
        "eval {w}/encodingbad.bs4nn",
        "bs4nn eval: error: model file {w}/encodingbad.bs4nn is corrupt or truncated (encoding "
        "'rate' is not supported; only 'ttfs-255-minus-I'); copy it again from its source, or "
        "re-train / re-save it",
    ),
    (
        "eval-model-hashbad",
        "eval {w}/hashbad.bs4nn",
        "bs4nn eval: error: model file {w}/hashbad.bs4nn fails its content check (hash "
        "25dff6a48c2da1a6... differs from the stored 0123456789abcdef...): it was modified after "
        "it was saved. Use the original file, or re-train / re-save the model",
    ),
    (
        "eval-model-thetastr",
        "eval {w}/thetastr.bs4nn",
        "bs4nn eval: error: model file {w}/thetastr.bs4nn is corrupt or truncated (thetas.npy "
        "holds <U1 values, not numbers); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-alphastr",
        "eval {w}/alphastr.bs4nn",
        "bs4nn eval: error: model file {w}/alphastr.bs4nn is corrupt or truncated (alphas.npy "
        "holds <U1 values, not numbers); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-thetanan",
        "eval {w}/thetanan.bs4nn",
        "bs4nn eval: error: model file {w}/thetanan.bs4nn is corrupt or truncated (thetas holds "
        "NaN or infinite values); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-alphaneg",
        "eval {w}/alphaneg.bs4nn",
        "bs4nn eval: error: model file {w}/alphaneg.bs4nn is corrupt or truncated (alphas must "
        "be positive, got [-1.0, 0.5]); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-thetas3",
        "eval {w}/thetas3.bs4nn",
        "bs4nn eval: error: model file {w}/thetas3.bs4nn is corrupt or truncated (thetas has 3 "
        "values; give one per weight layer (2)); copy it again from its source, or re-train / "
        "re-save it",
    ),
    (
        "eval-model-weightsstr",
        "eval {w}/weightsstr.bs4nn",
        "bs4nn eval: error: model file {w}/weightsstr.bs4nn is corrupt or truncated "
        "(weights_1.npy holds <U1 values, not numbers); copy it again from its source, or "
        "re-train / re-save it",
    ),
    (
        "eval-model-weightsinf",
        "eval {w}/weightsinf.bs4nn",
        "bs4nn eval: error: model file {w}/weightsinf.bs4nn is corrupt or truncated (weights[1] "
        "holds NaN or infinite values); copy it again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-weightsshape",
        "eval {w}/weightsshape.bs4nn",
        "bs4nn eval: error: model file {w}/weightsshape.bs4nn is corrupt or truncated (weights_1 "
        "has shape (16, 10), layer sizes say (10, 16)); copy it again from its source, or "
        "re-train / re-save it",
    ),
    (  # not "out of memory: Unable to allocate 3.42 TiB"
        "eval-model-weightshuge",
        "eval {w}/weightshuge.bs4nn",
        "bs4nn eval: error: model file {w}/weightshuge.bs4nn is corrupt or truncated "
        "(weights_1.npy claims shape (600000000, 784), more than its 1,408 bytes hold); copy it "
        "again from its source, or re-train / re-save it",
    ),
    (
        "eval-model-weights3d",
        "eval {w}/weights3d.bs4nn",
        "bs4nn eval: error: model file {w}/weights3d.bs4nn is corrupt or truncated (weights_1 "
        "has shape (10, 16, 1), layer sizes say (10, 16)); copy it again from its source, or "
        "re-train / re-save it",
    ),
    (
        "eval-model-thetascomplex",
        "eval {w}/thetascomplex.bs4nn",
        "bs4nn eval: error: model file {w}/thetascomplex.bs4nn is corrupt or truncated "
        "(thetas.npy holds complex128 values, not numbers); copy it again from its source, or "
        "re-train / re-save it",
    ),
    (
        "eval-model-bigk",
        "eval {w}/bigk.bs4nn",
        "bs4nn eval: error: threshold K=40000 of weight layer 1 of 2 does not fit the board's "
        "int16 counter (allowed 1..32767); K = ceil(theta/alpha)",
    ),
    (
        "eval-model-negk",
        "eval {w}/negk.bs4nn",
        "bs4nn eval: error: threshold K=-3 of weight layer 1 of 2 does not fit the board's int16 "
        "counter (allowed 1..32767); K = ceil(theta/alpha)",
    ),
    (
        "export-model-missing",
        "export {w}/none.bs4nn --out fw",
        "bs4nn export: error: model file {w}/none.bs4nn not found; check the path, or train one "
        "with `bs4nn train`",
    ),
    (
        "export-model-thetastr",
        "export {w}/thetastr.bs4nn --out fw",
        "bs4nn export: error: model file {w}/thetastr.bs4nn is corrupt or truncated (thetas.npy "
        "holds <U1 values, not numbers); copy it again from its source, or re-train / re-save it",
    ),
    (
        "export-model-bigk",
        "export {w}/bigk.bs4nn --out fw",
        "bs4nn export: error: threshold K=40000 of weight layer 1 of 2 does not fit the board's "
        "int16 counter (allowed 1..32767); K = ceil(theta/alpha)",
    ),
    (
        "export-model-real",
        "export {w}/real.bs4nn --out fw",
        "bs4nn export: error: model ({w}/real.bs4nn) has 'real' weights (S4NN); only "
        "binary-weight models run on the board. Train with --weights binary.",
    ),
    (
        "bench-model-missing",
        "bench --model {w}/none.bs4nn --port /dev/nonexist",
        "bs4nn bench: error: model file {w}/none.bs4nn not found; check the path, or train one "
        "with `bs4nn train`",
    ),
    (
        "bench-model-text",
        "bench --model {w}/text.bs4nn --port /dev/nonexist",
        "bs4nn bench: error: {w}/text.bs4nn is not a bs4nn model file (not a zip archive); give "
        "a file written by `bs4nn train` or bs4nn.trainer.model.Model.save",
    ),
    (
        "bench-model-negk",
        "bench --model {w}/negk.bs4nn --port /dev/nonexist",
        "bs4nn bench: error: threshold K=-3 of weight layer 1 of 2 does not fit the board's int16 "
        "counter (allowed 1..32767); K = ceil(theta/alpha)",
    ),
    (
        "bench-model-real",
        "bench --model {w}/real.bs4nn --port /dev/nonexist",
        "bs4nn bench: error: model ({w}/real.bs4nn) has 'real' weights (S4NN); only "
        "binary-weight models run on the board. Train with --weights binary.",
    ),
    (
        "sweep-model-cut",
        "sweep --model {w}/cut.bs4nn --port /dev/nonexist",
        "bs4nn sweep: error: model file {w}/cut.bs4nn is corrupt or truncated (damaged archive: "
        "File is not a zip file); copy it again from its source, or re-train / re-save it",
    ),
    (
        "demo-model-missing",
        "demo --model {w}/none.bs4nn",
        "bs4nn demo: error: model file {w}/none.bs4nn not found; check the path, or train one "
        "with `bs4nn train`",
    ),
    (
        "demo-model-s4nn",
        "demo --model {w}/real.bs4nn",
        "bs4nn demo: error: model ({w}/real.bs4nn) has 'real' weights (S4NN); only "
        "binary-weight models run on the board. Train with --weights binary.",
    ),
    # ---- NIR graphs
    (
        "nir-export-out-under-file",
        "export {w}/good.bs4nn --format nir --out {w}/afile/m.nir",
        "bs4nn export: error: --out {w}/afile/m.nir: {w}/afile is not a folder; choose another "
        "path",
    ),
    (
        "nir-export-out-dir",
        "export {w}/good.bs4nn --format nir --out {w}/notexport",
        "bs4nn export: error: --out {w}/notexport is a folder; give a file name",
    ),
    (
        "nir-export-real",
        "export {w}/real.bs4nn --format nir --out m.nir",
        "bs4nn export: error: NIR export is for binary models; this one has 'real' weights (S4NN)",
    ),
    (
        "nir-export-out-is-model",
        "export {w}/good.bs4nn --format nir --out {w}/good.bs4nn",
        "bs4nn export: error: --out is the input model; give another file for the NIR graph",
    ),
    (
        "nir-export-c-options",
        "export {w}/good.bs4nn --format nir --board microbit --check-images 5 --out m.nir",
        "bs4nn export: error: --board, --check-images: only for the C export; --format nir "
        "writes the graph alone",
    ),
    (
        "nir-import-out-is-input",
        "import-nir {w}/afile --out {w}/afile",
        "bs4nn import-nir: error: --out is the input NIR graph; give another file for the model",
    ),
    (
        "nir-import-missing",
        "import-nir {w}/none.nir --out m.bs4nn",
        "bs4nn import-nir: error: NIR file {w}/none.nir not found",
    ),
    (
        "nir-import-device",
        "import-nir /dev/null --out m.bs4nn",
        "bs4nn import-nir: error: NIR file /dev/null is not a regular file; give the NIR file",
    ),
    (
        "nir-import-folder",
        "import-nir {w} --out m.bs4nn",
        "bs4nn import-nir: error: NIR file {w} is a folder; give the NIR file itself",
    ),
    (
        "nir-import-text",
        "import-nir {w}/afile --out m.bs4nn",
        "bs4nn import-nir: error: {w}/afile is not a readable NIR file (OSError: Unable to "
        "synchronously open file (file signature not found))",
    ),
    (
        "nir-import-model",
        "import-nir {w}/good.bs4nn --out m.bs4nn",
        "bs4nn import-nir: error: {w}/good.bs4nn is not a readable NIR file (OSError: Unable to "
        "synchronously open file (file signature not found))",
    ),
    (
        "nir-import-out-proc",
        "import-nir {w}/afile --out /proc/m.bs4nn",
        "bs4nn import-nir: error: --out /proc/m.bs4nn: cannot write in /proc (No such file or "
        "directory); choose another path",
    ),
    (
        "nir-import-out-empty",
        "import-nir {w}/afile --out ''",
        "bs4nn import-nir: error: argument --out: expected a path, got '' (see `bs4nn import-nir "
        "--help`)",
    ),
    (
        "nir-import-no-out",
        "import-nir {w}/afile",
        "bs4nn import-nir: error: the following arguments are required: --out (see `bs4nn "
        "import-nir --help`)",
    ),
    # ---- MLPerf Tiny runner
    (
        "eembc-limit-0",
        "eembc --model {w}/good.bs4nn --runner {w} --limit 0",
        "bs4nn eembc: error: argument --limit: expected a whole number of at least 1, got '0' "
        "(see `bs4nn eembc --help`)",
    ),
    (
        "eembc-iterations-neg",
        "eembc --model {w}/good.bs4nn --runner {w} --iterations -1",
        "bs4nn eembc: error: argument --iterations: expected a whole number of at least 1, got "
        "'-1' (see `bs4nn eembc --help`)",
    ),
    (
        "eembc-runner-without-main",
        "eembc --model {w}/good.bs4nn --runner {w}",
        "bs4nn eembc: error: {w}/main.py does not exist: --runner is the MLPerf Tiny runner "
        "folder (benchmark/runner of mlcommons/tiny), the one holding main.py",
    ),
    (
        "eembc-runner-a-file",
        "eembc --model {w}/good.bs4nn --runner {w}/afile",
        "bs4nn eembc: error: --runner {w}/afile is a file: give the MLPerf Tiny runner folder "
        "(benchmark/runner of mlcommons/tiny), the one holding main.py",
    ),
    (
        "eembc-out-under-file",
        "eembc --model {w}/good.bs4nn --runner {w} --out {w}/afile/x",
        "bs4nn eembc: error: --out {w}/afile/x: {w}/afile is not a folder; choose another path",
    ),
    (
        "eembc-out-not-eembc",
        "eembc --model {w}/good.bs4nn --runner {w} --out {w}/notexport",
        "bs4nn eembc: error: --out {w}/notexport is a non-empty folder that is not a bs4nn eembc "
        "folder; choose an empty or new folder, or the --out of an earlier `bs4nn eembc`",
    ),
    (
        "eembc-runner-missing",
        "eembc --model {w}/good.bs4nn --runner {w}/nowhere",
        "bs4nn eembc: error: {w}/nowhere/main.py does not exist: --runner is the MLPerf Tiny "
        "runner folder (benchmark/runner of mlcommons/tiny), the one holding main.py",
    ),
    (
        "eembc-usb",
        "eembc --model {w}/good.bs4nn --runner {w} --usb zz",
        "bs4nn eembc: error: --usb 'zz': expected VID:PID in hex, e.g. 0483:374B",
    ),
    (
        "eembc-data-dir-missing",
        "eembc --model {w}/good.bs4nn --runner {w} --data-dir {w}/nodata",
        "bs4nn eembc: error: argument --data-dir: no folder '{w}/nodata'; give an existing "
        "folder (see `bs4nn eembc --help`)",
    ),
    # ---- the paper's figures
    (
        "paper-limit-0",
        "paper --limit 0",
        "bs4nn paper: error: argument --limit: expected a whole number of at least 1, got '0' "
        "(see `bs4nn paper --help`)",
    ),
    (
        "paper-out-under-file",
        "paper --out {w}/afile/paper --only fig1",
        "bs4nn paper: error: --out {w}/afile/paper: {w}/afile is not a folder; choose another path",
    ),
    (
        "paper-only-unknown",
        "paper --only fig99",
        "bs4nn paper: error: --only: unknown experiment id(s) fig99; choose from fig1, fig2, "
        "fig3, fig4, fig5, fig6, fig7, fig8, fig9, table1, table2, table3, swap, alpha",
    ),
    (
        "paper-data-dir-missing",
        "paper --data-dir {w}/nodata",
        "bs4nn paper: error: argument --data-dir: no folder '{w}/nodata'; give an existing "
        "folder (see `bs4nn paper --help`)",
    ),
    (
        "paper-models-file",
        "paper --models {w}/afile --only fig1",
        "bs4nn paper: error: argument --models: '{w}/afile' is a file, not a folder; give an "
        "existing folder (see `bs4nn paper --help`)",
    ),
    # ---- datasets
    (
        "eval-data-dir-missing",
        "eval {w}/good.bs4nn --data-dir {w}/nodata",
        "bs4nn eval: error: argument --data-dir: no folder '{w}/nodata'; give an existing folder "
        "(see `bs4nn eval --help`)",
    ),
    (
        "train-data-dir-missing",
        "train --data-dir {w}/nodata",
        "bs4nn train: error: argument --data-dir: no folder '{w}/nodata'; give an existing "
        "folder (see `bs4nn train --help`)",
    ),
    (
        "bench-data-dir-missing",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --data-dir {w}/nodata",
        "bs4nn bench: error: argument --data-dir: no folder '{w}/nodata'; give an existing "
        "folder (see `bs4nn bench --help`)",
    ),
    (
        "sweep-data-dir-file",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist --data-dir {w}/afile",
        "bs4nn sweep: error: argument --data-dir: '{w}/afile' is a file, not a folder; give an "
        "existing folder (see `bs4nn sweep --help`)",
    ),
    (
        "export-data-dir-missing",
        "export {w}/good.bs4nn --out fw --data-dir {w}/nodata",
        "bs4nn export: error: argument --data-dir: no folder '{w}/nodata'; give an existing "
        "folder (see `bs4nn export --help`)",
    ),
    (
        "demo-data-dir-missing",
        "demo --data-dir {w}/nodata",
        "bs4nn demo: error: argument --data-dir: no folder '{w}/nodata'; give an existing folder "
        "(see `bs4nn demo --help`)",
    ),
    (
        "data-fetch-dir-empty",  # "" would be the current folder
        "data fetch mnist --data-dir ''",
        "bs4nn data fetch: error: argument --data-dir: expected a path, got '' (see `bs4nn data "
        "fetch --help`)",
    ),
    (
        "data-verify-dir-empty",
        "data verify --data-dir ''",
        "bs4nn data verify: error: argument --data-dir: expected a path, got '' (see `bs4nn data "
        "verify --help`)",
    ),
    (
        "eval-data-dir-empty",
        "eval {w}/good.bs4nn --data-dir ''",
        "bs4nn eval: error: argument --data-dir: expected a path, got '' (see `bs4nn eval --help`)",
    ),
    (
        "data-verify-dir-missing",
        "data verify --data-dir {w}/nodata",
        "bs4nn data verify: error: argument --data-dir: no folder '{w}/nodata'; give an existing "
        "folder (see `bs4nn data verify --help`)",
    ),
    (
        "eval-data-damaged",
        "eval {w}/good.bs4nn --data-dir {w}/baddata",
        "bs4nn eval: error: mnist file {w}/baddata/mnist/t10k-images-idx3-ubyte: truncated or "
        "padded: header says 7840000 data bytes, file has 100; run `bs4nn data fetch mnist "
        "--data-dir {w}/baddata`, or point --data-dir or BS4NN_DATA at a folder holding "
        "mnist/<file>[.gz]",
    ),
    (
        "bench-data-damaged",
        "bench --model {w}/good.bs4nn --port /dev/nonexist --data-dir {w}/baddata",
        "bs4nn bench: error: mnist file {w}/baddata/mnist/t10k-images-idx3-ubyte: truncated or "
        "padded: header says 7840000 data bytes, file has 100; run `bs4nn data fetch mnist "
        "--data-dir {w}/baddata`, or point --data-dir or BS4NN_DATA at a folder holding "
        "mnist/<file>[.gz]",
    ),
    (
        "export-data-damaged",
        "export {w}/good.bs4nn --out fw --data-dir {w}/baddata",
        "bs4nn export: error: mnist file {w}/baddata/mnist/t10k-images-idx3-ubyte: truncated or "
        "padded: header says 7840000 data bytes, file has 100; run `bs4nn data fetch mnist "
        "--data-dir {w}/baddata`, or point --data-dir or BS4NN_DATA at a folder holding "
        "mnist/<file>[.gz]; or export without the check: --check-images 0",
    ),
    # ---- ports
    (
        "bench-port-missing",
        "bench --model {w}/good.bs4nn --port /dev/nonexist",
        "bs4nn bench: error: no serial device at /dev/nonexist: check the board is plugged in "
        "and flashed, and list the ports with `ls /dev/ttyACM* /dev/ttyUSB*` (or `pio device "
        "list`); pass the right one with --port, or use the emulated board (bench: --emulate; "
        "eembc: no --port)",
    ),
    (
        "bench-port-file",
        "bench --model {w}/good.bs4nn --port {w}/afile",
        "bs4nn bench: error: {w}/afile is not a serial port; pass the board's port (e.g. "
        "/dev/ttyACM0) with --port, or use the emulated board (bench: --emulate; eembc: no --port)",
    ),
    (
        "bench-port-dir",
        "bench --model {w}/good.bs4nn --port {w}/notexport",
        "bs4nn bench: error: {w}/notexport is not a serial port; pass the board's port (e.g. "
        "/dev/ttyACM0) with --port, or use the emulated board (bench: --emulate; eembc: no --port)",
    ),
    (
        "bench-port-empty",
        "bench --model {w}/good.bs4nn --port ''",
        "bs4nn bench: error: argument --port: expected a path, got '' (see `bs4nn bench --help`)",
    ),
    (
        "bench-port-baud-huge",
        "bench --model {w}/good.bs4nn --port /dev/ptmx --baud 99999999999",
        "bs4nn bench: error: cannot open /dev/ptmx at that baud rate (signed integer is greater "
        "than maximum); give the firmware's rate with --baud (default 115200)",
    ),
    (
        "sweep-port-missing",
        "sweep --model {w}/good.bs4nn --port /dev/nonexist",
        "bs4nn sweep: error: no serial device at /dev/nonexist: check the board is plugged in "
        "and flashed, and list the ports with `ls /dev/ttyACM* /dev/ttyUSB*` (or `pio device "
        "list`); pass the right one with --port, or use the emulated board (bench: --emulate; "
        "eembc: no --port)",
    ),
    (
        "bench-port-silent",
        "bench --model {w}/good.bs4nn --port {pty} --timeout 0.2 --limit 5",
        "bs4nn bench: error: no valid reply to INFO from {pty} after 4 tries of 0.2 s each "
        "(--timeout): is the bs4nn firmware running on it, in binary mode, at the right baud "
        "rate? Nothing was kept; reset the board, then run the command again: bs4nn bench "
        "--model {w}/good.bs4nn --port {pty} --timeout 0.2 --limit 5",
    ),
    (
        "sweep-port-silent",
        "sweep --model {w}/good.bs4nn --port {pty} --timeout 0.2 --limit 5",
        "bs4nn sweep: error: no valid reply to INFO from {pty} after 4 tries of 0.2 s each "
        "(--timeout): is the bs4nn firmware running on it, in binary mode, at the right baud "
        "rate? Nothing was kept; reset the board, then run the command again: bs4nn sweep "
        "--model {w}/good.bs4nn --port {pty} --timeout 0.2 --limit 5",
    ),
    (
        "bench-port-silent-new-out",
        "bench --model {w}/good.bs4nn --port {pty} --timeout 0.05 --limit 5 --out {w}/cwd/a/b",
        "bs4nn bench: error: no valid reply to INFO from {pty} after 4 tries of 0.05 s each "
        "(--timeout): is the bs4nn firmware running on it, in binary mode, at the right baud "
        "rate? Nothing was kept; reset the board, then run the command again: bs4nn bench "
        "--model {w}/good.bs4nn --port {pty} --timeout 0.05 --limit 5 --out {w}/cwd/a/b",
    ),
    (
        "bench-port-not-tty",
        "bench --model {w}/good.bs4nn --port /dev/urandom",
        "bs4nn bench: error: /dev/urandom is not a serial port; pass the board's port (e.g. "
        "/dev/ttyACM0) with --port, or use the emulated board (bench: --emulate; eembc: no --port)",
    ),
    (
        "sweep-port-file",
        "sweep --model {w}/good.bs4nn --port {w}/afile",
        "bs4nn sweep: error: {w}/afile is not a serial port; pass the board's port (e.g. "
        "/dev/ttyACM0) with --port, or use the emulated board (bench: --emulate; eembc: no --port)",
    ),
    # ---- build
    (
        "build-missing",
        "build {w}/nowhere",
        "bs4nn build: error: export folder {w}/nowhere not found; check the path, or run "
        "`bs4nn export MODEL --out DIR` first",
    ),
    (
        "build-not-export",
        "build {w}/notexport",
        "bs4nn build: error: {w}/notexport is not a bs4nn export (no bs4nn_export.json); run "
        "`bs4nn export MODEL --out DIR` first",
    ),
    (
        "build-file",
        "build {w}/afile",
        "bs4nn build: error: export folder {w}/afile is a file, not a folder; give the DIR of "
        "`bs4nn export MODEL --out DIR`",
    ),
    (
        "build-manifest-junk",
        "build {w}/manifestjunk",
        "bs4nn build: error: {w}/manifestjunk/bs4nn_export.json is damaged (no JSON object with "
        "a board and a model_hash); export again with `bs4nn export MODEL --out DIR`",
    ),
    (
        "build-manifest-bytes",
        "build {w}/manifestbytes",
        "bs4nn build: error: {w}/manifestbytes/bs4nn_export.json is damaged (no JSON object with "
        "a board and a model_hash); export again with `bs4nn export MODEL --out DIR`",
    ),
    (
        "build-manifest-list",
        "build {w}/manifestlist",
        "bs4nn build: error: {w}/manifestlist/bs4nn_export.json is damaged (no JSON object with "
        "a board and a model_hash); export again with `bs4nn export MODEL --out DIR`",
    ),
    (
        "build-manifest-no-board",
        "build {w}/manifestnoboard",
        "bs4nn build: error: {w}/manifestnoboard/bs4nn_export.json is damaged (no JSON object "
        "with a board and a model_hash); export again with `bs4nn export MODEL --out DIR`",
    ),
    (
        "build-manifest-board",
        "build {w}/manifestboard",
        "bs4nn build: error: unknown board 'pdp11'; choose one of: nrf52840_dk, nucleo_f446re, "
        "nucleo_l476rg, pico, qemu-microbit, qemu-mps2-an386, qemu-mps3-an547, qemu-netduinoplus2, "
        "rp2040js-pico, teensy41",
    ),
    (
        "build-manifest-earlier-key",
        "build {w}/manifesttarget",
        "bs4nn build: error: unknown board 'pdp11'; choose one of: nrf52840_dk, nucleo_f446re, "
        "nucleo_l476rg, pico, qemu-microbit, qemu-mps2-an386, qemu-mps3-an547, qemu-netduinoplus2, "
        "rp2040js-pico, teensy41",
    ),
]


@pytest.fixture(scope="module")
def silent_port():
    """A serial port with nothing behind it (a pty no one answers on)."""
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(slave)
    os.close(master)


@pytest.mark.parametrize(("argv", "expected"), [pytest.param(a, e, id=i) for i, a, e in CASES])
def test_bad_input(argv, expected, world, silent_port, capsys, monkeypatch):
    monkeypatch.chdir(world / "cwd")
    monkeypatch.delenv("BS4NN_DATA", raising=False)
    before = snapshot(world)
    argv = shlex.split(argv.format(w=world, pty=silent_port))
    monkeypatch.setattr(sys, "argv", ["bs4nn", *argv])  # as typed: the command to run again
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2  # every refusal, from argparse or from a check
    assert err.splitlines() == [expected.format(w=world, pty=silent_port, commands=COMMANDS)]
    assert out == ""  # the error is all a user sees
    assert snapshot(world) == before


@pytest.mark.parametrize(
    "argv",
    [
        "train --out {out}",
        "calibrate {w}/good.bs4nn --max-mean-step 100 --out {out}",
        "export {w}/good.bs4nn --format nir --out {out}",
    ],
    ids=["train", "calibrate", "export-nir"],
)
def test_an_output_that_is_a_pipe_or_device_is_refused(argv, world, tmp_path, capsys):
    # the rename of a finished file would put it in place of the node (as root, of /dev/null:
    # hence a pipe of the test's own here)
    out = tmp_path / "pipe"
    os.mkfifo(out)
    status = main(shlex.split(argv.format(w=world, out=out)))
    assert status == 2
    command = argv.split()[0]
    assert capsys.readouterr().err == (
        f"bs4nn {command}: error: --out {out} is not a regular file (a device or a pipe); give a "
        "file name\n"
    )
    assert stat.S_ISFIFO(out.stat().st_mode) and sorted(tmp_path.iterdir()) == [out]


# one case of each class, through the installed console script in its own process
CONSOLE = [
    "sweep-limit-0",
    "train-out-proc",
    "eval-model-thetastr",
    "eval-model-bigk",
    "export-out-not-export",
    "bench-port-dir",
    "build-manifest-junk",
    "no-command",
]


@pytest.mark.parametrize(
    ("argv", "expected"), [pytest.param(a, e, id=i) for i, a, e in CASES if i in CONSOLE]
)
def test_console_script(argv, expected, world, silent_port, tmp_path):
    before = snapshot(world)
    bs4nn = Path(sys.executable).with_name("bs4nn")
    proc = subprocess.run(
        [str(bs4nn), *shlex.split(argv.format(w=world, pty=silent_port))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr == expected.format(w=world, pty=silent_port, commands=COMMANDS) + "\n"
    assert snapshot(world) == before and not any(tmp_path.iterdir())


def test_no_qemu_is_found_before_any_build(world, capsys, monkeypatch):
    monkeypatch.chdir(world / "cwd")
    monkeypatch.setenv("PATH", str(world / "cwd"))  # no qemu-system-arm, no compiler
    before = snapshot(world)
    assert main(["bench", "--model", str(world / "good.bs4nn"), "--emulate", "--limit", "5"]) == 2
    assert capsys.readouterr().err == (
        "bs4nn bench: error: qemu-system-arm not found on PATH: install it with `sudo apt-get "
        "install qemu-system-arm` (Debian/Ubuntu), or bench a real board with --port\n"
    )
    assert snapshot(world) == before


@pytest.mark.e2e
@pytest.mark.parametrize("command", ["bench", "sweep"])
def test_a_run_that_never_started_on_the_emulated_board_leaves_nothing(
    world, capsys, monkeypatch, command
):
    """Firmware built and QEMU started, but the board does not answer the handshake: the new
    folder, the firmware built in it and its parents are removed again."""
    from bs4nn.host.client import Device, DeviceSilent

    started = []

    def silent(self, model_hash):
        started.append(self.link.name)
        raise DeviceSilent("no valid reply to INFO (the test's silent board)")

    monkeypatch.setattr(Device, "handshake", silent)
    monkeypatch.chdir(world / "cwd")
    before = snapshot(world)
    status = main(
        [
            command,
            "--model",
            str(world / "good.bs4nn"),
            "--emulate",
            "--limit",
            "5",
            "--out",
            "new/run",
        ]
    )
    assert status == 2 and len(started) == 1 and started[0].startswith("/dev/pts/")
    assert capsys.readouterr().err == (
        f"bs4nn {command}: error: no valid reply to INFO (the test's silent board)\n"
    )
    assert snapshot(world) == before


@pytest.fixture
def own_data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "own.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (60, 4, 4)).astype(np.uint8),
        y_train=np.arange(60) % 3,
        x_test=rng.integers(0, 256, (20, 4, 4)).astype(np.uint8),
        y_test=np.arange(20) % 3,
    )
    return path


@pytest.mark.parametrize(
    ("command", "result"),
    [
        ("train --preset generic --hidden 4 --epochs 1 --val-size 10 --no-progress", "model"),
        ("calibrate {model} --max-mean-step 100 --no-progress", "calibrated model"),
    ],
    ids=["train", "calibrate"],
)
def test_an_out_that_is_the_own_dataset_is_refused(own_data, tmp_path, capsys, command, result):
    model = tiny_model().save(tmp_path / "m.bs4nn")
    before = own_data.read_bytes()
    argv = command.format(model=model).split() + ["--data", str(own_data), "--out", str(own_data)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"bs4nn {argv[0]}: error: --out is the input dataset; give another file for the {result}\n"
    )
    assert own_data.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bs4nn", "own.npz"]
