"""numba kernels of the event-driven BS4NN simulation and its learning rule (no I/O).

A network with L weight layers is held in flat arrays so one compiled kernel serves any depth:

- `sizes` (int64, L+1): `[n_in, h_1, ..., n_out]`.
- `woff` (int64, L+1): weight layer l is the row-major block `[woff[l], woff[l+1])` of shape
  `(sizes[l], sizes[l+1])`, i.e. TRANSPOSED (input-major) so that one spiking input adds one
  contiguous row to the counts of the next layer.
- `noff` (int64, L+1): the neurons of layer l+1 (fed by weight layer l) are
  `[noff[l], noff[l+1])` of the per-neuron arrays (times, counts, deltas).

The forward weights `fw` are the int8 signs for binary nets (counts are int32, thresholds the
integer K) or the real weights for S4NN (counts and thresholds float64); numba compiles one
specialisation per type. Semantics: docs/design.md section 1.
"""

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from bs4nn.trainer.semantics import TMAX


class Layout(NamedTuple):
    """Flat-array layout of a network (int64 arrays, see above)."""

    sizes: np.ndarray  # [n_in, h_1, ..., n_out]
    woff: np.ndarray  # weight layer l: block [woff[l], woff[l+1]) of shape (n_l, n_l+1)
    noff: np.ndarray  # neurons of layer l+1: [noff[l], noff[l+1])


class LearningRule(NamedTuple):
    """The switches of the paper's learning rule."""

    silent_paper: bool  # all outputs silent: the label's target is tmax - gamma (the paper)
    silent_backprop: bool  # Eq. 14 with fake spikes: [t_j <= t_k] is true for tmax, tmax


class Learned(NamedTuple):
    """What `train_samples` updates in place (flat, transposed like the weights of `Layout`)."""

    v: np.ndarray  # float64 real weights, W = scale[l] * V (lazy L2 decay)
    fw: np.ndarray  # forward weights: int8 signs of V (binary), or V itself (real)
    scale: np.ndarray  # float64, per weight layer
    alphas: np.ndarray  # float64, per weight layer (binary: learned; real: fixed 1)
    thr: np.ndarray  # per weight layer: int32 K (binary) or float64 theta / scale (real)


class Hyper(NamedTuple):
    """The hyper-parameters of `train_samples` (fixed during one call)."""

    binary: bool  # BS4NN (signs forward, alphas learned) or S4NN (real weights)
    eta: float  # weight learning rate
    mu: float  # alpha learning rate
    lam: float  # L2 weight decay
    gamma: float  # Eq. 6 target margin, in steps
    tie_lead: float  # see output_targets
    rule: LearningRule
    thetas: np.ndarray  # float64 per weight layer
    alpha_min: np.ndarray  # float64 per weight layer: alpha's lower bound
    wclip: np.ndarray  # float64 per weight layer: changed weights are clipped to [-wclip, wclip]
    # (inf: no clipping; BinaryConnect, beyond the paper)


class Inferred(NamedTuple):
    """What `infer_batch` fills, one row per image."""

    labels: np.ndarray  # (N,) int64 predicted label
    steps: np.ndarray  # (N,) int64 decision step (255 on fallback)
    fallback: np.ndarray  # (N,) bool
    out_times: np.ndarray  # (N, n_out) int64 output firing steps
    spikes: np.ndarray  # (N, L+1) int64 spikes per layer [input, hidden..., output]


class FiredBuffers(NamedTuple):
    """What `forward` leaves for the backward pass of one sample (see `forward`)."""

    times: np.ndarray
    fired_order: np.ndarray
    fired_n: np.ndarray


class ForwardBuffers(NamedTuple):
    """Scratch of `forward` for one image (`forward_buffers` makes them); what it leaves."""

    counts: np.ndarray  # (total,) every neuron's count at the end
    fire_count: np.ndarray  # (total,) the count at the firing step
    times: np.ndarray  # (total,) int64 firing step, TMAX if it did not fire
    fired_order: np.ndarray  # (total,) int64 per layer, neuron indices in firing order
    fired_n: np.ndarray  # (L,) int64 neurons fired per layer
    seg: np.ndarray  # (L,) int64 fired_n at the start of the current step


class GradBuffers(NamedTuple):
    """Scratch of the backward pass of one sample, each as long as the widest layer."""

    d: np.ndarray  # deltas of the layer being updated (normalised)
    dprev: np.ndarray  # deltas of the layer below
    syn: np.ndarray  # per neuron: sum of the signs that took part (alpha step); scratch


_SPLIT = 134217729.0  # 2**27 + 1, Veltkamp split for the exact product below


