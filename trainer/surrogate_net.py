"""The surrogate rule's soft network (trained by trainer/surrogate.py): its forward pass, loss
and gradients, and the spike levels it takes as input.

While training, time is quantised to `levels` intensity levels (a pixel at or above level l's
intensity has spiked by level l) and every first crossing is made soft: a neuron has fired by
level l with probability 1 - prod_{l' <= l} (1 - sigmoid((count(l') - K + 0.5) / w)), its count
being the sum of the +-1 weights over what has fired below it. The loss is a softmax
cross-entropy over minus the outputs' soft firing levels (earliest output wins); its gradients
with respect to the signs pass straight through to the real weights.

A network with one hidden layer (every preset but fashion-600-600) trains image by image in
one numba kernel (trainer/surrogate_kernels.py: one sparse pass over the spiking pixels
instead of a product per level, the output layer in the cache, the batch split between two
threads); other networks run the input layer in numba kernels and the later layers as float32
matrix products in numpy. Arrays are image-major: (n images, levels, neurons).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from bs4nn.trainer.lazy import LazyModule

numba = LazyModule("numba")  # for its config (threads)
surrogate_kernels = LazyModule("bs4nn.trainer.surrogate_kernels")

NOT_ONE = 0.999999  # keeps 1 - p > 0, so the backward of the running product can divide by it


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warnings for large |z|


def _crossing_p(counts: np.ndarray, k: float, width: float) -> np.ndarray:
    """Probability that a neuron crosses at a level with this count (the soft step)."""
    return _sigmoid((counts - (k - 0.5)) / width)


def crossing_forward(counts: np.ndarray, k: float, width: float):
    """(n, L, h) counts -> (n, L, h) probabilities that the neurons have fired by each level,
    and what `crossing_backward` needs: fired by level l = 1 - prod_{l' <= l} (1 -
    sigmoid((count(l') - K + 1/2) / w)) (a hazard accumulated over the levels)."""
    p = _crossing_p(counts, k, width)
    q = 1.0 - NOT_ONE * p
    not_fired = q.copy()
    for lv in range(1, q.shape[1]):  # running product over the levels
        not_fired[:, lv] *= not_fired[:, lv - 1]
    return 1.0 - not_fired, (p, q, not_fired)


def crossing_backward(d_fired: np.ndarray, width: float, cache) -> np.ndarray:
    """Gradients of the counts from those of the fired probabilities (`cache` from
    `crossing_forward`)."""
    # not_fired[l] = prod_{l' <= l} q[l'], so
    # dq[l'] = sum_{l >= l'} d_not_fired[l] not_fired[l] / q[l']
    p, q, not_fired = cache
    dq = -d_fired * not_fired
    for lv in range(dq.shape[1] - 2, -1, -1):  # sum over the later levels
        dq[:, lv] += dq[:, lv + 1]
    dq /= q
    return dq * p * (1.0 - p) * (-NOT_ONE / width)


def layer_forward(fired_in: np.ndarray, signs: np.ndarray, k: float, width: float):
    """A layer fed by soft spikes: (n, L, m) probabilities that the inputs have fired by each
    level, (m, h) signs -> (n, L, h) fired probabilities, and what the backward needs."""
    counts = (fired_in.reshape(-1, fired_in.shape[-1]) @ signs).reshape(*fired_in.shape[:-1], -1)
    fired, cache = crossing_forward(counts, k, width)
    return fired, (fired_in, cache)


def layer_backward(
    d_fired: np.ndarray, signs: np.ndarray, width: float, cache, input_grad: bool = True
):
    """Gradients of the signs and (input_grad) of the inputs' fired probabilities from those
    of the layer's fired probabilities."""
    fired_in, crossing_cache = cache
    d_counts = crossing_backward(d_fired, width, crossing_cache).reshape(-1, d_fired.shape[-1])
    d_signs = fired_in.reshape(-1, fired_in.shape[-1]).T @ d_counts
    if not input_grad:
        return d_signs, None
    return d_signs, (d_counts @ signs.T).reshape(fired_in.shape)


class Buffers:
    """Arrays reused from one mini-batch to the next (by name): the input layer's (n, L, h)
    arrays are large, and allocating them afresh costs more than filling them (page faults)."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}
        self._made: dict[tuple, tuple] = {}
        self.threads = ThreadChoice()

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._arrays[name] = np.empty(shape, dtype)
        return a

    def made(self, key: tuple, make: Callable[[], tuple]) -> tuple:
        """What make() returns, made once per key."""
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]


def input_forward(
    first: np.ndarray,
    signs: np.ndarray,
    n_levels: int,
    k: float,
    width: float,
    mask: np.ndarray,
    buffers: Buffers | None = None,
):
    """The input layer, the same function as `layer_forward` on the 0/1 spikes by level:
    (n, 784) spike levels (`spike_levels`), (784, h) int8 signs -> (n, L, h) fired
    probabilities times the (n, h) dropout factors `mask`, and what the backward needs.

    The counts are integers (one sparse pass, surrogate_kernels.input_counts); each count's
    crossing comes from a table made by `crossing_forward`'s formulas."""
    buffers = buffers or Buffers()
    shape = (len(first), n_levels, signs.shape[1])
    counts = buffers.get("counts", shape, np.int16)
    surrogate_kernels.input_counts(first, signs, counts)
    offset = first.shape[1]  # counts are within +-784
    p = _crossing_p(np.arange(-offset, offset + 1, dtype=np.float32), k, width)
    q = 1.0 - NOT_ONE * p
    fired = buffers.get("fired", shape, np.float32)
    surrogate_kernels.hazard_forward(counts, offset, q, mask, fired)
    return fired, (first, mask, (counts, offset, p, q))


def input_backward(d_fired: np.ndarray, width: float, cache) -> np.ndarray:
    """(784, h) gradients of the input layer's signs from those of its (masked) output."""
    first, mask, (counts, offset, p, q) = cache
    by_level = d_fired  # in place
    surrogate_kernels.hazard_backward(
        by_level, mask, counts, offset, p, q, np.float32(-NOT_ONE / width)
    )
    return surrogate_kernels.input_sign_grads(first, by_level)


def forward(
    signs: list[np.ndarray],
    first: np.ndarray,
    n_levels: int,
    ks: list[int],
    widths: list[float],
    *,
    hidden_masks: list[np.ndarray] | None = None,
    buffers: Buffers | None = None,
):
    """(n, L, 10) probabilities that the outputs have fired by each level, and the caches.

    first: (n, 784) spike levels; signs[0]: (784, h) int8; hidden_masks: per hidden layer
    (n, h) dropout factors. The soft firing level of an output, sum over levels of
    (1 - fired), is the level of its first crossing (L when silent) as the widths go to 0."""
    if hidden_masks is None:
        hidden_masks = [np.ones((len(first), s.shape[1]), np.float32) for s in signs[:-1]]
    fired, cache = input_forward(
        first, signs[0], n_levels, ks[0], widths[0], hidden_masks[0], buffers
    )
    caches = [cache]
    for ly in range(1, len(signs)):
        fired, cache = layer_forward(fired, signs[ly], ks[ly], widths[ly])
        caches.append(cache)
        if ly < len(signs) - 1:
            fired = fired * hidden_masks[ly][:, None, :]
    return fired, caches, hidden_masks


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray):
    """(mean loss, softmax probabilities, gradient of the mean loss with respect to logits)."""
    logits = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = float(-np.log(np.maximum(prob[rows, labels], 1e-30)).mean())
    d_logits = prob.copy()
    d_logits[rows, labels] -= 1.0
    d_logits /= len(labels)
    return loss, prob, d_logits


@dataclass(frozen=True)
class LossSettings:
    """What the loss is computed with. Per layer: the threshold K (counts) and the width of
    the soft crossings. beta: the sharpness of the softmax over minus the outputs' soft firing
    levels. count_loss > 0 adds that weight times a cross-entropy over count_beta times the
    outputs' counts at the last level: the exact network decides by those counts when no
    output fires."""

    ks: list[int]
    widths: list[float]
    beta: float
    count_loss: float = 0.0
    count_beta: float = 0.0


@dataclass(frozen=True)
class SpikeBatch:
    """A mini-batch as the loss sees it. first: (n, 784) spike levels of the pixels, out of
    n_levels; labels: (n,); hidden_masks: per hidden layer (n, h) dropout factors, or None."""

    first: np.ndarray
    n_levels: int
    labels: np.ndarray
    hidden_masks: list[np.ndarray] | None = None


def loss_and_grads(
    signs: list[np.ndarray],
    batch: SpikeBatch,
    settings: LossSettings,
    *,
    buffers: Buffers | None = None,
    parts: bool = False,
):
    """(mean loss, number right, gradients of the loss with respect to the (m, h) `signs`; the
    straight-through estimator passes them to the real weights unchanged). With `parts`, the
    input layer's gradient may come as (CHUNKS, m, h) parts whose sum in order is the gradient
    (`bs4nn.trainer.surrogate.adam_step` adds them in its threads).

    One hidden layer runs image by image in one kernel (surrogate_kernels.one_hidden_step),
    other networks layer by layer (`layers_loss_and_grads`): the same function, with the
    float32 sums in other orders (tests/test_surrogate.py)."""
    if len(signs) == 2:
        return _one_hidden_loss_and_grads(signs, batch, settings, buffers or Buffers(), parts)
    return layers_loss_and_grads(signs, batch, settings, buffers=buffers)


def layers_loss_and_grads(
    signs: list[np.ndarray],
    batch: SpikeBatch,
    settings: LossSettings,
    *,
    buffers: Buffers | None = None,
):
    """`loss_and_grads` layer by layer: the input layer in numba kernels, the later layers
    as numpy float32 products (any number of layers)."""
    labels, widths, beta = batch.labels, settings.widths, settings.beta
    count_loss, count_beta = settings.count_loss, settings.count_beta
    fired, caches, masks = forward(
        signs,
        batch.first,
        batch.n_levels,
        settings.ks,
        widths,
        hidden_masks=batch.hidden_masks,
        buffers=buffers,
    )
    # logits: minus the soft firing level of each output (the earliest wins)
    loss, prob, d_logits = _softmax_cross_entropy(-beta * (1.0 - fired).sum(axis=1), labels)
    right = int((prob.argmax(axis=1) == labels).sum())
    d_fired = np.broadcast_to((beta * d_logits)[:, None], fired.shape)  # d level / d fired = -1
    last_in = caches[-1][0][:, -1]  # (n, m): what has fired into the outputs by the last level
    d_counts = None
    if count_loss:
        counts_loss, _, d_counts = _softmax_cross_entropy(
            count_beta * (last_in @ signs[-1]), labels
        )
        loss += count_loss * counts_loss
        d_counts *= count_loss * count_beta
    grads = [None] * len(signs)
    for ly in range(len(signs) - 1, 0, -1):
        if ly < len(signs) - 1:
            d_fired = d_fired * masks[ly][:, None, :]
        grads[ly], d_fired = layer_backward(d_fired, signs[ly], widths[ly], caches[ly])
        if d_counts is not None and ly == len(signs) - 1:
            grads[ly] += last_in.T @ d_counts
            d_fired[:, -1] += d_counts @ signs[ly].T
    grads[0] = input_backward(d_fired, widths[0], caches[0])
    return loss, right, grads


def _one_hidden_loss_and_grads(
    signs: list[np.ndarray],
    batch: SpikeBatch,
    settings: LossSettings,
    buffers: Buffers,
    parts: bool,
):
    """`loss_and_grads` of a 1-hidden-layer network with hazard crossings."""
    first, n_levels, labels = batch.first, batch.n_levels, batch.labels
    ks, widths = settings.ks, settings.widths
    n, m = first.shape
    h = signs[0].shape[1]
    mask = np.ones((n, h), np.float32) if batch.hidden_masks is None else batch.hidden_masks[0]
    p = _crossing_p(np.arange(-m, m + 1, dtype=np.float32), ks[0], widths[0])
    q = 1.0 - NOT_ONE * p
    g = (p.astype(np.float64) * (1.0 - p) / q * (-NOT_ONE / widths[0])).astype(np.float32)
    tables = np.stack([q, g], axis=1)
    # the output layer's K - 1/2 and width, the loss's settings, 1/n, NOT_ONE
    params = (
        ks[1] - 0.5,
        widths[1],
        settings.beta,
        settings.count_loss,
        settings.count_beta,
        1.0 / n,
        NOT_ONE,
    )
    params = tuple(np.float32(x) for x in params)
    s1t = np.ascontiguousarray(signs[1].T, np.float32)
    chunks = surrogate_kernels.CHUNKS
    g0 = buffers.get("g0", (chunks, m, h), np.float32)
    g1t = buffers.get("g1t", (chunks,) + s1t.shape, np.float32)
    losses = np.empty(n, np.float32)
    rights = np.empty(n, np.bool_)
    labels, mask = np.asarray(labels, np.int64), np.ascontiguousarray(mask, np.float32)

    def run(c: int) -> None:
        rows = chunk_rows(n, c)
        scratch = buffers.made(
            ("scratch", c, m, h, n_levels), lambda: surrogate_kernels.step_scratch(m, h, n_levels)
        )
        surrogate_kernels.one_hidden_step(
            first[rows],
            labels[rows],
            signs[0],
            s1t,
            mask[rows],
            tables,
            params,
            g0[c],
            g1t[c],
            losses[rows],
            rights[rows],
            scratch,
        )

    in_threads(run, chunks, buffers.threads.threads)
    for part in g1t[1:]:  # the runs' sums, in order
        surrogate_kernels.add_to(g1t[0], part)
    if not parts:
        for part in g0[1:]:
            surrogate_kernels.add_to(g0[0], part)
    g1 = np.ascontiguousarray(g1t[0].T)
    return float(losses.mean()), int(rights.sum()), [g0 if parts else g0[0], g1]


class ThreadChoice:
    """One thread or two for the mini-batch steps. Both give the same results, so a run uses
    whichever has been faster lately: each one's step time is averaged, and the slower one is
    timed again every `RETRY` steps. With another job on the second core one thread is faster
    (the two runs of images wait for each other); on an idle machine two are."""

    RETRY = 16

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}
        self.steps = 0
        self.threads: int | None = None  # None: as many as numba may use, up to two
        self._t0 = 0.0

    def start(self) -> None:
        """Choose for the next step."""
        if numba.config.NUMBA_NUM_THREADS < 2:
            self.threads = 1
            return
        self.steps += 1
        untimed = [t for t in (2, 1) if t not in self.seconds]
        faster = min(self.seconds, key=self.seconds.get) if self.seconds else 2
        retry = self.steps % self.RETRY == 0
        self.threads = untimed[0] if untimed else (3 - faster if retry else faster)
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        """Time the step."""
        if numba.config.NUMBA_NUM_THREADS < 2:
            return
        took, known = time.perf_counter() - self._t0, self.seconds.get(self.threads)
        retried = known is not None and self.steps % self.RETRY == 0
        self.seconds[self.threads] = took if known is None or retried else 0.8 * known + 0.2 * took


_pool: ThreadPoolExecutor | None = None


def in_threads(run: Callable[[int], None], count: int, threads: int | None = None) -> None:
    """run(0), ..., run(count - 1): in `threads` threads (1 or 2; None: two when numba may use
    two, NUMBA_NUM_THREADS), else one after the other. The kernels release the GIL; an idle
    thread sleeps."""
    global _pool
    if threads is None:
        threads = min(2, numba.config.NUMBA_NUM_THREADS)
    if threads < 2:
        for c in range(count):
            run(c)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bs4nn-surrogate")
    others = [_pool.submit(run, c) for c in range(1, count)]
    run(0)
    for f in others:
        f.result()


def chunk_rows(n: int, c: int) -> slice:
    """Run c of CHUNKS of n rows (or images)."""
    return slice(c * n // surrogate_kernels.CHUNKS, (c + 1) * n // surrogate_kernels.CHUNKS)


def intensity_levels(n_levels: int, images: np.ndarray | None = None) -> np.ndarray:
    """Lowest intensity of every level, brightest first (the last level takes every pixel > 0):
    a pixel of intensity I has spiked by level l when I >= levels[l]. With `images`, the
    levels split their spiking pixels into equal shares (fewer levels where intensities
    repeat: a level never splits one intensity)."""
    if images is None:
        levels = np.array([256 - (256 // n_levels) * (lv + 1) for lv in range(n_levels)])
    else:
        counts = np.bincount(np.asarray(images, np.uint8).ravel(), minlength=256)[1:]
        above = np.cumsum(counts[::-1])[::-1]  # above[i - 1]: pixels with intensity >= i
        share = above[0] / n_levels
        # level l ends at the brightest intensity whose pixels reach (l + 1) shares
        levels = np.unique(
            [1 + int(np.flatnonzero(above >= share * (lv + 1))[-1]) for lv in range(n_levels - 1)]
        )[::-1]
        levels = np.append(levels, 1)
    levels[-1] = 1
    return np.unique(levels)[::-1]


def spike_levels(
    images: np.ndarray,
    levels: np.ndarray,
    drop_draws: np.ndarray | None = None,
    drop: float = 0.0,
) -> np.ndarray:
    """(n, 784) uint8 -> (n, 784) uint16: the level at which each pixel spikes, the first l
    with intensity >= levels[l]; len(levels) for pixels that never do (intensity 0), and for
    those whose uniform draw in drop_draws (n, 784) float32 is < drop (pixel dropout)."""
    by_intensity = (levels[None, :] > np.arange(256)[:, None]).sum(axis=1).astype(np.uint16)
    if drop_draws is None:
        drop_draws = np.empty((0, 0), np.float32)
    return surrogate_kernels.spike_levels(
        np.ascontiguousarray(images), by_intensity, drop_draws, np.float32(drop)
    )
