"""numba kernels of the surrogate rule (no I/O; used by trainer/surrogate_net.py and, for Adam
and the shifts, trainer/surrogate.py).

Every pixel spikes at exactly one training level (or never), so the input layer needs no
(n, levels, 784) spike tensor: `first[s, i]` is the level at which pixel i of image s spikes
(`n_levels` when it never does), and the count of neuron j at level l is the sum of the signs of
the pixels that spiked at levels <= l: one sparse pass over the spiking pixels, then a running
sum over the levels. The backward is the same in reverse: the gradient of a pixel spiking at
level l is the sum of the count gradients of levels >= l.

The signs are int8 +-1, so the counts are exact integers and the soft crossing of a count is a
table lookup; `trainer.surrogate_net` builds the tables with the same numpy code as the crossings
of the later layers, so the input layer's fired probabilities equal those of the dense float32
product.

Two sets of kernels: `one_hidden_step` runs a whole 784-h-o network (one hidden layer, hazard
crossings) image by image, forward and backward in the cache, in runs of images that can run
in threads of their own (no GIL); for other networks, the input layer's kernels on image-major
(n, levels, neurons) arrays (input_counts, hazard_forward, hazard_backward, input_sign_grads)
run under the numpy layers. Both on one thread each: numba's parallel regions cost more in
fork and join than they saved on this shared 2-core machine (docs/experiment-log.md).
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
    dense hazard backward of trainer.surrogate_net (coef = -NOT_ONE / width); not_fired is
    computed again, image by image, as `hazard_forward` does."""
    for s in range(d_fired.shape[0]):
        _image_hazard_backward(d_fired[s], mask[s], counts[s], offset, p_table, q_table, coef)


@njit(cache=True, error_model="numpy", nogil=True)
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


@njit(cache=True, error_model="numpy", nogil=True)
def average_step(average, w, keep, rest):
    """average = keep average + rest w, in place (float32 scalars keep and rest = 1 - keep)."""
    average, w = average.ravel(), w.ravel()
    for i in range(w.shape[0]):
        average[i] = average[i] * keep + rest * w[i]


# ------------------------------------------------ one hidden layer: the whole step per image
# With one hidden layer (and hazard crossings) the forward and backward of an image fit in the
# cache: `one_hidden_step` runs them image by image, with no (n, L, h) array of the batch. The
# output layer's products are float32 sums in an order of their own (see `_dot`), so the
# gradients equal those of the numpy layers but for rounding (tests/test_surrogate.py).

CHUNKS = 2  # a batch splits into this many runs of images, each with its own gradient sums
# (in threads of their own when numba may use two); fixed, so that results do not depend on
# the number of threads


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _dot(a, b):
    """sum_j a[j] b[j] in float32, reassociated so that LLVM vectorises it: the order of the
    sums is the compiled code's (the same in every run on one machine)."""
    total = np.float32(0.0)
    for j in range(a.shape[0]):
        total += a[j] * b[j]
    return total


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _dot2(a, b, c):
    """(a . b, a . c), each summed as `_dot` sums."""
    ab = ac = np.float32(0.0)
    for j in range(a.shape[0]):
        ab += a[j] * b[j]
        ac += a[j] * c[j]
    return ab, ac


@njit(cache=True, error_model="numpy")
def _hidden_level(c_row, offset, tables, m_row, running, q, nf_row, f_row, g_row):
    """One level of the hidden crossings: q and g by table lookup (in loops of their own, so
    that the rest vectorises), the running product not_fired, fired = (1 - not_fired) mask."""
    one = np.float32(1.0)
    for j in range(c_row.shape[0]):
        qg = tables[c_row[j] + offset]
        q[j] = qg[0]
        g_row[j] = qg[1]
    for j in range(c_row.shape[0]):
        r = running[j] * q[j]
        running[j] = r
        nf_row[j] = r
        f_row[j] = (one - r) * m_row[j]


