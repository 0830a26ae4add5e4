"""bench/hidden_probe.py names the hidden layer it probes as messages do: counted from 1."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from bs4nn.trainer.model import model_from_arrays

REPO = Path(__file__).resolve().parents[1]


def probe(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / "hidden_probe.py"), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_hidden_layer_is_counted_from_1():
    proc = probe("--hidden-layer", "2", REPO / "models" / "mnist-600.bs4nn")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "hidden_probe.py: error: --hidden-layer must name a hidden layer: 1..1"
    )


def test_a_model_without_a_hidden_layer_is_refused_as_such(tmp_path):
    path = tmp_path / "784-10.bs4nn"
    weights = np.random.default_rng(0).standard_normal((10, 784))
    model_from_arrays([weights], [1.0], [5.0], dataset="mnist").save(path)
    proc = probe(path)
    assert proc.returncode == 2
    assert (
        proc.stderr.splitlines()[-1]
        == f"hidden_probe.py: error: {path} has no hidden layer to probe"
    )
