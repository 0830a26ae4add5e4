"""The learning rule against a slow plain-numpy version of the same equations; presets;
determinism and bit-identical resume of tiny runs."""

import sys
from fractions import Fraction
from math import ceil

import numpy as np
import pytest
from helpers import whole

from bs4nn.cli import main
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.trainer import kernels
from bs4nn.trainer.calibrate import accuracy_with_thresholds
from bs4nn.trainer.datasets import load_dataset, train_val_split
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import evaluate, layout
from bs4nn.trainer.kernels import LearningRule
from bs4nn.trainer.model import Model
from bs4nn.trainer.run import checkpoint_path, read_checkpoint, write_checkpoint
from bs4nn.trainer.train import make_config, train

TMAX = 256


# ------------------------------------------------------------ slow reference (dense, numpy)


def slow_times(weights, alphas, thetas, pixels, real=False):
    """Dense step-by-step simulation to t = 255; firing times per layer, input first."""
    times = [np.where(pixels > 0, 255 - pixels.astype(np.int64), TMAX)]
    times += [np.full(w.shape[0], TMAX) for w in weights]
    for t in range(TMAX):
        for ly, (w, a, th) in enumerate(zip(weights, alphas, thetas, strict=True)):
            spiked = times[ly] <= t  # spikes of step t already count at step t
            if real:
                fire = w[:, spiked].sum(axis=1) >= th
            else:
                count = np.where(w >= 0, 1, -1)[:, spiked].sum(axis=1)
                fire = count >= ceil(Fraction(th) / Fraction(a))
            times[ly + 1][fire & (times[ly + 1] == TMAX)] = t
    return times


def slow_step(weights, alphas, thetas, pixels, label, eta, mu, lam, gamma, rule, real):
    """One SGD step: Eq. 6 targets, output deltas (T - t) / tmax, Eq. 14 with the weights
    before the update, L2 normalisation, W -= eta d [t_i <= t_j],
    alpha -= mu mean(d [t_i <= t_j] B)."""
    weights = [w.copy() for w in weights]
    alphas = np.array(alphas, dtype=np.float64)
    times = slow_times(weights, alphas, thetas, pixels, real)
    out = times[-1].astype(np.float64)
    tau = out.min()
    if tau == TMAX:
        target = np.full_like(out, TMAX)
        if rule.silent_paper:
            target[label] = TMAX - gamma
    else:
        target = np.where(out - tau < gamma, min(tau + gamma, TMAX), out)
        target[label] = tau
    d = (target - out) / TMAX
    loss = 0.5 * np.sum(d**2)

    def normalize(x):
        n = np.sqrt(np.sum(x**2))
        return x / n if n != 0 else None

    d = normalize(d)
    for ly in range(len(weights) - 1, -1, -1):
        if d is None:
            break
        w = weights[ly]
        t_in, t_out = times[ly], times[ly + 1]
        causal = (t_in[None, :] <= t_out[:, None]) & (t_in[None, :] < TMAX)
        eq14 = (t_in[None, :] <= t_out[:, None]) if rule.silent_backprop else causal
        below = (d[:, None] * w * eq14).sum(axis=0)
        signs = np.where(w >= 0, 1, -1)  # the forward's signs, before this update
        w -= eta * d[:, None] * causal
        if not real:
            term = d[:, None] * causal * signs
            step = alphas[ly] - mu * np.mean(term)
            alphas[ly] = max(step, thetas[ly] / 32767)
        d = normalize(below) if ly > 0 else None
    return [w * (1 - eta * lam) for w in weights], alphas, times, loss


@pytest.fixture(scope="module")
def mnist_train(data_dir):
    return load_dataset("mnist", "train", data_dir)


# thetas per network and weight kind such that, over the 25 samples, some have every output
# silent and some a silent hidden neuron, so that both switches of the rule change the step
THETAS = {
    (3, False): [250.0, 100.0],
    (4, False): [300.0, 60.0, 60.0],
    (3, True): [180.0, 50.0],
    (4, True): [150.0, 40.0, 30.0],
}