@njit(cache=True, error_model="numpy")
def _output_backward(d_c2, s1t, fired, g1t, d_fired):
    """d_fired[l] = sum_o d_c2[l, o] s1t[o] and g1t[o] += sum_l d_c2[l, o] fired[l], two
    terms per pass (half the loads and stores of one term per pass)."""
    n_levels, h = fired.shape
    n_out = s1t.shape[0]
    for lv in range(n_levels):
        d_row = d_fired[lv]
        d, s = d_c2[lv, 0], s1t[0]
        for j in range(h):
            d_row[j] = d * s[j]
        for o in range(1, n_out - 1, 2):
            da, db, sa, sb = d_c2[lv, o], d_c2[lv, o + 1], s1t[o], s1t[o + 1]
            for j in range(h):
                d_row[j] += da * sa[j] + db * sb[j]
        if n_out % 2 == 0:
            d, s = d_c2[lv, n_out - 1], s1t[n_out - 1]
            for j in range(h):
                d_row[j] += d * s[j]
    for lv in range(0, n_levels - 1, 2):  # two levels' fired rows stay in L1 for every o
        fa, fb = fired[lv], fired[lv + 1]
        for o in range(n_out):
            g, da, db = g1t[o], d_c2[lv, o], d_c2[lv + 1, o]
            for j in range(h):
                g[j] += da * fa[j] + db * fb[j]
    if n_levels % 2:
        f = fired[n_levels - 1]
        for o in range(n_out):
            g, d = g1t[o], d_c2[n_levels - 1, o]
            for j in range(h):
                g[j] += d * f[j]


@njit(cache=True, error_model="numpy")
def _hidden_level_backward(d_row, m_row, nf_row, g_row, d_q, total):
    """One level of the hidden crossings' backward, from the last: d_q and total accumulate;
    d_row (the level's d fired) becomes total, the gradient of the signs of the pixels that
    spike at this level."""
    for j in range(d_q.shape[0]):
        dq = d_q[j] + (-(d_row[j] * m_row[j])) * nf_row[j]
        d_q[j] = dq
        t = total[j] + dq * g_row[j]
        total[j] = t
        d_row[j] = t


@njit(cache=True, error_model="numpy")
def _softmax_ce(logits, label, scale, d_logits):
    """Cross-entropy of one image's float32 logits -> (loss, argmax == label), and
    d_logits = (softmax - one-hot) * scale."""
    e = np.exp(logits - logits.max())
    prob = e / e.sum()
    for o in range(logits.shape[0]):
        d_logits[o] = (prob[o] - (np.float32(1.0) if o == label else np.float32(0.0))) * scale
    return -np.log(max(prob[label], np.float32(1e-30))), np.argmax(prob) == label


@njit(cache=True, error_model="numpy")
def _sort_by_level(first, n_levels, order, starts):
    """Counting sort of an image's pixels by spike level: order[starts[l]:starts[l + 1]] are
    the pixels spiking at level l (in pixel order)."""
    starts[:] = 0
    for i in range(first.shape[0]):
        starts[first[i] + 1] += 1
    for lv in range(n_levels + 1):
        starts[lv + 1] += starts[lv]
    for i in range(first.shape[0]):
        lv = first[i]
        order[starts[lv]] = i
        starts[lv] += 1
    for lv in range(n_levels + 1, 0, -1):  # starts[l] now ends level l: shift back
        starts[lv] = starts[lv - 1]
    starts[0] = 0


@njit(cache=True, error_model="numpy")
def _image_forward(first, signs0, s1t, m_row, tables, scratch, c2):
    """The forward of one image up to the output counts: the hidden counts level by level,
    their crossings (scratch's not_fired, fired and g rows), the output counts c2 (L, o)."""
    order, starts, c_row, running, q, nf, fired, g = scratch[:8]
    n_levels, h = nf.shape
    n_out = s1t.shape[0]
    offset = (tables.shape[0] - 1) // 2
    _sort_by_level(first, n_levels, order, starts)
    c_row[:] = 0
    running[:] = np.float32(1.0)
    for lv in range(n_levels):
        for t in range(starts[lv], starts[lv + 1]):
            w = signs0[order[t]]
            for j in range(h):
                c_row[j] += w[j]
        _hidden_level(c_row, offset, tables, m_row, running, q, nf[lv], fired[lv], g[lv])
        f_row, o = fired[lv], 0
        while o + 2 <= n_out:  # two outputs per pass: fired is loaded once for both
            c2[lv, o], c2[lv, o + 1] = _dot2(f_row, s1t[o], s1t[o + 1])
            o += 2
        if o < n_out:
            c2[lv, o] = _dot(f_row, s1t[o])


