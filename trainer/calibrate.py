"""Threshold calibration on the validation split (beyond the paper).

The integer thresholds K_l a network fires with need not be the ones it was trained with: the
firmware can run any K (docs/design.md), and a slightly different K often decides better (the
threshold sweep in README). `calibrate_thresholds` searches K per layer, one layer at a time,
on validation images only, and returns a model whose thetas give the chosen K exactly.
`calibrate_for_budget` trades accuracy for earlier decisions: the most accurate K whose mean
decision step on the validation images is within a budget (`bs4nn calibrate`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import forward_batch, pack_forward, predict
from bs4nn.trainer.interrupts import signals_held
from bs4nn.trainer.lazy import LazyModule
from bs4nn.trainer.model import Model
from bs4nn.trainer.semantics import K_MAX, K_MIN, threshold_count

calibrate_kernels = LazyModule("bs4nn.trainer.calibrate_kernels")

SPAN = (0.6, 1.6)  # K is searched within these factors of the trained K
PASSES = 2  # coordinate-descent rounds over the layers


def _scores_per_k(images, labels, lay, fw, thresholds, layer: int, ks):
    """calibrate_kernels.scores_per_k for the packed network (lay, fw) of `pack_forward`:
    (images right, sum of decision steps) per K = ks[c] at `layer`, the others `thresholds`."""
    with signals_held():
        return calibrate_kernels.scores_per_k(
            images,
            labels,
            lay.sizes,
            lay.woff,
            lay.noff,
            fw,
            np.asarray(thresholds, np.int32),
            layer,
            np.asarray(ks, np.int32),
        )


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
    # accuracy per K vector scored so far: a later pass scores only vectors it has not seen
    # (when the other layers kept their K, none: the result is the same, in half the time)
    scored: dict[tuple[int, ...], float] = {}
    for _ in range(PASSES):
        for ly, k0 in enumerate(trained):
            lo, hi = max(K_MIN, int(k0 * span[0])), min(K_MAX, int(np.ceil(k0 * span[1])))
            coarse = max(1, (hi - lo) // 24)
            candidates = sorted(range(lo, hi + 1, coarse), key=lambda k: abs(k - k0))
            for step in (coarse, 1):
                # the candidates of this layer not scored yet, in one pass (the others fixed)
                vector = {k: tuple(best[:ly] + [k] + best[ly + 1 :]) for k in candidates}
                todo = sorted(k for k in candidates if vector[k] not in scored)
                if todo:
                    right, _ = _scores_per_k(images, labels, lay, fw, best, ly, todo)
                    for k, acc in zip(todo, (right / len(labels)).tolist(), strict=True):
                        scored[vector[k]] = acc
                for k in candidates:
                    acc = scored[vector[k]]
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


def validation_split(
    model: Model, dataset: str | None = None, data_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of the validation split `model` was selected on: its dataset's seeded
    split of val_size training images (or own data's x_val), as its training run made it."""
    from bs4nn.trainer.train import load_run_data  # train imports this module

    split = model.train_config
    if not all(
        type(split.get(key)) is int and split[key] >= least  # bool is an int too
        for key, least in (("val_size", 1), ("seed", 0))
    ):
        raise Bs4nnError(
            "the model records no validation split (val_size and seed of bs4nn train); "
            "calibrate a model trained with bs4nn train"
        )
    run = SimpleNamespace(
        dataset=model.dataset_to_run(dataset),
        val_size=split["val_size"],
        seed=split["seed"],
        train_limit=None,
    )
    images, labels, _, _, _, val_idx = load_run_data(run, data_dir)
    return images[val_idx], labels[val_idx]


@dataclass
class BudgetCalibration:
    """What `calibrate_for_budget` chose, on the calibration (validation) images."""

    model: Model  # the input model with the chosen thresholds
    max_mean_step: float
    thresholds_before: list[int]
    thresholds: list[int]
    accuracy_before: float
    accuracy: float
    mean_step_before: float
    mean_step: float
    images: int

    def record(self, source_hash: str) -> dict:
        """The model file's metrics["step_budget"]."""
        return {
            "max_mean_step": self.max_mean_step,
            "source_model_hash": source_hash,
            "K_before": self.thresholds_before,
            "K": self.thresholds,
            "val_accuracy_before": self.accuracy_before,
            "val_accuracy": self.accuracy,
            "val_mean_step_before": self.mean_step_before,
            "val_mean_step": self.mean_step,
            "val_size": self.images,
        }


@dataclass
class ThresholdBox:
    """Every K of a box scored on the calibration images: `right` and `step_sum` per row of
    `thresholds`, and the model's own K (`start`) with its figures."""

    start: list[int]
    thresholds: np.ndarray  # (settings, layers) int
    right: np.ndarray  # images classified correctly (strict decision), per setting
    step_sum: np.ndarray  # sum of the decision steps, per setting
    images: int
    right_start: int
    step_sum_start: int