@pytest.mark.parametrize(
    "sizes,real,rule",
    [
        ([784, 40, 10], False, LearningRule(silent_paper=False, silent_backprop=False)),
        ([784, 40, 10], False, LearningRule(silent_paper=True, silent_backprop=True)),
        ([784, 30, 20, 10], False, LearningRule(silent_paper=True, silent_backprop=True)),
        ([784, 30, 20, 10], False, LearningRule(silent_paper=False, silent_backprop=False)),
        ([784, 40, 10], False, LearningRule(silent_paper=True, silent_backprop=False)),
        ([784, 40, 10], True, LearningRule(silent_paper=False, silent_backprop=True)),
        ([784, 40, 10], True, LearningRule(silent_paper=True, silent_backprop=False)),
        ([784, 30, 20, 10], True, LearningRule(silent_paper=False, silent_backprop=False)),
    ],
)
def test_kernel_step_matches_slow_numpy(mnist_train, sizes, real, rule):
    images, labels = mnist_train
    rng = np.random.default_rng(1)
    lay = layout(sizes)
    n_layers = len(sizes) - 1
    weights = [rng.uniform(-1, 4, (sizes[ly + 1], sizes[ly])) for ly in range(n_layers)]
    thetas = np.array(THETAS[len(sizes), real])
    alphas = np.ones(n_layers) if real else np.full(n_layers, 5.0)
    v = np.concatenate([w.T.ravel() for w in weights])
    fw = v if real else np.where(v >= 0, 1, -1).astype(np.int8)
    scale = np.ones(n_layers)
    a = alphas.copy()
    thr = (
        thetas.copy()
        if real
        else np.array(
            [kernels.threshold_count_exact(t, x) for t, x in zip(thetas, a, strict=True)], np.int32
        )
    )
    lam = 1e-3  # large, so that the lazy decay is visible
    learned_from = all_silent = hidden_silent = 0
    for n in range(25):
        loss, correct = kernels.train_samples(
            images,
            labels,
            np.array([n]),
            lay,
            kernels.Learned(v, fw, scale, a, thr),
            kernels.Hyper(
                not real,
                0.1,
                0.01,
                lam,
                1.0,
                0.0,
                rule,
                thetas,
                thetas / 32767,
                np.full(n_layers, np.inf),
            ),
        )
        weights, alphas, times, slow_loss = slow_step(
            weights, alphas, thetas, images[n], labels[n], 0.1, 0.01, lam, 1.0, rule, real
        )
        learned_from += slow_loss > 0
        all_silent += times[-1].min() == TMAX
        hidden_silent += any((t == TMAX).any() for t in times[1:-1])
        kernel_w = [
            scale[ly] * v[lay.woff[ly] : lay.woff[ly + 1]].reshape(sizes[ly], -1).T
            for ly in range(n_layers)
        ]
        for w_slow, w_fast in zip(weights, kernel_w, strict=True):
            np.testing.assert_allclose(w_fast, w_slow, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a, alphas, rtol=1e-13)
        assert loss == pytest.approx(slow_loss, rel=1e-12, abs=1e-15)
        if not real:
            assert fw.tolist() == np.where(v >= 0, 1, -1).tolist()
    if not real:
        assert not np.all(a == 5.0)  # the alphas did move
    # what the comparison covered: errors to learn from, and both silences the rule treats
    assert learned_from >= 5 and all_silent >= 1 and hidden_silent >= 1


# ------------------------------------------------------------ presets and configs


def test_presets_hold_table_1():
    m = make_config("mnist-600")
    assert (m.dataset, m.layer_sizes, m.thetas, m.alphas, m.init) == (
        "mnist",
        [784, 600, 10],
        [150.0, 250.0],
        [5.0, 5.0],
        [[0.0, 0.5], [0.0, 5.0]],
    )
    assert (m.eta, m.mu, m.gamma, m.lam) == (0.1, 0.01, 3.0, 1e-6)
    assert (m.tie_lead, m.clip, m.silent_target, m.calibrate) == (1.0, [0.5, 5.0], "paper", True)
    f = make_config("fashion-1000")
    assert (f.dataset, f.layer_sizes, f.thetas, f.alphas, f.init) == (
        "fashion-mnist",
        [784, 1000, 10],
        [500.0, 700.0],
        [5.0, 10.0],
        [[0.0, 0.3], [0.0, 0.3]],
    )
    assert (f.clip, f.calibrate) == ([0.7, 0.7], True)
    d = make_config("fashion-600-600")
    assert (d.layer_sizes, d.thetas, d.alphas, d.init) == (
        [784, 600, 600, 10],
        [500.0, 500.0, 700.0],
        [10.0, 10.0, 10.0],
        [[-1.0, 1.0]] * 3,
    )
    assert (d.clip, d.calibrate) == (None, True)