@njit(cache=True)
def _product_at_least(k: float, alpha: float, theta: float) -> bool:
    """Exactly k * alpha >= theta (Dekker's error-free product; no rounding in the test)."""
    p = k * alpha
    c = _SPLIT * k
    kh = c - (c - k)
    kl = k - kh
    c = _SPLIT * alpha
    ah = c - (c - alpha)
    al = alpha - ah
    err = ((kh * ah - p) + kh * al + kl * ah) + kl * al
    if p != theta:
        return p > theta
    return err >= 0.0


@njit(cache=True)
def threshold_count_exact(theta: float, alpha: float) -> int:
    """K = ceil(theta / alpha) exactly, as semantics.threshold_count (theta, alpha > 0)."""
    k = np.ceil(theta / alpha)
    if k < 1.0:
        k = 1.0
    if k > 2.0**52:  # integers no longer step by 1 in float64; far beyond any usable K
        return int(k)
    while k > 1.0 and _product_at_least(k - 1.0, alpha, theta):
        k -= 1.0
    while not _product_at_least(k, alpha, theta):
        k += 1.0
    return int(k)


@njit(cache=True)
def forward_buffers(n_pixels, total, n_layers, thr):
    """Scratch of `sort_inputs` (order, starts) and of `forward` (ForwardBuffers) for one image
    at a time."""
    buf = ForwardBuffers(
        np.empty(total, thr.dtype),
        np.empty(total, thr.dtype),
        np.empty(total, np.int64),
        np.empty(total, np.int64),
        np.empty(n_layers, np.int64),
        np.empty(n_layers, np.int64),
    )
    return np.empty(n_pixels, np.int64), np.empty(TMAX + 1, np.int64), buf


@njit(cache=True)
def sort_inputs(pixels, order, starts) -> int:
    """Counting sort of the input spikes by step (pixel I spikes at 255 - I; I = 0 never).

    `order` receives the spiking input indices by step, then by index; `starts[t]` is the first
    position of step t in `order` (`starts[256]` = number of spiking inputs). Returns that number.
    """
    for t in range(TMAX + 1):
        starts[t] = 0
    for i in range(pixels.shape[0]):
        p = pixels[i]
        if p > 0:
            starts[256 - p] += 1  # step 255 - p, shifted by one for the prefix sum
    for t in range(1, TMAX + 1):
        starts[t] += starts[t - 1]
    fill = starts.copy()
    for i in range(pixels.shape[0]):
        p = pixels[i]
        if p > 0:
            t = 255 - p
            order[fill[t]] = i
            fill[t] += 1
    return starts[TMAX]


@njit(cache=True)
def sort_by_step(steps, order, starts):
    """Counting sort of neurons by firing step (TMAX: did not fire), as `sort_inputs` does for
    pixels: `order` by step then index, `starts[t]` the first position of step t."""
    starts[:] = 0
    for j in range(steps.shape[0]):
        if steps[j] < TMAX:
            starts[steps[j] + 1] += 1
    for t in range(1, TMAX + 1):
        starts[t] += starts[t - 1]
    fill = starts.copy()
    for j in range(steps.shape[0]):
        t = steps[j]
        if t < TMAX:
            order[fill[t]] = j
            fill[t] += 1


