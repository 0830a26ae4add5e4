"""The surrogate rule (trainer/surrogate.py, trainer/surrogate_net.py): its soft forward against
hand-worked first crossings, its gradients against finite differences of a slow loop version,
the sparse input layer (trainer/surrogate_kernels.py) against the dense one, the Adam kernel
against its numpy formula, augmentation, determinism and bit-identical resume of tiny runs,
option errors."""

from pathlib import Path

import numba
import numpy as np
import pytest

from bs4nn.cli import main
from bs4nn.trainer import surrogate_kernels
from bs4nn.trainer.calibrate import accuracy_with_thresholds
from bs4nn.trainer.datasets import load_dataset, train_val_split
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model
from bs4nn.trainer.run import checkpoint_path
from bs4nn.trainer.semantics import binarize
from bs4nn.trainer.surrogate import (
    augment,
    default_training_ks,
    make_surrogate_config,
    train_surrogate,
)
from bs4nn.trainer.surrogate_net import (
    NOT_ONE,
    Buffers,
    LossSettings,
    SpikeBatch,
    forward,
    input_backward,
    input_forward,
    intensity_levels,
    layer_backward,
    layer_forward,
    layers_loss_and_grads,
    loss_and_grads,
    spike_levels,
)


def _spiked(first, n_levels, dtype=np.float32):
    """(n, m) spike levels -> (L, n, m) 0/1: has the pixel spiked by level l."""
    return (first[None, :, :] <= np.arange(n_levels)[:, None, None]).astype(dtype)


def test_levels_and_spike_levels():
    assert intensity_levels(16).tolist() == [
        240,
        224,
        208,
        192,
        176,
        160,
        144,
        128,
        112,
        96,
        80,
        64,
        48,
        32,
        16,
        1,
    ]
    assert intensity_levels(4).tolist() == [192, 128, 64, 1]
    # equal shares of the spiking pixels; one intensity is never split across levels
    pixels = np.array([[255] * 6 + [200] * 3 + [100] * 2 + [7, 0, 0]], np.uint8)
    assert intensity_levels(4, pixels).tolist() == [255, 200, 1]  # shares of 3: 6, 3, 3 pixels
    assert intensity_levels(12, pixels).tolist() == [255, 200, 100, 1]  # the last takes 7
    first = spike_levels(np.array([[255, 192, 191, 1, 0]], np.uint8), intensity_levels(4))
    assert first.dtype == np.uint16
    assert first.tolist() == [[0, 0, 1, 3, 4]]  # 4: never (the number of levels)
    # pixel dropout: the pixels whose uniform draw is below the rate never spike
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (30, 784)).astype(np.uint8)
    draws = rng.random(images.shape, np.float32)
    expect = spike_levels(images, intensity_levels(16))
    expect[draws < 0.1] = 16
    assert np.array_equal(spike_levels(images, intensity_levels(16), draws, 0.1), expect)
    w = rng.standard_normal((50, 7)).astype(np.float32)
    w[0, :3] = [0.0, -0.0, -1e-30]
    assert np.array_equal(surrogate_kernels.signs(w), binarize(w))


def test_narrow_crossings_give_the_quantised_first_crossing():
    # 4 levels (192, 128, 64, 1); the pixels spike at levels 0, 1, 2, 3
    first = spike_levels(np.array([[200, 150, 100, 30]], np.uint8), intensity_levels(4))
    hidden = np.array([[1, -1], [1, 1], [-1, 1], [1, 1]], np.int8)  # (inputs, neurons)
    out = np.array([[1, -1], [1, 1]], np.float64)
    # hidden 0, K 2: counts 1, 2 -> fires at level 1; hidden 1: counts -1, 0, 1, 2 -> level 3
    # output 0, K 1: hidden 0 at level 1 -> level 1; output 1: counts -1 (level 1), 0 (level 3)
    # -> silent, soft level 4 (the number of levels)
    fired, _, _ = forward([hidden, out], first, 4, [2, 1], [1e-3, 1e-3])
    assert np.allclose((1.0 - fired).sum(axis=1), [[1.0, 4.0]], atol=1e-5)
    assert fired.shape == (1, 4, 2)
    # wide crossings are soft: the output that stays one count short fires with some
    # probability, the one that crosses is not sure to
    soft, _, _ = forward([hidden, out], first, 4, [2, 1], [1.0, 1.0])
    assert 0.1 < soft[0, 3, 1] < 0.9 and 0.1 < soft[0, 1, 0] < 0.9


