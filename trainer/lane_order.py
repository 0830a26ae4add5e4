"""Hidden neurons numbered so that those that fire on the same images share lane words.

The firmware's default kernel keeps a hidden layer's neurons in lane words of `WORD_BITS`
(bs4nn_kernel_sliced.c) and looks at a word only when one of its lanes could fire; a look costs
about as much whether one lane is near its threshold or many. Neurons that tend to fire
together, in the same words, make fewer looks: for `mnist-600-surrogate` on the first 1,000
MNIST test images, 37,557 -> 35,824 instructions per inference (docs/kernels.md, 2026-12-03).
Renumbering the neurons of a hidden layer (its rows of the weights into it, its columns of
the weights out of it) changes no label, spike time or spike count, so every trained binary
model is saved in this order.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bs4nn.trainer.evaluate import firing_steps
from bs4nn.trainer.model import Model
from bs4nn.trainer.semantics import TMAX, WORD_BITS

ORDER_IMAGES = 3000  # training images whose firings set the order


def co_firing_order(fired: np.ndarray, width: int = WORD_BITS) -> np.ndarray:
    """A permutation of the neurons (columns of `fired`, images x neurons, bool) in groups of
    `width`: each group starts from the neuron left that fires most often (the lowest index
    among equals) and takes, one at a time, the neuron left whose firings correlate most with
    the group's (summed over its members; the lowest index among equals)."""
    n = fired.shape[1]
    x = fired.astype(np.float64)
    x -= x.mean(axis=0)
    norm = np.sqrt((x * x).sum(axis=0))
    x /= np.where(norm > 0, norm, 1.0)  # a neuron that never or always fires: correlation 0
    corr = x.T @ x
    rate = fired.sum(axis=0)
    left = np.ones(n, bool)
    order: list[int] = []
    while left.any():
        seed = int(np.argmax(np.where(left, rate, -1)))
        left[seed] = False
        group_score = corr[seed].copy()
        order.append(seed)
        for _ in range(min(width - 1, n - len(order))):
            pick = int(np.argmax(np.where(left, group_score, -np.inf)))
            left[pick] = False
            group_score += corr[pick]
            order.append(pick)
    return np.array(order, dtype=np.int64)


def in_lane_order(model: Model, images: np.ndarray) -> Model:
    """`model` with every hidden layer's neurons in `co_firing_order` of their firings (by
    step 255) on `images`: the same network, numbered for the firmware's lane words."""
    weights = [w.copy() for w in model.weights]
    for layer in range(len(weights) - 1):  # the output layer keeps its order: labels
        order = co_firing_order(firing_steps(replace(model, weights=weights), images, layer) < TMAX)
        weights[layer] = weights[layer][order]
        weights[layer + 1] = weights[layer + 1][:, order]
    return replace(
        model, weights=weights, metrics={**model.metrics, "lane_order_images": len(images)}
    )
