"""End to end: the unmodified MLPerf Tiny runner (../shared/mlperf-tiny beside the repository)
drives the emulated board through `bs4nn eembc`, in accuracy mode on 100 MNIST test images and
in performance mode (5 windows of at least 10 s of board time)."""

import shutil
from pathlib import Path

import pytest

from bs4nn.host.eembc import MODEL_ID, run_eembc

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO.parent / "shared" / "mlperf-tiny" / "benchmark" / "runner"
MODEL = REPO / "models" / "mnist-600-surrogate.bs4nn"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (RUNNER / "main.py").is_file(),
        reason=f"the MLPerf Tiny runner is not at {RUNNER} "
        "(../shared/mlperf-tiny beside the repository)",
    ),
    pytest.mark.skipif(
        shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
        reason="needs arm-none-eabi-gcc and qemu-system-arm",
    ),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("eembc")
    runs = run_eembc(MODEL, RUNNER, out, limit=100, echo=False)
    return out, {r.mode: r for r in runs}


def test_accuracy_mode_top1_on_100_images(results):
    out, runs = results
    acc = runs["accuracy"]
    assert acc.ok, acc
    assert float(acc.figures["top1"]) >= 95.0
    assert float(acc.figures["auc"]) >= 0.95
    labels = (out / "datasets" / MODEL_ID / "y_labels.csv").read_text().splitlines()
    assert len(labels) == 100 and labels[0] == "00000.bin,10,7"


def test_performance_mode_median_throughput_without_error(results):
    out, runs = results
    perf = runs["performance"]
    assert perf.ok, perf
    assert float(perf.figures["median_throughput"]) > 0
    log = (out / perf.figures["session_log"]).read_text()
    assert log.count("Runtime requirements have been met.") == 5