@njit(cache=True)
def forward(order, starts, net, fw, thr, stop_at_decision, buf, trace=None):
    """Simulate one image (inputs already sorted by `sort_inputs`) through the network `net`
    (a Layout) with forward weights `fw` and thresholds `thr`.

    Fills the ForwardBuffers `buf`: `times` (firing step of every neuron, TMAX if it did not
    fire), `fire_count` (count at the firing step), `fired_order` (per layer, neuron indices in
    firing order, `fired_n[ly]` of them), and leaves the final counts in `counts`. With
    `stop_at_decision` the simulation ends after the decision step (inference); otherwise it
    runs to t = 255 (training). `trace` (optional, (TMAX, total)): receives the counts of every
    neuron at the end of every step (rows after an early stop hold the counts of the stop).
    Returns (label, decision step, fallback flag).
    """
    sizes, woff, noff = net
    counts, fire_count, times, fired_order, fired_n, seg = buf
    n_layers = sizes.shape[0] - 1
    out_base = noff[n_layers - 1]
    n_cls = sizes[n_layers]
    for u in range(noff[n_layers]):
        counts[u] = 0
        times[u] = TMAX
    for ly in range(n_layers):
        fired_n[ly] = 0
    last = TMAX - 1
    for t in range(TMAX):
        if trace is not None and t > 0:
            trace[t - 1] = counts[: noff[n_layers]]
        if starts[t + 1] == starts[t]:
            continue  # nothing spikes at t: no count changes anywhere, so no neuron can fire
        for ly in range(n_layers):
            n_out = sizes[ly + 1]
            base = noff[ly]
            wb = woff[ly]
            if ly == 0:
                e0 = starts[t]
                e1 = starts[t + 1]
            else:
                e0 = noff[ly - 1] + seg[ly - 1]
                e1 = noff[ly - 1] + fired_n[ly - 1]
            seg[ly] = fired_n[ly]
            if e1 == e0:
                continue
            c = counts[base : base + n_out]  # slices: numba vectorises these loops, not a[i + j]
            for e in range(e0, e1):
                src = order[e] if ly == 0 else fired_order[e]
                w = fw[wb + src * n_out : wb + (src + 1) * n_out]
                for j in range(n_out):
                    c[j] += w[j]
            fired_n[ly] = _fire(
                c,
                thr[ly],
                t,
                times[base : base + n_out],
                fire_count[base : base + n_out],
                fired_order[base : base + n_out],
                fired_n[ly],
            )
        if stop_at_decision and fired_n[n_layers - 1] > 0:
            last = t
            break
    if trace is not None:
        for t in range(last, TMAX):
            trace[t] = counts[: noff[n_layers]]
    return _decide(
        times[out_base:],
        fire_count[out_base:],
        counts[out_base:],
        fired_order[out_base:],
        fired_n[n_layers - 1],
        n_cls,
    )


@njit(cache=True)
def _fire(c, th, t, tm, fire_count, fired_order, nf):
    """The neurons of one layer whose count `c` reached `th` at step t and that had not fired
    (`tm` TMAX) fire: their step, count and index (after the `nf` fired before) are recorded.
    Returns the new number fired."""
    new = False
    for j in range(c.shape[0]):
        new |= (c[j] >= th) & (tm[j] == TMAX)
    if not new:
        return nf
    for j in range(c.shape[0]):
        if c[j] >= th and tm[j] == TMAX:
            tm[j] = t
            fire_count[j] = c[j]
            fired_order[nf] = j
            nf += 1
    return nf


@njit(cache=True)
def _decide(times, fire_count, counts, fired_order, n_fired, n_cls):
    """The decision from the output layer's arrays: earliest output step, then largest count,
    then lowest index; with no output fired, the largest count at t = 255 (fallback).
    Returns (label, decision step, fallback flag)."""
    if n_fired > 0:
        first = times[fired_order[0]]
        best = -1
        for k in range(n_cls):
            if times[k] == first:
                if best < 0 or fire_count[k] > fire_count[best]:
                    best = k
        return best, first, False
    best = 0
    for k in range(1, n_cls):
        if counts[k] > counts[best]:
            best = k
    return best, TMAX - 1, True


@njit(cache=True)
def _normalize(d, n) -> bool:
    """Divide d[:n] by its L2 norm (the authors' code); False if all zero."""
    acc = 0.0
    for j in range(n):
        acc += d[j] * d[j]
    if acc == 0.0:
        return False
    norm = np.sqrt(acc)
    for j in range(n):
        d[j] /= norm
    return True


@njit(cache=True)
def output_targets(out_times, label, gamma, silent_paper, target, tie_lead=0.0):
    """Eq. 6 target firing times into `target` (float64). Returns the minimum output time tau.

    `tie_lead` > 0 (beyond the paper): when the label fires at tau together with another output
    (a tie, which the strict decision may count wrong), the label's target is tau - tie_lead
    (at least 0) instead of tau.
    """
    n = out_times.shape[0]
    tau = TMAX
    for k in range(n):
        if out_times[k] < tau:
            tau = out_times[k]
    if tau == TMAX:
        # all silent: paper pushes the label to fire (tmax - gamma); the authors' code leaves it
        for k in range(n):
            target[k] = TMAX
        if silent_paper:
            target[label] = TMAX - gamma
        return tau
    late = min(tau + gamma, float(TMAX))
    for k in range(n):
        target[k] = out_times[k] if out_times[k] >= tau + gamma else late
    target[label] = tau
    if tie_lead > 0.0 and out_times[label] == tau:
        for k in range(n):
            if k != label and out_times[k] == tau:
                target[label] = max(tau - tie_lead, 0.0)
    return tau