def test_config_overrides_and_errors():
    c = make_config("mnist-600", hidden=[50, 40], thetas=[90.0], weights="real", epochs=2)
    assert c.layer_sizes == [784, 50, 40, 10] and not c.calibrate
    assert c.thetas == [90.0, 90.0, 90.0] and c.alphas == [1.0, 1.0, 1.0]
    with pytest.raises(Bs4nnError, match=r"give --theta once \(all layers\) or 3 times"):
        make_config("mnist-600", hidden=[50, 40], thetas=[1.0, 2.0])
    with pytest.raises(Bs4nnError, match="every theta must be positive"):
        make_config("mnist-600", thetas=[0.0])
    assert make_config("mnist-600", hidden=[50, 40], clip=[0.25]).clip == [0.25] * 3
    assert make_config("mnist-600", clip=[0.0]).clip is None
    assert make_config("fashion-1000", hidden=[50, 40]).clip == [0.7] * 3
    with pytest.raises(
        Bs4nnError,
        match=whole(
            "give --clip once (all layers) or 2 times (one per weight layer), got 3 values"
        ),
    ):
        make_config("mnist-600", clip=[1.0, 2.0, 3.0])
    with pytest.raises(
        Bs4nnError,
        match=whole("clip bounds must be positive (or a single 0 for none), got [1.0, -2.0]"),
    ):
        make_config("mnist-600", clip=[1.0, -2.0])
    with pytest.raises(
        Bs4nnError,
        match=whole(
            "unknown preset 'x'; choose one of mnist-600, fashion-1000, fashion-600-600, generic"
        ),
    ):
        make_config("x")


# ------------------------------------------------------------ tiny runs


def _tiny(**kw):
    base = dict(hidden=[24], epochs=3, train_limit=600, val_size=300, seed=5)
    base.update(kw)
    hidden = base.pop("hidden")
    return make_config("mnist-600", hidden=hidden, **base)


def _run(cfg, out, data_dir, **kw):
    return train(cfg, out, data_dir=data_dir, progress=False, log=lambda s: None, **kw)


def _same(a: Model, b: Model) -> bool:
    return (
        a.content_hash == b.content_hash
        and all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights, strict=True))
        and np.array_equal(a.alphas, b.alphas)
    )


def test_tiny_run_is_deterministic_and_seeded(tmp_path, data_dir):
    r1 = _run(_tiny(), tmp_path / "a.bs4nn", data_dir)
    r2 = _run(_tiny(), tmp_path / "b.bs4nn", data_dir)
    r3 = _run(_tiny(seed=6), tmp_path / "c.bs4nn", data_dir)
    assert _same(r1.model, r2.model)
    assert r1.model.content_hash != r3.model.content_hash
    assert [h["val_acc"] for h in r1.history] == [h["val_acc"] for h in r2.history]
    saved = Model.load(tmp_path / "a.bs4nn")
    assert _same(saved, r1.model)
    assert saved.metrics["test_accuracy"] == r1.test_accuracy
    assert saved.metrics["best_epoch"] == r1.best_epoch
    assert not checkpoint_path(tmp_path / "a.bs4nn").exists()  # removed once finished


def test_clip_bounds_the_weights(tmp_path, data_dir):
    bounds = [0.5, 5.0]  # the mnist-600 preset's
    # theta 100: with the preset's 150 too few of the 24 hidden neurons fire to move weights far
    free = _run(
        _tiny(eta=50.0, epochs=1, clip=[0.0], thetas=[100.0]), tmp_path / "a.bs4nn", data_dir
    )
    assert any(np.abs(w).max() > b for w, b in zip(free.model.weights, bounds, strict=True))
    clipped = _run(_tiny(eta=50.0, epochs=1, thetas=[100.0]), tmp_path / "b.bs4nn", data_dir)
    assert clipped.model.train_config["clip"] == bounds
    for w, b in zip(clipped.model.weights, bounds, strict=True):
        assert np.abs(w).max() <= b * (1 + 1e-12)


