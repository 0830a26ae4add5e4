"""Training curves and evaluation plots: the plotted series, the PNG files, the CLI options."""

import errno
import json
import os
import struct
from types import SimpleNamespace

import numpy as np
import pytest
from badinput import snapshot
from helpers import bench_folder

import bs4nn.trainer.commands
from bs4nn.cli import main
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import evaluate
from bs4nn.trainer.model import model_from_arrays
from bs4nn.trainer.plots import (
    eval_plots,
    pyplot,
    save,
    training_curves,
    training_plot_path,
    training_series,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _entry(epoch, loss, acc, val, ema):
    return {
        "epoch": epoch,
        "train_loss": loss,
        "train_acc": acc,
        "val_acc": val,
        "val_acc_ema": ema,
        "alphas": [1.0, 1.0],
        "K": [3, 2],
        "eta": 0.1,
        "mu": 0.01,
        "seconds": 1.5,
        "train_samples_per_s": 400.0,
    }


# epoch 2: the averaged weights (0.75) beat the epoch's own (0.5) and are the ones selected
HISTORY = [
    _entry(1, 0.25, 0.5, 0.25, None),
    _entry(2, 0.125, 0.625, 0.5, 0.75),
    _entry(3, 0.0625, 0.875, 0.5, 0.375),
]
METRICS = {
    "best_epoch": 2,
    "history": HISTORY,
    "test_accuracy": 0.7,
    "train_seconds": 4.5,
    "calibration": {"trained_K": [3, 2], "K": [4, 2], "val_before": 0.75, "val_after": 0.8125},
}


def png_size(path):
    """(width, height) of a PNG file, after checking its signature and that it holds a plot."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    assert len(data) > 5000  # axes, text and data, not an empty canvas
    return struct.unpack(">II", data[16:24])


def tiny_model(**meta):
    rng = np.random.default_rng(3)
    return model_from_arrays(
        [rng.uniform(-1, 3, (20, 784)), rng.uniform(-1, 3, (10, 20))],
        [4.0, 2.0],
        [100.0, 10.0],
        dataset="mnist",
        **meta,
    )


def test_training_series_exact_values():
    s = training_series(METRICS)
    assert s.epochs.tolist() == [1, 2, 3] and s.epochs.dtype == np.int64
    assert s.train_acc.tolist() == [0.5, 0.625, 0.875]
    assert s.val_acc.tolist() == [0.25, 0.5, 0.5]
    np.testing.assert_array_equal(s.val_acc_ema, [np.nan, 0.75, 0.375])
    assert s.train_loss.tolist() == [0.25, 0.125, 0.0625]
    assert (s.best_epoch, s.selected_val, s.selected_ema) == (2, 0.75, True)
    assert s.calibrated_val == 0.8125


def test_training_series_epoch_weights_and_no_validation():
    # epoch 3: the epoch's own weights (0.5) beat the averaged ones (0.375)
    s = training_series({"best_epoch": 3, "history": HISTORY})
    assert (s.selected_val, s.selected_ema, s.calibrated_val) == (0.5, False, None)
    blind = [_entry(1, 0.5, 0.25, None, None), _entry(2, 0.25, 0.5, None, None)]
    s = training_series({"best_epoch": 2, "history": blind})
    assert np.isnan(s.val_acc).all() and np.isnan(s.val_acc_ema).all()
    assert np.isnan(s.selected_val) and s.selected_ema is False


def test_training_series_refuses_missing_history():
    with pytest.raises(Bs4nnError, match="the model's metrics hold no training history"):
        training_series({"best_epoch": 0})
    with pytest.raises(Bs4nnError, match="training history entry 1 has no 'train_loss'"):
        training_series({"history": [HISTORY[0], {"epoch": 2, "train_acc": 0.5, "val_acc": None}]})


def test_training_curves_writes_png(tmp_path):
    path = training_curves(METRICS, tmp_path / "t.png", name="mnist 784-20-10")
    assert path == tmp_path / "t.png"
    assert png_size(path) == (700, 600)


def test_training_plot_path_beside_the_model():
    assert str(training_plot_path("models/mnist-600.bs4nn")) == "models/mnist-600.training.png"
    assert str(training_plot_path("out/m")) == "out/m.training.png"


def test_eval_plots_write_pngs(tmp_path):
    # the hand-made network of test_evaluate.py: class 0 absent (NaN means), one fallback
    net = [np.array([[1, -1, 1, 1], [1, 1, 1, 1], [-1, -1, -1, 1]], dtype=np.float64)]
    images = np.array(
        [[255, 255, 255, 0], [0, 0, 0, 255], [255, 0, 0, 0], [0, 0, 0, 0]], dtype=np.uint8
    )
    result = evaluate(
        model_from_arrays(net, [1.0], [1.0]), images, np.array([1, 2, 1, 2]), "toy", "test"
    )
    out = tmp_path / "new" / "dir"
    paths = eval_plots(result, out)
    assert paths == [
        out / "confusion.png",
        out / "output_steps.png",
        out / "decision_step_per_class.png",
    ]
    assert [png_size(p) for p in paths] == [(600, 500), (650, 500), (600, 400)]


def test_cli_eval_plots_without_history(tmp_path, data_dir, capsys):
    model = tiny_model().save(tmp_path / "m.bs4nn")
    out = tmp_path / "plots"
    assert (
        main(
            ["eval", str(model), "--limit", "30", "--plots", str(out), "--data-dir", str(data_dir)]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-4:] == [
        f"{model} holds no training history: no training.png written",
        f"wrote {out / 'confusion.png'}",
        f"wrote {out / 'output_steps.png'}",
        f"wrote {out / 'decision_step_per_class.png'}",
    ]
    assert "Traceback" not in captured.err
    assert sorted(p.name for p in out.iterdir()) == [
        "confusion.png",
        "decision_step_per_class.png",
        "output_steps.png",
    ]
    for name in ("confusion.png", "decision_step_per_class.png", "output_steps.png"):
        png_size(out / name)


def test_cli_eval_plots_with_history_and_json(tmp_path, data_dir, capsys):
    model = tiny_model(metrics=METRICS).save(tmp_path / "m.bs4nn")
    out = tmp_path / "plots"
    assert (
        main(
            [
                "eval",
                str(model),
                "--limit",
                "30",
                "--json",
                "--plots",
                str(out),
                "--data-dir",
                str(data_dir),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == 30  # the paths go to stderr, stdout stays JSON
    assert captured.err.splitlines() == [
        f"wrote {out / name}"
        for name in (
            "confusion.png",
            "output_steps.png",
            "decision_step_per_class.png",
            "training.png",
        )
    ]
    assert png_size(out / "training.png") == (700, 600)


def test_cli_eval_plots_into_a_file_is_a_user_error(tmp_path, capsys):
    model = tiny_model().save(tmp_path / "m.bs4nn")
    (tmp_path / "taken").write_text("a file")
    assert main(["eval", str(model), "--limit", "1", "--plots", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"bs4nn eval: error: --plots {tmp_path / 'taken'} is a file, not a folder; "
        "choose another path\n"
    )
    assert "Traceback" not in err


def test_cli_eval_plots_into_a_folder_another_run_fills_is_refused(tmp_path, data_dir, capsys):
    import os

    from bs4nn.trainer.files import exclusive_lock

    model = tiny_model().save(tmp_path / "m.bs4nn")
    out = tmp_path / "plots"
    with exclusive_lock(tmp_path / ".plots.lock", "--plots", out):
        argv = ["eval", str(model), "--limit", "1", "--plots", str(out), "--data-dir"]
        assert main([*argv, str(data_dir)]) == 2
    assert capsys.readouterr().err == (
        f"bs4nn eval: error: --plots {out} is in use by another bs4nn run (pid {os.getpid()}); "
        "wait for it to finish, or choose another --plots\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bs4nn"]


def test_cli_eval_plots_refuses_a_bench_folder_before_any_work(tmp_path, data_dir, capsys):
    # its confusion.png and decision_step_per_class.png would replace the bench's
    model = tiny_model().save(tmp_path / "m.bs4nn")
    bench = bench_folder(tmp_path / "bench", model, data_dir)
    before = snapshot(bench)
    argv = ["eval", str(model), "--limit", "30", "--data-dir", str(data_dir), "--plots"]
    assert main([*argv, str(bench)]) == 2
    assert capsys.readouterr() == (
        "",  # nothing evaluated
        f"bs4nn eval: error: --plots {bench} is a non-empty folder that is not a bs4nn eval "
        "folder; choose an empty or new folder, or the --plots of an earlier `bs4nn eval`\n",
    )
    assert snapshot(bench) == before


def test_cli_eval_plots_go_into_an_empty_folder_or_their_own_again(tmp_path, data_dir):
    model = tiny_model().save(tmp_path / "m.bs4nn")
    argv = ["eval", str(model), "--limit", "30", "--data-dir", str(data_dir), "--plots"]
    (tmp_path / "plots").mkdir()
    assert main([*argv, str(tmp_path / "plots")]) == 0
    first = snapshot(tmp_path / "plots")
    assert main([*argv[:3], "20", *argv[4:], str(tmp_path / "plots")]) == 0
    again = snapshot(tmp_path / "plots")
    assert (
        sorted(again)
        == sorted(first)
        == [
            "confusion.png",
            "decision_step_per_class.png",
            "output_steps.png",
        ]
    )
    assert again["confusion.png"] != first["confusion.png"]  # drawn again, on 20 images


@pytest.fixture
def fake_train(monkeypatch):
    """`bs4nn train` without the training: train() returns a model with the given metrics."""
    models = []

    def fake(cfg, out, **kw):
        model = tiny_model(metrics=models[0])
        model.save(out)
        return SimpleNamespace(model=model)

    monkeypatch.setattr(bs4nn.trainer.commands, "train", fake)
    return models


@pytest.mark.parametrize("no_plot", [False, True])
def test_cli_train_writes_training_curves(tmp_path, fake_train, capsys, no_plot):
    fake_train.append(METRICS)
    out = tmp_path / "tiny.bs4nn"
    argv = ["train", "--hidden", "20", "--out", str(out)] + (["--no-plot"] if no_plot else [])
    assert main(argv) == 0
    text = capsys.readouterr().out
    png = tmp_path / "tiny.training.png"
    if no_plot:
        assert not png.exists() and "training curves" not in text
    else:
        assert text.splitlines()[-1] == f"training curves: {png}"
        assert png_size(png) == (700, 600)


def test_cli_train_interrupted_while_drawing_says_how_to_draw_later(
    tmp_path, fake_train, capsys, monkeypatch
):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(bs4nn.trainer.commands, "_training_plot", interrupted)
    fake_train.append(METRICS)
    out = tmp_path / "tiny.bs4nn"
    assert main(["train", "--hidden", "20", "--out", str(out)]) == 130
    assert capsys.readouterr().err == (
        f"{out} is saved; its training curves were not drawn (`bs4nn eval {out} --plots DIR` "
        "draws them)\nbs4nn train: interrupted\n"
    )
    assert out.is_file()


def test_cli_train_without_history_notes_it(tmp_path, fake_train, capsys):
    fake_train.append({})
    out = tmp_path / "tiny.bs4nn"
    assert main(["train", "--hidden", "20", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{out} holds no training history: no tiny.training.png written"
    )
    assert not (tmp_path / "tiny.training.png").exists()


def test_a_plot_that_cannot_be_written_leaves_the_earlier_one(tmp_path, monkeypatch):
    path = tmp_path / "p.png"
    fig, ax = pyplot().subplots()
    ax.plot([0, 1])
    save(fig, path)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # what a full disk does at the flush
    fig, ax = pyplot().subplots()
    ax.plot([1, 0])
    with pytest.raises(Bs4nnError) as exc:
        save(fig, path)
    assert str(exc.value) == (
        f"cannot write the plot {path}: No space left on device; free space on the disk, or "
        "choose another path"
    )
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]


def test_cli_eval_plots_that_fail_half_way_leave_the_folder_as_it_was(
    tmp_path, data_dir, capsys, monkeypatch
):
    model = tiny_model().save(tmp_path / "m.bs4nn")
    argv = ["eval", str(model), "--limit", "30", "--data-dir", str(data_dir), "--plots"]
    kept = tmp_path / "kept"
    assert main([*argv, str(kept)]) == 0
    before = {p.name: p.read_bytes() for p in kept.iterdir()}
    written = []

    def disk_full_after_one(fd):  # the second plot finds the disk full
        written.append(fd)
        if len(written) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full_after_one)
    capsys.readouterr()
    assert main([*argv, str(tmp_path / "new" / "plots")]) == 2
    assert not (tmp_path / "new").exists()  # no half-filled new folder
    written.clear()
    assert (
        main(
            ["eval", str(model), "--limit", "20", "--data-dir", str(data_dir), "--plots", str(kept)]
        )
        == 2
    )
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == before  # all of the earlier run
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            "output_steps.png: No space left on device; free space on the disk, or choose "
            "another path"
        )
    )