@njit(cache=True)
def _delta_below(ly, net, state, hyper, fwd, grad):
    """Eq. 14: the deltas of the neurons below weight layer ly into `grad.dprev`, from
    `grad.d` and the real weights before this sample's update."""
    n_in = net.sizes[ly]
    n_out = net.sizes[ly + 1]
    wb = net.woff[ly]
    below = net.noff[ly - 1]
    v = state.v
    s = state.scale[ly]
    tout = fwd.times[net.noff[ly] : net.noff[ly] + n_out]
    dd = grad.d[:n_out]
    dprev = grad.dprev
    syn = grad.syn
    for i in range(n_in):
        dprev[i] = 0.0
    for e in range(below, below + fwd.fired_n[ly - 1]):
        i = fwd.fired_order[e]
        ti = fwd.times[below + i]
        vr = v[wb + i * n_out : wb + (i + 1) * n_out]
        acc = 0.0
        for j in range(n_out):
            acc += dd[j] * vr[j] if ti <= tout[j] else 0.0
        dprev[i] = acc * s
    if not hyper.rule.silent_backprop:
        return
    # Eq. 14 read with fake spikes: a silent neuron (t = tmax) is "at or before" a silent
    # neuron above, so a silent output that should fire revives silent ones
    n_silent = 0
    for j in range(n_out):
        if tout[j] == TMAX and dd[j] != 0.0:
            syn[n_silent] = j
            n_silent += 1
    if n_silent == 0:
        return
    tin = fwd.times[below : below + n_in]
    for i in range(n_in):
        if tin[i] == TMAX:
            acc = 0.0
            for q in range(n_silent):
                j = int(syn[q])
                acc += dd[j] * v[wb + i * n_out + j]
            dprev[i] = acc * s


@njit(cache=True)
def _update_layer(ly, pixels, order, n_active, net, state, hyper, fwd, grad):
    """W_ji -= eta * d_j * [t_i <= t_j] over the inputs of weight layer ly that spiked, the
    signs of changed weights, and (binary) the alpha step and K again."""
    n_in = net.sizes[ly]
    n_out = net.sizes[ly + 1]
    wb = net.woff[ly]
    s = state.scale[ly]
    binary = hyper.binary
    if ly == 0:
        e0 = 0
        e1 = n_active
    else:
        e0 = net.noff[ly - 1]
        e1 = net.noff[ly - 1] + fwd.fired_n[ly - 1]
    tout = fwd.times[net.noff[ly] : net.noff[ly] + n_out]
    dd = grad.d[:n_out]
    # W = s * V, so a change of W by x is a change of V by x / s; the paper's Eq. 12 has
    # the factor alpha in dL/dB, the authors' code (and we) leave it out
    step = hyper.eta / s
    cv = hyper.wclip[ly] / s  # |W| <= wclip  <=>  |V| <= wclip / s
    sy = grad.syn[:n_out]
    for j in range(n_out):
        sy[j] = 0.0
    for e in range(e0, e1):
        if ly == 0:
            i = order[e]
            ti = 255 - np.int64(pixels[i])
        else:
            i = fwd.fired_order[e]
            ti = fwd.times[net.noff[ly - 1] + i]
        vr = state.v[wb + i * n_out : wb + (i + 1) * n_out]
        fr = state.fw[wb + i * n_out : wb + (i + 1) * n_out]
        for j in range(n_out):  # branch-free selects so that the loop vectorises
            hit = ti <= tout[j]
            sy[j] += fr[j] if hit else 0
            vr[j] -= step * dd[j] if hit else 0.0
            vr[j] = min(max(vr[j], -cv), cv)
            if binary:
                fr[j] = 1 if vr[j] >= 0.0 else -1
    if binary:
        acc = 0.0
        for j in range(n_out):
            acc += dd[j] * sy[j]
        # Eq. 16 sums over the synapses; the authors' code (and we) take the mean
        a = state.alphas[ly] - hyper.mu * acc / (n_in * n_out)
        state.alphas[ly] = a if a > hyper.alpha_min[ly] else hyper.alpha_min[ly]
        state.thr[ly] = threshold_count_exact(hyper.thetas[ly], state.alphas[ly])


@njit(cache=True)
def _backward(pixels, order, n_active, net, state, hyper, fwd, grad):
    """Sparse backward of one sample; `grad.d` holds the normalised output deltas on entry.

    For weight layer ly (from the top): the delta of the layer below (Eq. 14, with the real
    weights before this sample's update), then W_ji -= eta * d_j * [t_i <= t_j] only over the
    inputs that spiked (t_i < TMAX), the signs of changed weights, and (binary) the alpha step
    alpha -= mu * mean(d_j * [t_i <= t_j] * B_ji) over all synapses, then K again. The mask is
    `<=` because a spike reaches the next layer in the same step (docs/training.md, Choices).
    Updated weights are clipped to [-hyper.wclip[ly], hyper.wclip[ly]] (inf: none).
    """
    n_layers = net.sizes.shape[0] - 1
    for ly in range(n_layers - 1, -1, -1):
        if ly > 0:
            _delta_below(ly, net, state, hyper, fwd, grad)
        _update_layer(ly, pixels, order, n_active, net, state, hyper, fwd, grad)
        if ly > 0:
            n_in = net.sizes[ly]
            if not _normalize(grad.dprev, n_in):
                return
            for i in range(n_in):
                grad.d[i] = grad.dprev[i]


