"""Evaluation figures on a hand-made network, and `bs4nn eval`."""

import json

import numpy as np
import pytest

from bs4nn.cli import main
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import evaluate, firing_steps, forward_batch
from bs4nn.trainer.model import model_from_arrays

# One weight layer, K = 1: o0 = [+1, -1, +1, +1], o1 = all +1, o2 = [-1, -1, -1, +1].
NET = [np.array([[1, -1, 1, 1], [1, 1, 1, 1], [-1, -1, -1, 1]], dtype=np.float64)]
IMAGES = np.array(
    [
        [255, 255, 255, 0],  # step 0: o0 = 1, o1 = 3 (fire), o2 = -3 -> o1 by count
        [0, 0, 0, 255],  # step 0: all three reach 1 -> o0 (lowest index)
        [255, 0, 0, 0],  # step 0: o0 = o1 = 1 fire, o2 = -1 -> o0
        [0, 0, 0, 0],  # nothing spikes: fallback, all counts 0 -> o0 at step 255
    ],
    dtype=np.uint8,
)
LABELS = np.array([1, 2, 1, 2], dtype=np.uint8)


def test_forward_batch_per_image():
    r = forward_batch(model_from_arrays(NET, [1.0], [1.0]), IMAGES)
    assert r.labels.tolist() == [1, 0, 0, 0]
    assert r.steps.tolist() == [0, 0, 0, 255]
    assert r.fallback.tolist() == [False, False, False, True]
    assert r.output_steps.tolist() == [[0, 0, -1], [0, 0, 0], [0, 0, -1], [-1, -1, -1]]
    assert r.spikes.tolist() == [[3, 2], [1, 3], [1, 2], [0, 0]]


def test_forward_batch_with_other_thresholds():
    # K = 2: only o1 (count 3) fires on image 0; the others end with counts <= 1 -> fallback
    r = forward_batch(model_from_arrays(NET, [1.0], [1.0]), IMAGES, thresholds=[2])
    assert r.labels.tolist() == [1, 0, 0, 0]
    assert r.steps.tolist() == [0, 255, 255, 255]
    assert r.fallback.tolist() == [False, True, True, True]
    same = forward_batch(model_from_arrays(NET, [1.0], [2.0]), IMAGES)
    assert r.output_steps.tolist() == same.output_steps.tolist()
    assert r.spikes.tolist() == same.spikes.tolist()


def test_firing_steps_per_layer_without_early_stopping():
    # hidden h0 = [+1, +1, -1, -1], h1 = h2 = [-1, -1, +1, +1]; outputs o0 = [+1, -1, -1],
    # o1 = [-1, +1, +1]; K = 1 everywhere
    hidden = np.array([[1, 1, -1, -1], [-1, -1, 1, 1], [-1, -1, 1, 1]], dtype=np.float64)
    out = np.array([[1, -1, -1], [-1, 1, 1]], dtype=np.float64)
    model = model_from_arrays([hidden, out], [1.0, 1.0], [1.0, 1.0])
    images = np.array(
        [
            [255, 0, 100, 100],  # t 0: h0 = 1 fires; t 155: h1 = h2 = -1 + 2 fire
            [0, 0, 0, 0],
        ],
        dtype=np.uint8,
    )  # nothing spikes
    assert firing_steps(model, images, 0).tolist() == [[0, 155, 155], [256] * 3]
    # o0 fires at t 0 (the decision); o1 = -1 + 2 only at t 155, after it
    assert firing_steps(model, images, 1).tolist() == [[0, 155], [256, 256]]
    assert forward_batch(model, images).output_steps.tolist() == [[0, -1], [-1, -1]]
    with pytest.raises(Bs4nnError, match="layer must be 0..1, got 2"):
        firing_steps(model, images, 2)


def test_evaluate_figures():
    res = evaluate(model_from_arrays(NET, [1.0], [1.0]), IMAGES, LABELS, "toy", "test")
    assert res.n == 4
    assert res.accuracy == 0.25  # only image 0
    assert res.accuracy_tie_inclusive == 0.75  # images 1 and 2: the label fired at the decision
    assert res.mean_decision_step == 63.75
    assert res.fallback_rate == 0.25
    assert res.mean_spikes == [1.25, 1.75]
    assert res.confusion == [[0, 0, 0], [1, 1, 0], [2, 0, 0]]
    d = res.to_dict()
    assert d["per_class_mean_decision_step"] == [None, 0.0, 127.5]
    # full runs: image 0 and 2 -> [0, 0, 256]; image 1 -> [0, 0, 0]; image 3 -> all 256
    assert d["per_class_mean_output_step"] == [[None] * 3, [0.0, 0.0, 256.0], [128.0, 128.0, 128.0]]
    assert json.loads(json.dumps(d)) == d
    assert "accuracy (strict decision)   25.00%" in res.format_text()


