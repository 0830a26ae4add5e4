"""bench / sweep / build against the Python fake device (no QEMU): reports, resume, errors."""

import contextlib
import csv
import dataclasses
import errno
import json
import os
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from badinput import snapshot, tiny_model
from fake_device import FakeDevice, Faults
from helpers import stopped_answering, whole

import bs4nn.host.connect as connect
from bs4nn.cli import main as bs4nn_main
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.host import protocol as p
from bs4nn.host.bench import run_bench
from bs4nn.host.client import DeviceSilent
from bs4nn.host.connect import DeviceLink
from bs4nn.host.defaults import DEFAULT_TIMEOUT_S
from bs4nn.host.emulate import RunningEmulator
from bs4nn.host.outdir import LOCK_NAME
from bs4nn.host.records import COLUMNS, RecordWriter
from bs4nn.host.report import PLOT_NAMES
from bs4nn.host.sweep import run_sweep, thresholds_for_scale, thresholds_for_theta
from bs4nn.trainer.calibrate import calibrate_for_budget, validation_split
from bs4nn.trainer.datasets import dataset_fields, load_dataset, train_val_split
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model, model_from_arrays
from bs4nn.trainer.resume_hints import offer_resume

N = 60
ICOUNT = "instructions (QEMU icount proxy)"  # the fake device's counter


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((32, 784)), rng.standard_normal((10, 32))]
    path = tmp_path_factory.mktemp("model") / "rand.bs4nn"
    model_from_arrays(weights, [1.0, 0.5], [8.0, 1.5], dataset="mnist").save(path)
    return path


@pytest.fixture(scope="module")
def intmodel(model_path):
    model = IntModel.load(model_path)
    reference_batch(model, np.zeros((1, 784), np.uint8))  # numba loaded before any timeout runs
    return model


@pytest.fixture(scope="module")
def mnist(data_dir):
    images, labels = load_dataset("mnist", "test", data_dir=data_dir)
    return images[:N], labels[:N]


def bench(model_path, fake, out, timeout=2.0, **kw):
    return run_bench(
        model_path,
        link=DeviceLink(port=fake.port, timeout=timeout),
        out_dir=out,
        progress=False,
        quiet=True,
        **{"limit": N, **kw},
    )


def csv_indices(path):
    with open(path) as f:
        return [int(row["index"]) for row in csv.DictReader(f)]


def cli(monkeypatch, *argv):
    """`bs4nn ARGV` as typed in a shell: the hints to resume give sys.argv back."""
    argv = [str(a) for a in argv]
    monkeypatch.setattr(sys, "argv", ["bs4nn", *argv])
    return bs4nn_main(argv)


def typed(*argv):
    return " ".join(str(a) for a in argv)


@pytest.mark.parametrize(
    ("command", "faults", "said"),
    [
        (
            "bench",
            Faults(silent_after=5),
            "it hangs or was reset, or it answers later than that; results so far are kept; "
            "restart it, then resume with: ",
        ),
        (  # the first setting finished, the second cut short
            "sweep",
            Faults(reset_at=N + 5),
            "were not measured; results so far are kept; resume with: ",
        ),
    ],
    ids=["silent", "reset"],
)
def test_an_error_that_keeps_results_gives_the_command_that_resumes(
    model_path, intmodel, tmp_path, monkeypatch, capsys, command, faults, said
):
    out = tmp_path / "my out"
    with FakeDevice(intmodel, faults) as fake:
        argv = [command, "--model", model_path, "--port", fake.port, "--limit", N]
        argv += [*(["--thetas", "2,6"] if command == "sweep" else []), "--no-progress"]
        assert cli(monkeypatch, *argv, "--out", out, "--timeout", "0.5") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bs4nn {command}: error: ") and err.count("\n") == 1
    assert err.endswith(f"{said}bs4nn {typed(*argv)} --out '{out}' --timeout 0.5 --resume\n")


@pytest.mark.parametrize(
    ("command", "faults", "said", "left"),
    [
        ("bench", Faults(hang_up_at=0), "{closed}", None),  # in the handshake
        ("bench", Faults(hang_up_at=1), "{closed}", ["device.json", "images.csv"]),
        ("sweep", Faults(hang_up_at=0), "{closed}", None),
        (  # the setting cut short leaves no CSV
            "sweep",
            Faults(reset_at=5),
            "the device reset during the run (its thresholds are {default}, the host had set "
            "{theta_2}); test image 4 and later were not measured; nothing was kept; ",
            ["device.json"],
        ),
    ],
    ids=["bench-handshake", "bench-first-image", "sweep-handshake", "sweep-reset"],
)
def test_an_error_before_anything_was_kept_gives_the_command_that_runs_it_again(
    model_path, intmodel, tmp_path, monkeypatch, capsys, command, faults, said, left
):
    out = tmp_path / "my out"
    with FakeDevice(intmodel, faults) as fake:
        argv = [command, "--model", model_path, "--port", fake.port, "--limit", N]
        argv += [*(["--thetas", "2"] if command == "sweep" else []), "--no-progress"]
        assert cli(monkeypatch, *argv, "--out", out, "--timeout", "0.5") == 2
    said = said.format(
        closed=f"serial link {fake.port} closed (end of file): the device went away (board "
        "unplugged or reset over USB); nothing was kept; reconnect, then ",
        default=tuple(intmodel.thresholds),
        theta_2=tuple(thresholds_for_theta(2, Model.load(model_path).alphas)),
    )
    assert capsys.readouterr().err == (
        f"bs4nn {command}: error: {said}run the command again: "
        f"bs4nn {typed(*argv)} --out '{out}' --timeout 0.5\n"
    )
    entries = sorted(p.name for p in out.iterdir()) if out.exists() else None
    assert entries == left
    if command == "bench" and left:
        assert (out / "images.csv").read_text().count("\n") == 1  # its header alone


NO_VALID_REPLY = (
    "no valid reply to {what} from {port} after 4 tries of 0.5 s each (--timeout): is the bs4nn "
    "firmware running on it, in binary mode, at the right baud rate? "
)
TOO_NOISY = (
    "test image {image} was sent 4 times without a valid reply: the link to {port} is too noisy; "
)
ALWAYS_DROPPED = set(range(1, 100))  # every INFER request's reply from the first one on


@pytest.mark.parametrize(
    ("command", "faults", "said"),
    [
        (
            "bench",
            Faults(silent_after=0),  # the handshake's INFO unanswered
            NO_VALID_REPLY.format(what="INFO", port="{port}")
            + "Nothing was kept; reset the board, then run the command again: {argv}",
        ),
        (  # the first setting kept, the second one's SET_THRESHOLDS unanswered
            "sweep",
            Faults(silent_after=N),
            "no valid reply to SET_THRESHOLDS from {port} after 4 tries of 0.5 s each "
            "(--timeout): it answered before: did it hang or reset? Results so far are kept; "
            "reset the board, then resume with: {argv} --resume",
        ),
        (  # the first 20 images go one at a time: image 0 is the one in flight
            "bench",
            Faults(drop_replies=ALWAYS_DROPPED),
            TOO_NOISY.format(image=0, port="{port}") + "nothing was kept; check the cable, baud "
            "rate and ground, then run the command again: {argv}",
        ),
        (  # images 0 to 2 kept
            "bench",
            Faults(drop_replies=ALWAYS_DROPPED - {1, 2, 3}),
            TOO_NOISY.format(image=3, port="{port}") + "results so far are kept; check the "
            "cable, baud rate and ground, then resume with: {argv} --resume",
        ),
        (  # the first setting kept, image 0 of the second one never answered
            "sweep",
            Faults(drop_replies={N + i for i in ALWAYS_DROPPED}),
            TOO_NOISY.format(image=0, port="{port}") + "results so far are kept; check the "
            "cable, baud rate and ground, then resume with: {argv} --resume",
        ),
    ],
    ids=[
        "bench-silent",
        "sweep-silent-second-setting",
        "bench-noisy",
        "bench-noisy-kept",
        "sweep-noisy-kept",
    ],
)
def test_no_valid_reply_or_a_noisy_link_says_what_was_kept_and_how_to_go_on(
    model_path, intmodel, tmp_path, monkeypatch, capsys, command, faults, said
):
    with FakeDevice(intmodel, faults) as fake:
        argv = [command, "--model", model_path, "--port", fake.port, "--limit", N]
        argv += [*(["--thetas", "2,6"] if command == "sweep" else []), "--no-progress"]
        argv += ["--out", tmp_path / "out", "--timeout", "0.5"]
        assert cli(monkeypatch, *argv) == 2
    said = said.format(port=fake.port, argv=f"bs4nn {typed(*argv)}")
    assert capsys.readouterr().err == f"bs4nn {command}: error: {said}\n"