@njit(cache=True)
def _rescale(v, fw, scale, woff, ly, binary):
    """Fold the lazy L2 factor back into the weights of layer ly (V *= s, s = 1)."""
    s = scale[ly]
    for u in range(woff[ly], woff[ly + 1]):
        v[u] *= s
        if binary:
            fw[u] = 1 if v[u] >= 0.0 else -1
    scale[ly] = 1.0


@njit(cache=True)
def train_samples(images, labels, idx, net, state, hyper):
    """Per-sample SGD over images[idx] in that order (`net` a Layout, `state` the Learned
    arrays it updates in place, `hyper` a Hyper). Weights are W = scale[ly] * V (lazy L2).

    Returns (sum of the MSE losses, number correct under the strict decision).
    """
    sizes, woff, noff = net
    n_layers = sizes.shape[0] - 1
    total = noff[n_layers]
    widest = 0
    for ly in range(n_layers + 1):
        widest = max(widest, sizes[ly])
    order, starts, buf = forward_buffers(images.shape[1], total, n_layers, state.thr)
    times = buf.times
    fwd = FiredBuffers(times, buf.fired_order, buf.fired_n)
    grad = GradBuffers(np.empty(widest), np.empty(widest), np.empty(widest))
    d = grad.d
    n_cls = sizes[n_layers]
    out_base = noff[n_layers - 1]
    target = np.empty(n_cls)
    loss = 0.0
    correct = 0
    decay = 1.0 - hyper.eta * hyper.lam
    for n in range(idx.shape[0]):
        pixels = images[idx[n]]
        y = labels[idx[n]]
        n_active = sort_inputs(pixels, order, starts)
        pred, _, _ = forward(order, starts, net, state.fw, state.thr, False, buf)
        if pred == y:
            correct += 1
        output_targets(
            times[out_base : out_base + n_cls],
            y,
            hyper.gamma,
            hyper.rule.silent_paper,
            target,
            hyper.tie_lead,
        )
        for k in range(n_cls):
            d[k] = (target[k] - times[out_base + k]) / TMAX
            loss += 0.5 * d[k] * d[k]
        if _normalize(d, n_cls):  # zero error: nothing to learn from this sample
            _backward(pixels, order, n_active, net, state, hyper, fwd, grad)
        for ly in range(n_layers):
            state.scale[ly] *= decay
            if state.scale[ly] < 1e-3:
                _rescale(state.v, state.fw, state.scale, woff, ly, hyper.binary)
            if not hyper.binary:
                state.thr[ly] = hyper.thetas[ly] / state.scale[ly]
    return loss, correct


@njit(cache=True, parallel=True)
def infer_batch(images, net, fw, thr, stop_at_decision, out):
    """Forward every image (in parallel) through the network `net` (a Layout) and fill `out`
    (an Inferred) per image; output firing steps are TMAX if not fired (with
    `stop_at_decision` only those that fired by the decision count), spikes per layer run up to
    the decision (all spikes to t = 255 without `stop_at_decision`; output = outputs firing at
    the decision step, 0 on fallback)."""
    sizes, woff, noff = net
    labels, steps, fallback, out_times, spikes = out
    n_layers = sizes.shape[0] - 1
    total = noff[n_layers]
    n_cls = sizes[n_layers]
    out_base = noff[n_layers - 1]
    for n in prange(images.shape[0]):
        order, starts, buf = forward_buffers(images.shape[1], total, n_layers, thr)
        sort_inputs(images[n], order, starts)
        times, fired_n = buf.times, buf.fired_n
        pred, step, fb = forward(order, starts, net, fw, thr, stop_at_decision, buf)
        labels[n] = pred
        steps[n] = step
        fallback[n] = fb
        n_out = 0
        for k in range(n_cls):
            out_times[n, k] = times[out_base + k]
            if times[out_base + k] == step:
                n_out += 1
        spikes[n, 0] = starts[step + 1] if stop_at_decision else starts[TMAX]
        for ly in range(n_layers - 1):
            spikes[n, ly + 1] = fired_n[ly]
        spikes[n, n_layers] = n_out if stop_at_decision else fired_n[n_layers - 1]
