"""The Python integer reference of the firmware's semantics (docs/design.md section 1).

Event-driven, early stop at the decision, the tie rules and the t = 255 fallback. The host
and every C test compare against this one function. It uses only the IntModel (signs and
integer thresholds): no floating point. The semantics themselves, image by image, are the
numba kernels in bs4nn.codegen.reference_kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bs4nn.codegen.intmodel import IntModel
from bs4nn.trainer.interrupts import signals_held
from bs4nn.trainer.lazy import LazyModule

reference_kernels = LazyModule("bs4nn.codegen.reference_kernels")


@dataclass(frozen=True)
class RefResult:
    label: int
    decision_step: int
    fallback: bool  # no output fired by t = 255: largest count decided
    output_steps: np.ndarray  # int16 per output, NOT_FIRED when it did not fire by the decision
    spikes: np.ndarray  # int32 [input, hidden..., output] up to and including the decision step


@dataclass(frozen=True)
class RefBatch:
    labels: np.ndarray  # (N,) int16
    decision_steps: np.ndarray  # (N,) int16
    fallback: np.ndarray  # (N,) bool
    output_steps: np.ndarray  # (N, n_out) int16
    spikes: np.ndarray  # (N, L + 1) int32
    # (N, n_out) int32: every output's count when the decision was taken (the scores of the
    # EEMBC text mode come from these); None for results that do not carry them
    output_counts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)


def _kernel_arrays(model: IntModel):
    """All layers' transposed signs as one (sum n_in, max n_out) int8 table of fan-out rows."""
    sizes = np.asarray(model.layer_sizes, dtype=np.int64)
    width = int(sizes[1:].max())
    fanout = np.zeros((int(sizes[:-1].sum()), width), dtype=np.int8)
    row_offsets = np.zeros(model.num_layers, dtype=np.int64)
    offset = 0
    for layer, signs in enumerate(model.signs):
        row_offsets[layer] = offset
        n_out, n_in = signs.shape
        fanout[offset : offset + n_in, :n_out] = signs.T
        offset += n_in
    return sizes, row_offsets, fanout


def _thresholds(model: IntModel, thresholds) -> np.ndarray:
    ks = model.thresholds if thresholds is None else tuple(int(k) for k in thresholds)
    model.check_limits(ks)
    return np.asarray(ks, dtype=np.int64)


def _as_images(images, n_in: int) -> np.ndarray:
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8 pixels, got {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != n_in:
        raise ValueError(f"images must have shape (N, {n_in}), got {arr.shape}")
    return np.ascontiguousarray(arr)


def reference_batch(model: IntModel, images: np.ndarray, thresholds=None) -> RefBatch:
    """The firmware's result for every image (uint8, shape (N, n_in))."""
    imgs = _as_images(images, model.layer_sizes[0])
    sizes, row_offsets, fanout = _kernel_arrays(model)
    n = imgs.shape[0]
    labels = np.zeros(n, np.int16)
    steps = np.zeros(n, np.int16)
    fallback = np.zeros(n, np.bool_)
    out_steps = np.zeros((n, model.layer_sizes[-1]), np.int16)
    spikes = np.zeros((n, model.num_layers + 1), np.int32)
    counts = np.zeros((n, model.layer_sizes[-1]), np.int32)
    with signals_held():
        reference_kernels.infer_batch(
            imgs,
            sizes,
            row_offsets,
            fanout,
            _thresholds(model, thresholds),
            labels,
            steps,
            fallback,
            out_steps,
            spikes,
            counts,
        )
    return RefBatch(labels, steps, fallback, out_steps, spikes, counts)


def reference_infer(model: IntModel, pixels: np.ndarray, thresholds=None) -> RefResult:
    """The firmware's result for one image (uint8, n_in pixels)."""
    batch = reference_batch(model, np.asarray(pixels).reshape(1, -1), thresholds)
    return RefResult(
        label=int(batch.labels[0]),
        decision_step=int(batch.decision_steps[0]),
        fallback=bool(batch.fallback[0]),
        output_steps=batch.output_steps[0],
        spikes=batch.spikes[0],
    )