@pytest.mark.parametrize(
    ("command", "faults", "said"),
    [
        (
            "bench",
            Faults(hang_up_at=0),
            "serial link {port} closed (end of file): the device went away (board unplugged or "
            "reset over USB); nothing was kept; reconnect, then run it again",
        ),
        (
            "sweep",
            Faults(reset_at=5),
            "the device reset during the run (its thresholds are {default}, the host had set "
            "{theta_2}); test image 4 and later were not measured; nothing was kept; run it again",
        ),
        (  # images 0 to 2 kept
            "bench",
            Faults(drop_replies=ALWAYS_DROPPED - {1, 2, 3}),
            TOO_NOISY.format(image=3, port="{port}") + "results so far are kept; check the "
            "cable, baud rate and ground, then use --resume",
        ),
    ],
    ids=["bench-handshake", "sweep-reset", "bench-noisy-kept"],
)
def test_called_from_python_an_error_says_what_was_kept_and_how_to_go_on(
    model_path, intmodel, tmp_path, command, faults, said
):
    # no command line to give: the hint names the option, or says to run it again
    run = bench if command == "bench" else partial(sweep, thetas=[2.0])
    with FakeDevice(intmodel, faults) as fake, pytest.raises(Bs4nnError) as exc:
        run(model_path, fake, tmp_path / "out", timeout=0.5)
    assert str(exc.value) == said.format(
        port=fake.port,
        default=tuple(intmodel.thresholds),
        theta_2=tuple(thresholds_for_theta(2, Model.load(model_path).alphas)),
    )


@pytest.mark.parametrize("command", ["bench", "sweep"])
def test_a_run_that_starts_over_gives_the_command_that_would_have_resumed(
    model_path, intmodel, tmp_path, monkeypatch, capsys, command
):
    with FakeDevice(intmodel) as fake:
        argv = [command, "--model", model_path, "--port", fake.port, "--out", tmp_path]
        argv += ["--no-progress", "--limit"]
        if command == "bench":
            assert cli(monkeypatch, *argv, 3) == 0
            assert cli(monkeypatch, *argv, 2) == 0
        else:
            assert cli(monkeypatch, *argv, 3, "--thetas", "2,6") == 0
            assert cli(monkeypatch, *argv, 3, "--thetas", "4") == 0
    said = {
        "bench": f"the 3 images of an earlier run in {tmp_path / 'images.csv'} will be replaced "
        f"(--resume would continue that run: bs4nn {typed(*argv)} 2 --resume)",
        "sweep": f"removing 2 other settings of an earlier sweep in {tmp_path} (--resume would "
        f"keep them: bs4nn {typed(*argv)} 3 --thetas 4 --resume)",
    }[command]
    assert f"\nstarting over: {said}\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("window", "rx_buffer", "limit", "used"),
    [
        # the replies of 99 requests (41 bytes each for a 784-32-10 model) fill HOST_RX_BYTES
        (1000, 0, 120, 99),
        # a 64-byte receive buffer holds no whole request: one at a time
        (2, 64, 5, 1),
    ],
    ids=["host-rx-bytes", "device-rx-buffer"],
)
def test_the_report_says_the_window_used_beside_the_one_asked(
    model_path, intmodel, tmp_path, window, rx_buffer, limit, used
):
    with FakeDevice(intmodel, rx_buffer=rx_buffer) as fake:
        run_bench(
            model_path,
            link=DeviceLink(port=fake.port, timeout=2.0, window=window),
            out_dir=tmp_path,
            progress=False,
            quiet=True,
            limit=limit,
        )
    link = json.loads((tmp_path / "report.json").read_text())["link"]
    assert (link["window_asked"], link["window_used"]) == (window, used)


def tie_figures(ref, labels) -> tuple[float, float]:
    """The reference's tie-inclusive accuracy (the label's output fired at the decision step,
    or the decision was right) and share of tied decisions (more than one output fired at the
    decision step), worked out here, not with the rule the reports use."""
    fired_true = ref.output_steps[np.arange(len(labels)), labels] == ref.decision_steps
    tie_inclusive = (ref.labels == labels) | (fired_true & ~ref.fallback)
    several = (ref.output_steps == ref.decision_steps[:, None]).sum(axis=1) > 1
    return float(tie_inclusive.mean()), float(several.mean())


def test_bench_report_matches_reference(model_path, intmodel, mnist, tmp_path):
    images, labels = mnist
    ref = reference_batch(intmodel, images)
    with FakeDevice(intmodel) as fake:
        rep = bench(model_path, fake, tmp_path)
    assert rep.images == N and rep.mismatches == 0 and rep.agreement == 1.0
    assert rep.accuracy == float((ref.labels == labels).mean())
    assert rep.decision_step_mean == float(ref.decision_steps.mean())
    assert rep.counter_name == "instructions (QEMU icount proxy)"
    expected_counter = 1000 + 10 * ref.decision_steps.astype(int) + ref.spikes.sum(axis=1)
    assert rep.counter_mean == float(expected_counter.mean())
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["board"] == "fake" and report["kernel"] == "python-reference"
    assert report["mismatch_indices"] == []
    assert report["spikes_per_layer_mean"] == [float(x) for x in ref.spikes.mean(axis=0)]
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (labels, ref.labels), 1)  # rows: true class; columns: the decision
    assert report["confusion"] == confusion.tolist()
    tie_inclusive, tie_rate = tie_figures(ref, labels)
    assert (report["accuracy_tie_inclusive"], report["tie_rate"]) == (tie_inclusive, tie_rate)
    assert (rep.accuracy_tie_inclusive, rep.tie_rate) == (tie_inclusive, tie_rate)
    assert tie_rate > 0 and tie_inclusive > rep.accuracy  # the device's ties, as eval's
    assert report["fallback_rate"] == float(ref.fallback.mean())
    assert report["decision_step"]["per_class"] == [
        float(ref.decision_steps[labels == c].mean()) if (labels == c).any() else None
        for c in range(10)
    ]
    assert sum(f["images"] for f in report["counter_by_input_spikes"]) == N
    assert report["link"]["kind"] == "serial" and report["link"]["resends"] == 0
    assert report["link"]["infer_bitmap"] is True
    assert (report["link"]["window_asked"], report["link"]["window_used"]) == (2, 2)
    assert report["wire_bytes_per_image"] > 0 and report["images_per_s"] > 0
    assert csv_indices(tmp_path / "images.csv") == list(range(N))
    for name in (
        "confusion.png",
        "decision_step_per_class.png",
        "counter_hist.png",
        "counter_vs_input_spikes.png",
    ):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_counter_histogram_marks_the_reports_mean_median_and_p99(
    model_path, intmodel, mnist, tmp_path, monkeypatch
):
    """The histogram's lines are the console's figures, labelled with them."""
    from bs4nn.host import report as report_module

    drawn = {}
    save = report_module.save

    def keep_labels(fig, path):
        ax = fig.axes[0]
        drawn[path.name] = (ax.get_title(), [t.get_text() for t in ax.get_legend().get_texts()])
        drawn[path.name + " lines"] = [line.get_xdata()[0] for line in ax.get_lines()]
        return save(fig, path)

    monkeypatch.setattr(report_module, "save", keep_labels)
    ref = reference_batch(intmodel, mnist[0])
    counter = 1000 + 10 * ref.decision_steps.astype(int) + ref.spikes.sum(axis=1)  # the fake's
    with FakeDevice(intmodel) as fake:
        bench(model_path, fake, tmp_path)
    mean, median, p99 = counter.mean(), np.median(counter), np.percentile(counter, 99)
    assert drawn["counter_hist.png"] == (
        f"fake, python-reference kernel, {N} images",
        [f"mean {mean:,.0f}", f"median {median:,.0f}", f"p99 {p99:,.0f}"],
    )
    assert drawn["counter_hist.png lines"] == [mean, median, p99]


def test_mismatches_are_counted_and_listed(model_path, intmodel, mnist, tmp_path):
    """Each field the board reports is compared: a reply wrong in any one of them is a
    mismatch named by that field; accuracy is the board's, not the reference's."""
    images, labels = mnist
    board_labels = reference_batch(intmodel, images).labels.copy()
    right = int(np.flatnonzero(board_labels == labels)[0])  # made wrong by the board
    board_labels[right] = (board_labels[right] + 1) % 10
    wrong_at = {right: "label", 11: "decision_step", 21: "fallback", 31: "output_steps"}
    wrong_at[41] = "spikes"
    assert len(wrong_at) == 5  # (`right` is none of the others)
    # request n carries image n - 1
    with FakeDevice(intmodel, Faults(wrong={i + 1: f for i, f in wrong_at.items()})) as fake:
        rep = bench(model_path, fake, tmp_path)
    assert rep.mismatches == 5
    assert rep.report["mismatch_indices"] == sorted(wrong_at)
    with open(tmp_path / "images.csv") as f:
        rows = {int(r["index"]): r for r in csv.DictReader(f)}
    for i, name in wrong_at.items():
        assert rows[i]["mismatch"] == name and rows[i]["match"] == "0"
    assert rows[12]["mismatch"] == "" and rows[12]["match"] == "1"
    assert rep.accuracy == float((board_labels == labels).mean())
    assert round(N * rep.report["reference_accuracy"]) == round(N * rep.accuracy) + 1


