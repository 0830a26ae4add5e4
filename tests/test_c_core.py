"""The firmware's C inference core, built with host gcc (bs4nn.codegen.ccheck), against hand-worked
networks and codegen's integer reference."""

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from helpers import random_intmodel

from bs4nn.codegen.agreement import mismatches
from bs4nn.codegen.ccheck import CModel, build_library
from bs4nn.codegen.export import export_firmware
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import RefBatch, reference_batch
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model, model_from_arrays
from bs4nn.trainer.semantics import FLAG_FALLBACK, NO_SPIKE, NOT_FIRED

# A 4-3-2 network whose spike times are worked out by hand in the comments below.
# Pixels [255, 250, 0, 200] spike at steps 0, 5, never, 55.
W1 = [
    [1, 1, -1, -1],  # h0: counts 1 (t0), 2 (t5), 1 (t55)
    [1, 1, -1, 1],  # h1: 1, 2, 3
    [1, 1, 1, 1],
]  # h2: 1, 2, 3 (input 2 never spikes)
W2 = [
    [1, 1, -1],  # o0
    [1, 1, 1],
]  # o1
IMAGE = [255, 250, 0, 200]


def _tiny(tmp_path, k1, k2):
    model = model_from_arrays(
        [np.array(W1, float), np.array(W2, float)], [1.0, 1.0], [float(k1), float(k2)]
    )
    intmodel = IntModel.from_model(model)
    export_firmware(intmodel, tmp_path / "fw")
    return intmodel, CModel(tmp_path / "fw")


def _one(batch):
    return (
        int(batch.labels[0]),
        int(batch.decision_steps[0]),
        bool(batch.fallback[0]),
        batch.output_steps[0].tolist(),
        batch.spikes[0].tolist(),
    )


@pytest.mark.parametrize(
    "k1, k2, image, expected",
    [
        # K1=2: h0, h1, h2 fire at t5; o0 = +1+1-1 = 1, o1 = 3, both >= K2=1 at t5: o1 larger
        (2, 1, IMAGE, (1, 5, False, [5, 5], [2, 3, 2])),
        # K1=2, K2=2: only o1 (count 3) reaches 2 at t5
        (2, 2, IMAGE, (1, 5, False, [-1, 5], [2, 3, 1])),
        # K1=3: h1, h2 fire at t55; o0 = 1 - 1 = 0, o1 = 2 fires
        (3, 1, IMAGE, (1, 55, False, [-1, 55], [3, 2, 1])),
        # K2=3 is never reached: fallback at 255, largest count (o1 = 2) wins
        (3, 3, IMAGE, (1, 255, True, [-1, -1], [3, 2, 0])),
        # K1=4: nothing fires; all counts 0: the tie goes to the lowest index
        (4, 1, IMAGE, (0, 255, True, [-1, -1], [3, 0, 0])),
        # all pixels at 255 spike at t0: h1 (2) and h2 (4) fire; o1 = 2 fires at step 0
        (2, 1, [255, 255, 255, 255], (1, 0, False, [-1, 0], [4, 2, 1])),
    ],
)
def test_hand_worked_network(tmp_path, k1, k2, image, expected):
    intmodel, c = _tiny(tmp_path, k1, k2)
    images = np.array([image], np.uint8)
    assert _one(c.infer_batch(images)) == expected
    assert _one(reference_batch(intmodel, images)) == expected


def test_tie_at_decision_goes_to_lowest_index(tmp_path):
    # h0 and h2 fire at t5 (h1 never): o0 = +1 +1 and o1 = +1 +1 both count 2; index 0 wins
    model = model_from_arrays(
        [
            np.array([[1, 1, -1, -1], [-1, -1, -1, -1], [1, 1, 1, 1]], float),
            np.array([[1, -1, 1], [1, 1, 1]], float),
        ],
        [1.0, 1.0],
        [2.0, 2.0],
    )
    export_firmware(IntModel.from_model(model), tmp_path / "fw")
    got = CModel(tmp_path / "fw").infer_batch(np.array([IMAGE], np.uint8))
    assert _one(got) == (0, 5, False, [5, 5], [2, 2, 2])


def test_threshold_override_and_refusal(tmp_path):
    intmodel, c = _tiny(tmp_path, 2, 1)
    images = np.array([IMAGE], np.uint8)
    assert _one(c.infer_batch(images, thresholds=[3, 1])) == (1, 55, False, [-1, 55], [3, 2, 1])
    # the defaults are back afterwards
    assert _one(c.infer_batch(images)) == (1, 5, False, [5, 5], [2, 3, 2])
    with pytest.raises(Bs4nnError, match=r"thresholds \[0, 1\] refused by the C core"):
        c.infer_batch(images, thresholds=[0, 1])