@pytest.mark.parametrize("weights,ema", [("binary", 0), ("binary", 400), ("real", 0)])
def test_interrupted_and_resumed_run_is_bit_identical(
    tmp_path, data_dir, weights, ema, interrupt_after_epoch_1
):
    cfg = _tiny(weights=weights, ema_samples=ema)
    whole = _run(cfg, tmp_path / "whole.bs4nn", data_dir)

    out = tmp_path / "part.bs4nn"
    interrupt_after_epoch_1(lambda o, **kw: _run(cfg, o, data_dir, **kw), out, 1000.0)
    with pytest.raises(Bs4nnError) as refused:
        _run(cfg, out, data_dir)  # a fresh start would replace the checkpoint
    assert str(refused.value) == (
        f"checkpoint {out}.ckpt holds an earlier run's epochs: add --resume to continue that run, "
        "or delete the checkpoint to start again"
    )
    resumed = _run(cfg, out, data_dir, resume=True)
    assert _same(resumed.model, whole.model)
    assert [h["val_acc"] for h in resumed.history] == [h["val_acc"] for h in whole.history]
    assert [h["val_acc_ema"] for h in resumed.history] == [h["val_acc_ema"] for h in whole.history]
    assert resumed.best_epoch == whole.best_epoch
    # the time of the whole run (the epoch before the interruption took "1000 s"), not only of
    # the part after the resume
    assert resumed.history[0]["seconds"] == 1000.0
    assert resumed.model.metrics["train_seconds"] >= sum(h["seconds"] for h in resumed.history)
    if ema:
        assert all(h["val_acc_ema"] is not None for h in whole.history)