def _slow_loss(signs, spiked, labels, ks, widths, beta, masks, count_loss=0.0, count_beta=0.0):
    """The same loss with loops over samples, neurons and levels."""
    total = 0.0
    n_levels, n_samples, _ = spiked.shape
    for n in range(n_samples):
        fired = spiked[:, n, :]
        for ly, s in enumerate(signs):
            nxt = np.zeros((n_levels, s.shape[1]))
            for j in range(s.shape[1]):
                not_fired = 1.0
                for lv in range(n_levels):
                    count = sum(fired[lv, i] * s[i, j] for i in range(s.shape[0]))
                    p = 1.0 / (1.0 + np.exp(-(count - ks[ly] + 0.5) / widths[ly]))
                    not_fired *= 1.0 - NOT_ONE * p
                    nxt[lv, j] = 1.0 - not_fired
            if ly < len(signs) - 1:
                nxt *= masks[ly][n]
            last_in, fired = fired[-1], nxt
        logits = -beta * (1.0 - fired).sum(axis=0)
        total -= logits[labels[n]] - np.log(np.exp(logits).sum())
        counts = np.array(
            [
                sum(last_in[i] * signs[-1][i, j] for i in range(len(last_in)))
                for j in range(signs[-1].shape[1])
            ]
        )
        total -= count_loss * (
            count_beta * counts[labels[n]] - np.log(np.exp(count_beta * counts).sum())
        )
    return total / n_samples


@pytest.mark.parametrize(
    "count_loss, hidden",
    [
        (0.0, [5, 4]),
        (0.7, [5, 4]),
        (0.0, [5]),  # one hidden layer: one_hidden_step, image by image
        (0.7, [5]),
    ],
)
def test_gradients_match_finite_differences_of_slow_loss(count_loss, hidden):
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (4, 7)).astype(np.uint8)
    first = spike_levels(pixels, intensity_levels(5))
    # the input layer's signs are +-1 (its counts are integers); the later layers' are
    # perturbed off +-1: the gradient formulas hold at real values too
    signs = [np.where(rng.random((7, 5)) < 0.5, 1, -1).astype(np.int8)]
    signs += [
        np.sign(rng.standard_normal(shape)) + 0.1 * rng.standard_normal(shape)
        for shape in zip(hidden, hidden[1:] + [3], strict=True)
    ]
    labels = np.array([0, 2, 1, 2])
    masks = [rng.integers(0, 2, (4, 5)).astype(np.float32), np.ones((4, 4))][: len(hidden)]
    ks, widths = [1] * (len(hidden) + 1), [1.5, 0.7, 2.0][-len(hidden) - 1 :]
    args = (labels, ks, widths, 0.8, masks, count_loss, 0.3)
    loss, right, grads = loss_and_grads(
        signs,
        SpikeBatch(first=first, n_levels=5, labels=labels, hidden_masks=masks),
        LossSettings(ks=ks, widths=widths, beta=0.8, count_loss=count_loss, count_beta=0.3),
    )
    slow_signs = [signs[0].astype(np.float64)] + signs[1:]
    slow_args = (_spiked(first, 5, np.float64), *args)
    # the input layer is float32 (with one hidden layer, the whole network)
    assert loss == pytest.approx(_slow_loss(slow_signs, *slow_args), rel=1e-6)
    if count_loss:  # the count term is in the loss
        assert loss > _slow_loss(slow_signs, *slow_args[:6]) + 0.1
    assert 0 <= right <= 4
    eps = 1e-6
    for ly, s in enumerate(slow_signs):
        numeric = np.zeros_like(s)
        for idx in np.ndindex(*s.shape):
            up = [x.copy() for x in slow_signs]
            down = [x.copy() for x in slow_signs]
            up[ly][idx] += eps
            down[ly][idx] -= eps
            numeric[idx] = (_slow_loss(up, *slow_args) - _slow_loss(down, *slow_args)) / (2 * eps)
        assert np.allclose(grads[ly], numeric, rtol=1e-4, atol=1e-6 * np.abs(numeric).max()), ly
        assert np.abs(numeric).max() > 1e-4  # every layer gets a gradient
    assert np.abs(grads[0]).max() > 1e-4
    assert not np.any(grads[0][:, masks[0].sum(axis=0) == 0])  # dropped neurons learn nothing