def test_resume_after_device_stops_counts_every_image_once(model_path, intmodel, tmp_path):
    with FakeDevice(intmodel, Faults(silent_after=25)) as fake:
        then = "results so far are kept; restart it, then use --resume"
        message = stopped_answering(fake.port, "2 requests", "0.5", then)
        with pytest.raises(DeviceSilent, match=f"^{message}$"):
            bench(model_path, fake, tmp_path, timeout=0.5)
    assert csv_indices(tmp_path / "images.csv") == list(range(25))
    with open(tmp_path / "images.csv", "a") as f:
        f.write("25,3,3,3,1")  # a row torn by the crash
    with FakeDevice(intmodel) as fake:
        rep = bench(model_path, fake, tmp_path, resume=True)
        assert fake.infer_requests == N - 25
    assert csv_indices(tmp_path / "images.csv") == list(range(N))
    assert rep.images == N and rep.mismatches == 0
    assert rep.report["resumed_images"] == 25 and rep.report["images_this_run"] == N - 25


def test_a_resume_of_a_finished_bench_reports_its_rows_and_streams_nothing(
    model_path, intmodel, tmp_path, capsys
):
    with FakeDevice(intmodel) as fake:
        whole = bench(model_path, fake, tmp_path, limit=3)
    capsys.readouterr()
    with FakeDevice(intmodel) as fake:
        rep = run_bench(
            model_path, link=DeviceLink(port=fake.port), out_dir=tmp_path, limit=3, resume=True
        )
        assert fake.infer_requests == 0
    figures = ("accuracy", "accuracy_tie_inclusive", "tie_rate", "counter", "rtt_ms")
    assert {k: rep.report[k] for k in figures} == {k: whole.report[k] for k in figures}
    assert (rep.images, rep.report["resumed_images"], rep.report["images_this_run"]) == (3, 3, 0)
    assert rep.images_per_s is None and rep.report["latency_ms"]["mean"] is None
    out = capsys.readouterr().out.splitlines()
    assert f"resume: 3 images already in {tmp_path / 'images.csv'}, 0 to go" in out
    assert "images        3 of mnist test  (3 from an earlier run)" in out
    assert [line for line in out if line.startswith(("throughput", "latency"))] == [
        "throughput    - images/s  262 bytes on the wire per image",
        "latency       - ms round trip (one request in flight), "
        f"{whole.report['rtt_ms']['mean']:.2f} ms pipelined",
    ]


def test_a_new_run_over_earlier_results_says_it_replaces_them(
    model_path, intmodel, tmp_path, capsys
):
    with FakeDevice(intmodel) as fake:
        bench(model_path, fake, tmp_path, limit=3)
        run_bench(
            model_path, link=DeviceLink(port=fake.port), out_dir=tmp_path, limit=2, progress=False
        )
    assert (
        f"starting over: the 3 images of an earlier run in {tmp_path / 'images.csv'} will be "
        "replaced (--resume would continue that run)\n"
    ) in capsys.readouterr().out
    assert csv_indices(tmp_path / "images.csv") == [0, 1]


def test_a_new_run_cut_short_leaves_no_report_or_plot_of_the_earlier_one(
    model_path, intmodel, tmp_path, monkeypatch
):
    import bs4nn.host.bench as bench_module

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    with FakeDevice(intmodel) as fake:
        bench(model_path, fake, tmp_path, limit=3)
        assert {p.name for p in tmp_path.glob("*.json")} | {
            p.name for p in tmp_path.glob("*.png")
        } == {
            "report.json",
            "device.json",
            *PLOT_NAMES,
        }
        monkeypatch.setattr(bench_module, "run_pass", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            bench(model_path, fake, tmp_path, limit=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device.json", "images.csv"]


def test_a_report_that_cannot_be_written_leaves_the_earlier_one(
    model_path, intmodel, tmp_path, monkeypatch
):
    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    with FakeDevice(intmodel) as fake:
        bench(model_path, fake, tmp_path, limit=3)
        kept = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix != ".csv"}
        monkeypatch.setattr(os, "fsync", disk_full)  # what a full disk does at the flush
        with pytest.raises(Bs4nnError) as exc:
            bench(model_path, fake, tmp_path, limit=3, resume=True)
    assert str(exc.value) == (
        f"cannot write {tmp_path / 'report.json'}: No space left on device; free space on the "
        "disk, or choose another path"
    )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix != ".csv"} == kept
    assert "report.json" in kept and "confusion.png" in kept


@pytest.mark.parametrize("command", ["bench", "sweep"])
def test_a_resume_with_a_smaller_limit_is_refused_before_any_side_effect(
    model_path, intmodel, tmp_path, monkeypatch, capsys, command
):
    """bench reported 3 images and kept 5 rows in images.csv; sweep measured its setting
    again, 3 rows for the 5 it had."""

    def run(fake, limit, *resume):
        thetas = ["--thetas", "2"] if command == "sweep" else []
        argv = [command, "--model", model_path, "--port", fake.port, "--out", tmp_path]
        return cli(monkeypatch, *argv, *thetas, "--limit", limit, "--no-progress", *resume)

    with FakeDevice(intmodel) as fake:
        assert run(fake, 5) == 0
    capsys.readouterr()
    before = snapshot(tmp_path)
    with FakeDevice(intmodel) as fake:
        assert run(fake, 3, "--resume") == 2
        assert fake.infer_requests == 0
    csv_path = tmp_path / ("images.csv" if command == "bench" else "images_theta_2.csv")
    assert capsys.readouterr().err == (
        f"bs4nn {command}: error: {csv_path} holds images measured beyond --limit 3 (5 of the "
        "first 5 test images): give --limit 5 or more to go on from them, or use another "
        "--out, or drop --resume to start over\n"
    )
    assert snapshot(tmp_path) == before
    with FakeDevice(intmodel) as fake:  # the --limit it names goes on from all of them
        assert run(fake, 5, "--resume") == 0
        assert fake.infer_requests == 0
    report = tmp_path / ("report.json" if command == "bench" else "sweep.json")
    assert json.loads(report.read_text())["images"] == 5
    assert csv_indices(csv_path) == [0, 1, 2, 3, 4]


def test_resume_refuses_rows_measured_on_another_device(model_path, intmodel, tmp_path):
    with FakeDevice(intmodel, board="board-a") as fake:
        bench(model_path, fake, tmp_path, limit=3)
    csv_before = (tmp_path / "images.csv").read_bytes()
    with FakeDevice(intmodel, board="board-b", kernel="other") as fake:
        with pytest.raises(Bs4nnError) as exc:
            bench(model_path, fake, tmp_path, limit=6, resume=True)
        assert fake.infer_requests == 0
    assert str(exc.value) == (
        f"{tmp_path / 'images.csv'} was measured on board-a (kernel "
        f"python-reference, 25000000 Hz, counting {ICOUNT}), this device is board-b (kernel "
        f"other, 25000000 Hz, counting {ICOUNT}); use another --out, or drop --resume to "
        "start over"
    )
    assert (tmp_path / "images.csv").read_bytes() == csv_before
    with FakeDevice(intmodel, board="board-a") as fake:  # the same board goes on
        rep = bench(model_path, fake, tmp_path, limit=6, resume=True)
        assert fake.infer_requests == 3 and rep.report["resumed_images"] == 3


def test_resume_refuses_rows_counted_by_another_counter_on_the_same_board(
    model_path, intmodel, tmp_path
):
    with FakeDevice(intmodel, board="board-a") as fake:
        bench(model_path, fake, tmp_path, limit=3)
    device = tmp_path / "device.json"
    assert json.loads(device.read_text()) == {
        "board": "board-a",
        "clock_hz": 25000000,
        "kernel": "python-reference",
        "counter": "instructions (QEMU icount proxy)",
    }
    # the same board and kernel, its firmware built with another counter
    device.write_text(device.read_text().replace("instructions (QEMU icount proxy)", "CPU cycles"))
    with FakeDevice(intmodel, board="board-a") as fake:
        with pytest.raises(Bs4nnError) as exc:
            bench(model_path, fake, tmp_path, limit=6, resume=True)
        assert fake.infer_requests == 0
    assert str(exc.value) == (
        f"{tmp_path / 'images.csv'} was measured on board-a (kernel python-reference, "
        "25000000 Hz, counting CPU cycles), this device is board-a (kernel python-reference, "
        f"25000000 Hz, counting {ICOUNT}); use another --out, or drop --resume to start over"
    )


@pytest.mark.parametrize("damaged", [None, b'{"board": "board-a"', b"[1, 2]", b"\xff"])
def test_a_resume_goes_on_without_a_device_json_it_can_read(
    model_path, intmodel, tmp_path, damaged
):
    with FakeDevice(intmodel, board="board-a") as fake:
        bench(model_path, fake, tmp_path, limit=3)
    device = tmp_path / "device.json"
    recorded = device.read_text()
    # gone, cut short, no object, no UTF-8: the rows are checked as always
    if damaged is None:
        device.unlink()
    else:
        device.write_bytes(damaged)
    with FakeDevice(intmodel, board="board-a") as fake:
        rep = bench(model_path, fake, tmp_path, limit=6, resume=True)
        assert fake.infer_requests == 3 and rep.report["resumed_images"] == 3
    assert device.read_text() == recorded


