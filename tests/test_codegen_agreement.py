"""The integer reference (codegen) and the trainer's evaluation are written independently; on
real test images they must agree on every field for every image."""

import numpy as np
import pytest

from bs4nn.codegen.agreement import compare_with_trainer
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.model import model_from_arrays


@pytest.mark.parametrize(
    "sizes,thetas", [((784, 64, 10), (60.0, 8.0)), ((784, 48, 32, 10), (60.0, 8.0, 6.0))]
)
def test_reference_equals_trainer_on_mnist_test_images(sizes, thetas):
    rng = np.random.default_rng(7)
    weights = [
        rng.normal(0.1, 1.0, size=(n_out, n_in))
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    model = model_from_arrays(weights, [2.0] * len(weights), list(thetas), dataset="mnist")
    images, _ = load_dataset("mnist", "test")
    images = images[:2000]
    intmodel = IntModel.from_model(model)
    ref = reference_batch(intmodel, images)
    # the networks must exercise the interesting cases, or the comparison proves little
    assert 0 < ref.fallback.sum() < len(images)
    assert len(np.unique(ref.decision_steps)) > 20
    assert (((ref.output_steps >= 0).sum(axis=1)) > 1).any()  # simultaneous output spikes
    agreement = compare_with_trainer(model, intmodel, images)
    assert agreement.images == 2000
    assert agreement.mismatched == [], agreement.details


@pytest.mark.parametrize(
    ("name", "changed", "line"),
    [
        ("labels", 4, "image 1: labels ref=3 got=4"),
        ("decision_steps", 8, "image 1: decision_steps ref=7 got=8"),
        ("fallback", True, "image 1: fallback ref=False got=True"),
        ("output_steps", [7, -1], "image 1: output_steps ref=[-1, 7] got=[7, -1]"),
        ("spikes", [9, 2, 1], "image 1: spikes ref=[9, 2, 2] got=[9, 2, 1]"),
    ],
)
def test_a_difference_in_any_one_field_is_a_mismatch(name, changed, line):
    """Each field on its own: a kernel that only broke the tie-break (labels) or the fallback
    flag must be caught as surely as one that broke the spike times."""
    from dataclasses import replace

    from bs4nn.codegen.agreement import mismatches
    from bs4nn.codegen.reference import RefBatch

    ref = RefBatch(
        labels=np.array([1, 3], np.int16),
        decision_steps=np.array([5, 7], np.int16),
        fallback=np.array([False, False]),
        output_steps=np.array([[5, -1], [-1, 7]], np.int16),
        spikes=np.array([[4, 2, 1], [9, 2, 2]], np.int32),
    )
    column = getattr(ref, name).copy()
    column[1] = changed
    assert mismatches(ref, replace(ref, **{name: column})) == [line]
    assert mismatches(ref, ref) == []