def test_missing_export_is_explained(tmp_path):
    with pytest.raises(Bs4nnError, match="run `bs4nn export MODEL --out DIR` first"):
        build_library(tmp_path)


@pytest.mark.parametrize(
    "sizes, thetas",
    [
        ([784, 64, 10], [8.0, 2.0]),  # decisions spread over the first ~60 steps
        ([784, 64, 10], [20.0, 3.0]),  # many fallbacks
        ([784, 40, 30, 10], [6.0, 2.0, 2.0]),  # two hidden layers
        ([784, 10], [12.0]),
    ],  # no hidden layer
)
def test_random_models_match_reference_on_mnist(tmp_path, sizes, thetas):
    rng = np.random.default_rng(sum(sizes))
    weights = [rng.standard_normal((o, i)) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    intmodel = IntModel.from_model(model_from_arrays(weights, [1.0] * len(weights), thetas))
    export_firmware(intmodel, tmp_path / "fw")
    images = np.asarray(load_dataset("mnist", "test")[0][:300])
    ref = reference_batch(intmodel, images)
    got = CModel(tmp_path / "fw").infer_batch(images)
    assert mismatches(ref, got) == []
    assert len(np.unique(ref.decision_steps)) > 5  # the comparison covers varied behaviour


def test_threshold_sweep_matches_reference(tmp_path):
    rng = np.random.default_rng(7)
    weights = [rng.standard_normal((32, 784)), rng.standard_normal((10, 32))]
    intmodel = IntModel.from_model(model_from_arrays(weights, [1.0, 1.0], [8.0, 2.0]))
    export_firmware(intmodel, tmp_path / "fw")
    c = CModel(tmp_path / "fw")
    images = np.asarray(load_dataset("mnist", "test")[0][:100])
    for ks in ([1, 1], [4, 1], [15, 3], [40, 2], [32767, 1]):
        assert mismatches(reference_batch(intmodel, images, ks), c.infer_batch(images, ks)) == []


def test_mismatches_lists_each_differing_image(tmp_path):
    intmodel, c = _tiny(tmp_path, 2, 1)
    images = np.array([IMAGE, [255] * 4], np.uint8)
    ref = reference_batch(intmodel, images)
    got = c.infer_batch(images, thresholds=[3, 1])
    assert mismatches(ref, got) == [
        "image 0: decision_steps ref=5 got=55; output_steps ref=[5, 5] got=[-1, 55]; "
        "spikes ref=[2, 3, 2] got=[3, 2, 1]",
        "image 1: spikes ref=[4, 2, 1] got=[4, 1, 1]",
    ]


def _stress_images(n_in, rng, n=200):
    """Random pixels, plus images that put many spikes into one step (all 255: every input at
    step 0; two values only) and an empty one."""
    images = rng.integers(0, 256, (n, n_in), dtype=np.uint8)
    images[0] = 255
    images[1] = 0
    images[2] = np.where(rng.random(n_in) < 0.5, 255, 0)
    images[3] = np.where(rng.random(n_in) < 0.5, 200, 13)
    images[4:20] = np.where(rng.random((16, n_in)) < 0.8, 0, images[4:20])
    return images


# widths that are not multiples of 32, one hidden neuron, three weight layers, more than 32
# outputs (two output words, after one and after two hidden layers), a fan-in below 16
# planes' worth and one with 784 inputs
ODD_NETWORKS = [
    ([784, 600, 10], [6.0, 2.0]),
    ([784, 37, 10], [5.0, 2.0]),
    ([784, 1, 3], [1.0, 1.0]),
    ([784, 40, 33, 10], [6.0, 2.0, 2.0]),
    ([784, 10], [12.0]),
    ([5, 3, 2], [1.0, 1.0]),
    ([40, 70, 9], [3.0, 2.0]),
    ([40, 70, 40], [3.0, 2.0]),
    ([100, 65, 31, 64], [4.0, 2.0, 1.0]),
]
FAST_KERNELS = ["packed", "sliced"]


@pytest.mark.parametrize("kernel", FAST_KERNELS)
@pytest.mark.parametrize("sizes, thetas", ODD_NETWORKS)
def test_fast_kernels_are_bit_exact_with_ref_on_odd_networks(tmp_path, sizes, thetas, kernel):
    intmodel = random_intmodel(sizes, thetas, seed=3)
    export_firmware(intmodel, tmp_path / "fw")
    rng = np.random.default_rng(len(sizes) * 1000 + sizes[1])
    images = _stress_images(sizes[0], rng)
    if sizes[0] == 784:
        images = np.concatenate([images, load_dataset("mnist", "test")[0][:200]])
    ref = CModel(tmp_path / "fw", kernel="ref")
    fast = CModel(tmp_path / "fw", kernel=kernel)
    assert fast.library != ref.library
    n = len(sizes) - 1
    # the model's K, K = 1 everywhere, and K near the int16 maximum on each layer in turn
    settings = [None, [1] * n] + [[32767 if i == j else 1 for i in range(n)] for j in range(n)]
    for ks in settings:
        want = reference_batch(intmodel, images, ks)
        assert mismatches(want, ref.infer_batch(images, ks)) == []
        assert mismatches(want, fast.infer_batch(images, ks)) == []
        if ks is None:  # at the model's K the images decide at many steps, most by a spike
            assert len(np.unique(want.decision_steps)) > 5
            assert (~want.fallback).mean() > 0.5


@pytest.mark.parametrize(
    "sizes, thetas", [([784, 37, 10], [5.0, 2.0]), ([784, 40, 33, 10], [6.0, 2.0, 2.0])]
)
def test_output_ones_agree_between_kernels(tmp_path, sizes, thetas):
    """bs4nn_output_ones (the EEMBC scores' source) gives ref's counts with every kernel, and
    they decide the label like the reference: the largest among the fired outputs."""
    intmodel = random_intmodel(sizes, thetas, seed=3)
    export_firmware(intmodel, tmp_path / "fw")
    images = np.asarray(load_dataset("mnist", "test")[0][:200])
    ref = CModel(tmp_path / "fw", kernel="ref")
    want = ref.output_ones(images)
    for kernel in FAST_KERNELS:
        np.testing.assert_array_equal(
            CModel(tmp_path / "fw", kernel=kernel).output_ones(images), want
        )
    batch = reference_batch(intmodel, images)
    decided = ~batch.fallback
    fired = batch.output_steps == batch.decision_steps[:, None]
    best = np.where(fired, want, -1).argmax(axis=1)
    assert decided.sum() > 50
    np.testing.assert_array_equal(best[decided], batch.labels[decided])
    np.testing.assert_array_equal(want[~decided].argmax(axis=1), batch.labels[~decided])


# the firmware runs binary models only; the real-weight (S4NN) ones are left out
SHIPPED = [
    p
    for p in sorted(Path(__file__).resolve().parents[1].glob("models/*.bs4nn"))
    if Model.load(p).weight_kind == "binary"
]


def test_the_shipped_binary_models_are_all_checked():
    assert sorted(p.stem for p in SHIPPED) == [
        "fashion-1000",
        "fashion-1000-surrogate",
        "fashion-600-600",
        "fashion-600-600-surrogate",
        "mnist-600",
        "mnist-600-surrogate",
    ]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_sliced_kernel_is_bit_exact_on_the_shipped_models(tmp_path, path):
    """The first 1,000 test images here; bench/c_vs_reference.py MODEL checks all 10,000."""
    model = Model.load(path)
    intmodel = IntModel.from_model(model)
    export_firmware(intmodel, tmp_path / "fw")
    images = np.asarray(load_dataset(model.dataset or "mnist", "test")[0][:1000])
    want = reference_batch(intmodel, images)
    assert mismatches(want, CModel(tmp_path / "fw", kernel="sliced").infer_batch(images)) == []
    assert mismatches(want, CModel(tmp_path / "fw", kernel="ref").infer_batch(images)) == []


# The core under AddressSanitizer and UndefinedBehaviorSanitizer: a standalone driver (not the
# ctypes library: ASan would need LD_PRELOAD into Python, and -fno-sanitize-recover would abort
# pytest) holds each image in its own malloc of exactly N_INPUT bytes, so an over-read of the
# pixels is caught, and writes every result field and bs4nn_output_ones.
SANITIZE = (
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    "-g",
    "-O1",
)
SAN_ENV = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "print_stacktrace=1"}
_SAN_DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "bs4nn_infer.h"