@pytest.mark.parametrize("command", ["bench", "sweep"])
def test_a_resume_on_another_emulated_board_is_refused_before_its_firmware_is_built(
    model_path, tmp_path, monkeypatch, command
):
    from bs4nn.host import connect

    def started(*args, **kwargs):
        raise AssertionError("an emulator was looked for")

    monkeypatch.setattr(connect, "require_emulator", started)
    device = {"board": "qemu-mps2-an386", "clock_hz": 25000000, "kernel": "sliced", "counter": "c"}
    (tmp_path / "device.json").write_text(json.dumps(device))
    (tmp_path / ("images.csv" if command == "bench" else "images_scale_1.csv")).write_text("")
    before = sorted(p.name for p in tmp_path.iterdir())
    run = run_bench if command == "bench" else run_sweep
    with pytest.raises(Bs4nnError) as exc:
        run(
            model_path,
            link=DeviceLink(board="qemu-microbit"),
            out_dir=tmp_path,
            limit=N,
            resume=True,
        )
    rows = tmp_path / "images.csv" if command == "bench" else f"the sweep in {tmp_path}"
    assert str(exc.value) == (
        f"{rows} was measured on qemu-mps2-an386 (kernel sliced, 25000000 Hz, "
        "counting c), this device is qemu-microbit; use another --out, or drop --resume to start "
        "over"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no firmware folder


def test_demo_says_to_remove_the_bench_folder_its_bench_cannot_go_on_from(
    model_path, intmodel, tmp_path, monkeypatch, capsys
):
    # the demo gives its bench --resume itself: the user has no --resume to drop
    bench_out = tmp_path / "demo" / "bench"
    with FakeDevice(intmodel) as fake:  # a bench interrupted on another board
        bench(model_path, fake, bench_out, limit=3)
    (bench_out / "report.json").unlink()
    argv = ["demo", "--model", model_path, "--out", tmp_path / "demo", "--limit", 3]
    assert cli(monkeypatch, *argv) == 2
    assert capsys.readouterr().err == (
        f"bs4nn demo: error: {bench_out / 'images.csv'} was measured on fake (kernel "
        f"python-reference, 25000000 Hz, counting {ICOUNT}), this device is qemu-mps2-an386; "
        f"remove {bench_out} to start over\n"
    )


def test_sweep_resume_refuses_settings_measured_on_another_device(model_path, intmodel, tmp_path):
    with FakeDevice(intmodel, board="board-a") as fake:
        sweep_thetas_2_6(model_path, fake, tmp_path)
    assert json.loads((tmp_path / "device.json").read_text())["board"] == "board-a"
    (tmp_path / "images_theta_6.csv").unlink()  # interrupted during the second setting
    with FakeDevice(intmodel, board="board-b", kernel="other") as fake:
        with pytest.raises(Bs4nnError) as exc:
            sweep_thetas_2_6(model_path, fake, tmp_path, resume=True)
        assert fake.infer_requests == 0
    assert str(exc.value) == (
        f"the sweep in {tmp_path} was measured on board-a (kernel "
        f"python-reference, 25000000 Hz, counting {ICOUNT}), this device is board-b (kernel "
        f"other, 25000000 Hz, counting {ICOUNT}); use another --out, or drop --resume to "
        "start over"
    )
    with FakeDevice(intmodel, board="board-a") as fake:  # the same board goes on
        sweep_thetas_2_6(model_path, fake, tmp_path, resume=True)
        assert fake.infer_requests == N


def test_a_sweep_on_another_device_removes_every_earlier_setting(
    model_path, intmodel, tmp_path, capsys
):
    with FakeDevice(intmodel, board="board-a") as fake:
        sweep_thetas_2_6(model_path, fake, tmp_path)
    capsys.readouterr()
    with FakeDevice(intmodel, Faults(silent_after=3), board="board-b") as fake:
        # cut short in its first setting: board-a's theta 6 must not stay for a --resume
        then = "nothing was kept; restart it, then run it again"
        message = stopped_answering(fake.port, "1 request", "0.5", then)
        with pytest.raises(DeviceSilent, match=f"^{message}$"):
            sweep_thetas_2_6(model_path, fake, tmp_path, timeout=0.5)
    assert capsys.readouterr().out.startswith(
        f"starting over: removing 2 settings measured on board-a in {tmp_path}\n"
    )
    assert sorted(p.name for p in tmp_path.glob("images_*.csv")) == []
    assert json.loads((tmp_path / "device.json").read_text())["board"] == "board-b"


def test_resume_refuses_rows_of_another_model(model_path, intmodel, tmp_path):
    with FakeDevice(intmodel) as fake:
        bench(model_path, fake, tmp_path, limit=3)
    csv_path = tmp_path / "images.csv"
    csv_path.write_text(csv_path.read_text().replace(intmodel.model_hash, "00" * 32))
    with FakeDevice(intmodel) as fake:
        with pytest.raises(Bs4nnError) as exc:
            bench(model_path, fake, tmp_path, resume=True)
        assert fake.infer_requests == 0
    assert str(exc.value) == (
        f"{csv_path} holds rows measured with another model (hash 0000000000000000..., "
        f"this one is {intmodel.model_hash[:16]}...); use another --out, or drop --resume to "
        "start over"
    )


def test_hash_mismatch_stops_naming_both(model_path, intmodel, tmp_path):
    with FakeDevice(intmodel, model_hash="cd" * 32) as fake:
        with pytest.raises(Bs4nnError) as exc:
            bench(model_path, fake, tmp_path)
    assert f"the device runs model {'cd' * 32} but the model file is {intmodel.model_hash}" in (
        str(exc.value)
    )


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A model of 1,200 inputs (no dense frame) and its data: test image 3 fits one frame only
    as INFER_BITMAP (500 lit pixels: sparse 1,502 body bytes, bitmap 650), image 1 fits either
    way and is shorter as a bitmap."""
    folder = tmp_path_factory.mktemp("wide")
    x = np.zeros((6, 1200), np.uint8)
    for image, lit in ((0, 10), (1, 100), (3, 500), (4, 5)):
        x[image, :lit] = 7
    y = np.arange(6) % 3
    data = folder / "sensors.npz"
    np.savez(data, x_train=x, y_train=y, x_test=x, y_test=y)
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=(8, 1200)), rng.normal(size=(3, 8))]
    path = model_from_arrays(weights, [1.0, 1.0], [3.0, 2.0], **dataset_fields(str(data)))
    path = path.save(folder / "wide.bs4nn")
    return path, data, IntModel.load(path)


@pytest.mark.parametrize("command", ["bench", "sweep"])
def test_an_image_only_a_bitmap_carries_is_refused_before_streaming_to_a_device_without_it(
    wide, tmp_path, monkeypatch, capsys, command
):
    path, data, intmodel = wide
    out = tmp_path / "out"
    with FakeDevice(intmodel, bitmap=False) as fake:
        argv = [command, "--model", path, "--data", data, "--port", fake.port, "--out", out]
        assert cli(monkeypatch, *argv, *(["--thetas", "2"] if command == "sweep" else [])) == 2
        assert dict(fake.frame_types) == {p.INFO: 1, p.INFER_BITMAP: 1}  # the question alone
    assert capsys.readouterr().err == (
        f"bs4nn {command}: error: test image 3 has 500 non-zero pixels of 1,200: too many for "
        "one INFER request without INFER_BITMAP, whose body of at most 1,019 bytes holds 339 "
        f"of 1,200; the device on {fake.port} has no INFER_BITMAP (an optional request): flash "
        "a firmware that has it (`bs4nn export`, then `pio run -t upload` in the export), give "
        "images with more zero pixels, or a model of at most 1,019 inputs\n"
    )
    assert not out.exists()


def test_a_device_with_bitmap_gets_the_images_only_a_bitmap_carries(wide, tmp_path):
    path, data, intmodel = wide
    with FakeDevice(intmodel) as fake:
        rep = bench(path, fake, tmp_path, dataset=str(data), limit=None)
        # the question (a blank image), then images 1 and 3 as bitmaps
        assert fake.frame_types[p.INFER_BITMAP] == 3 and fake.infer_requests == 7
    assert rep.images == 6 and rep.mismatches == 0
    assert rep.report["link"]["infer_bitmap"] is True


def test_a_resume_asks_nothing_when_the_images_left_fit_without_bitmap(wide, tmp_path):
    path, data, intmodel = wide
    with FakeDevice(intmodel) as fake:
        bench(path, fake, tmp_path, dataset=str(data), limit=None)
    csv_path = tmp_path / "images.csv"
    csv_path.write_text("".join(csv_path.read_text().splitlines(True)[:5]))  # images 0 to 3
    (tmp_path / "report.json").unlink()
    with FakeDevice(intmodel, bitmap=False) as fake:  # images 4 and 5 go as sparse requests
        rep = bench(path, fake, tmp_path, dataset=str(data), limit=None, resume=True)
        assert dict(fake.frame_types) == {p.INFO: 1, p.INFER_SPARSE: 2}
    assert rep.images == 6 and rep.mismatches == 0 and csv_indices(csv_path) == list(range(6))


def sweep(model_path, fake, out, timeout=DEFAULT_TIMEOUT_S, **kw):
    return run_sweep(
        model_path,
        link=DeviceLink(port=fake.port, timeout=timeout),
        out_dir=out,
        progress=False,
        **{"limit": N, **kw},
    )


def sweep_thetas_2_6(model_path, fake, out, **kw):
    return sweep(model_path, fake, out, thetas=[2.0, 6.0], **kw)


@pytest.mark.parametrize("command", ["bench", "sweep"])
def test_a_folder_of_the_other_command_is_refused_before_any_work(
    model_path, intmodel, tmp_path, command
):
    # the two wrote their CSVs, reports and plots side by side
    other = tmp_path / "other"
    with FakeDevice(intmodel) as fake:
        if command == "bench":
            sweep(model_path, fake, other, thetas=[2.0], limit=3)
        else:
            bench(model_path, fake, other, limit=3)
    before = snapshot(other)
    with FakeDevice(intmodel) as fake:
        with pytest.raises(Bs4nnError) as exc:
            (bench if command == "bench" else sweep)(model_path, fake, other, limit=3)
        assert fake.infer_requests == 0
    assert str(exc.value) == (
        f"--out {other} is a non-empty folder that is not a bs4nn {command} folder; choose an "
        f"empty or new folder, or the --out of an earlier `bs4nn {command}`"
    )
    assert snapshot(other) == before


@pytest.mark.parametrize("command", ["bench", "sweep"])
@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_of_no_image_is_refused_before_any_work(
    model_path, intmodel, tmp_path, command, limit
):
    # from Python (the command line takes a positive --limit only): a summary of no image has
    # no figures, and a negative limit is no slice of the test set from its end
    out = tmp_path / "out"
    with FakeDevice(intmodel) as fake:
        with pytest.raises(Bs4nnError, match=whole("--limit must be at least 1")):
            (bench if command == "bench" else sweep)(model_path, fake, out, limit=limit)
        assert fake.frame_types == {}
    assert not out.exists()


def test_a_bench_goes_on_in_a_folder_its_run_left_before_any_image(model_path, intmodel, tmp_path):
    # an emulated board's firmware, built in an existing folder before Ctrl-C; a killed run's
    # lock; the device record, and what a run killed while it wrote it again left
    (tmp_path / "firmware").mkdir()
    (tmp_path / "firmware" / "Makefile").write_text("")
    (tmp_path / LOCK_NAME).write_text("999999\n")
    (tmp_path / "device.json").write_text("{}")
    (tmp_path / ".device.json.k1ll3d_x.part").write_text("{")
    with FakeDevice(intmodel) as fake:
        rep = bench(model_path, fake, tmp_path, limit=3)
    assert rep.images == 3 and csv_indices(tmp_path / "images.csv") == [0, 1, 2]
    assert list(tmp_path.glob(".*.part")) == []


@pytest.mark.parametrize("command", ["bench", "sweep"])
def test_a_run_killed_while_it_exported_the_firmware_goes_on_in_its_folder(
    model_path, intmodel, tmp_path, command
):
    # SIGKILL while the emulated board's firmware was exported: its lock and the half-made
    # tree beside firmware/, and what an export into an existing one moved aside
    for name in (LOCK_NAME, ".firmware.lock", ".firmware.k1ll3d_x.part/Makefile"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "firmware").mkdir()
    (tmp_path / ".firmware.k1ll3d_y.old").mkdir()
    with FakeDevice(intmodel) as fake:
        if command == "bench":
            assert bench(model_path, fake, tmp_path, limit=3).images == 3
        else:
            assert [
                pt.images for pt in sweep(model_path, fake, tmp_path, thetas=[2.0], limit=3)
            ] == [3]


@pytest.mark.parametrize("resume", [False, True], ids=["again", "resume"])
def test_a_sweep_cut_short_in_its_first_setting_goes_on_in_its_folder(
    model_path, intmodel, tmp_path, resume
):
    out = tmp_path / "sweep"
    with FakeDevice(intmodel, Faults(silent_after=3)) as fake:
        then = "nothing was kept; restart it, then run it again"
        message = stopped_answering(fake.port, "1 request", "0.5", then)
        with pytest.raises(DeviceSilent, match=f"^{message}$"):
            sweep_thetas_2_6(model_path, fake, out, timeout=0.5)
    assert sorted(p.name for p in out.iterdir()) == ["device.json"]  # no setting finished
    with FakeDevice(intmodel) as fake:
        points = sweep_thetas_2_6(model_path, fake, out, resume=resume)
        assert fake.infer_requests == 2 * N
    assert [pt.images for pt in points] == [N, N]


@pytest.mark.parametrize("resume", [False, True], ids=["again", "resume"])
def test_a_sweep_killed_in_a_setting_goes_on_in_its_folder(model_path, intmodel, tmp_path, resume):
    # SIGKILL (or the OOM killer) while a setting's CSV was filled: its hidden temporary file
    # is left beside the lock and the device record; it is this sweep's, and removed
    out = tmp_path / "sweep"
    with FakeDevice(intmodel, Faults(silent_after=3)) as fake:
        with pytest.raises(DeviceSilent):
            sweep_thetas_2_6(model_path, fake, out, timeout=0.5)
    (out / LOCK_NAME).write_text("999999\n")
    (out / ".images_theta_2.csv.part").write_text("index,label\n0,")
    (out / ".images_theta_9.csv.part").write_text("index,label\n")  # not measured this time
    with FakeDevice(intmodel) as fake:
        points = sweep_thetas_2_6(model_path, fake, out, resume=resume)
        assert fake.infer_requests == 2 * N
    assert [pt.images for pt in points] == [N, N]
    assert sorted(p.name for p in out.iterdir()) == [
        "device.json",
        "images_theta_2.csv",
        "images_theta_6.csv",
        "pareto.png",
        "sweep.json",
        "sweep.png",
    ]


def test_sweep_checks_every_setting_against_the_reference(
    model_path, intmodel, mnist, tmp_path, capsys
):
    images, labels = mnist
    (tmp_path / "images_scale_0.5.csv").write_text("an earlier sweep's\n")
    with FakeDevice(intmodel) as fake:
        points = sweep_thetas_2_6(model_path, fake, tmp_path)
        assert fake.thresholds == intmodel.thresholds  # restored at the end
    assert [pt.thresholds for pt in points] == [[2, 4], [6, 12]]
    for pt in points:
        ref = reference_batch(intmodel, images, pt.thresholds)
        assert pt.mismatches == 0
        assert pt.accuracy == float((ref.labels == labels).mean())
        assert pt.decision_step_mean == float(ref.decision_steps.mean())
        assert (pt.accuracy_tie_inclusive, pt.tie_rate) == tie_figures(ref, labels)
    assert [(pt.accuracy, pt.accuracy_tie_inclusive, pt.tie_rate) for pt in points] == [
        (8 / 60, 12 / 60, 21 / 60),  # theta 2: ties, 4 of them with the label among the first
        (5 / 60, 5 / 60, 0.0),  # theta 6: most fall back, where nothing fired: no tie
    ]
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert data["kind"] == "theta" and data["mismatches"] == 0 and len(data["points"]) == 2
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert [pt["counter_mean"] for pt in data["points"]] == [pt.counter_mean for pt in points]
    assert [(pt["accuracy_tie_inclusive"], pt["tie_rate"]) for pt in data["points"]] == [
        (pt.accuracy_tie_inclusive, pt.tie_rate) for pt in points
    ]
    assert sorted(p.name for p in tmp_path.glob("images_*.csv")) == [
        "images_theta_2.csv",
        "images_theta_6.csv",
    ]
    out, err = capsys.readouterr()
    assert err == ""
    assert (
        f"starting over: removing 1 other setting of an earlier sweep in {tmp_path} (--resume "
        "would keep it)\n"
    ) in out


def test_sweep_resume_with_other_settings_keeps_the_earlier_ones(model_path, intmodel, tmp_path):
    with FakeDevice(intmodel) as fake:
        sweep_thetas_2_6(model_path, fake, tmp_path)
    earlier = {p.name: p.read_bytes() for p in tmp_path.glob("images_*.csv")}
    with FakeDevice(intmodel) as fake:
        sweep(model_path, fake, tmp_path, thetas=[4.0], resume=True)
    after = {p.name: p.read_bytes() for p in tmp_path.glob("images_*.csv")}
    assert sorted(after) == ["images_theta_2.csv", "images_theta_4.csv", "images_theta_6.csv"]
    assert {name: after[name] for name in earlier} == earlier


def test_sweep_resume_keeps_the_settings_an_interrupted_sweep_finished(
    model_path, intmodel, tmp_path, capsys
):
    with FakeDevice(intmodel) as fake:
        whole = sweep_thetas_2_6(model_path, fake, tmp_path)
    (tmp_path / "images_theta_6.csv").unlink()  # interrupted during the second setting
    (tmp_path / "sweep.json").unlink()
    capsys.readouterr()
    with FakeDevice(intmodel) as fake:
        resumed = sweep_thetas_2_6(model_path, fake, tmp_path, resume=True)
        assert fake.infer_requests == N  # the second setting only
    assert resumed == whole
    assert f"theta 2: kept from the earlier run ({tmp_path / 'images_theta_2.csv'})" in (
        capsys.readouterr().out
    )
    assert json.loads((tmp_path / "sweep.json").read_text())["points"] == [
        dataclasses.asdict(pt) for pt in whole
    ]
    with FakeDevice(intmodel) as fake:  # more images: nothing is kept
        sweep(model_path, fake, tmp_path, limit=N + 1, thetas=[2.0, 6.0], resume=True)
        assert fake.infer_requests == 2 * (N + 1)


def test_sweep_resume_of_a_finished_sweep_asks_the_device_only_what_it_is(
    model_path, intmodel, tmp_path, monkeypatch, capsys
):
    """Every setting kept: the report is written again from the CSVs, no image is streamed and
    the device, whose thresholds are already the model's, is asked INFO alone."""
    with FakeDevice(intmodel) as fake:
        whole = sweep_thetas_2_6(model_path, fake, tmp_path)
    csvs = {f.name: f.read_bytes() for f in tmp_path.glob("images_*.csv")}
    (tmp_path / "sweep.json").unlink()
    capsys.readouterr()
    with FakeDevice(intmodel) as fake:
        argv = ["sweep", "--model", model_path, "--port", fake.port, "--limit", N]
        argv += ["--thetas", "2,6", "--out", tmp_path, "--no-progress", "--resume"]
        assert cli(monkeypatch, *argv) == 0
        assert fake.frame_types == {p.INFO: 1}
    assert {f.name: f.read_bytes() for f in tmp_path.glob("images_*.csv")} == csvs
    assert json.loads((tmp_path / "sweep.json").read_text())["points"] == [
        dataclasses.asdict(pt) for pt in whole
    ]
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if "kept from the earlier run" in line] == [
        f"theta {setting}: kept from the earlier run ({tmp_path / f'images_theta_{setting}.csv'})"
        for setting in (2, 6)
    ]


