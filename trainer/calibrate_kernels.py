"""numba kernel of threshold calibration: one layer's candidate K scored in one pass (no I/O).

`calibrate.calibrate_thresholds` searches the integer K of one weight layer at a time with the
others fixed. Scoring each candidate with a full forward repeats work that does not depend on
it: the layers below the searched one fire the same way for every candidate, and the searched
layer's counts are the same; only where they first reach K differs. So, per image: the layers
below run once (`kernels.forward` on them), the searched layer's counts run once while the
running maximum of each neuron's count records the step at which it first reaches every
candidate K, and only the layers above run once per candidate (`kernels.forward` on them, fed
with the searched layer's spikes). The searched layer being the last, `kernels.forward` on it
alone scores each candidate. Every decision is `kernels.forward`'s own, so the labels and
decision steps are those of `evaluate.forward_batch` with the same thresholds.
"""

import numpy as np
from numba import njit, prange

from bs4nn.trainer.kernels import (
    TMAX,
    Layout,
    forward,
    forward_buffers,
    sort_by_step,
    sort_inputs,
)


@njit(cache=True)
def _image_scores(pixels, label, sizes, woff, noff, fw, thr, layer, ks, right, steps):
    """right[c] = 1 where K = ks[c] (ascending) at `layer` classifies one image correctly;
    steps[c] = its decision step."""
    n_layers = sizes.shape[0] - 1
    order, starts, buf = forward_buffers(pixels.shape[0], noff[n_layers], n_layers, thr)
    sort_inputs(pixels, order, starts)
    if layer > 0:  # the layers below, once: the spikes that reach `layer`
        forward(
            order,
            starts,
            Layout(sizes[: layer + 1], woff[: layer + 1], noff[: layer + 1]),
            fw,
            thr[:layer],
            False,
            buf,
        )
        below = buf.times[noff[layer - 1] : noff[layer]].copy()
        order = np.empty(below.shape[0], np.int64)
        sort_by_step(below, order, starts)
    # the layers from `top` up run once per candidate, fed with the spikes of the layer below
    top = layer if layer == n_layers - 1 else layer + 1
    up_sizes, up_woff, up_noff = sizes[top:], woff[top:], noff[top:] - noff[top]
    up_thr = thr[top:].copy()
    if top == layer:  # the output layer alone, per candidate
        for c in range(ks.shape[0]):
            up_thr[0] = ks[c]
            label_c, step_c, _ = forward(
                order, starts, Layout(up_sizes, up_woff, up_noff), fw, up_thr, True, buf
            )
            right[c] = label_c == label
            steps[c] = step_c
        return
    # the searched layer's counts, once: first[c, j] = step at which neuron j reaches ks[c]
    n_out = sizes[layer + 1]
    count = np.zeros(n_out, thr.dtype)
    reached = np.zeros(n_out, np.int64)  # candidates reached so far (ks ascending)
    first = np.full((ks.shape[0], n_out), TMAX, np.int64)
    base = woff[layer]
    for t in range(TMAX):
        if starts[t + 1] == starts[t]:
            continue
        for e in range(starts[t], starts[t + 1]):
            w = fw[base + order[e] * n_out : base + (order[e] + 1) * n_out]
            for j in range(n_out):
                count[j] += w[j]
        for j in range(n_out):
            while reached[j] < ks.shape[0] and count[j] >= ks[reached[j]]:
                first[reached[j], j] = t
                reached[j] += 1
    spikes = np.empty(n_out, np.int64)
    for c in range(ks.shape[0]):
        sort_by_step(first[c], spikes, starts)
        label_c, step_c, _ = forward(
            spikes, starts, Layout(up_sizes, up_woff, up_noff), fw, up_thr, True, buf
        )
        right[c] = label_c == label
        steps[c] = step_c


@njit(cache=True, parallel=True)
def scores_per_k(images, labels, sizes, woff, noff, fw, thr, layer, ks):
    """(images classified correctly, sum of their decision steps) with the thresholds `thr` but
    K = ks[c] at weight layer `layer`, for every c (ks ascending); images (N, n_in) uint8,
    flat layout of trainer/kernels.py, binary weights."""
    right = np.zeros((images.shape[0], ks.shape[0]), np.int64)
    steps = np.zeros((images.shape[0], ks.shape[0]), np.int64)
    for n in prange(images.shape[0]):
        _image_scores(
            images[n], labels[n], sizes, woff, noff, fw, thr, layer, ks, right[n], steps[n]
        )
    return right.sum(axis=0), steps.sum(axis=0)