@njit(cache=True, error_model="numpy")
def _output_loss(c2, label, params, d_c2):
    """The output crossings (crossing_forward's formulas) of the counts c2 (L, o), the loss
    and the counts' gradients d_c2 -> (loss, right)."""
    k_half, width, beta, count_loss, count_beta, scale, not_one = params
    n_levels, n_out = c2.shape
    one, half = np.float32(1.0), np.float32(0.5)
    p2 = np.empty((n_levels, n_out), np.float32)
    q2 = np.empty((n_levels, n_out), np.float32)
    nf2 = np.empty((n_levels, n_out), np.float32)
    logits = np.zeros(n_out, np.float32)
    for o in range(n_out):
        r = one
        for lv in range(n_levels):
            p = half * (one + np.tanh(half * ((c2[lv, o] - k_half) / width)))
            p2[lv, o] = p
            q2[lv, o] = one - not_one * p
            r *= q2[lv, o]
            nf2[lv, o] = r
            logits[o] += one - (one - r)
        logits[o] *= -beta
    d_logits = np.empty(n_out, np.float32)
    loss, right = _softmax_ce(logits, label, scale, d_logits)
    coef = -not_one / width
    for o in range(n_out):
        d_fired_o = beta * d_logits[o]
        d_q_o = np.float32(0.0)
        for lv in range(n_levels - 1, -1, -1):
            d_q_o += -d_fired_o * nf2[lv, o]
            d_c2[lv, o] = d_q_o / q2[lv, o] * p2[lv, o] * (one - p2[lv, o]) * coef
    if count_loss:
        d_counts = np.empty(n_out, np.float32)
        c_loss, _ = _softmax_ce(c2[n_levels - 1] * count_beta, label, scale, d_counts)
        loss += count_loss * c_loss
        for o in range(n_out):
            d_c2[n_levels - 1, o] += d_counts[o] * (count_loss * count_beta)
    return loss, right


@njit(cache=True, error_model="numpy")
def _image_step(first, label, signs0, s1t, m_row, tables, params, g0, g1t, scratch):
    """Forward and backward of one image (`one_hidden_step`); adds its sign gradients to g0
    and g1t, returns (loss, right)."""
    order, starts, c_row, running, q, nf, fired, g, d_fired, d_q, total = scratch
    n_levels, h = nf.shape
    n_out = s1t.shape[0]
    c2 = np.empty((n_levels, n_out), np.float32)
    _image_forward(first, signs0, s1t, m_row, tables, scratch, c2)
    d_c2 = np.empty((n_levels, n_out), np.float32)
    loss, right = _output_loss(c2, label, params, d_c2)
    # backward: the output layer, then the hidden crossings from the last level
    _output_backward(d_c2, s1t, fired, g1t, d_fired)
    d_q[:] = 0
    total[:] = 0
    for lv in range(n_levels - 1, -1, -1):
        _hidden_level_backward(d_fired[lv], m_row, nf[lv], g[lv], d_q, total)
    # the input signs: each spiking pixel's row gets its level's gradient
    for lv in range(n_levels):
        b_row = d_fired[lv]
        for t in range(starts[lv], starts[lv + 1]):
            g_row = g0[order[t]]
            for j in range(h):
                g_row[j] += b_row[j]
    return loss, right


