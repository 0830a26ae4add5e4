"""The C check on the host: the exported generated C plus the firmware's inference core, built
with the host's gcc into a shared library and driven through ctypes.

`CModel(export_dir).infer_batch(images)` returns the same arrays as
`bs4nn.codegen.reference.reference_batch`, so the two compare image by image (`mismatches`).
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np

from bs4nn.codegen.reference import RefBatch
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.semantics import FLAG_FALLBACK, K_MAX, K_MIN, NO_SPIKE, NOT_FIRED

# how the firmware's C is compiled on the host (also by the tests that build protocol code)
HOST_CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
CFLAGS = (*HOST_CFLAGS, "-shared", "-fPIC")
BUILD_DIR = "build-host"

# A batch loop in C (10,000 ctypes calls would dominate the run time).
_SHIM = r"""
#include "bs4nn_infer.h"

int bs4nn_ccheck_num_layers(void) { return BS4NN_NUM_LAYERS; }
int bs4nn_ccheck_n_input(void) { return BS4NN_N_INPUT; }
int bs4nn_ccheck_n_output(void) { return BS4NN_N_OUTPUT; }

/* thresholds NULL: the defaults. Returns -1 if a threshold is out of range. */
int bs4nn_ccheck_batch(const uint8_t *images, uint32_t n, const int16_t *thresholds,
                       uint8_t *labels, uint16_t *steps, uint8_t *flags, uint16_t *out_steps,
                       uint16_t *spikes)
{
    bs4nn_result_t r;
    uint32_t i;
    uint32_t j;

    bs4nn_init();
    if (thresholds != 0 && bs4nn_set_thresholds(thresholds) != 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        bs4nn_infer(images + (uint64_t)i * BS4NN_N_INPUT, &r);
        labels[i] = r.label;
        steps[i] = r.decision_step;
        flags[i] = r.flags;
        for (j = 0; j < BS4NN_N_OUTPUT; j++) {
            out_steps[i * BS4NN_N_OUTPUT + j] = r.output_steps[j];
        }
        for (j = 0; j < BS4NN_NUM_LAYERS + 1; j++) {
            spikes[i * (BS4NN_NUM_LAYERS + 1) + j] = r.spikes[j];
        }
    }
    bs4nn_init();
    return 0;
}