def test_sweep_resume_measures_again_a_setting_whose_rows_are_not_of_this_run(
    model_path, intmodel, tmp_path, capsys
):
    with FakeDevice(intmodel) as fake:
        whole = sweep_thetas_2_6(model_path, fake, tmp_path)
    csv_path = tmp_path / "images_theta_2.csv"
    lines = csv_path.read_text().split("\n")
    fields = lines[3].split(",")
    fields[COLUMNS.index("true_label")] = "99"  # parses, but no output of the model has it
    lines[3] = ",".join(fields)
    csv_path.write_text("\n".join(lines))
    capsys.readouterr()
    with FakeDevice(intmodel) as fake:
        resumed = sweep_thetas_2_6(model_path, fake, tmp_path, resume=True)
        assert fake.infer_requests == N  # the edited setting, measured again
    assert resumed == whole
    out = capsys.readouterr().out
    assert "theta 6: kept from the earlier run" in out
    assert (
        f"theta 2: measured again: {csv_path} holds other rows than this run's (other images, "
        "another --limit or model, or damaged ones)"
    ) in out.splitlines()


def test_sweep_resume_measures_again_a_setting_measured_with_another_model(
    model_path, intmodel, tmp_path, capsys
):
    with FakeDevice(intmodel) as fake:
        whole = sweep_thetas_2_6(model_path, fake, tmp_path)
    csv_path = tmp_path / "images_theta_2.csv"
    # every image there, but each row of another model with the same layer sizes
    csv_path.write_text(csv_path.read_text().replace(intmodel.model_hash, "00" * 32))
    capsys.readouterr()
    with FakeDevice(intmodel) as fake:
        resumed = sweep_thetas_2_6(model_path, fake, tmp_path, resume=True)
        assert fake.infer_requests == N  # theta 2, measured again
    assert resumed == whole
    assert "00" * 32 not in csv_path.read_text()
    assert (
        f"theta 2: measured again: {csv_path} holds other rows than this run's (other images, "
        "another --limit or model, or damaged ones)"
    ) in capsys.readouterr().out.splitlines()


