"""Hidden neurons numbered for the firmware's lane words (trainer/lane_order.py)."""

import numpy as np

from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.trainer.datasets import load_dataset, train_val_split
from bs4nn.trainer.evaluate import firing_steps
from bs4nn.trainer.lane_order import co_firing_order, in_lane_order
from bs4nn.trainer.model import model_from_arrays
from bs4nn.trainer.semantics import TMAX
from bs4nn.trainer.surrogate import make_surrogate_config, train_surrogate


def test_co_firing_order_groups_neurons_that_fire_on_the_same_images():
    # over four images: 0 and 3 fire together, so do 1 and 4; 2 fires on three, 5 never
    fired = np.array(
        [
            [1, 0, 1, 1, 0, 0],
            [1, 0, 1, 1, 0, 0],
            [0, 1, 1, 0, 1, 0],
            [0, 1, 0, 0, 1, 0],
        ],
        bool,
    )
    # groups of 2: 2 fires most; 0 and 3 correlate with it alike (0.58), 0 is the lower index;
    # then 1 (the most frequent left, the lowest index) takes 4 (correlation 1); then 3 and 5
    assert co_firing_order(fired, width=2).tolist() == [2, 0, 1, 4, 3, 5]
    # groups of 4: 2 and 0, then 3 (summed correlation 1.58), then 5 (0: 1 and 4 are at
    # -2.58); the next group 1 and 4
    assert co_firing_order(fired, width=4).tolist() == [2, 0, 3, 5, 1, 4]
    assert co_firing_order(fired, width=32).tolist() == [2, 0, 3, 5, 1, 4]


def _rows_moved(before: np.ndarray, after: np.ndarray) -> list[int]:
    """Where each row of `after` was in `before`."""
    rows = {tuple(r): i for i, r in enumerate(before)}
    return [rows[tuple(r)] for r in after]


def test_a_model_in_lane_order_gives_the_same_results_on_every_image(real_data):
    """Renumbering hidden neurons changes no label, decision step, output step or spike
    count, in a network of two hidden layers of widths that are not multiples of 32."""
    rng = np.random.default_rng(3)
    sizes = [784, 45, 37, 10]
    weights = [rng.normal(size=(o, i)) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    model = model_from_arrays(weights, [1.0, 1.0, 1.0], [12.0, 4.0, 3.0], dataset="mnist")
    train = load_dataset("mnist", "train")[0][:500]
    ordered = in_lane_order(model, train)
    first = _rows_moved(model.weights[0], ordered.weights[0])
    assert first == co_firing_order(firing_steps(model, train, 0) < TMAX).tolist()
    assert first != list(range(45))
    # rows into hidden layer 2, whose columns moved with hidden layer 1
    second = _rows_moved(model.weights[1][:, first], ordered.weights[1])
    assert sorted(second) == list(range(37)) and second != list(range(37))
    assert np.array_equal(ordered.weights[1], model.weights[1][second][:, first])
    assert np.array_equal(ordered.weights[2], model.weights[2][:, second])
    assert ordered.metrics["lane_order_images"] == 500
    images = load_dataset("mnist", "test")[0][:2000]
    before = reference_batch(IntModel.from_model(model), images)
    after = reference_batch(IntModel.from_model(ordered), images)
    for field in ("labels", "decision_steps", "fallback", "output_steps", "spikes"):
        assert np.array_equal(getattr(before, field), getattr(after, field)), field
    # the check means something: both hidden layers fire on almost every image, every label
    assert (before.spikes[:, 1:3] > 0).mean() > 0.99 and len(np.unique(before.labels)) == 10


def test_a_trained_model_is_saved_in_lane_order_of_its_first_training_images(
    tmp_path, data_dir, monkeypatch
):
    cfg = make_surrogate_config(
        "mnist-600", hidden=[40], epochs=1, train_limit=1024, val_size=300, levels=8
    )

    def run(out):
        return train_surrogate(cfg, out, data_dir=data_dir, progress=False, log=lambda s: None)

    with monkeypatch.context() as unordered:  # the same run, saved as it was trained
        unordered.setattr("bs4nn.trainer.run.in_lane_order", lambda model, images: model)
        trained = run(tmp_path / "trained.bs4nn").model
    saved = run(tmp_path / "saved.bs4nn").model
    x = load_dataset("mnist", "train", data_dir=data_dir)[0]
    train_idx, _ = train_val_split(len(x), 300, cfg.seed)
    expected = in_lane_order(trained, x[train_idx[:1024]])
    assert all(np.array_equal(a, b) for a, b in zip(saved.weights, expected.weights, strict=True))
    assert not np.array_equal(saved.weights[0], trained.weights[0])
    assert saved.metrics["lane_order_images"] == 1024
    assert saved.metrics["test_accuracy"] == trained.metrics["test_accuracy"]
