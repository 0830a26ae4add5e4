"""Threshold calibration on validation images (bs4nn.trainer.calibrate and its kernel)."""

import numpy as np
import pytest
from helpers import whole

from bs4nn.cli import main
from bs4nn.trainer import calibrate_kernels
from bs4nn.trainer.calibrate import (
    ThresholdBox,
    accuracy_with_thresholds,
    calibrate_for_budget,
    calibrate_thresholds,
    choose_for_budget,
    thetas_for,
)
from bs4nn.trainer.datasets import load_dataset, train_val_split
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import forward_batch, pack_forward, predict
from bs4nn.trainer.model import Model, model_from_arrays
from bs4nn.trainer.semantics import threshold_count


def _random_net(seed: int):
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-0.3, 1.0, size=(12, 30)), rng.uniform(-0.5, 1.0, size=(4, 12))]
    images = rng.integers(0, 256, size=(300, 30)).astype(np.uint8)
    images[rng.random(images.shape) < 0.5] = 0
    return weights, images


def test_calibration_finds_the_thresholds_the_labels_came_from():
    weights, images = _random_net(3)
    alphas = np.array([0.7, 1.3])
    truth = model_from_arrays(weights, alphas, thetas_for([5, 3], alphas))
    labels = predict(truth, images)  # "validation labels" made by the network at K = 5, 3
    trained = model_from_arrays(weights, alphas, thetas_for([4, 4], alphas))
    assert trained.thresholds() == [4, 4]
    calibrated, before, after = calibrate_thresholds(trained, images, labels, log=lambda s: None)
    assert before < 1.0
    assert after == 1.0
    assert calibrated.thresholds() == [5, 3]
    assert (predict(calibrated, images) == labels).all()
    assert accuracy_with_thresholds(trained, [5, 3], images, labels) == 1.0
    # a span that excludes K 3 for the output layer (from 4: 1.0x to 1.5x) cannot find it
    narrow, _, after = calibrate_thresholds(
        trained, images, labels, log=lambda s: None, span=(1.0, 1.5)
    )
    assert after < 1.0 and narrow.thresholds()[1] >= 4
    # only the thresholds change
    assert all((a == b).all() for a, b in zip(calibrated.weights, trained.weights, strict=True))
    assert (calibrated.alphas == trained.alphas).all()


def test_calibration_keeps_the_trained_thresholds_when_nothing_is_better():
    weights, images = _random_net(4)
    alphas = np.array([1.0, 1.0])
    model = model_from_arrays(weights, alphas, [4.0, 3.0])
    labels = predict(model, images)
    calibrated, before, after = calibrate_thresholds(model, images, labels, log=lambda s: None)
    assert before == after == 1.0
    assert calibrated.thresholds() == [4, 3]


def test_calibration_scores_each_threshold_vector_once(monkeypatch):
    """The second pass over the layers scores only K vectors the first did not (when nothing
    moved, none); the choice is the one of scoring every candidate again."""
    weights, images = _random_net(4)
    alphas = np.array([1.0, 1.0])
    model = model_from_arrays(weights, alphas, [4.0, 3.0])
    labels = predict(model, images)
    scored = []
    kernel = calibrate_kernels.scores_per_k

    def counting(images, labels, sizes, woff, noff, fw, thr, layer, ks):
        other = thr.tolist()
        for k in ks.tolist():
            scored.append(tuple(other[:layer] + [k] + other[layer + 1 :]))
        return kernel(images, labels, sizes, woff, noff, fw, thr, layer, ks)

    monkeypatch.setattr(calibrate_kernels, "scores_per_k", counting)
    calibrated, before, after = calibrate_thresholds(model, images, labels, log=lambda s: None)
    assert calibrated.thresholds() == [4, 3] and before == after == 1.0
    assert len(scored) == len(set(scored))
    # K 2..7 (0.6x to 1.6x of 4, rounded out) and 1..5 (of 3), the other layer's K kept;
    # (4, 3) is in both
    wanted = {(k, 3) for k in range(2, 8)} | {(4, k) for k in range(1, 6)}
    assert sorted(scored) == sorted(wanted)