def test_sparse_input_layer_equals_the_dense_layer():
    """The input layer's kernels against `layer_forward` / `layer_backward` on the (n, L, 784)
    0/1 spikes by level (float32 products): the same fired probabilities bit for bit, the same
    sign gradients but for the order of the float32 sums."""
    rng = np.random.default_rng(7)
    n_levels, k, width = 25, 20, 2.0
    images = (rng.random((16, 784)) < 0.25) * rng.integers(1, 256, (16, 784))
    first = spike_levels(images.astype(np.uint8), intensity_levels(n_levels))
    signs = np.where(rng.random((784, 300)) < 0.5, 1, -1).astype(np.int8)
    mask = (rng.random((16, 300)) >= 0.2).astype(np.float32)
    d_fired = rng.standard_normal((16, n_levels, 300)).astype(np.float32)
    dense = np.ascontiguousarray(_spiked(first, n_levels).transpose(1, 0, 2))  # (n, L, m)
    fired_dense, cache = layer_forward(dense, signs.astype(np.float32), k, width)
    grads_dense, _ = layer_backward(
        d_fired * mask[:, None, :], signs.astype(np.float32), width, cache, input_grad=False
    )
    assert 0.05 < fired_dense.mean() < 0.95  # neither silent nor saturated
    fired, cache = input_forward(first, signs, n_levels, k, width, mask)
    assert np.array_equal(fired, fired_dense * mask[:, None, :])
    grads = input_backward(d_fired.copy(), width, cache)
    assert np.allclose(grads, grads_dense, rtol=0, atol=1e-5 * np.abs(grads_dense).max())
    assert not np.array_equal(grads, grads_dense)  # the float32 sums run in another order


@pytest.mark.parametrize("count_loss", [0.0, 1.0])
def test_one_hidden_step_equals_the_layers(count_loss, monkeypatch):
    """One hidden layer runs image by image (one_hidden_step): the same losses, rights and
    gradients as layer by layer but for the order of the float32 sums, and the same bits
    with one thread or two."""
    rng = np.random.default_rng(11)
    n, n_levels = 40, 25
    images = (rng.random((n, 784)) < 0.25) * rng.integers(1, 256, (n, 784))
    first = spike_levels(images.astype(np.uint8), intensity_levels(n_levels))
    signs = [
        np.where(rng.random((784, 300)) < 0.5, 1, -1).astype(np.int8),
        np.where(rng.random((300, 10)) < 0.5, 1, -1).astype(np.float32),
    ]
    masks = [(rng.random((n, 300)) >= 0.2).astype(np.float32)]
    batch = SpikeBatch(
        first=first, n_levels=n_levels, labels=rng.integers(0, 10, n), hidden_masks=masks
    )
    settings = LossSettings(
        ks=[20, 15], widths=[2.0, 4.0], beta=0.5, count_loss=count_loss, count_beta=0.1
    )
    loss, right, grads = layers_loss_and_grads(signs, batch, settings)
    runs = []
    for threads in (1, 2):
        monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", threads)
        got = loss_and_grads(signs, batch, settings, buffers=Buffers())
        runs.append((got[0], got[1], [g.copy() for g in got[2]]))
    assert runs[0][:2] == runs[1][:2]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][2], runs[1][2], strict=True))
    got_loss, got_right, got_grads = runs[0]
    assert got_loss == pytest.approx(loss, rel=1e-6) and got_right == right
    for got, expect in zip(got_grads, grads, strict=True):
        assert got.shape == expect.shape and got.dtype == np.float32
        assert np.abs(expect).max() > 1e-4
        assert np.allclose(got, expect, rtol=0, atol=1e-5 * np.abs(expect).max())
        assert not np.array_equal(got, expect)  # the float32 sums run in another order


