"""bench/hidden_probe.py names the hidden layer it probes as messages do: counted from 1."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_hidden_layer_is_counted_from_1():
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "hidden_probe.py"), "--hidden-layer", "2"]
        + [str(REPO / "models" / "mnist-600.bs4nn")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "hidden_probe.py: error: --hidden-layer must name a hidden layer: 1..1"
    )
