"""numba kernels of the surrogate rule's input layer (no I/O; used by trainer/surrogate.py).

Every pixel spikes at exactly one training level (or never), so the input layer needs no
(n, levels, 784) spike tensor: `first[s, i]` is the level at which pixel i of image s spikes
(`n_levels` when it never does), and the count of neuron j at level l is the sum of the signs of
the pixels that spiked at levels <= l: one sparse pass over the spiking pixels, then a running
sum over the levels. The backward is the same in reverse: the gradient of a pixel spiking at
level l is the sum of the count gradients of levels >= l.

Arrays are image-major, (n, levels, neurons). The signs are int8 +-1, so the counts are exact
integers (int16: at most 784 in magnitude) and the soft crossing of a count is a table lookup;
`trainer.surrogate` builds the tables with the same numpy code as the crossings of the later
layers, so the input layer's fired probabilities equal those of the dense float32 product.
The kernels run on one thread: four parallel regions per mini-batch cost more in fork and join
than they save on this shared 2-core machine (docs/experiment-log.md).
"""

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def input_counts(first, signs, counts):
    """first (n, m) spike levels, signs (m, h) int8 -> counts (n, L, h) int16: the sum of the
    signs of the pixels that have spiked by each level."""
    n, n_levels, h = counts.shape
    for s in range(n):
        c = counts[s]
        c[:] = 0
        for i in range(first.shape[1]):
            lv = first[s, i]
            if lv < n_levels:
                row = c[lv]
                w = signs[i]
                for j in range(h):
                    row[j] += w[j]
        for lv in range(1, n_levels):
            for j in range(h):
                c[lv, j] += c[lv - 1, j]


@njit(cache=True, error_model="numpy")
def _not_fired(c_row, offset, q_table, running, q):
    """One level of the running product: q = q_table[c_row + offset], running *= q."""
    for j in range(c_row.shape[0]):  # the table lookups apart, so that the rest vectorises
        q[j] = q_table[c_row[j] + offset]
    for j in range(c_row.shape[0]):
        running[j] *= q[j]


@njit(cache=True, error_model="numpy")
def _image_hazard_forward(counts, offset, q_table, m_row, fired):
    """`hazard_forward` of one image, (L, h)."""
    n_levels, h = counts.shape
    one = np.float32(1.0)
    running = np.ones(h, np.float32)
    q = np.empty(h, np.float32)
    for lv in range(n_levels):
        _not_fired(counts[lv], offset, q_table, running, q)
        f_row = fired[lv]
        for j in range(h):
            f_row[j] = (one - running[j]) * m_row[j]


@njit(cache=True, error_model="numpy")
def hazard_forward(counts, offset, q_table, mask, fired):
    """(n, L, h) integer counts -> fired (n, L, h) float32 = (1 - not_fired) * mask[s, j] (the
    hidden dropout factors), not_fired being the running product over the levels of
    q_table[c + offset] = 1 - NOT_ONE * sigmoid of count c."""
    for s in range(counts.shape[0]):
        _image_hazard_forward(counts[s], offset, q_table, mask[s], fired[s])


@njit(cache=True, error_model="numpy")
def input_sign_grads(first, by_level):
    """(m, h) float32 gradients of the input layer's signs from by_level (n, L, h), the
    gradient of the sign of a pixel that spikes at each level: for every spiking pixel, the
    row of its image and level, summed over the images in order."""
    n, m = first.shape
    n_levels, h = by_level.shape[1], by_level.shape[2]
    grads = np.zeros((m, h), np.float32)
    for s in range(n):
        for i in range(m):
            lv = first[s, i]
            if lv < n_levels:
                g_row, b_row = grads[i], by_level[s, lv]
                for j in range(h):
                    g_row[j] += b_row[j]
    return grads


@njit(cache=True, error_model="numpy")
def _level_backward(d_row, m_row, nf_row, q_row, p, coef, d_q, total):
    """One level of `hazard_backward`, from the last: d_q and total accumulate. (Its own
    function: inlined in the image loop, LLVM did not vectorise the division.)"""
    one = np.float32(1.0)
    for j in range(d_q.shape[0]):
        d_q[j] += (-(d_row[j] * m_row[j])) * nf_row[j]
    for j in range(d_q.shape[0]):
        total[j] += d_q[j] / q_row[j] * p[j] * (one - p[j]) * coef


@njit(cache=True, error_model="numpy")
def _image_hazard_backward(d_fired, m_row, counts, offset, p_table, q_table, coef):
    """`hazard_backward` of one image: (L, h) d_fired -> by_level, in place."""
    n_levels, h = d_fired.shape
    not_fired = np.empty((n_levels, h), np.float32)
    q = np.empty((n_levels, h), np.float32)
    running = np.ones(h, np.float32)
    for lv in range(n_levels):
        _not_fired(counts[lv], offset, q_table, running, q[lv])
        not_fired[lv] = running
    d_q = np.zeros(h, np.float32)
    total = np.zeros(h, np.float32)
    p = np.empty(h, np.float32)
    for lv in range(n_levels - 1, -1, -1):
        d_row, c_row = d_fired[lv], counts[lv]
        for j in range(h):
            p[j] = p_table[c_row[j] + offset]
        _level_backward(d_row, m_row, not_fired[lv], q[lv], p, coef, d_q, total)
        d_row[:] = total


@njit(cache=True, error_model="numpy")
def hazard_backward(d_fired, mask, counts, offset, p_table, q_table, coef):
    """Turns d_fired (n, L, h), the gradients of the input layer's fired probabilities (before
    the dropout factors `mask`), into by_level (in place): the gradient of the sign of a pixel
    that spikes at each level, the sum over the levels >= l of the counts' gradients. These
    are (sum_{l' >= l} -d_fired[l'] mask not_fired[l']) / q[l] p[l] (1 - p[l]) coef, as the
    dense hazard backward of trainer.surrogate (coef = -NOT_ONE / width); not_fired is
    computed again, image by image, as `hazard_forward` does."""
    for s in range(d_fired.shape[0]):
        _image_hazard_backward(d_fired[s], mask[s], counts[s], offset, p_table, q_table, coef)


@njit(cache=True, error_model="numpy")
def adam_step(w, m, v, g, lr, c1, c2):
    """One Adam step on the real weights w (any shape, float32, in place), then clipping to
    [-1, 1]; the float32 scalars lr, c1 = 1 - 0.9^t, c2 = 1 - 0.999^t. The same float32
    operations, in the same order, as the numpy expression m = 0.9 m + 0.1 g,
    v = 0.999 v + 0.001 g g, w -= lr (m / c1) / (sqrt(v / c2) + 1e-8)."""
    w, m, v, g = w.ravel(), m.ravel(), v.ravel(), g.ravel()
    b1, a1 = np.float32(0.9), np.float32(0.1)
    b2, a2 = np.float32(0.999), np.float32(0.001)
    eps, lo, hi = np.float32(1e-8), np.float32(-1.0), np.float32(1.0)
    for i in range(w.shape[0]):
        mi = m[i] * b1 + a1 * g[i]
        vi = v[i] * b2 + a2 * g[i] * g[i]
        m[i] = mi
        v[i] = vi
        wi = w[i] - lr * (mi / c1) / (np.sqrt(vi / c2) + eps)
        w[i] = min(max(wi, lo), hi)


@njit(cache=True, error_model="numpy")
def average_step(average, w, keep, rest):
    """average = keep average + rest w, in place (float32 scalars keep and rest = 1 - keep)."""
    average, w = average.ravel(), w.ravel()
    for i in range(w.shape[0]):
        average[i] = average[i] * keep + rest * w[i]