def test_a_sweep_again_without_resume_measures_every_setting_again(
    model_path, intmodel, tmp_path, capsys
):
    with FakeDevice(intmodel) as fake:
        whole = sweep_thetas_2_6(model_path, fake, tmp_path)
    capsys.readouterr()
    with FakeDevice(intmodel) as fake:  # the same device, the same settings
        again = sweep_thetas_2_6(model_path, fake, tmp_path)
        assert fake.infer_requests == 2 * N
    assert again == whole
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("theta ")] == [
        f"theta {pt.setting:6g}  K={pt.thresholds}  accuracy {100 * pt.accuracy:6.2f}% strict  "
        f"{100 * pt.accuracy_tie_inclusive:6.2f}% tie-inclusive  tied {100 * pt.tie_rate:.1f}%  "
        f"decision step {pt.decision_step_mean:6.1f}  fallback {100 * pt.fallback_rate:.1f}%  "
        f"instructions (QEMU icount proxy) {pt.counter_mean:,.0f}  mismatches 0"
        for pt in whole
    ]  # none kept, none "measured again"
    assert not [line for line in out if line.startswith("starting over")]


def test_sweep_json_totals_the_mismatches_of_every_setting(model_path, intmodel, tmp_path):
    with FakeDevice(intmodel, Faults(wrong={1: "label", N + 2: "decision_step"})) as fake:
        points = sweep_thetas_2_6(model_path, fake, tmp_path)
    assert [pt.mismatches for pt in points] == [1, 1]
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert [pt["mismatches"] for pt in data["points"]] == [1, 1]
    assert data["mismatches"] == 2
    assert data["images"] == N
    assert data["default_thresholds"] == list(intmodel.thresholds) == [8, 3]


def test_sweep_json_counts_the_images_there_are_below_the_limit(
    model_path, intmodel, mnist, tmp_path, monkeypatch
):
    import bs4nn.trainer.datasets as datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kw: mnist)  # N images
    with FakeDevice(intmodel) as fake:
        sweep(model_path, fake, tmp_path, limit=1000, thetas=[2.0])
        assert fake.infer_requests == N
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert data["images"] == N and data["points"][0]["images"] == N


@pytest.mark.parametrize(
    ("argv", "then"),
    [
        ([], "use --resume"),  # called from Python: no command line to give
        (["bench", "--model", "m.bs4nn"], "resume with: bs4nn bench --model m.bs4nn --resume"),
    ],
    ids=["python", "bench"],
)
def test_a_disk_full_in_the_middle_of_a_run_says_what_is_kept(tmp_path, monkeypatch, argv, then):
    import io

    from bs4nn.host.records import Record

    class FullDisk(io.StringIO):
        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sys, "argv", ["bs4nn", *argv])
    path = tmp_path / "images.csv"
    with offer_resume(lambda: True) if argv else contextlib.nullcontext():  # as bench does
        writer = RecordWriter(path, append=False)
    writer.close()  # the header is written; the rows go to a full disk
    writer._f = FullDisk()
    writer._w = csv.writer(writer._f)
    row = Record(0, 7, 7, 7, 9, 9, False, "", 100, 1.0, 10, (1, 2, 1), (1, 2, 1), (-1,) * 10, "a")
    with pytest.raises(Bs4nnError) as exc:
        writer.write(row)
    assert str(exc.value) == (
        f"cannot write {path}: No space left on device; what was measured before is kept: make "
        f"room, then {then}"
    )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_full_disk_names_the_per_image_csv():
    full = Path("/dev/full")  # every write fails as on a full disk; opened, never replaced
    with pytest.raises(Bs4nnError) as exc:
        RecordWriter(full, append=False)
    assert str(exc.value) == (
        "cannot write /dev/full: No space left on device; free space on the disk, or choose "
        "another path"
    )


def test_sweep_says_when_a_threshold_is_above_the_fan_in(model_path, intmodel, tmp_path, capsys):
    with FakeDevice(intmodel) as fake:
        points = sweep(model_path, fake, tmp_path, limit=5, thetas=[20.0])
    assert points[0].thresholds == [20, 40] and points[0].mismatches == 0
    assert capsys.readouterr().err == (
        "warning: setting 20: K above the fan-in (40 > 32): those layers never fire\n"
    )
    # the output layer never fires: every image is decided by the counts at step 255
    assert points[0].fallback_rate == 1.0
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert data["points"][0]["fallback_rate"] == 1.0


def test_sweep_takes_a_k_equal_to_the_fan_in_or_to_k_max_without_a_word(
    model_path, intmodel, tmp_path, capsys
):
    from bs4nn.trainer.semantics import K_MAX

    with FakeDevice(intmodel) as fake:
        # K = theta / alpha = [16, 32]: 32 = the fan-in of layer 1, reached
        points = sweep(model_path, fake, tmp_path / "fan-in", limit=3, thetas=[16.0])
    assert points[0].thresholds == [16, 32] and points[0].mismatches == 0
    assert capsys.readouterr().err == ""
    with FakeDevice(intmodel) as fake:
        # K_MAX / 8 of the model's K [8, 3]
        points = sweep(model_path, fake, tmp_path / "k-max", limit=3, scales=[K_MAX / 8])
    assert points[0].thresholds == [K_MAX, 12288] and points[0].mismatches == 0