@pytest.mark.parametrize("alpha", [1e-3, 0.1, 0.7, 1.0 / 3.0, 4.999999, 123.456])
def test_thetas_for_give_exactly_the_requested_count(alpha):
    for k in (1, 2, 3, 29, 30, 31, 1000, 32767):
        (theta,) = thetas_for([k], np.array([alpha]))
        assert threshold_count(theta, alpha) == k


def test_calibration_needs_a_binary_model():
    weights, images = _random_net(5)
    model = model_from_arrays(weights, [1.0, 1.0], [4.0, 3.0], weight_kind="real")
    with pytest.raises(
        Bs4nnError, match=whole("threshold calibration needs a binary model (integer thresholds)")
    ):
        calibrate_thresholds(model, images, np.zeros(len(images)), log=lambda s: None)


@pytest.mark.parametrize("sizes", [[30, 12, 4], [30, 12, 8, 4]])
def test_one_pass_scores_equal_a_forward_per_candidate(sizes):
    """calibrate_kernels.scores_per_k (the layers below once, the searched layer's counts once,
    the layers above per candidate) counts exactly the images `predict` gets right and sums
    exactly the decision steps of `forward_batch`."""
    rng = np.random.default_rng(len(sizes))
    weights = [rng.uniform(-0.4, 1.0, size=(sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    _, images = _random_net(4)
    labels = rng.integers(0, 4, len(images))
    ks0 = [4, 3, 2][: len(weights)]
    model = model_from_arrays(weights, np.ones(len(weights)), thetas_for(ks0, np.ones(len(ks0))))
    lay, fw, thr = pack_forward(model)
    candidates = np.arange(1, 16, dtype=np.int32)
    for ly in range(len(weights)):
        right, steps = calibrate_kernels.scores_per_k(
            images, labels, lay.sizes, lay.woff, lay.noff, fw, thr, ly, candidates
        )
        runs = [
            forward_batch(model, images, ks0[:ly] + [int(k)] + ks0[ly + 1 :]) for k in candidates
        ]
        assert right.tolist() == [int((fr.labels == labels).sum()) for fr in runs]
        assert steps.tolist() == [int(fr.steps.sum()) for fr in runs]
        assert len(set(right.tolist())) > 3  # the candidates decide differently
        assert len(set(steps.tolist())) > 3


def _budget_case():
    """A 30-12-4 network at K 6, 4 and 300 images labelled by it, a fifth of the labels
    redrawn at random; no pixel above 199, so nothing spikes before step 56."""
    rng = np.random.default_rng(3)
    weights = [rng.uniform(-0.3, 1.0, size=(12, 30)), rng.uniform(-0.5, 1.0, size=(4, 12))]
    images = rng.integers(0, 200, size=(300, 30)).astype(np.uint8)
    images[rng.random(images.shape) < 0.5] = 0
    alphas = np.array([0.7, 1.3])
    model = model_from_arrays(weights, alphas, thetas_for([6, 4], alphas))
    labels = predict(model, images)
    redrawn = rng.random(len(labels)) < 0.2
    labels[redrawn] = rng.integers(0, 4, redrawn.sum())
    return model, images, labels


def test_budget_calibration_is_the_most_accurate_within_the_budget():
    model, images, labels = _budget_case()
    # every K of the box (1..ceil(1.6 K): 1..10, 1..7) scored by the plain forward
    box = {}
    for k1 in range(1, 11):
        for k2 in range(1, 8):
            fr = forward_batch(model, images, [k1, k2])
            box[k1, k2] = (int((fr.labels == labels).sum()), int(fr.steps.sum()))
    chosen = {}
    for budget in (70, 85, 100, 130, 200):
        got = calibrate_for_budget(model, images, labels, budget)
        right, step_sum = box[tuple(got.thresholds)]
        assert step_sum <= budget * 300
        assert right == max(r for r, s in box.values() if s <= budget * 300)
        assert got.model.thresholds() == got.thresholds
        assert (got.accuracy, got.mean_step) == (right / 300, step_sum / 300)
        assert (got.accuracy_before, got.mean_step_before) == (251 / 300, 52514 / 300)
        assert got.thresholds_before == [6, 4] and got.images == 300
        chosen[budget] = (got.thresholds, right, step_sum)
    assert chosen == {
        70: ([1, 2], 126, 20694),
        85: ([2, 3], 152, 25284),
        100: ([3, 1], 154, 28565),
        130: ([3, 4], 163, 33275),
        200: ([6, 4], 251, 52514),  # the model's own K already fit
    }
    steps = [step_sum for _, _, step_sum in chosen.values()]
    assert steps == sorted(steps)  # a tighter budget never decides later
    # only the thresholds change
    got = calibrate_for_budget(model, images, labels, 85)
    assert all((a == b).all() for a, b in zip(got.model.weights, model.weights, strict=True))
    assert (got.model.alphas == model.alphas).all()
    assert got.record("ab") == {
        "max_mean_step": 85.0,
        "source_model_hash": "ab",
        "K_before": [6, 4],
        "K": [2, 3],
        "val_accuracy_before": 251 / 300,
        "val_accuracy": 152 / 300,
        "val_mean_step_before": 52514 / 300,
        "val_mean_step": 25284 / 300,
        "val_size": 300,
    }


def test_a_budget_no_thresholds_reach_is_refused():
    model, images, labels = _budget_case()
    calibrate_for_budget(model, images, labels, 68.98)  # the earliest: 20694 / 300 steps
    with pytest.raises(Bs4nnError) as err:
        calibrate_for_budget(model, images, labels, 68.97)
    assert str(err.value) == (
        "no thresholds decide within a mean of 68.97 steps on the 300 validation images: the "
        "earliest, K 1,2, decide at 68.98 on average; give --max-mean-step 68.98 or more"
    )


def test_bs4nn_calibrate_writes_the_model_chosen_on_the_validation_split(tmp_path, capsys):
    """`bs4nn calibrate` calibrates on the model's own validation split (its dataset, val_size
    and seed), writes the model with the chosen thresholds and the record of the budget, and
    refuses an unreachable budget with one line, writing nothing."""
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((16, 784)), rng.standard_normal((10, 16))]
    model = model_from_arrays(
        weights,
        [1.0, 0.5],
        [8.0, 1.5],
        dataset="mnist",
        seed=5,
        train_config={"val_size": 300, "seed": 5},
        metrics={"val_accuracy": 0.1, "test_accuracy": 0.1, "epochs": 1},
    )
    src = model.save(tmp_path / "m.bs4nn")
    images, labels = load_dataset("mnist", "train")
    _, val_idx = train_val_split(len(images), 300, 5)
    want = calibrate_for_budget(model, images[val_idx], labels[val_idx], 40)
    assert want.thresholds != want.thresholds_before  # the budget changes the thresholds
    out = tmp_path / "fast.bs4nn"
    argv = ["calibrate", str(src), "--max-mean-step", "40", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    k0, k1 = ",".join(map(str, want.thresholds_before)), ",".join(map(str, want.thresholds))
    assert capsys.readouterr().out == (
        f"K {k0} -> {k1}: validation {100 * want.accuracy_before:.2f}% -> "
        f"{100 * want.accuracy:.2f}%, mean decision step {want.mean_step_before:.2f} -> "
        f"{want.mean_step:.2f} (at most 40) on 300 images; wrote {out}\n"
    )
    new = Model.load(out)
    assert new.thresholds() == want.thresholds
    fr = forward_batch(new, images[val_idx])
    assert fr.steps.mean() == want.mean_step <= 40
    assert new.metrics == {
        "val_accuracy": want.accuracy,
        "epochs": 1,
        "step_budget": want.record(model.content_hash),
    }
    assert new.train_config == model.train_config and new.dataset == "mnist"

    with pytest.raises(Bs4nnError) as refused:  # nothing decides at step 0
        calibrate_for_budget(model, images[val_idx], labels[val_idx], 0)
    none = tmp_path / "none.bs4nn"
    argv = ["calibrate", str(src), "--max-mean-step", "0", "--out", str(none), "--no-progress"]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"bs4nn calibrate: error: {refused.value}\n"
    assert str(refused.value) == (
        "no thresholds decide within a mean of 0 steps on the 300 validation images: the "
        "earliest, K 1,1, decide at 0.11 on average; give --max-mean-step 0.11 or more"
    )
    assert not none.exists()


def test_calibration_ties_keep_the_trained_thresholds():
    # no input spikes: every K classifies alike, so every candidate ties with the trained K
    rng = np.random.default_rng(4)
    weights = [rng.uniform(-0.3, 1.0, size=(12, 30)), rng.uniform(-0.5, 1.0, size=(4, 12))]
    alphas = np.array([1.0, 1.0])
    model = model_from_arrays(weights, alphas, thetas_for([40, 30], alphas))
    images = np.zeros((50, 30), np.uint8)
    labels = predict(model, images)
    calibrated, before, after = calibrate_thresholds(model, images, labels, log=lambda s: None)
    assert before == after == 1.0
    assert calibrated.thresholds() == [40, 30]


def _box(start, thresholds, right, step_sum, images=10):
    return ThresholdBox(
        start=start,
        thresholds=np.array(thresholds, np.int64),
        right=np.array(right),
        step_sum=np.array(step_sum),
        images=images,
        right_start=right[0],
        step_sum_start=step_sum[0],
    )


def _two_layer_model():
    rng = np.random.default_rng(0)
    return model_from_arrays(
        [rng.standard_normal((4, 6)), rng.standard_normal((3, 4))], [1.0, 1.0], [4.5, 4.5]
    )


def test_budget_ties_in_accuracy_go_to_the_earliest_deciding_before_the_nearest():
    box = _box([5, 5], [[5, 5], [1, 1]], right=[10, 10], step_sum=[100, 90])
    got = choose_for_budget(_two_layer_model(), box, 20)
    assert got.thresholds == [1, 1] and got.mean_step == 9.0


def test_an_unreachable_budget_names_the_most_accurate_of_the_earliest():
    box = _box([1, 1], [[1, 1], [2, 2]], right=[5, 8], step_sum=[90, 90])
    with pytest.raises(Bs4nnError, match=r"the earliest, K 2,2, decide at 9\.00 on average"):
        choose_for_budget(_two_layer_model(), box, 1)


def test_calibration_refines_above_the_coarse_grid_point():
    # K0 = 100: the coarse grid steps by 4 (60, 64, ..., 100, 104, ...); the labels came from
    # K = 102, between two grid points, reached only by refining on both sides of the best one
    rng = np.random.default_rng(0)
    weights = [rng.uniform(-0.1, 1.0, size=(12, 300)), rng.uniform(-0.5, 1.0, size=(4, 12))]
    images = rng.integers(0, 256, size=(300, 300)).astype(np.uint8)
    images[rng.random(images.shape) < 0.5] = 0
    alphas = np.array([1.0, 1.0])
    labels = predict(model_from_arrays(weights, alphas, thetas_for([102, 3], alphas)), images)
    trained = model_from_arrays(weights, alphas, thetas_for([100, 3], alphas))
    calibrated, before, after = calibrate_thresholds(trained, images, labels, log=lambda s: None)
    assert (before, after) == (0.96, 1.0)
    assert calibrated.thresholds() == [102, 3]


def test_a_budget_calibration_without_images_is_refused():
    with pytest.raises(Bs4nnError, match="^no validation images to calibrate on$"):
        calibrate_for_budget(_two_layer_model(), np.zeros((0, 6), np.uint8), np.zeros(0, int), 10)
