"""`bs4nn paper` on a small model: its numbers against an independent dense simulation."""

import json
from fractions import Fraction
from math import ceil
from pathlib import Path

import numpy as np
import pytest
from badinput import central_entry_changed, snapshot, tiny_model
from helpers import bench_folder

from bs4nn.cli import main
from bs4nn.trainer.bnn import load_bnn
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model
from bs4nn.trainer.train import make_config, train

REPO = Path(__file__).resolve().parents[1]
LIMIT = 150
STEPS = np.arange(256)


def dense_run(weights: list[np.ndarray], thresholds: list[float], pixels: np.ndarray):
    """One image, written from docs/design.md 1 without the kernels: cumulative sums over all
    256 steps, layer by layer (a spike reaches the next layer in its own step). Returns
    (label, decision step, output firing steps with 256 = silent)."""
    t_prev = np.where(pixels > 0, 255 - pixels.astype(np.int64), 256)
    for w, k in zip(weights, thresholds, strict=True):
        per_step = np.zeros((257, w.shape[0]))
        np.add.at(per_step, t_prev, w.T)
        counts = np.cumsum(per_step[:256], axis=0)  # (256, n_out): count at the end of step t
        fired = counts >= k
        t_prev = np.where(fired.any(axis=0), fired.argmax(axis=0), 256)
    first = t_prev.min()
    if first == 256:
        return int(np.argmax(counts[255])), 255, t_prev
    at_first = np.where(t_prev == first, counts[first], -np.inf)
    return int(np.argmax(at_first)), int(first), t_prev


def dense_batch(weights, thresholds, images):
    runs = [dense_run(weights, thresholds, x) for x in images]
    return (
        np.array([r[0] for r in runs]),
        np.array([r[1] for r in runs]),
        np.array([r[2] for r in runs]),
    )


def binary_net(model: Model, ks):
    return [np.where(w >= 0, 1.0, -1.0) for w in model.weights], [float(k) for k in ks]


@pytest.fixture(scope="module")
def small_models(tmp_path_factory, data_dir):
    """A 784-40-10 BS4NN and S4NN, one short epoch each, under the shipped file names."""
    folder = tmp_path_factory.mktemp("models")
    small = dict(hidden=[40], epochs=1, train_limit=1500, val_size=300, ema_samples=0)
    train(
        make_config("mnist-600", calibrate=False, **small),
        folder / "mnist-600.bs4nn",
        data_dir=data_dir,
        progress=False,
        log=lambda s: None,
    )
    train(
        make_config("mnist-600", weights="real", thetas=[10.0], **small),
        folder / "mnist-600-s4nn.bs4nn",
        data_dir=data_dir,
        progress=False,
        log=lambda s: None,
    )
    return folder