def test_adam_kernel_equals_its_numpy_formula():
    rng = np.random.default_rng(1)
    shape = (50, 30)
    w = rng.uniform(-1.1, 1.1, shape).astype(np.float32)
    m = (1e-3 * rng.standard_normal(shape)).astype(np.float32)
    v = (1e-6 * rng.random(shape)).astype(np.float32)
    g = (1e-3 * rng.standard_normal(shape)).astype(np.float32)
    expect_w, expect_m, expect_v = w.copy(), m.copy(), v.copy()
    lr, c1, c2 = 2e-3, 1 - 0.9**7, 1 - 0.999**7
    expect_m *= 0.9
    expect_m += 0.1 * g
    expect_v *= 0.999
    expect_v += 0.001 * g * g
    expect_w -= (lr * (expect_m / c1) / (np.sqrt(expect_v / c2) + 1e-8)).astype(np.float32)
    np.clip(expect_w, -1.0, 1.0, out=expect_w)
    surrogate_kernels.adam_step(w, m, v, g, np.float32(lr), np.float32(c1), np.float32(c2))
    for got, expect in ((w, expect_w), (m, expect_m), (v, expect_v)):
        assert got.dtype == np.float32 and np.array_equal(got, expect)
    assert (np.abs(w) == 1.0).sum() > 0  # some were clipped
    average, keep = rng.random(shape).astype(np.float32), 1.0 - 1.0 / 1000
    expect = average * keep + (1.0 - keep) * w
    surrogate_kernels.average_step(average, w, np.float32(keep), np.float32(1.0 - keep))
    assert np.array_equal(average, expect)


def test_augment_shifts_with_zero_fill_and_flips_symmetric_classes():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (40, 784)).astype(np.uint8)
    labels = np.arange(40) % 10
    cfg = make_surrogate_config("mnist-600", shift=2)
    shifted = augment(images, labels, cfg, np.random.default_rng(1)).reshape(-1, 28, 28)
    seen = set()
    for img, src in zip(shifted, images.reshape(-1, 28, 28), strict=True):
        padded = np.pad(src, 2)
        hits = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if np.array_equal(img, padded[dy : dy + 28, dx : dx + 28])
        ]
        assert len(hits) == 1
        seen.add(hits[0])
    assert len(seen) > 5  # shifts vary over the batch
    cfg = make_surrogate_config("fashion-1000", shift=0)
    flipped = augment(images, labels, cfg, np.random.default_rng(1)).reshape(-1, 28, 28)
    src = images.reshape(-1, 28, 28)
    mirrored = [not np.array_equal(f, s) for f, s in zip(flipped, src, strict=True)]
    for m, f, s, y in zip(mirrored, flipped, src, labels, strict=True):
        assert np.array_equal(f, s[:, ::-1] if m else s)
        assert not (m and y in (5, 7, 9))  # sandals, sneakers, boots are not symmetric
    assert 5 <= sum(mirrored) <= 23


def _tiny(**kw):
    base = dict(hidden=[24], epochs=2, train_limit=1024, val_size=300, seed=5, levels=8, lr=0.02)
    base.update(kw)
    return make_surrogate_config("mnist-600", **base)


def _run(cfg, out, data_dir, **kw):
    return train_surrogate(cfg, out, data_dir=data_dir, progress=False, log=lambda s: None, **kw)


