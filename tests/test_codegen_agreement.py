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
