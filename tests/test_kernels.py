"""Exact-value tests of the simulation kernels on hand-made tiny networks (worked out by hand)."""

from fractions import Fraction

import numpy as np
import pytest

from bs4nn.trainer import kernels
from bs4nn.trainer.evaluate import forward_batch
from bs4nn.trainer.model import model_from_arrays
from bs4nn.trainer.semantics import threshold_count


def _model(weights, alphas, thetas, kind="binary"):
    return model_from_arrays(
        [np.array(w, dtype=np.float64) for w in weights], alphas, thetas, weight_kind=kind
    )


def _one(model, pixels):
    r = forward_batch(model, np.array([pixels], dtype=np.uint8))
    return (
        int(r.labels[0]),
        int(r.steps[0]),
        bool(r.fallback[0]),
        r.output_steps[0].tolist(),
        r.spikes[0].tolist(),
    )


# Net A: 6 inputs -> 4 hidden (K=2) -> 3 outputs (K=2).
# Pixels 255, 255, 200, 100, 0, 55 spike at steps 0, 0, 55, 155, never, 200.
# Hidden counts: h0 = +1+1 at step 0 -> fires 0; h1 = 0 at 0, 1 at 55, 2 at 155 -> fires 155;
# h2 = 2 at 0 -> fires 0; h3 = -2, -3, -2, -1 -> never.
NET_A_HIDDEN = [
    [1, 1, -1, -1, 1, -1],
    [1, -1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1],
    [-1, -1, -1, 1, 1, 1],
]
PIXELS_A = [255, 255, 200, 100, 0, 55]


def test_same_step_propagation_and_count_tie_goes_to_lowest_index():
    # outputs see h0 and h2 at step 0 (same step as the inputs that made them fire):
    # o0 = +1 -1 = 0 (no); o1 = +1 +1 = 2 fires at 0; o2 = 2 fires at 0 -> equal counts: o1.
    out = [[1, 1, -1, 1], [1, -1, 1, -1], [1, 1, 1, 1]]
    m = _model([NET_A_HIDDEN, out], [1.0, 1.0], [2.0, 2.0])
    # spikes up to the decision: 2 inputs at step 0, 2 hidden (h1 fires only later), 2 outputs
    assert _one(m, PIXELS_A) == (1, 0, False, [-1, 0, 0], [2, 2, 2])


def test_later_decision_counts_only_spikes_up_to_it():
    # K_o = 1. o0: -2 at step 0 (h0, h2), -1 at 155 (h1); o1: -2, -3; o2: 0, -1: nobody fires,
    # fallback on the final counts -1, -3, -1 -> tie -> o0; all 5 inputs, 3 hidden, 0 outputs
    out = [[-1, 1, -1, 1], [-1, -1, -1, -1], [1, -1, -1, 1]]
    m = _model([NET_A_HIDDEN, out], [1.0, 1.0], [2.0, 1.0])
    assert _one(m, PIXELS_A) == (0, 255, True, [-1, -1, -1], [5, 3, 0])
    out2 = [[1, 1, -1, 1], [-1, -1, -1, -1], [-1, 1, 1, -1]]
    m2 = _model([NET_A_HIDDEN, out2], [1.0, 1.0], [2.0, 1.0])
    # o0: 0 at 0, 1 at 155 -> fires 155; o2: 0 at 0, 1 at 155 -> fires 155; counts tie -> o0
    # inputs spiked by 155: 4; hidden by 155: h0, h2, h1
    assert _one(m2, PIXELS_A) == (0, 155, False, [155, -1, 155], [4, 3, 2])


def test_largest_count_wins_over_lower_index():
    # one weight layer; three inputs at step 0; K=1: o0 count 1, o1 count 3 -> o1
    m = _model([[[1, -1, 1, 1], [1, 1, 1, 1], [-1, -1, -1, 1]]], [1.0], [1.0])
    assert _one(m, [255, 255, 255, 0]) == (1, 0, False, [0, 0, -1], [3, 2])


def test_fallback_largest_final_count_then_lowest_index():
    # K = ceil(7.5 / 2.5) = 3; inputs at steps 0 and 155 only: nobody reaches 3
    w = [[1, 1, 1, 1], [1, -1, 1, 1], [1, 1, -1, -1]]
    m = _model([w], [2.5], [7.5])
    assert m.thresholds() == [3]
    assert _one(m, [255, 100, 0, 0]) == (0, 255, True, [-1, -1, -1], [2, 0])
    w2 = [[1, -1, 1, 1], [1, 1, 1, 1], [-1, 1, 1, 1]]
    assert _one(_model([w2], [2.5], [7.5]), [255, 100, 0, 0]) == (
        1,
        255,
        True,
        [-1, -1, -1],
        [2, 0],
    )


def test_threshold_is_reached_with_equality():
    # alpha 5, theta 100 -> K = 20: o0 gets exactly 20 at step 245, o1 gets 19 - 1 = 18
    m = _model([[[1.0] * 20 + [-1.0] * 5, [1.0] * 19 + [-1.0] * 6]], [5.0], [100.0])
    assert m.thresholds() == [20]
    assert _one(m, [10] * 20 + [0] * 5) == (0, 245, False, [245, -1], [20, 1])