int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "rb");
    uint8_t *img = malloc(BS4NN_N_INPUT);
    bs4nn_result_t *r = malloc(sizeof *r);
    int32_t *ones = malloc(sizeof(int32_t) * BS4NN_N_OUTPUT);
    int16_t k[BS4NN_NUM_LAYERS];
    int l;

    if (f == 0 || img == 0 || r == 0 || ones == 0) {
        return 2;
    }
    bs4nn_init();
    if (argc > 2) {
        for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
            k[l] = (int16_t)atoi(argv[2 + l]);
        }
        if (bs4nn_set_thresholds(k) != 0) {
            return 3;
        }
    }
    while (fread(img, 1, BS4NN_N_INPUT, f) == BS4NN_N_INPUT) {
        bs4nn_infer(img, r);
        bs4nn_output_ones(ones);
        fwrite(&r->label, 1, 1, stdout);
        fwrite(&r->flags, 1, 1, stdout);
        fwrite(&r->decision_step, 2, 1, stdout);
        fwrite(r->output_steps, 2, BS4NN_N_OUTPUT, stdout);
        fwrite(r->spikes, 2, BS4NN_NUM_LAYERS + 1, stdout);
        fwrite(ones, 4, BS4NN_N_OUTPUT, stdout);
    }
    fclose(f);
    free(img);
    free(r);
    free(ones);
    return 0;
}
"""


@pytest.fixture(scope="module")
def sanitizing_gcc(tmp_path_factory):
    """gcc, if it builds and runs a program with ASan and UBSan here; else the test skips."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found")
    folder = tmp_path_factory.mktemp("san-probe")
    (folder / "probe.c").write_text("int main(void) { return 0; }\n")
    built = subprocess.run(
        [gcc, *SANITIZE, "-o", str(folder / "probe"), str(folder / "probe.c")],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        pytest.skip(f"gcc cannot build with {' '.join(SANITIZE)}: {built.stderr.strip()[:300]}")
    ran = subprocess.run([str(folder / "probe")], capture_output=True, text=True, env=SAN_ENV)
    if ran.returncode != 0:
        pytest.skip(f"ASan/UBSan programs do not run here: {ran.stderr.strip()[:300]}")
    return gcc


def _san_build(gcc, fw, kernel):
    exe = fw / f"san-{kernel}"
    cmd = [gcc, "-std=c99", "-Wall", "-Wextra", "-Werror", *SANITIZE, f"-DBS4NN_KERNEL={kernel}"]
    cmd += ["-I", str(fw / "generated"), "-I", str(fw / "core"), "-o", str(exe)]
    cmd += [str(fw / "generated" / "bs4nn_model.c"), *map(str, sorted(fw.glob("core/*.c")))]
    proc = subprocess.run([*cmd, str(fw / "san_driver.c")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


def _san_run(exe, images_file, ks, n_images, n_layers, n_out):
    proc = subprocess.run(
        [str(exe), str(images_file), *map(str, ks or [])], capture_output=True, env=SAN_ENV
    )
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode(errors="replace")
    rec = np.dtype(
        [
            ("label", "u1"),
            ("flags", "u1"),
            ("step", "<u2"),
            ("out_steps", "<u2", (n_out,)),
            ("spikes", "<u2", (n_layers + 1,)),
            ("ones", "<i4", (n_out,)),
        ]
    )
    got = np.frombuffer(proc.stdout, rec)
    assert got.shape == (n_images,)
    out = got["out_steps"].astype(np.int16)
    out[got["out_steps"] == NO_SPIKE] = NOT_FIRED
    batch = RefBatch(
        got["label"].astype(np.int16),
        got["step"].astype(np.int16),
        (got["flags"] & FLAG_FALLBACK).astype(bool),
        out,
        got["spikes"].astype(np.int32),
    )
    return batch, got["ones"]


@pytest.mark.parametrize("sizes, thetas", ODD_NETWORKS)
def test_kernels_are_clean_under_asan_and_ubsan(tmp_path, sanitizing_gcc, sizes, thetas):
    """Every kernel, built with -fsanitize=address,undefined, on the odd networks and stress
    images at the model's K, K = 1 and K = 32767 (on every layer at once and on each in turn):
    no sanitizer report, and the reference's results."""
    intmodel = random_intmodel(sizes, thetas, seed=3)
    fw = tmp_path / "fw"
    export_firmware(intmodel, fw)
    (fw / "san_driver.c").write_text(_SAN_DRIVER)
    images = _stress_images(sizes[0], np.random.default_rng(len(sizes) * 1000 + sizes[1]), 60)
    if sizes[0] == 784:
        images = np.concatenate([images, load_dataset("mnist", "test")[0][:60]])
    (fw / "images.raw").write_bytes(images.tobytes())
    kernels = ["ref", *FAST_KERNELS]
    with ThreadPoolExecutor(max_workers=len(kernels)) as pool:
        exes = list(pool.map(lambda k: _san_build(sanitizing_gcc, fw, k), kernels))
    n = len(sizes) - 1
    settings = [None, [1] * n, [32767] * n]
    settings += [[32767 if i == j else 1 for i in range(n)] for j in range(n)]
    for ks in settings:
        want = reference_batch(intmodel, images, ks)
        ones = []
        for kernel, exe in zip(kernels, exes, strict=True):
            got, got_ones = _san_run(exe, fw / "images.raw", ks, len(images), n, sizes[-1])
            assert mismatches(want, got) == [], (kernel, ks)
            ones.append(got_ones)
        for kernel, got_ones in zip(kernels[1:], ones[1:], strict=True):
            np.testing.assert_array_equal(got_ones, ones[0], err_msg=f"{kernel} {ks}")