def score_box(
    model: Model,
    images: np.ndarray,
    labels: np.ndarray,
    span_high: float = SPAN[1],
    progress=None,
) -> ThresholdBox:
    """Every K in the box K_l = 1..ceil(`span_high` K_l of the model) scored on the given
    images: one pass over them per combination of the lower layers' K scores every K of the
    output layer (2 layers: ~40 passes; each further hidden layer multiplies them).
    `progress`, if given, wraps the list of those combinations (e.g. tqdm)."""
    if model.weight_kind != "binary":
        raise Bs4nnError("threshold calibration needs a binary model (integer thresholds)")
    labels = np.asarray(labels).astype(np.int64)
    images = np.ascontiguousarray(images)
    if len(labels) == 0:
        raise Bs4nnError("no validation images to calibrate on")
    start = model.thresholds()
    fr = forward_batch(model, images, start)
    highest = [min(K_MAX, max(k, int(np.ceil(k * span_high)))) for k in start]
    lay, fw, _ = pack_forward(model)
    top = len(start) - 1
    out_ks = np.arange(K_MIN, highest[top] + 1, dtype=np.int32)
    combos = list(itertools.product(*(range(K_MIN, h + 1) for h in highest[:top])))
    thresholds, right, step_sum = [], [], []
    for lower in progress(combos) if progress else combos:
        r, s = _scores_per_k(images, labels, lay, fw, [*lower, start[top]], top, out_ks)
        thresholds += [[*lower, k] for k in out_ks.tolist()]
        right.append(r)
        step_sum.append(s)
    return ThresholdBox(
        start=start,
        thresholds=np.array(thresholds, np.int64),
        right=np.concatenate(right),
        step_sum=np.concatenate(step_sum),
        images=len(labels),
        right_start=int(np.sum(fr.labels == labels)),
        step_sum_start=int(fr.steps.sum()),
    )


def choose_for_budget(model: Model, box: ThresholdBox, max_mean_step: float) -> BudgetCalibration:
    """The K of `box` that classify the most images correctly with a mean decision step of
    at most `max_mean_step`; among equally accurate ones the earliest deciding, then the
    nearest to the model's K (sum of the differences), then the smallest. Raises Bs4nnError
    when none decides early enough, naming the earliest mean step of the box."""
    if not (np.isfinite(max_mean_step) and max_mean_step >= 0):
        raise Bs4nnError(f"the mean step budget must be a number >= 0, got {max_mean_step}")
    n = box.images
    far = np.abs(box.thresholds - np.array(box.start)).sum(axis=1)
    # np.lexsort sorts by its last key first; ascending, so the best row comes first
    smallest = [box.thresholds[:, i] for i in reversed(range(box.thresholds.shape[1]))]
    fits = np.flatnonzero(box.step_sum <= max_mean_step * n)
    if len(fits) == 0:
        earliest = np.lexsort([*smallest, far, -box.right, box.step_sum])[0]
        ks, mean = box.thresholds[earliest].tolist(), box.step_sum[earliest] / n
        raise Bs4nnError(
            f"no thresholds decide within a mean of {max_mean_step:g} steps on the {n} "
            f"validation images: the earliest, K {','.join(map(str, ks))}, decide at "
            f"{mean:.2f} on average; give --max-mean-step {np.ceil(mean * 100) / 100:.2f} or more"
        )
    keys = [*smallest, far, box.step_sum, -box.right]
    best = fits[np.lexsort([key[fits] for key in keys])[0]]
    ks = box.thresholds[best].tolist()
    return BudgetCalibration(
        model=replace(model, thetas=thetas_for(ks, model.alphas)),
        max_mean_step=float(max_mean_step),
        thresholds_before=box.start,
        thresholds=ks,
        accuracy_before=box.right_start / n,
        accuracy=int(box.right[best]) / n,
        mean_step_before=box.step_sum_start / n,
        mean_step=int(box.step_sum[best]) / n,
        images=n,
    )


def calibrate_for_budget(
    model: Model,
    images: np.ndarray,
    labels: np.ndarray,
    max_mean_step: float,
    span_high: float = SPAN[1],
    progress=None,
) -> BudgetCalibration:
    """The most accurate thresholds on the given (validation) images whose mean decision step
    there is at most `max_mean_step`: `choose_for_budget` on `score_box` (exhaustive over
    K_l = 1..ceil(`span_high` K_l of the model))."""
    if not (np.isfinite(max_mean_step) and max_mean_step >= 0):
        raise Bs4nnError(f"the mean step budget must be a number >= 0, got {max_mean_step}")
    box = score_box(model, images, labels, span_high, progress)
    return choose_for_budget(model, box, max_mean_step)