def test_cli_train_tiny_then_eval(tmp_path, data_dir, capsys):
    out = tmp_path / "tiny.bs4nn"
    assert (
        main(
            [
                "train",
                "--hidden",
                "16",
                "--theta",  # K 30 and 8: every layer can fire
                "150",
                "--theta",
                "40",
                "--epochs",
                "1",
                "--train-limit",
                "300",
                "--val-size",
                "100",
                "--out",
                str(out),
                "--no-progress",
                "--clip",
                "0",
                "--no-calibrate",
                "--data-dir",
                str(data_dir),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    text = captured.out
    assert "training 784-16-10 on mnist: 1 epoch, seed 0, binary weights" in text
    assert "warning" not in captured.err
    assert "selected epoch 1 (val " in text and "calibrated thresholds" not in text
    m = Model.load(out)
    assert m.layer_sizes == [784, 16, 10] and m.metrics["epochs"] == 1
    assert (m.train_config["clip"], m.train_config["calibrate"]) == (None, False)
    assert "calibration" not in m.metrics
    # the recorded test accuracy is that of all 10,000 test images under the strict decision,
    # checked with codegen's integer reference (its own implementation of the semantics)
    images, labels = load_dataset("mnist", "test", data_dir=data_dir)
    board = reference_batch(IntModel.from_model(m), images).labels
    assert m.metrics["test_accuracy"] == float((board == labels).mean())
    ev = evaluate(m, images, labels)
    assert (
        f"test accuracy {100 * ev.accuracy:.2f}% (strict), {100 * ev.accuracy_tie_inclusive:.2f}% "
        f"(tie-inclusive; {100 * ev.tie_rate:.2f}% of decisions tied); saved {out}\n"
    ) in text
    assert main(["train", "--theta", "1", "--theta", "2", "--theta", "3", "--out", str(out)]) == 2
    assert "give --theta once (all layers) or 2 times" in capsys.readouterr().err
    assert main(["train", "--clip", "1", "--clip", "-1", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "bs4nn train: error: argument --clip: expected a finite "
        "number of at least 0, got '-1' (see `bs4nn train "
        "--help`)\n"
    )


# `python -m bs4nn ARGS` with an object that, destroyed with __main__ once Python has reset its
# signal handlers (the shutdown numba makes last ~0.4 s), sends the process SIGINT
SIGINT_AT_SHUTDOWN = """
import os, runpy, signal, sys, time
class Late:
    def __del__(self, write=os.write, kill=os.kill, pid=os.getpid(), sleep=time.sleep):
        write(2, b"SIGINT at shutdown\\n")
        kill(pid, signal.SIGINT)
        sleep(0.2)
late = Late()
runpy.run_module("bs4nn", run_name="__main__")
"""


def test_ctrl_c_after_train_saved_the_model_does_not_end_it_unsaid(tmp_path, data_dir):
    """A Ctrl-C while Python shuts down, after `saved`, killed the process with no word and
    the status of an interrupted run; the training is over: it ends with status 0."""
    import signal
    import subprocess

    out = tmp_path / "tiny.bs4nn"
    argv = ["train", "--hidden", "16", "--theta", "150", "--theta", "40", "--epochs", "1"]
    argv += ["--train-limit", "300", "--val-size", "100", "--out", str(out), "--no-progress"]
    argv += ["--no-plot"]
    done = subprocess.run(
        [sys.executable, "-c", SIGINT_AT_SHUTDOWN, *argv, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        # a Ctrl-C acts, also when the tests run as a background job (SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert (done.returncode, done.stderr) == (0, "SIGINT at shutdown\n")
    assert done.stdout.endswith(f"; saved {out}\n")
    assert Model.load(out).layer_sizes == [784, 16, 10]


def test_cli_train_warns_when_the_firmware_cannot_run_the_model(tmp_path, data_dir, capsys):
    """A hidden layer wider than the firmware allows trains (host-only use) with a warning up
    front; export then refuses the model with the same reason."""
    out = tmp_path / "wide.bs4nn"
    argv = ["train", "--hidden", "4097", "--epochs", "1", "--train-limit", "100"]
    argv += ["--val-size", "50", "--out", str(out), "--no-progress", "--no-plot"]
    assert main(argv + ["--data-dir", str(data_dir)]) == 0
    reason = "hidden layer 1 has 4097 neurons; the firmware allows 4096 per layer"
    assert capsys.readouterr().err == f"warning: {reason}: bs4nn export will refuse this model\n"
    assert Model.load(out).layer_sizes == [784, 4097, 10]
    assert main(["export", str(out), "--out", str(tmp_path / "fw")]) == 2
    assert capsys.readouterr().err == f"bs4nn export: error: {reason}\n"
    assert not (tmp_path / "fw").exists()


def test_cli_train_warns_when_a_layer_starts_with_k_above_its_fan_in(tmp_path, data_dir, capsys):
    """784-37-10 with the mnist-600 preset's output theta 250 and alpha 5 starts at K = 50 over
    37 inputs: no output could fire, and the run stayed at chance without a word. Thetas that
    fit give no warning."""
    argv = ["train", "--hidden", "37", "--epochs", "1", "--train-limit", "300", "--val-size"]
    argv += ["100", "--no-progress", "--no-plot", "--data-dir", str(data_dir), "--out"]
    assert main([*argv, str(tmp_path / "a.bs4nn")]) == 0
    assert capsys.readouterr().err == (
        "warning: weight layer 2 of 2 starts at K = ceil(theta/alpha) = 50 (theta 250, alpha "
        "5), above its 37 inputs: none of its neurons can fire until alpha grows to 6.757; "
        "give --theta once per weight layer, below 185 for this one\n"
    )
    assert main([*argv, str(tmp_path / "b.bs4nn"), "--theta", "150", "--theta", "50"]) == 0
    assert capsys.readouterr().err == ""


def test_resume_refuses_other_settings_or_missing_checkpoint(tmp_path, data_dir):
    out = tmp_path / "m.bs4nn"
    with pytest.raises(Bs4nnError, match="no checkpoint .* to resume from"):
        _run(_tiny(), out, data_dir, resume=True)

    def stop(epoch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(_tiny(), out, data_dir, on_epoch_end=stop)
    with pytest.raises(Bs4nnError, match=r"different settings \(seed\)"):
        _run(_tiny(seed=9), out, data_dir, resume=True)


def test_calibrated_run_picks_thresholds_on_validation(tmp_path, data_dir):
    plain = _run(_tiny(), tmp_path / "a.bs4nn", data_dir).model
    res = _run(_tiny(calibrate=True), tmp_path / "b.bs4nn", data_dir)
    cal = res.model.metrics["calibration"]
    # the same training; only the thresholds may differ, chosen on the 300 validation images
    assert all(np.array_equal(x, y) for x, y in zip(plain.weights, res.model.weights, strict=True))
    assert cal["trained_K"] == plain.thresholds()
    assert cal["K"] == res.model.thresholds()
    assert cal["val_before"] == plain.metrics["val_accuracy"]
    assert res.val_accuracy == cal["val_after"] >= cal["val_before"]
    images, labels = load_dataset("mnist", "train", data_dir)
    _, val_idx = train_val_split(len(images), 300, 5)
    assert (
        accuracy_with_thresholds(res.model, cal["K"], images[val_idx], labels[val_idx])
        == cal["val_after"]
    )
    assert Model.load(tmp_path / "b.bs4nn").thresholds() == cal["K"]


def test_calibration_refuses_real_weights():
    with pytest.raises(Bs4nnError, match="calibration needs binary weights"):
        make_config("mnist-600", weights="real", calibrate=True)


def test_resume_names_a_setting_the_checkpoint_has_and_the_run_lacks(tmp_path):
    """A checkpoint written with a setting this version no longer has (a removed option) is
    refused naming it, not with an empty list of differences."""
    path = tmp_path / "old.ckpt"
    write_checkpoint(path, {"seed": 0, "crossing": "hazard"}, {}, {})
    with pytest.raises(Bs4nnError) as exc:
        read_checkpoint(path, {"seed": 0}, lambda meta, arrays: None)
    assert str(exc.value) == (
        f"checkpoint {path} was made with different settings (crossing); resume with the "
        "same options, or delete it and start again without --resume"
    )


def test_cli_train_refuses_a_network_too_large_for_memory(tmp_path, monkeypatch, capsys):
    """Said in one line before anything is loaded or written (numpy's own MemoryError would
    come with a traceback, or the kernel would kill the process)."""
    import bs4nn.trainer.commands as commands
    from bs4nn.trainer import memory

    monkeypatch.setattr(commands, "available_memory", lambda: 16 * memory.GIB)
    out = tmp_path / "huge.bs4nn"
    assert main(["train", "--hidden", "1000000", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "bs4nn train: error: training 784-1000000-10 needs more than 35.5 GiB of memory (its "
        "weights and the optimiser's state); this machine has 16.0 GiB free: choose fewer "
        "hidden neurons\n"
    )
    assert captured.out == "" and not any(tmp_path.iterdir())
    # the limit to the byte: 784 x 600 + 600 x 10 synapses of 48 bytes (below the ~51-57
    # measured, so that no network that would fit is refused); an unknown amount refuses nothing
    need = (784 * 600 + 600 * 10) * 48
    assert memory.training_memory_problem([784, 600, 10], available=need) is None
    assert memory.training_memory_problem([784, 600, 10], available=need - 1) == (
        "training 784-600-10 needs more than 21.8 MiB of memory (its weights and the optimiser's "
        "state); this machine has 21.8 MiB free: choose fewer hidden neurons"
    )
    assert memory.training_memory_problem([784, 10**9, 10], available=None) is None


def test_cli_train_interrupted_offers_resume_only_when_a_checkpoint_exists(
    tmp_path, monkeypatch, capsys
):
    import bs4nn.trainer.commands as commands

    out = tmp_path / "m.bs4nn"

    def interrupted(cfg, out, **kwargs):
        if cfg.epochs == 2:  # the first epoch ended: its checkpoint is there
            checkpoint_path(out).write_bytes(b"epoch 1")
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "train", interrupted)
    monkeypatch.setattr(sys, "argv", ["bs4nn", "train", "--epochs", "1", "--out", str(out)])
    assert main(sys.argv[1:]) == 130
    assert capsys.readouterr().err == "bs4nn train: interrupted\n"
    monkeypatch.setattr(sys, "argv", ["bs4nn", "train", "--epochs", "2", "--out", str(out)])
    assert main(sys.argv[1:]) == 130
    assert capsys.readouterr().err == (
        f"resume with: bs4nn train --epochs 2 --out {out} --resume\nbs4nn train: interrupted\n"
    )


def test_cli_train_refuses_a_resume_without_checkpoint_before_it_says_anything(tmp_path, capsys):
    out = tmp_path / "none.bs4nn"
    assert main(["train", "--resume", "--out", str(out)]) == 2
    assert capsys.readouterr() == (
        "",
        f"bs4nn train: error: no checkpoint {out}.ckpt to resume from; run without --resume to "
        "start\n",
    )