/* The outputs' ones after each image (bs4nn_output_ones), default thresholds. */
void bs4nn_ccheck_output_ones(const uint8_t *images, uint32_t n, int32_t *ones)
{
    bs4nn_result_t r;
    uint32_t i;

    bs4nn_init();
    for (i = 0; i < n; i++) {
        bs4nn_infer(images + (uint64_t)i * BS4NN_N_INPUT, &r);
        bs4nn_output_ones(ones + (uint64_t)i * BS4NN_N_OUTPUT);
    }
}
"""


def _sources(export_dir: Path) -> list[Path]:
    generated = export_dir / "generated" / "bs4nn_model.c"
    core = sorted((export_dir / "core").glob("*.c"))
    if not generated.is_file() or not core:
        raise Bs4nnError(
            f"{export_dir} has no generated/bs4nn_model.c or core/*.c; "
            "run `bs4nn export MODEL --out DIR` first"
        )
    return [generated, *core]


def build_library(export_dir: str | Path, kernel: str = "ref") -> Path:
    """Compile generated C + core + the batch shim into DIR/build-host/; returns the .so path.

    The file name carries a hash of the sources and flags: a rebuilt library gets a new name,
    so a process never reuses a stale one that ctypes already loaded.
    """
    export_dir = Path(export_dir)
    gcc = shutil.which("gcc")
    if gcc is None:
        raise Bs4nnError("gcc not found; install the host compiler (apt-get install gcc)")
    sources = _sources(export_dir)
    headers = sorted(export_dir.glob("generated/*.h")) + sorted(export_dir.glob("core/*.h"))
    flags = [*CFLAGS, f"-DBS4NN_KERNEL={kernel}"]
    digest = hashlib.sha256(_SHIM.encode() + " ".join(flags).encode())
    for path in sources + headers:
        digest.update(path.read_bytes())
    out_dir = export_dir / BUILD_DIR
    out_dir.mkdir(exist_ok=True)
    lib = out_dir / f"libbs4nn_{kernel}_{digest.hexdigest()[:16]}.so"
    if lib.is_file():
        return lib
    shim = out_dir / "bs4nn_ccheck_shim.c"
    shim.write_text(_SHIM)
    cmd = [
        gcc,
        *flags,
        "-I",
        str(export_dir / "generated"),
        "-I",
        str(export_dir / "core"),
        "-o",
        str(lib),
        *map(str, sources),
        str(shim),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Bs4nnError(f"host build of {export_dir} failed:\n{' '.join(cmd)}\n{proc.stderr}")
    return lib


class CModel:
    """The firmware's inference core, compiled for the host."""

    def __init__(self, export_dir: str | Path, kernel: str = "ref") -> None:
        self.library = build_library(export_dir, kernel)
        self._lib = ctypes.CDLL(str(self.library))
        self.num_layers = self._lib.bs4nn_ccheck_num_layers()
        self.n_input = self._lib.bs4nn_ccheck_n_input()
        self.n_output = self._lib.bs4nn_ccheck_n_output()

    def output_ones(self, images: np.ndarray) -> np.ndarray:
        """(N, n_output) int32: every output's ones (+1 synapses among the spikes it received)
        at the end of each image's inference, as the EEMBC scores read them."""
        imgs = np.ascontiguousarray(images, dtype=np.uint8)
        out = np.zeros((imgs.shape[0], self.n_output), np.int32)
        self._lib.bs4nn_ccheck_output_ones(
            imgs.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_uint32(imgs.shape[0]),
            out.ctypes.data_as(ctypes.c_void_p),
        )
        return out

    def infer_batch(self, images: np.ndarray, thresholds=None) -> RefBatch:
        """Like reference_batch: images uint8 (N, n_input); thresholds K per layer or None."""
        imgs = np.ascontiguousarray(images)
        if imgs.dtype != np.uint8 or imgs.ndim != 2 or imgs.shape[1] != self.n_input:
            raise ValueError(
                f"images must be uint8 of shape (N, {self.n_input}), got {imgs.dtype} {imgs.shape}"
            )
        n = imgs.shape[0]
        labels = np.zeros(n, np.uint8)
        steps = np.zeros(n, np.uint16)
        flags = np.zeros(n, np.uint8)
        out_steps = np.zeros((n, self.n_output), np.uint16)
        spikes = np.zeros((n, self.num_layers + 1), np.uint16)
        ks = None
        if thresholds is not None:
            ks = np.ascontiguousarray(thresholds, dtype=np.int16)
            if ks.shape != (self.num_layers,):
                raise ValueError(f"{self.num_layers} thresholds needed, got {ks.shape}")

        def ptr(a):
            return None if a is None else a.ctypes.data_as(ctypes.c_void_p)

        rc = self._lib.bs4nn_ccheck_batch(
            ptr(imgs),
            ctypes.c_uint32(n),
            ptr(ks),
            ptr(labels),
            ptr(steps),
            ptr(flags),
            ptr(out_steps),
            ptr(spikes),
        )
        if rc != 0:
            raise Bs4nnError(
                f"thresholds {list(thresholds)} refused by the C core (each {K_MIN}..{K_MAX})"
            )
        out = out_steps.astype(np.int16)
        out[out_steps == NO_SPIKE] = NOT_FIRED
        return RefBatch(
            labels.astype(np.int16),
            steps.astype(np.int16),
            (flags & FLAG_FALLBACK).astype(bool),
            out,
            spikes.astype(np.int32),
        )