@pytest.mark.parametrize("average, count_loss", [(0, 0.0), (5, 1.0)])
def test_tiny_run_is_deterministic_resumable_and_selected_on_validation(
    tmp_path, data_dir, average, count_loss, interrupt_after_epoch_1
):
    cfg = _tiny(average_batches=average, count_loss=count_loss)
    whole = _run(cfg, tmp_path / "whole.bs4nn", data_dir)
    again = _run(cfg, tmp_path / "again.bs4nn", data_dir)
    assert whole.model.content_hash == again.model.content_hash

    out = tmp_path / "part.bs4nn"
    interrupt_after_epoch_1(lambda o, **kw: _run(cfg, o, data_dir, **kw), out, 1000.0)
    with pytest.raises(Bs4nnError, match=r"holds an earlier run's epochs: add --resume"):
        _run(cfg, out, data_dir)  # a fresh start would replace the checkpoint
    with pytest.raises(Bs4nnError, match=r"different settings \(seed\)"):
        _run(
            _tiny(average_batches=average, count_loss=count_loss, seed=6),
            out,
            data_dir,
            resume=True,
        )
    resumed = _run(cfg, out, data_dir, resume=True)
    assert not checkpoint_path(out).exists()
    assert all(
        np.array_equal(a, b)
        for a, b in zip(resumed.model.weights, whole.model.weights, strict=True)
    )
    assert resumed.model.thresholds() == whole.model.thresholds()
    for key in ("val_acc", "val_acc_ema"):
        assert [h[key] for h in resumed.history] == [h[key] for h in whole.history]
    assert all((h["val_acc_ema"] is None) == (average == 0) for h in whole.history)
    # the time of the whole run (epoch 1 "took 1000 s"), not only of the part after the resume
    assert resumed.history[0]["seconds"] == 1000.0
    assert resumed.model.metrics["train_seconds"] >= sum(h["seconds"] for h in resumed.history)

    # the saved model is the exact network of the best epoch at its calibrated thresholds
    saved = Model.load(out)
    best = max(max(h["val_acc"], h["val_acc_ema"] or 0) for h in whole.history)
    assert saved.metrics["val_accuracy"] == best
    best_epoch = [h["epoch"] for h in whole.history if best in (h["val_acc"], h["val_acc_ema"])][0]
    assert saved.metrics["best_epoch"] == best_epoch
    assert saved.train_config["rule"] == "surrogate"
    # what bench/reproduce.py needs to rebuild it: the preset, the seed, and how long it took
    assert (saved.train_config["preset"], saved.seed, saved.train_config["seed"]) == (
        "mnist-600",
        5,
        5,
    )
    assert saved.metrics["train_seconds"] > 0
    # the count term's settings are recorded when it is on (runs without it record neither)
    assert saved.train_config.get("count_loss") == (count_loss or None)
    assert set(np.unique(np.concatenate([w.ravel() for w in saved.weights]))) == {-1.0, 1.0}
    images, labels = load_dataset("mnist", "train", data_dir)
    _, val_idx = train_val_split(len(images), 300, 5)
    assert (
        accuracy_with_thresholds(saved, saved.thresholds(), images[val_idx], labels[val_idx])
        == saved.metrics["val_accuracy"]
    )
    assert saved.metrics["val_accuracy"] > 0.4  # it learned in 2,000 samples (chance: 10%)


def test_default_training_k_is_at_most_a_tenth_of_each_layers_fan_in():
    assert default_training_ks([784, 600, 10]) == [20, 30]
    assert default_training_ks([784, 600, 600, 10]) == [20, 20, 30]
    assert default_training_ks([784, 37, 13, 10]) == [20, 3, 1]
    assert default_training_ks([49, 100, 10]) == [4, 10]
    assert default_training_ks([5, 3, 2]) == [1, 1]
    assert make_surrogate_config("mnist-600", hidden=[37, 13]).k_train == [20, 3, 1]
    assert make_surrogate_config("fashion-600-600").k_train == [20, 20, 30]


def test_a_second_hidden_layer_of_37_inputs_learns_with_the_default_k(tmp_path, data_dir):
    """At the old default K 20 over 37 inputs the second hidden layer never fired, nor did any
    output: every decision was the fallback, and validation stayed at chance (10.14%)."""
    cfg = make_surrogate_config("mnist-600", hidden=[37, 13], epochs=2, train_limit=3000)
    assert _run(cfg, tmp_path / "m.bs4nn", data_dir).val_accuracy > 0.15


