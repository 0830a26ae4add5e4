"""Threshold calibration on validation images (bs4nn.trainer.calibrate and its kernel)."""

import numpy as np
import pytest

from bs4nn.trainer import calibrate_kernels
from bs4nn.trainer.calibrate import accuracy_with_thresholds, calibrate_thresholds, thetas_for
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import pack_forward, predict
from bs4nn.trainer.model import model_from_arrays
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


@pytest.mark.parametrize("alpha", [1e-3, 0.1, 0.7, 1.0 / 3.0, 4.999999, 123.456])
def test_thetas_for_give_exactly_the_requested_count(alpha):
    for k in (1, 2, 3, 29, 30, 31, 1000, 32767):
        (theta,) = thetas_for([k], np.array([alpha]))
        assert threshold_count(theta, alpha) == k


def test_calibration_needs_a_binary_model():
    weights, images = _random_net(5)
    model = model_from_arrays(weights, [1.0, 1.0], [4.0, 3.0], weight_kind="real")
    with pytest.raises(Bs4nnError, match="needs a binary model"):
        calibrate_thresholds(model, images, np.zeros(len(images)), log=lambda s: None)


@pytest.mark.parametrize("sizes", [[30, 12, 4], [30, 12, 8, 4]])
def test_one_pass_scores_equal_a_forward_per_candidate(sizes):
    """calibrate_kernels.right_per_k (the layers below once, the searched layer's counts once,
    the layers above per candidate) counts exactly the images `predict` gets right."""
    rng = np.random.default_rng(len(sizes))
    weights = [rng.uniform(-0.4, 1.0, size=(sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    _, images = _random_net(4)
    labels = rng.integers(0, 4, len(images))
    ks0 = [4, 3, 2][: len(weights)]
    model = model_from_arrays(weights, np.ones(len(weights)), thetas_for(ks0, np.ones(len(ks0))))
    lay, fw, thr = pack_forward(model)
    candidates = np.arange(1, 16, dtype=np.int32)
    for ly in range(len(weights)):
        right = calibrate_kernels.right_per_k(
            images, labels, lay.sizes, lay.woff, lay.noff, fw, thr, ly, candidates
        )
        expect = [
            int((predict(model, images, ks0[:ly] + [int(k)] + ks0[ly + 1 :]) == labels).sum())
            for k in candidates
        ]
        assert right.tolist() == expect
        assert len(set(expect)) > 3  # the candidates decide differently