def test_tie_rate_counts_decisions_where_several_outputs_fired():
    # images 0-2: two, three, two outputs fire at step 0 (ties); image 3: fallback, no output
    # fired (not a tie); image 4 [255, 255, 0, 0]: o0 = 0, o1 = 2, o2 = -2 -> o1 alone
    images = np.vstack([IMAGES, [[255, 255, 0, 0]]]).astype(np.uint8)
    res = evaluate(model_from_arrays(NET, [1.0], [1.0]), images, np.array([1, 2, 1, 2, 1]))
    assert (res.tie_rate, res.fallback_rate) == (0.6, 0.2)
    assert (res.accuracy, res.accuracy_tie_inclusive) == (0.4, 0.8)
    assert res.to_dict()["tie_rate"] == 0.6
    assert "\nfallback decisions           20.00%\ntied decisions               60.00%\n" in (
        res.format_text()
    )
    assert res.accuracy_text() == (
        "40.00% (strict), 80.00% (tie-inclusive; 60.00% of decisions tied)"
    )
    # K = 2: only o1 reaches its count (image 0 and 4, alone); the rest fall back: no ties
    res = evaluate(model_from_arrays(NET, [1.0], [2.0]), images, np.array([1, 2, 1, 2, 1]))
    assert (res.tie_rate, res.fallback_rate) == (0.0, 0.6)


def test_evaluate_rejects_bad_input():
    m = model_from_arrays(NET, [1.0], [1.0])
    with pytest.raises(Bs4nnError, match="label 3 does not exist in a model with 3 outputs"):
        evaluate(m, IMAGES, np.array([0, 1, 2, 3]))
    with pytest.raises(Bs4nnError, match="images have 5 pixels but the model expects 4"):
        forward_batch(m, np.zeros((1, 5), np.uint8))


def test_cli_eval_json_matches_api(tmp_path, data_dir, capsys):
    rng = np.random.default_rng(3)
    m = model_from_arrays(
        [rng.uniform(-1, 3, (20, 784)), rng.uniform(-1, 3, (10, 20))],
        [4.0, 2.0],
        [100.0, 10.0],
        dataset="mnist",
    )
    path = m.save(tmp_path / "m.bs4nn")
    assert main(["eval", str(path), "--limit", "30", "--json", "--data-dir", str(data_dir)]) == 0
    got = json.loads(capsys.readouterr().out)
    images, labels = load_dataset("mnist", "test", data_dir)
    assert got == evaluate(m, images[:30], labels[:30], "mnist", "test").to_dict()
    assert got["n"] == 30 and got["model_hash"] == m.content_hash
    assert main(["eval", str(tmp_path / "none.bs4nn")]) == 2
    assert capsys.readouterr().err == (
        f"bs4nn eval: error: model file {tmp_path / 'none.bs4nn'} not found; check the path, or "
        "train one with `bs4nn train`\n"
    )


def test_eval_json_saved_beside_the_model(tmp_path):
    res = evaluate(model_from_arrays(NET, [1.0], [1.0]), IMAGES, LABELS, "toy", "test")
    path = res.save_beside(tmp_path / "m.bs4nn")
    assert path == tmp_path / "m.eval.json"
    assert path.read_text() == res.to_json() + "\n"
    assert json.loads(path.read_text())["accuracy"] == 0.25


def test_a_fallback_on_the_right_label_is_right_both_ways():
    # image 3 falls back to o0 (all counts 0); labelled 0 it is right, strict and tie-inclusive
    res = evaluate(model_from_arrays(NET, [1.0], [1.0]), IMAGES, np.array([1, 2, 1, 0]))
    assert (res.accuracy, res.accuracy_tie_inclusive) == (0.5, 1.0)


def test_the_decision_step_per_class_is_a_mean():
    res = evaluate(model_from_arrays(NET, [1.0], [1.0]), IMAGES[[1, 1, 3]], np.array([2, 2, 2]))
    assert res.per_class_mean_decision_step[2] == 85.0  # steps 0, 0, 255 (median 0)


def test_images_that_do_not_fit_the_model_are_refused():
    model = model_from_arrays(NET, [1.0], [1.0])
    with pytest.raises(Bs4nnError) as exc:
        forward_batch(model, np.zeros((1, 3), np.uint8))
    assert str(exc.value) == "images have 3 pixels but the model expects 4"
    with pytest.raises(Bs4nnError) as exc:
        forward_batch(model, np.zeros((1, 4), np.int32))
    assert str(exc.value) == "images must be uint8 (N, n_in), got int32 (1, 4)"
    with pytest.raises(Bs4nnError) as exc:
        evaluate(model, IMAGES[:0], np.zeros(0, int))
    assert str(exc.value) == "need as many labels as images, at least one (0 labels, 0 images)"
    with pytest.raises(Bs4nnError) as exc:
        evaluate(model, IMAGES, np.zeros(3, int))
    assert str(exc.value) == "need as many labels as images, at least one (3 labels, 4 images)"
