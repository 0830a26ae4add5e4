"""bench/reproduce.py retrains the shipped models: its presets are the paper's, with a dataset."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_preset_for_own_data_is_no_choice(tmp_path):
    # reproduce.py has no --data: `generic` ended in a traceback asking for one
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "reproduce.py"), "generic", "--out", tmp_path / "g"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "reproduce.py: error: argument preset: invalid choice: 'generic' "
        "(choose from 'fashion-1000', 'fashion-600-600', 'mnist-600')"
    )
    assert not (tmp_path / "g").exists()