@njit(cache=True, error_model="numpy", nogil=True)
def one_hidden_step(
    first, labels, signs0, s1t, mask, tables, params, g0, g1t, losses, rights, scratch
):
    """Loss and sign gradients of a 1-hidden-layer network with hazard crossings, image by
    image, for a run of images: first (n, m) spike levels, signs0 (m, h) int8, s1t (o, h)
    float32 the output layer's signs transposed, mask (n, h) the hidden dropout factors;
    tables (q, g) of the hidden crossing by count + m: q = 1 - NOT_ONE p,
    g = p (1 - p) coef / q; params (K - 1/2, width, beta, count_loss, count_beta, 1/n_batch,
    NOT_ONE) float32 of the output layer and the loss; scratch from `step_scratch`. Writes the
    images' losses and rights and the sums of their sign gradients, g0 (m, h) and g1t (o, h).
    Without the GIL: runs of images can run in threads of their own."""
    g0[:] = 0
    g1t[:] = 0
    for s in range(first.shape[0]):
        losses[s], rights[s] = _image_step(
            first[s], labels[s], signs0, s1t, mask[s], tables, params, g0, g1t, scratch
        )


def step_scratch(m: int, h: int, n_levels: int) -> tuple:
    """Per-image work arrays of `one_hidden_step` (one set per thread)."""
    return (
        np.empty(m, np.int64),  # pixels by level
        np.empty(n_levels + 2, np.int64),  # where each level's pixels start
        np.empty(h, np.int16 if m < 2**15 else np.int32),  # counts (|count| <= m)
        np.empty(h, np.float32),  # not_fired, running
        np.empty(h, np.float32),  # q of a level
        np.empty((n_levels, h), np.float32),  # not_fired
        np.empty((n_levels, h), np.float32),  # fired
        np.empty((n_levels, h), np.float32),  # g
        np.empty((n_levels, h), np.float32),  # d fired, then by level
        np.empty(h, np.float32),  # d_q
        np.empty(h, np.float32),  # total
    )


@njit(cache=True, error_model="numpy", nogil=True)
def add_to(total, part):
    """total += part (contiguous float32 arrays of one shape)."""
    total, part = total.ravel(), part.ravel()
    for i in range(total.shape[0]):
        total[i] += part[i]


@njit(cache=True, error_model="numpy")
def shift(images, dy, dx, pad):
    """(n, side, side) images, each shifted by (dy - pad, dx - pad) pixels, zero fill: image k
    of the result at (r, c) is images[k, r + dy[k] - pad, c + dx[k] - pad] (0 outside)."""
    n, side = images.shape[0], images.shape[1]
    out = np.zeros_like(images)
    for k in range(n):
        oy, ox = dy[k] - pad, dx[k] - pad
        for r in range(max(0, -oy), min(side, side - oy)):
            src, dst = images[k, r + oy], out[k, r]
            for c in range(max(0, -ox), min(side, side - ox)):
                dst[c] = src[c + ox]
    return out


@njit(cache=True, error_model="numpy")
def spike_levels(images, by_intensity, drop_draws, drop):
    """(n, m) uint8 intensities -> (n, m) uint16 levels by_intensity[image]; with dropout
    (drop_draws (n, m) float32 uniform draws, not (0, 0)), the pixels whose draw is < drop
    get the level of intensity 0 (never)."""
    out = np.empty(images.shape, np.uint16)
    never = by_intensity[0]
    for s in range(images.shape[0]):
        for i in range(images.shape[1]):
            out[s, i] = by_intensity[images[s, i]]
        if drop_draws.shape[0]:
            for i in range(images.shape[1]):
                if drop_draws[s, i] < drop:
                    out[s, i] = never
    return out


@njit(cache=True, error_model="numpy")
def signs(w):
    """semantics.binarize in one pass: +1 where w >= 0, else -1 (int8)."""
    out = np.empty(w.shape, np.int8)
    flat, out_flat = w.ravel(), out.ravel()
    for i in range(flat.shape[0]):
        out_flat[i] = 1 if flat[i] >= 0 else -1
    return out