def test_real_weights_s4nn():
    # potential = sum of W; o0: 0.6 then 1.1 at step 100; o1: 0.3 then 1.2 -> both fire at 100,
    # o1 has the larger potential
    m = _model([[[0.6, 0.5], [0.3, 0.9]]], [1.0], [1.0], kind="real")
    assert _one(m, [255, 155]) == (1, 100, False, [100, 100], [2, 2])


def test_sort_inputs_orders_by_step_then_index():
    order = np.empty(6, np.int64)
    starts = np.empty(257, np.int64)
    n = kernels.sort_inputs(np.array([0, 10, 255, 10, 254, 255], np.uint8), order, starts)
    assert n == 5
    assert order[:5].tolist() == [2, 5, 4, 1, 3]
    assert starts[:3].tolist() == [0, 2, 3]
    assert starts[245:247].tolist() == [3, 5] and starts[256] == 5


def test_training_forward_gives_fake_spikes_at_tmax():
    m = _model(
        [NET_A_HIDDEN, [[1, 1, -1, 1], [1, -1, 1, -1], [1, 1, 1, 1]]], [1.0, 1.0], [2.0, 2.0]
    )
    sizes = np.array([6, 4, 3])
    woff = np.array([0, 24, 36])
    noff = np.array([0, 4, 7])
    fw = np.concatenate([b.T.ravel() for b in m.binary_weights()]).astype(np.int8)
    thr = np.array([2, 2], np.int32)
    order, starts = np.empty(6, np.int64), np.empty(257, np.int64)
    kernels.sort_inputs(np.array(PIXELS_A, np.uint8), order, starts)
    _, _, buf = kernels.forward_buffers(6, 7, 2, thr)
    res = kernels.forward(order, starts, kernels.Layout(sizes, woff, noff), fw, thr, False, buf)
    assert res == (1, 0, False)
    # run to the end: h1 fires at 155, h3 silent; o0 gets h1 at 155 -> count 1 < 2: silent
    assert buf.times.tolist() == [0, 155, 0, 256, 256, 0, 0]
    assert buf.fired_n.tolist() == [3, 2]


@pytest.mark.parametrize(
    "gamma,silent_paper,times,label,expected",
    [
        (1.0, False, [10, 12, 10, 30], 1, [11, 10, 11, 30]),  # label late: target tau, ties +gamma
        (1.0, False, [10, 12, 11, 30], 0, [10, 12, 11, 30]),  # label alone first: no error
        (3.0, False, [10, 12, 11, 30], 0, [10, 13, 13, 30]),  # within gamma -> tau + gamma
        (3.0, False, [254, 256, 255, 256], 3, [256, 256, 256, 254]),  # capped at tmax
        (1.0, False, [256, 256, 256, 256], 2, [256, 256, 256, 256]),  # all silent, code: no error
        (2.0, True, [256, 256, 256, 256], 2, [256, 256, 254, 256]),  # all silent, paper
    ],
)
def test_output_targets_eq6(gamma, silent_paper, times, label, expected):
    target = np.empty(4)
    tau = kernels.output_targets(np.array(times, np.int64), label, gamma, silent_paper, target)
    assert tau == min(times)
    assert target.tolist() == expected


@pytest.mark.parametrize(
    "times,label,expected",
    [
        ([10, 12, 10, 30], 0, [8, 12, 11, 30]),  # label tied at tau: target tau - lead
        ([10, 12, 10, 30], 1, [11, 10, 11, 30]),  # label late: unchanged (target tau)
        ([10, 12, 11, 30], 0, [10, 12, 11, 30]),  # label alone first: unchanged, no error
        ([1, 1, 5, 30], 1, [2, 0, 5, 30]),  # the lead stops at step 0
    ],
)
def test_output_targets_tie_lead(times, label, expected):
    target = np.empty(4)
    kernels.output_targets(np.array(times, np.int64), label, 1.0, False, target, 2.0)
    assert target.tolist() == expected


def test_exact_threshold_count_matches_fractions():
    rng = np.random.default_rng(0)
    pairs = [
        (100.0, 5.0),
        (0.3, 0.1),
        (700.0, 7.0),
        (1.0, 3.0),
        (100.0, 3.3333333333333335),
        (1e-3, 1e-3),
        (5.0, 1e-9),
    ]
    pairs += [
        (float(t), float(a))
        for t, a in zip(rng.uniform(1, 1000, 2000), rng.uniform(0.01, 20, 2000), strict=True)
    ]
    # alphas just around theta / k, where a float division would round across the integer
    for k in (3, 7, 20, 49):
        a = 100.0 / k
        pairs += [(100.0, np.nextafter(a, 0)), (100.0, a), (100.0, np.nextafter(a, 1e9))]
    for theta, alpha in pairs:
        expected = threshold_count(theta, alpha)
        assert kernels.threshold_count_exact(theta, alpha) == expected, (theta, alpha)
        assert Fraction(expected) * Fraction(alpha) >= Fraction(theta)
