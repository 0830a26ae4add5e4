"""The integer reference's numba kernels (bs4nn.codegen.reference is their interface): the
firmware's semantics image by image, integers only (docs/design.md section 1)."""

import numpy as np
from numba import njit, prange

from bs4nn.trainer.kernels import sort_inputs
from bs4nn.trainer.semantics import LAST_STEP, NOT_FIRED


@njit(cache=True)
def infer_one(pixels, sizes, row_offsets, fanout, thresholds, out_steps, spikes, out_counts):
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
                return decide(counts[layer, :n_out], newly[:n_new], t, out_steps, out_counts)
    return fallback_label(counts[n_layers, :n_out], out_counts)


@njit(cache=True)
def decide(counts, newly, t, out_steps, out_counts):
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
def fallback_label(counts, out_counts):
    """No output fired by the last step: the largest count wins, then the lowest index.
    Returns (label, LAST_STEP, True)."""
    out_counts[:] = counts
    label = 0
    for j in range(1, counts.shape[0]):
        if counts[j] > counts[label]:
            label = j
    return label, LAST_STEP, True


@njit(cache=True, parallel=True)
def infer_batch(
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
        label, step, fb = infer_one(
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
