"""Threshold calibration on the validation split (beyond the paper).

The integer thresholds K_l a network fires with need not be the ones it was trained with: the
firmware can run any K (docs/design.md), and a slightly different K often decides better (the
threshold sweep in README). `calibrate_thresholds` searches K per layer, one layer at a time,
on validation images only, and returns a model whose thetas give the chosen K exactly.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bs4nn.trainer import calibrate_kernels
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import pack_forward, predict
from bs4nn.trainer.model import Model
from bs4nn.trainer.semantics import K_MAX, K_MIN, threshold_count

SPAN = (0.6, 1.6)  # K is searched within these factors of the trained K
PASSES = 2  # coordinate-descent rounds over the layers


def accuracy_with_thresholds(
    model: Model, ks: list[int], images: np.ndarray, labels: np.ndarray
) -> float:
    """Strict-decision accuracy of `model` run with the integer thresholds `ks`."""
    return float(np.mean(predict(model, images, ks) == labels))


def thetas_for(ks: list[int], alphas: np.ndarray) -> np.ndarray:
    """Thetas with ceil(theta / alpha) = K exactly: (K - 1/2) alpha is half a step from both
    integers, far beyond any rounding of the product."""
    thetas = np.array([(k - 0.5) * a for k, a in zip(ks, alphas, strict=True)])
    assert [threshold_count(t, a) for t, a in zip(thetas, alphas, strict=True)] == list(ks)
    return thetas


def calibrate_thresholds(
    model: Model,
    images: np.ndarray,
    labels: np.ndarray,
    log=print,
    span: tuple[float, float] = SPAN,
) -> tuple[Model, float, float]:
    """(model with the best thresholds found, accuracy before, accuracy after) on the given
    validation images; each K is searched within `span` times its trained value. Ties keep
    the K closer to the trained one."""
    if model.weight_kind != "binary":
        raise Bs4nnError("threshold calibration needs a binary model (integer thresholds)")
    labels = np.asarray(labels).astype(np.int64)
    trained = model.thresholds()
    best = list(trained)
    best_acc = before = accuracy_with_thresholds(model, best, images, labels)
    images = np.ascontiguousarray(images)
    lay, fw, _ = pack_forward(model)
    for _ in range(PASSES):
        for ly, k0 in enumerate(trained):
            lo, hi = max(K_MIN, int(k0 * span[0])), min(K_MAX, int(np.ceil(k0 * span[1])))
            coarse = max(1, (hi - lo) // 24)
            candidates = sorted(range(lo, hi + 1, coarse), key=lambda k: abs(k - k0))
            for step in (coarse, 1):
                # every candidate of this layer scored in one pass (the others stay fixed)
                ks = np.array(sorted(candidates), np.int32)
                right = calibrate_kernels.right_per_k(
                    images,
                    labels,
                    lay.sizes,
                    lay.woff,
                    lay.noff,
                    fw,
                    np.array(best, np.int32),
                    ly,
                    ks,
                )
                accuracy = dict(zip(ks.tolist(), (right / len(labels)).tolist(), strict=True))
                for k in candidates:
                    acc = accuracy[k]
                    if acc > best_acc:
                        best, best_acc = best[:ly] + [k] + best[ly + 1 :], acc
                if step == 1 or coarse == 1:
                    break
                candidates = sorted(
                    range(max(1, best[ly] - coarse + 1), best[ly] + coarse),
                    key=lambda k: abs(k - k0),
                )
    log(
        f"calibrated thresholds K {','.join(map(str, trained))} -> {','.join(map(str, best))}: "
        f"validation {100 * before:.2f}% -> {100 * best_acc:.2f}%"
    )
    calibrated = replace(model, thetas=thetas_for(best, model.alphas))
    return calibrated, before, best_acc