def test_paper_numbers_match_a_dense_simulation(small_models, data_dir, tmp_path, capsys):
    out = tmp_path / "paper"
    argv = [
        "paper",
        "--only",
        "fig2,fig5,fig7,swap",
        "--models",
        str(small_models),
        "--out",
        str(out),
        "--limit",
        str(LIMIT),
        "--data-dir",
        str(data_dir),
        "--no-progress",
    ]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())["experiments"]
    assert list(res) == ["fig2", "fig5", "fig7", "swap"]
    for name in ("fig2a", "fig2b", "fig5a", "fig5b", "fig7"):
        assert (out / f"{name}.png").stat().st_size > 1000
    assert "## fig7" in (out / "report.md").read_text()

    bs4nn = Model.load(small_models / "mnist-600.bs4nn")
    s4nn = Model.load(small_models / "mnist-600-s4nn.bs4nn")
    images, labels = load_dataset("mnist", "test", data_dir)
    images, labels = images[:LIMIT], labels[:LIMIT].astype(np.int64)

    # fig2: mean firing step of every output per class, full run, 256 = silent
    _, _, times = dense_batch(*binary_net(bs4nn, bs4nn.thresholds()), images)
    got = np.array(res["fig2"]["numbers"]["per_class_mean_output_step"], dtype=float)
    for c in range(10):
        np.testing.assert_allclose(got[c], times[labels == c].mean(axis=0), rtol=0, atol=1e-9)

    # fig5: accuracy under jitter noise, drawn as the docstring of mnist.jitter says
    fig5 = res["fig5"]["numbers"]
    assert fig5["levels"] == [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    for i, level in enumerate(fig5["levels"]):
        j = 255.0 * level / 100.0
        noise = np.random.default_rng([0, level]).uniform(-j, j, size=images.shape)
        noisy = np.clip(np.rint(images + noise), 0, 255).astype(np.uint8)
        pred_b, _, _ = dense_batch(*binary_net(bs4nn, bs4nn.thresholds()), noisy)
        pred_s, _, _ = dense_batch(s4nn.weights, list(s4nn.thetas), noisy)
        assert fig5["accuracy"]["BS4NN"][i] == np.mean(pred_b == labels)
        assert fig5["accuracy"]["S4NN"][i] == np.mean(pred_s == labels)

    # fig7: K per setting, accuracy and mean decision step on the integer semantics
    points = res["fig7"]["numbers"]["points"]
    assert [p["theta"] for p in points] == list(range(10, 201, 10))
    for p in points:
        ks = [
            max(1, ceil(Fraction(float(t)) * p["theta"] / 100 / Fraction(float(a))))
            for t, a in zip(bs4nn.thetas, bs4nn.alphas, strict=True)
        ]
        assert p["K"] == ks
        pred, steps, times = dense_batch(*binary_net(bs4nn, ks), images)
        assert p["accuracy"] == np.mean(pred == labels)
        label_fired_first = times[np.arange(LIMIT), labels] == steps
        fallback = times.min(axis=1) == 256
        assert p["accuracy_tie_inclusive"] == np.mean(
            np.where(fallback, pred == labels, label_fired_first)
        )
        assert p["mean_decision_step"] == pytest.approx(steps.mean(), abs=1e-12)
    assert points[9]["K"] == bs4nn.thresholds()  # theta 100 = the model as trained

    # swap: the real proxy weights W in place of alpha * B, same thetas
    pred, _, _ = dense_batch(bs4nn.weights, list(bs4nn.thetas), images)
    assert res["swap"]["numbers"]["strict"] == np.mean(pred == labels)

    # a second run keeps everything (resume)
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.count("done before, kept") == 4
    assert json.loads((out / "results.json").read_text())["experiments"] == res


def test_a_limit_that_leaves_classes_out_draws_the_others(small_models, data_dir, tmp_path):
    # the first three test images are a 7, a 2 and a 1: fig3 has no bars for the other digits
    out = tmp_path / "paper"
    argv = ["paper", "--only", "fig3", "--models", str(small_models), "--out", str(out)]
    argv += ["--limit", "3", "--data-dir", str(data_dir), "--no-progress"]
    assert main(argv) == 0
    numbers = json.loads((out / "results.json").read_text())["experiments"]["fig3"]["numbers"]
    present = [c for c in range(10) if numbers["input"][c] is not None]
    assert present == [1, 2, 7]
    assert (out / "fig3.png").stat().st_size > 1000


@pytest.mark.parametrize("keep", [0, 500, 5000])
def test_a_damaged_bnn_file_is_one_error(keep, tmp_path):
    shipped = REPO / "models" / "bnn-mnist-600.npz"
    cut = tmp_path / "bnn.npz"
    cut.write_bytes(shipped.read_bytes()[:keep])
    with pytest.raises(Bs4nnError) as exc:
        load_bnn(cut)
    assert str(exc.value).startswith(f"BNN file {cut} is unreadable (")
    assert str(exc.value).endswith("); train it again (bs4nn paper --retrain)")


def test_a_bnn_file_whose_zip_claims_an_unknown_method_is_one_error(tmp_path):
    shipped = REPO / "models" / "bnn-mnist-600.npz"
    damaged = tmp_path / "bnn.npz"
    damaged.write_bytes(central_entry_changed(shipped.read_bytes(), "method", 99))
    with pytest.raises(Bs4nnError) as exc:
        load_bnn(damaged)
    assert str(exc.value) == (
        f"BNN file {damaged} is unreadable (That compression method is not supported); train it "
        "again (bs4nn paper --retrain)"
    )


def test_paper_checks_its_inputs_before_any_work(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["paper", "--only", "fig2,fig10", "--out", str(out)]) == 2
    assert "unknown experiment id(s) fig10" in capsys.readouterr().err
    assert main(["paper", "--only", "fig2", "--models", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"missing model file(s) {tmp_path / 'mnist-600.bs4nn'}" in err
    argv = ["paper", "--retrain", "--models", str(tmp_path), "--out", str(out)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "bs4nn paper: error: --retrain trains the models into OUT/models: leave out --models\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "damage,dropped",
    [
        (lambda res: {**res, "fig2": {"x": 1}}, ["fig2"]),
        (lambda res: {**res, "fig2": 7}, ["fig2"]),
        (lambda res: {"table1": {**res["table1"], "figures": 3}}, ["table1"]),
        (
            lambda res: {"table1": {k: v for k, v in res["table1"].items() if k != "ours"}},
            ["table1"],
        ),
    ],
    ids=[
        "entry-without-parts",
        "entry-a-number",
        "figures-a-number",
        "entry-without-ours",
    ],
)
def test_a_damaged_results_file_runs_the_damaged_entries_again(tmp_path, capsys, damage, dropped):
    out = tmp_path / "paper"
    argv = ["paper", "--only", "table1", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    results = out / "results.json"
    good = json.loads(results.read_text())["experiments"]
    results.write_text(json.dumps({"experiments": damage(good)}))
    capsys.readouterr()
    assert main(argv) == 0
    text = capsys.readouterr()
    assert text.err == ""
    said = f"results.json: dropped damaged entries {', '.join(dropped)} (they run again)"
    assert (said in text.out.splitlines()) == bool(dropped)
    again = json.loads(results.read_text())["experiments"]
    assert list(again) == ["table1"]
    assert {k: v for k, v in again["table1"].items() if k != "seconds"} == {
        k: v for k, v in good["table1"].items() if k != "seconds"
    }
    assert "## table1" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    "text",
    [b'{"experiments": {"table1": {"fig', b'{"experiments": 5}', b"[1, 2]", b"\xff\xfe", b"{}"],
    ids=["cut-short", "experiments-not-an-object", "a-list", "not-utf8", "no-experiments"],
)
def test_a_results_file_it_cannot_go_on_from_is_refused_and_kept(tmp_path, capsys, text):
    # running only some experiments would have dropped all the others without a word
    out = tmp_path / "paper"
    out.mkdir()
    (out / "results.json").write_bytes(text)
    assert main(["paper", "--only", "table1", "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        f"bs4nn paper: error: {out / 'results.json'} is not a results file of bs4nn paper (not "
        "JSON, or no experiments in it); move it away, or choose another --out\n"
    )
    assert [p.name for p in out.iterdir()] == ["results.json"]
    assert (out / "results.json").read_bytes() == text


def test_an_interrupted_run_says_that_running_it_again_goes_on(tmp_path, capsys, monkeypatch):
    import sys

    import bs4nn.trainer.paper.run as run

    out = tmp_path / "paper"
    argv = ["paper", "--only", "table1", "--out", str(out), "--no-progress"]
    assert main(argv) == 0

    def interrupted(ctx, ids):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "run_paper", interrupted)
    monkeypatch.setattr(sys, "argv", ["bs4nn", *argv])
    capsys.readouterr()
    assert main(argv) == 130
    assert capsys.readouterr().err == (
        f"resume with: bs4nn paper --only table1 --out {out} --no-progress\n"
        "bs4nn paper: interrupted\n"
    )


def test_a_run_that_fails_before_its_first_file_leaves_no_folders(data_dir, tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    (models / "mnist-600.bs4nn").write_text("not a model\n")  # found, then unreadable
    out = tmp_path / "a" / "b" / "paper"
    argv = ["paper", "--only", "fig2", "--models", str(models), "--out", str(out)]
    assert main([*argv, "--data-dir", str(data_dir), "--limit", "20", "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith(f"bs4nn paper: error: {models / 'mnist-600.bs4nn'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def _notes(out):
    out.mkdir()
    (out / "report.md").write_text("my notes\n")
    return out


@pytest.mark.parametrize(
    "folder",
    [
        lambda tmp_path, data_dir: bench_folder(
            tmp_path / "bench", tiny_model().save(tmp_path / "m.bs4nn"), data_dir
        ),
        lambda tmp_path, data_dir: _notes(tmp_path / "notes"),
    ],
    ids=["bench", "users-report-md"],
)
def test_paper_refuses_a_folder_not_its_own_before_any_work(tmp_path, data_dir, capsys, folder):
    # results.json, report.md and the figures would mix with (or replace) the folder's files
    out = folder(tmp_path, data_dir)
    before = snapshot(out)
    assert main(["paper", "--only", "table1", "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr() == (
        "",  # nothing run
        f"bs4nn paper: error: --out {out} is a non-empty folder that is not a bs4nn paper "
        "folder; choose an empty or new folder, or the --out of an earlier `bs4nn paper`\n",
    )
    assert snapshot(out) == before


def test_paper_goes_on_in_the_folder_of_a_first_run_cut_short(tmp_path, capsys, monkeypatch):
    import bs4nn.trainer.paper.run as run

    def cut_short(ctx):  # the models --retrain trained and a figure, before any results.json
        (ctx.out / "models").mkdir()
        ctx.figure("fig1").write_bytes(b"half drawn")
        raise KeyboardInterrupt

    out = tmp_path / "paper"
    argv = ["paper", "--only", "table1", "--out", str(out), "--no-progress"]
    with monkeypatch.context() as m:
        m.setitem(run.EXPERIMENTS, "table1", run.Experiment(cut_short, (), None))
        assert main(argv) == 130
    assert sorted(p.name for p in out.iterdir()) == ["fig1.png", "models"]
    assert main(argv) == 0
    assert main(argv) == 0  # its own folder again, now with results.json
    assert capsys.readouterr().out.count("table1: done before, kept") == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "fig1.png",
        "models",
        "report.md",
        "results.json",
    ]


def test_table1_lists_the_paper_presets(tmp_path):
    out = tmp_path / "paper"
    assert main(["paper", "--only", "table1", "--out", str(out), "--no-progress"]) == 0
    table = json.loads((out / "results.json").read_text())["experiments"]["table1"]
    assert list(table["numbers"]["ours"]) == [
        "mnist-600",
        "fashion-1000",
        "fashion-600-600",
        "mnist-600 S4NN",
        "fashion-1000 S4NN",
    ]
    assert table["numbers"]["ours"]["mnist-600"]["hidden"] == [600]
    assert "## table1" in (out / "report.md").read_text()


def test_output_potentials_are_alpha_times_the_dense_counts(small_models, data_dir):
    from bs4nn.trainer.evaluate import output_potentials

    model = Model.load(small_models / "mnist-600.bs4nn")
    pixels = load_dataset("mnist", "test", data_dir)[0][0]
    v, times = output_potentials(model, pixels)
    signs, ks = binary_net(model, model.thresholds())
    t_hidden = dense_run(signs[:1], ks[:1], pixels)[2]
    per_step = np.zeros((257, 10))
    np.add.at(per_step, t_hidden, signs[1].T)
    counts = np.cumsum(per_step[:256], axis=0)
    np.testing.assert_array_equal(v, model.alphas[-1] * counts)
    np.testing.assert_array_equal(times, dense_run(signs, ks, pixels)[2])


def test_retrain_trains_what_an_experiment_needs_then_keeps_it(
    tmp_path, data_dir, capsys, monkeypatch
):
    from dataclasses import replace

    from bs4nn.trainer.paper import models

    tiny = {
        "hidden": [20],
        "epochs": 1,
        "train_limit": 500,
        "val_size": 100,
        "calibrate": False,
        "ema_samples": 0,
    }
    monkeypatch.setitem(models.SPECS, "mnist", replace(models.SPECS["mnist"], train=tiny))
    out = tmp_path / "paper"
    argv = [
        "paper",
        "--retrain",
        "--only",
        "fig6",
        "--out",
        str(out),
        "--limit",
        "20",
        "--data-dir",
        str(data_dir),
        "--no-progress",
    ]
    assert main(argv) == 0
    model = Model.load(out / "models" / "mnist-600.bs4nn")
    assert model.layer_sizes == [784, 20, 10]
    res = json.loads((out / "results.json").read_text())["experiments"]["fig6"]
    assert res["numbers"]["positive_share"] == [float(np.mean(w >= 0)) for w in model.weights]
    capsys.readouterr()
    assert main(argv) == 0
    assert "fig6: done before, kept" in capsys.readouterr().out
