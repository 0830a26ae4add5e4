"""Hand-made networks whose spike times and decisions are worked out by hand."""

import numpy as np
import pytest
from helpers import whole

from bs4nn.codegen.agreement import mismatches
from bs4nn.codegen.boards import TEMPLATE_ROOT
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch, reference_infer
from bs4nn.trainer.semantics import NO_SPIKE, NOT_FIRED, TMAX


def net(sizes, signs, thresholds):
    return IntModel(
        layer_sizes=tuple(sizes),
        thresholds=tuple(thresholds),
        signs=tuple(np.array(s, dtype=np.int8) for s in signs),
        tmax=256,
        model_hash="0" * 64,
    )


# 4 inputs -> 2 hidden (K=2) -> 2 outputs (K=1)
NET1 = net(
    [4, 2, 2],
    [
        [
            [+1, +1, +1, -1],  # h0
            [+1, -1, +1, +1],
        ],  # h1
        [
            [+1, +1],  # o0
            [+1, -1],
        ],
    ],  # o1
    [2, 1],
)


def test_tie_at_first_output_step_goes_to_lowest_index_and_stops_early():
    # pixels 255, 250, 0, 200 spike at steps 0, 5, never, 55
    r = reference_infer(NET1, np.array([255, 250, 0, 200], np.uint8))
    # h0: count 1 at t=0, 2 at t=5 -> fires at 5; h1: 1, 0 -> silent by t=5
    # h0's spike reaches o0 and o1 at t=5: both count 1 >= 1, tie -> output 0
    assert (r.label, r.decision_step, r.fallback) == (0, 5, False)
    assert r.output_steps.tolist() == [5, 5]
    # the pixel at step 55 comes after the decision and is not counted
    assert r.spikes.tolist() == [2, 1, 2]


# 3 inputs -> 3 hidden (K=1, all +1) -> 3 outputs
NET2_SIGNS = [
    [[1, 1, 1]] * 3,
    [
        [+1, -1, +1],  # o0: 1
        [+1, +1, +1],  # o1: 3
        [+1, +1, -1],
    ],
]  # o2: 1


def test_simultaneous_outputs_largest_count_wins():
    r = reference_infer(net([3, 3, 3], NET2_SIGNS, [1, 1]), np.full(3, 255, np.uint8))
    assert (r.label, r.decision_step, r.fallback) == (1, 0, False)
    assert r.output_steps.tolist() == [0, 0, 0]
    assert r.spikes.tolist() == [3, 3, 3]
    # the counts the decision compared (the EEMBC text mode's scores)
    batch = reference_batch(net([3, 3, 3], NET2_SIGNS, [1, 1]), np.full((1, 3), 255, np.uint8))
    assert batch.output_counts.tolist() == [[1, 3, 1]]


def test_fallback_largest_count_at_255():
    r = reference_infer(net([3, 3, 3], NET2_SIGNS, [1, 5]), np.full(3, 255, np.uint8))
    assert (r.label, r.decision_step, r.fallback) == (1, 255, True)
    assert r.output_steps.tolist() == [NOT_FIRED] * 3
    assert r.spikes.tolist() == [3, 3, 0]


def test_fallback_tie_goes_to_lowest_index():
    signs = [[[1, 1, 1]] * 3, [[-1, -1, +1], [+1, +1, -1], [+1, +1, -1]]]  # 1-... : -1, 1, 1
    r = reference_infer(net([3, 3, 3], signs, [1, 5]), np.full(3, 255, np.uint8))
    assert (r.label, r.decision_step, r.fallback) == (1, 255, True)


def test_count_is_taken_at_the_end_of_the_step():
    # inputs 0 and 1 both spike at t=0; h0 sees +1 then -1 -> 0 at the end of t=0: no spike
    model = net([3, 1, 1], [[[+1, -1, +1]], [[+1]]], [1, 1])
    r = reference_infer(model, np.array([255, 255, 245], np.uint8))
    assert (r.label, r.decision_step) == (0, 10)  # input 2 at t=10 brings h0 to 1
    assert r.spikes.tolist() == [3, 1, 1]


def test_spikes_cross_all_layers_within_one_step():
    model = net([2, 1, 1, 2], [[[+1, +1]], [[+1]], [[-1], [+1]]], [2, 1, 1])
    r = reference_infer(model, np.array([255, 252], np.uint8))  # steps 0 and 3
    assert (r.label, r.decision_step, r.fallback) == (1, 3, False)
    assert r.output_steps.tolist() == [NOT_FIRED, 3]
    assert r.spikes.tolist() == [2, 1, 1, 1]


def test_black_image_falls_back_to_output_0():
    r = reference_infer(NET1, np.zeros(4, np.uint8))
    assert (r.label, r.decision_step, r.fallback) == (0, 255, True)
    assert r.spikes.tolist() == [0, 0, 0]


def test_threshold_override_and_batch_equals_single():
    rng = np.random.default_rng(0)
    signs = [np.where(rng.random(shape) < 0.6, 1, -1) for shape in ((20, 30), (5, 20))]
    model = net([30, 20, 5], signs, [4, 2])
    images = (rng.random((50, 30)) * 256).astype(np.uint8)
    for ks in (None, (6, 3)):
        batch = reference_batch(model, images, ks)
        for n in range(len(images)):
            one = reference_infer(model, images[n], ks)
            assert one.label == batch.labels[n]
            assert one.decision_step == batch.decision_steps[n]
            assert one.output_steps.tolist() == batch.output_steps[n].tolist()
            assert one.spikes.tolist() == batch.spikes[n].tolist()
    assert not np.array_equal(
        reference_batch(model, images).decision_steps,
        reference_batch(model, images, (6, 3)).decision_steps,
    )
    # the override is K per layer in order: the same as a model built with those K (and not
    # as one with them the other way round)
    overridden = reference_batch(model, images, (6, 3))
    assert mismatches(reference_batch(net([30, 20, 5], signs, [6, 3]), images), overridden) == []
    assert mismatches(reference_batch(net([30, 20, 5], signs, [3, 6]), images), overridden) != []


def test_rejects_wrong_image_shape_and_dtype():
    with pytest.raises(ValueError, match=whole("images must have shape (N, 4), got (2, 5)")):
        reference_batch(NET1, np.zeros((2, 5), np.uint8))
    with pytest.raises(ValueError, match=whole("images must be uint8 pixels, got int32")):
        reference_batch(NET1, np.zeros((2, 4), np.int32))


def test_did_not_fire_has_one_value_per_representation():
    """docs/design.md section 1: TMAX in training, NOT_FIRED in Python results, NO_SPIKE in the
    firmware's uint16 and on the wire (the C header spells it BS4NN_NO_SPIKE)."""
    assert (TMAX, NOT_FIRED, NO_SPIKE) == (256, -1, 0xFFFF)
    header = (TEMPLATE_ROOT / "core" / "bs4nn_infer.h").read_text()
    assert f"#define BS4NN_NO_SPIKE 0x{NO_SPIKE:X}u " in header
