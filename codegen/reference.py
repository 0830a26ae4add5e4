"""The Python integer reference of the firmware's semantics (docs/design.md section 1).

Event-driven, early stop at the decision, the tie rules and the t = 255 fallback. The host
and every C test compare against this one function. It uses only the IntModel (signs and
integer thresholds): no floating point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from bs4nn.codegen.intmodel import IntModel
from bs4nn.trainer.interrupts import signals_held
from bs4nn.trainer.kernels import sort_inputs
from bs4nn.trainer.semantics import LAST_STEP, NOT_FIRED


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


@njit(cache=True)
def _infer_one(pixels, sizes, row_offsets, fanout, thresholds, out_steps, spikes, out_counts):
    """One image. fanout[row_offsets[l] + i] is the +-1 row of input i of weight layer l.

    Returns (label, decision_step, fallback); fills out_steps (-1 = not fired), spikes and
    out_counts (the outputs' counts at the decision).
    """
    n_layers = sizes.size - 1
    # input pixels by spike step: step t is order[bucket_start[t] : bucket_start[t + 1]]
    order = np.empty(sizes[0], np.int64)
    bucket_start = np.empty(LAST_STEP + 2, np.int64)
    sort_inputs(pixels, order, bucket_start)

    max_n = 0
    for layer in range(1, n_layers + 1):
        max_n = max(max_n, sizes[layer])
    counts = np.zeros((n_layers + 1, max_n), np.int32)
    fired = np.zeros((n_layers + 1, max_n), np.bool_)
    newly = np.empty(max_n, np.int32)
    n_out = sizes[n_layers]
    out_steps[:] = NOT_FIRED
    spikes[:] = 0

    for t in range(LAST_STEP + 1):
        # input spikes of step t feed weight layer 0
        for p in range(bucket_start[t], bucket_start[t + 1]):
            i = order[p]
            spikes[0] += 1
            row = fanout[row_offsets[0] + i]
            for j in range(sizes[1]):
                counts[1, j] += row[j]
        for layer in range(1, n_layers + 1):
            n_new = 0
            k = thresholds[layer - 1]
            for j in range(sizes[layer]):
                if not fired[layer, j] and counts[layer, j] >= k:
                    fired[layer, j] = True
                    newly[n_new] = j
                    n_new += 1
            spikes[layer] += n_new
            if layer < n_layers:
                # spikes of this layer reach the next one within the same step
                for q in range(n_new):
                    row = fanout[row_offsets[layer] + newly[q]]
                    for j in range(sizes[layer + 1]):
                        counts[layer + 1, j] += row[j]
            elif n_new > 0:
                return _decide(counts[layer, :n_out], newly[:n_new], t, out_steps, out_counts)
    return _fallback(counts[n_layers, :n_out], out_counts)


@njit(cache=True)
def _decide(counts, newly, t, out_steps, out_counts):
    """The outputs `newly` (in index order) fired at step t: the largest count wins, then the
    lowest index. Records their step and the outputs' counts. Returns (label, t, False)."""
    out_counts[:] = counts
    label = newly[0]
    for q in range(newly.shape[0]):
        j = newly[q]
        out_steps[j] = t
        if counts[j] > counts[label]:
            label = j  # newly is in index order: ties keep the lowest index
    return label, t, False


@njit(cache=True)
def _fallback(counts, out_counts):
    """No output fired by the last step: the largest count wins, then the lowest index.
    Returns (label, LAST_STEP, True)."""
    out_counts[:] = counts
    label = 0
    for j in range(1, counts.shape[0]):
        if counts[j] > counts[label]:
            label = j
    return label, LAST_STEP, True


@njit(cache=True, parallel=True)
def _infer_batch(
    images,
    sizes,
    row_offsets,
    fanout,
    thresholds,
    labels,
    steps,
    fallback,
    out_steps,
    spikes,
    out_counts,
):
    for n in prange(images.shape[0]):
        label, step, fb = _infer_one(
            images[n],
            sizes,
            row_offsets,
            fanout,
            thresholds,
            out_steps[n],
            spikes[n],
            out_counts[n],
        )
        labels[n] = label
        steps[n] = step
        fallback[n] = fb


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
        _infer_batch(
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