def test_sweep_over_budgets_runs_the_thresholds_chosen_on_validation(
    mnist, data_dir, tmp_path, capsys
):
    """--budgets: per budget, the K `calibrate_for_budget` chooses on the model's validation
    split, run on the device and checked against the reference like any setting."""
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((32, 784)), rng.standard_normal((10, 32))]
    model = model_from_arrays(
        weights, [1.0, 0.5], [8.0, 1.5], dataset="mnist", train_config={"val_size": 300, "seed": 5}
    )
    path = model.save(tmp_path / "m.bs4nn")
    val_images, val_labels = validation_split(model, data_dir=data_dir)
    train_images, _ = load_dataset("mnist", "train", data_dir=data_dir)
    assert (val_images == train_images[train_val_split(60000, 300, 5)[1]]).all()
    want = [calibrate_for_budget(model, val_images, val_labels, b) for b in (20.0, 60.0)]
    intmodel = IntModel.load(path)
    images, labels = mnist
    out = tmp_path / "sweep"
    with FakeDevice(intmodel) as fake:
        points = sweep(path, fake, out, budgets=[20.0, 60.0], data_dir=data_dir)
        assert fake.thresholds == intmodel.thresholds  # restored at the end
    assert [pt.setting for pt in points] == [20.0, 60.0]
    assert [pt.thresholds for pt in points] == [w.thresholds for w in want]
    assert points[0].thresholds != points[1].thresholds
    for pt in points:
        ref = reference_batch(intmodel, images, pt.thresholds)
        assert pt.mismatches == 0
        assert pt.accuracy == float((ref.labels == labels).mean())
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        f"budget {b:g}: K {','.join(map(str, w.thresholds))}, validation "
        f"{100 * w.accuracy:.2f}% at mean decision step {w.mean_step:.2f}"
        for b, w in zip((20, 60), want, strict=True)
    ]
    data = json.loads((out / "sweep.json").read_text())
    assert data["kind"] == "budget" and data["mismatches"] == 0
    assert sorted(p.name for p in out.glob("images_*.csv")) == [
        "images_budget_20.csv",
        "images_budget_60.csv",
    ]


def test_pareto_front_keeps_the_settings_nothing_beats_on_both():
    from bs4nn.host.sweep import SweepPoint, pareto_front

    def pt(setting, accuracy, counter):
        return SweepPoint(
            setting=setting,
            thresholds=[1],
            accuracy=accuracy,
            accuracy_tie_inclusive=accuracy,
            decision_step_mean=0.0,
            mismatches=0,
            counter_mean=counter,
            images=10,
            fallback_rate=0.0,
            tie_rate=0.0,
        )

    points = [
        pt(1.0, 0.90, 300.0),
        pt(0.5, 0.80, 100.0),
        pt(0.8, 0.80, 200.0),
        pt(1.2, 0.95, 500.0),
        pt(1.4, 0.93, 600.0),
    ]
    assert [p.setting for p in pareto_front(points)] == [0.5, 1.0, 1.2]
    # as many instructions for less accuracy: beaten, even when listed first
    tied = [pt(0.4, 0.70, 100.0), *points]
    assert [p.setting for p in pareto_front(tied)] == [0.5, 1.0, 1.2]


def test_threshold_settings():
    assert thresholds_for_theta(100.0, [0.5, 3.0]) == [200, 34]
    assert thresholds_for_scale(0.5, (9, 1)) == [5, 1]


def test_cli_missing_port_exits_2_with_message(model_path, capsys):
    code = bs4nn_main(
        [
            "bench",
            "--model",
            str(model_path),
            "--port",
            "/dev/ttyACM_bs4nn_none",
            "--limit",
            "5",
            "--out",
            "/tmp/bs4nn-test-none",
            "--no-progress",
        ]
    )
    assert code == 2
    assert capsys.readouterr().err == (
        "bs4nn bench: error: no serial device at /dev/ttyACM_bs4nn_none: check the board is "
        "plugged in and flashed, and list the ports with `ls /dev/ttyACM* /dev/ttyUSB*` (or "
        "`pio device list`); pass the right one with --port, or use the emulated board (bench: "
        "--emulate; eembc: no --port)\n"
    )


def test_build_without_toolchain_names_packages(tmp_path, monkeypatch):
    import shutil

    from bs4nn.host import build

    (tmp_path / "bs4nn_export.json").write_text(
        json.dumps({"board": "qemu-mps2-an386", "model_hash": "00" * 32})
    )
    real_which = shutil.which
    monkeypatch.setattr(
        build.shutil,
        "which",
        lambda tool: None if tool == "arm-none-eabi-gcc" else real_which(tool),
    )
    with pytest.raises(Bs4nnError) as exc:
        build.build_firmware(tmp_path)
    assert str(exc.value) == (
        "arm-none-eabi-gcc not found on PATH: install it with "
        "`sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi`"
    )
    monkeypatch.setattr(build.shutil, "which", lambda tool: None)
    with pytest.raises(Bs4nnError, match="make not found on PATH"):
        build.build_firmware(tmp_path)


def test_platformio_is_found_in_the_venv_it_was_installed_into(tmp_path, monkeypatch):
    # `make setup` installs pio into .venv/bin, which a user need not have activated
    from bs4nn.host import build

    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    pio = venv_bin / "pio"
    pio.write_text(f"#!{sys.executable}\nimport sys\nprint('HTTPClientError:')\nsys.exit(1)\n")
    pio.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(build.sys, "executable", str(venv_bin / "python"))
    assert build.find_pio() == str(pio)
    (tmp_path / "fw").mkdir()
    (tmp_path / "fw" / "bs4nn_export.json").write_text(
        json.dumps({"board": "nucleo_f446re", "model_hash": "00" * 32})
    )
    with pytest.raises(Bs4nnError) as exc:  # offline, its first build cannot fetch the platform
        build.build_firmware(tmp_path / "fw")
    assert str(exc.value) == (
        f"the PlatformIO build failed (`{pio} run -d {tmp_path / 'fw'} -e nucleo_f446re`, exit "
        "1):\nHTTPClientError:\n(on its first build of a board PlatformIO downloads the board's "
        "platform and toolchain, which needs the network)"
    )
    pio.unlink()
    with pytest.raises(Bs4nnError) as exc:
        build.find_pio()
    assert str(exc.value) == (
        f"pio not found on PATH nor in {venv_bin}: install PlatformIO with `pip install platformio`"
    )