def test_config_and_cli_errors(capsys, tmp_path):
    with pytest.raises(Bs4nnError, match="flip is for Fashion-MNIST"):
        make_surrogate_config("mnist-600", flip=True)
    with pytest.raises(Bs4nnError, match=r"k_train needs one value per weight layer \(2\)"):
        make_surrogate_config("mnist-600", k_train=[20])
    with pytest.raises(Bs4nnError) as above_fan_in:
        make_surrogate_config("mnist-600", hidden=[37, 13], k_train=[20, 3, 14])
    assert str(above_fan_in.value) == (
        "training K [20, 3, 14]: weight layer 3 of 3 has K = 14 but only 13 inputs, so none of "
        "its neurons could fire; give it a K of at most its fan-in"
    )
    with pytest.raises(Bs4nnError, match="count_loss must be at least 0 and count_beta positive"):
        make_surrogate_config("mnist-600", count_loss=1.0, count_beta=0.0)
    with pytest.raises(Bs4nnError, match="--levels must be within 2..256"):
        make_surrogate_config("mnist-600", levels=1)
    assert make_surrogate_config("fashion-600-600", hidden=[50]).widths_end == [0.5, 1.0]
    with pytest.raises(Bs4nnError, match="--val-size must be at least 1"):
        train_surrogate(make_surrogate_config("mnist-600", val_size=0), tmp_path / "x.bs4nn")
    out = str(tmp_path / "m.bs4nn")
    assert main(["train", "--rule", "surrogate", "--gamma", "2", "--clip", "1", "--out", out]) == 2
    assert (
        "--gamma, --clip: for the paper's rule only, not with --rule surrogate"
        in capsys.readouterr().err
    )
    assert main(["train", "--shift", "2", "--count-loss", "1", "--out", out]) == 2
    assert (
        "--shift, --count-loss: for --rule surrogate only, not with --rule paper"
        in capsys.readouterr().err
    )
    assert main(["train", "--rule", "surrogate", "--weights", "real", "--out", out]) == 2
    assert "trains binary weights only" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["mnist-600", "fashion-1000", "fashion-600-600"])
def test_shipped_surrogate_models_hold_their_preset_settings(preset):
    """`bench/reproduce.py PRESET --rule surrogate` rebuilds the shipped model only while the
    preset's settings are the ones the model was trained with."""
    path = Path(__file__).resolve().parents[1] / "models" / f"{preset}-surrogate.bs4nn"
    model = Model.load(path)
    saved = dict(model.train_config)
    # models trained while a second soft crossing existed record the one they used
    assert saved.pop("crossing", "hazard") == "hazard"
    assert saved == make_surrogate_config(preset).to_dict()
    history = model.metrics["history"]
    assert model.metrics["val_accuracy"] == max(
        max(h["val_acc"], h["val_acc_ema"] or 0.0) for h in history
    )


def test_the_log_says_when_quantile_levels_are_fewer_than_asked(tmp_path, data_dir):
    """MNIST's strokes are a few intensities: 32 quantile levels merge into fewer, and the
    header's "32 levels" is not what the run trains with."""
    lines: list[str] = []
    cfg = _tiny(epochs=1, levels=32, level_spacing="quantile")
    train_surrogate(cfg, tmp_path / "m.bs4nn", data_dir=data_dir, progress=False, log=lines.append)
    images, _ = load_dataset("mnist", "train", data_dir)
    train_idx, _ = train_val_split(len(images), 300, 5)
    levels = intensity_levels(32, images[train_idx[: cfg.train_limit]])
    assert len(levels) < 32
    said = [line for line in lines if line.startswith("training levels")]
    assert said == [
        f"training levels ({len(levels)} of the 32 asked: a level never splits one intensity), "
        f"the lowest intensity of each: {' '.join(map(str, levels))}"
    ]