def test_build_in_a_read_only_export_is_one_line(tmp_path, monkeypatch):
    import tempfile

    from bs4nn.host import build

    (tmp_path / "bs4nn_export.json").write_text(
        json.dumps({"board": "qemu-mps2-an386", "model_hash": "00" * 32})
    )

    def read_only(**kw):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr(build.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    ran = []
    monkeypatch.setattr(build.subprocess, "run", lambda *a, **kw: ran.append(a))
    with pytest.raises(Bs4nnError) as exc:
        build.build_firmware(tmp_path)
    assert str(exc.value) == (
        f"cannot build in {tmp_path}: Read-only file system; the build writes into the export "
        "folder: export again into a writable one"
    )
    assert ran == []  # make never ran (its errors were five lines)


def test_build_of_a_non_export_says_what_to_do(tmp_path):
    from bs4nn.host.build import build_firmware

    message = (
        f"{tmp_path} is not a bs4nn export (no bs4nn_export.json); run "
        "`bs4nn export MODEL --out DIR` first"
    )
    with pytest.raises(Bs4nnError, match=whole(message)):
        build_firmware(tmp_path)


def test_console_reports_link_trouble_it_recovered_from(model_path, intmodel, tmp_path, capsys):
    # garbage with no delimiter merges with reply 5: one bad frame, a timeout, a probe, a resend
    with FakeDevice(intmodel, Faults(garbage_before={5: b"\x01\x02junk"})) as fake:
        rep = run_bench(
            model_path,
            link=DeviceLink(port=fake.port, timeout=1.0),
            limit=N,
            out_dir=tmp_path,
            progress=False,
        )
    assert rep.mismatches == 0 and rep.images == N
    out = capsys.readouterr().out
    assert (
        "link trouble  1 bad frame, 1 resend, 1 recovery, 0 error replies (recovered: every "
        "counted image was answered and checked)"
    ) in out
    assert "mismatches    0  (agreement with the integer reference 100.00%)" in out


def test_bench_streams_the_models_dataset(tmp_path, capsys):
    """A Fashion-MNIST model is benched on Fashion-MNIST without --dataset; MNIST is refused."""
    rng = np.random.default_rng(2)
    path = tmp_path / "fashion.bs4nn"
    model_from_arrays(
        [rng.standard_normal((16, 784)), rng.standard_normal((10, 16))],
        [1.0, 0.5],
        [8.0, 1.5],
        dataset="fashion-mnist",
    ).save(path)
    intmodel = IntModel.load(path)
    images, labels = load_dataset("fashion-mnist", "test")
    ref = reference_batch(intmodel, images[:N])
    with FakeDevice(intmodel) as fake:
        rep = bench(path, fake, tmp_path / "out")
    assert rep.mismatches == 0 and rep.accuracy == float((ref.labels == labels[:N]).mean())
    assert json.loads((tmp_path / "out" / "report.json").read_text())["dataset"] == "fashion-mnist"
    assert (
        bs4nn_main(
            [
                "bench",
                "--model",
                str(path),
                "--dataset",
                "mnist",
                "--port",
                "/dev/null",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    assert capsys.readouterr().err == (
        "bs4nn bench: error: --dataset mnist is not the model's dataset (fashion-mnist); leave "
        "--dataset out to use fashion-mnist\n"
    )


def test_counter_by_input_spikes_takes_fifths_in_order_of_input_spikes():
    from bs4nn.host.report import counter_by_input_spikes

    counter = np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    spikes = np.array([5, 1, 4, 2, 3, 10, 9, 8, 7, 6])
    rows = counter_by_input_spikes(counter, spikes)
    assert [(r["images"], r["input_spikes_min"], r["input_spikes_max"]) for r in rows] == [
        (2, 1, 2),
        (2, 3, 4),
        (2, 5, 6),
        (2, 7, 8),
        (2, 9, 10),
    ]
    assert [r["input_spikes_mean"] for r in rows] == [1.5, 3.5, 5.5, 7.5, 9.5]
    assert [r["counter_mean"] for r in rows] == [30.0, 40.0, 55.0, 85.0, 65.0]


def test_a_port_that_cannot_be_opened_is_the_only_thing_said(model_path, tmp_path, capsys):
    out = tmp_path / "b"
    with pytest.raises(Bs4nnError, match=r"^no serial device at /dev/nonexist: "):
        run_bench(
            model_path, link=DeviceLink(port="/dev/nonexist"), out_dir=out, limit=3, progress=False
        )
    assert capsys.readouterr().out == "" and not out.exists()


def use_emulator(monkeypatch, emulator) -> None:
    """`bench --emulate` starts `emulator(board, fw_dir)` (a context manager yielding a
    RunningEmulator) instead of building firmware and starting the board's emulator."""
    monkeypatch.setattr(connect, "require_emulator", lambda board: None)
    monkeypatch.setattr(connect, "prepare_emulated_firmware", lambda *a, **kw: {})
    monkeypatch.setattr(connect, "running_emulator", emulator)


def emulate_with(monkeypatch, intmodel, faults) -> list[str]:
    """The emulator of `bench --emulate` replaced by the fake device on its pty (QEMU, its
    process a sleeper): no board for the user to restart. The ports it served, once run."""
    ports = []

    @contextlib.contextmanager
    def emulator(board, fw_dir):
        with FakeDevice(intmodel, faults) as fake:
            ports.append(fake.port)
            sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            try:
                yield RunningEmulator("qemu", fake.port, sleeper)
            finally:
                sleeper.kill()
                sleeper.wait()

    use_emulator(monkeypatch, emulator)
    return ports


def test_an_emulated_board_that_stops_answering_is_started_anew_by_resume(
    model_path, intmodel, tmp_path, monkeypatch, capsys
):
    emulate_with(monkeypatch, intmodel, Faults(silent_after=3))
    argv = ["bench", "--model", model_path, "--emulate", "--out", tmp_path, "--timeout", "0.5"]
    assert cli(monkeypatch, *argv, "--no-progress", "--limit", N) == 2
    assert capsys.readouterr().err.endswith(
        "it hangs or was reset, or it answers later than that; results so far are kept; to "
        "start QEMU anew and go on, resume with: "
        f"bs4nn {typed(*argv)} --no-progress --limit {N} --resume\n"
    )
    assert len(csv_indices(tmp_path / "images.csv")) == 3


@pytest.mark.parametrize(
    ("faults", "said"),
    [
        (  # the handshake's INFO unanswered; no firmware question: bs4nn built and started it
            Faults(silent_after=0),
            "no valid reply to INFO from {port} after 4 tries of 0.5 s each (--timeout); nothing "
            "was kept; to start QEMU anew and go on, run the command again: {argv}",
        ),
        (  # images 0 to 2 kept
            Faults(drop_replies=ALWAYS_DROPPED - {1, 2, 3}),
            TOO_NOISY.format(image=3, port="{port}") + "results so far are kept; to start QEMU "
            "anew and go on, resume with: {argv} --resume",
        ),
    ],
    ids=["silent", "noisy"],
)
def test_no_valid_reply_or_a_noisy_link_on_an_emulated_board_says_to_start_it_anew(
    model_path, intmodel, tmp_path, monkeypatch, capsys, faults, said
):
    ports = emulate_with(monkeypatch, intmodel, faults)
    argv = ["bench", "--model", model_path, "--emulate", "--out", tmp_path / "out"]
    argv += ["--timeout", "0.5", "--no-progress", "--limit", N]
    assert cli(monkeypatch, *argv) == 2
    said = said.format(port=ports[0], argv=f"bs4nn {typed(*argv)}")
    assert capsys.readouterr().err == f"bs4nn bench: error: {said}\n"


def test_an_emulator_that_exits_is_started_anew_by_resume(
    model_path, intmodel, tmp_path, monkeypatch, capsys
):
    # the emulator replaced by the fake device on its pty, hung up once 3 images are on disk,
    # and by a process that exited with status 3
    port = []

    @contextlib.contextmanager
    def emulator(board, fw_dir):
        with FakeDevice(intmodel, Faults(silent_after=3)) as fake:

            def hang_up():
                rows, deadline = tmp_path / "images.csv", time.monotonic() + 30
                while not rows.is_file() or rows.read_text().count("\n") < 4:  # header + 3
                    if time.monotonic() > deadline:
                        return
                    time.sleep(0.01)
                fake.close()

            hanging_up = threading.Thread(target=hang_up)
            hanging_up.start()
            exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
            exited.wait()
            port.append(fake.port)
            try:
                yield RunningEmulator("qemu", fake.port, exited)
            finally:
                hanging_up.join()  # its close done before the fake's own

    use_emulator(monkeypatch, emulator)
    argv = ["bench", "--model", model_path, "--emulate", "--out", tmp_path, "--no-progress"]
    assert cli(monkeypatch, *argv, "--limit", N) == 2
    assert capsys.readouterr().err == (
        f"bs4nn bench: error: QEMU exited (status 3) during the run: serial link {port[0]} "
        "closed (end of file); results so far are kept; to start QEMU anew and go on, resume "
        f"with: bs4nn {typed(*argv)} --limit {N} --resume\n"
    )
    assert len(csv_indices(tmp_path / "images.csv")) == 3


def test_a_missing_emulator_is_said_before_any_firmware_is_built(model_path, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no node (nor make, nor the compiler)
    with pytest.raises(Bs4nnError) as exc:
        run_bench(
            model_path,
            link=DeviceLink(board="rp2040js-pico"),
            out_dir=tmp_path / "b",
            limit=2,
            quiet=True,
        )
    assert str(exc.value) == (
        "node not found on PATH: install it with `sudo apt-get install nodejs`"
    )
    assert not (tmp_path / "b").exists()


def test_the_first_20_images_go_one_at_a_time_then_pipelined(
    model_path, intmodel, tmp_path, monkeypatch
):
    from bs4nn.host.client import Device

    windows = []
    real = Device.stream

    def stream(self, images, indices=None, window=None, noun="image"):
        indices = list(indices)
        windows.append((len(indices), window))
        return real(self, images, indices, window, noun)

    monkeypatch.setattr(Device, "stream", stream)
    with FakeDevice(intmodel) as fake:
        rep = bench(model_path, fake, tmp_path)
    assert rep.images == 60
    assert windows == [(20, 1), (40, None)]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["pipelined_images"] == 40 and report["images_this_run"] == 60


def test_a_mismatch_is_said_as_it_happens(model_path, intmodel, tmp_path, capsys):
    with FakeDevice(intmodel, Faults(wrong={12: "decision_step"})) as fake:  # image 11
        rep = bench(model_path, fake, tmp_path)
    assert rep.mismatches == 1
    said = capsys.readouterr()
    assert "MISMATCH test image 11: decision_step\n" in said.out + said.err


def test_an_interrupted_sweep_leaves_no_report_of_an_earlier_one(tmp_path, capsys, monkeypatch):
    import bs4nn.host.sweep as sweep_module

    path = tiny_model().save(tmp_path / "m.bs4nn")
    intmodel = IntModel.load(path)
    out = tmp_path / "sweep"

    def sweep_cli(port, scales):
        return bs4nn_main(
            ["sweep", "--model", str(path), "--port", port, "--limit", "10", "--scales", scales]
            + ["--out", str(out), "--timeout", "2", "--no-progress"]
        )

    with FakeDevice(intmodel) as fake:
        assert sweep_cli(fake.port, "0.8,1") == 0
    assert (out / "sweep.json").is_file() and (out / "pareto.png").is_file()
    passes = []
    run_pass = sweep_module.run_pass

    def ctrl_c_in_the_second_setting(*args, **kwargs):
        passes.append(1)
        if len(passes) == 2:
            raise KeyboardInterrupt
        return run_pass(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "run_pass", ctrl_c_in_the_second_setting)
    with FakeDevice(intmodel) as fake:
        assert sweep_cli(fake.port, "0.5,0.7") == 130
    assert capsys.readouterr().err.endswith("bs4nn sweep: interrupted\n")
    assert sorted(p.name for p in out.glob("*.csv")) == ["images_scale_0.5.csv"]
    for name in ("sweep.json", "sweep.png", "pareto.png"):  # of settings no longer there
        assert not (out / name).exists(), name
