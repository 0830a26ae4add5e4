"""Small helpers several test files share (one copy, so that a stronger check reaches every
caller)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bs4nn.codegen.intmodel import IntModel
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import model_from_arrays


def whole(message: str) -> str:
    """A `pytest.raises(match=...)` pattern that only this whole message matches."""
    return f"^{re.escape(message)}$"


def stopped_answering(port: str, unanswered: str, timeout: str, then: str) -> str:
    """A regular expression of the whole message of a device on `port` that stopped answering
    mid-run with `unanswered` ("2 requests") in flight; only the seconds it waited may vary."""
    return (
        rf"the device on {re.escape(port)} stopped answering \({unanswered} unanswered for "
        rf"\d+\.\d s, no reply to INFO either within the {re.escape(timeout)} s timeout\): it "
        rf"hangs or was reset, or it answers later than that; {re.escape(then)}"
    )


def run_bs4nn(*args) -> subprocess.CompletedProcess:
    """`python -m bs4nn ARGS` in a process of its own: exit status, stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "-m", "bs4nn", *map(str, args)], capture_output=True, text=True
    )


def random_intmodel(sizes, thetas, seed: int) -> IntModel:
    """A binary network of these layer sizes with normal random weights, alpha 1 per layer."""
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((o, i)) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    return IntModel.from_model(model_from_arrays(weights, [1.0] * len(weights), thetas))


def fake_program(folder, name: str, script: str):
    """An executable `folder/name` running the Python `script` (sys and time imported), in
    place of an emulator or tool looked up on PATH; returns its path."""
    fake = folder / name
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_text(f"#!{sys.executable}\nimport sys, time\n{script}\n")
    fake.chmod(0o755)
    return fake


def start_refusal(start, firmware) -> str:
    """The error of `start(firmware, timeout=1.5)`, an emulator start that must fail within
    a few seconds (its fake exits or stays silent)."""
    firmware.write_bytes(b"")
    started = time.monotonic()
    with pytest.raises(Bs4nnError) as exc:
        start(firmware, timeout=1.5)
    assert time.monotonic() - started < 5
    return str(exc.value)


def bench_folder(out, model_path, data_dir):
    """`out` as `bs4nn bench` leaves it: the first 3 test images of `model_path` benched on the
    fake device (images.csv, device.json, report.json and the plots)."""
    from fake_device import FakeDevice

    from bs4nn.host.bench import run_bench
    from bs4nn.host.connect import DeviceLink

    with FakeDevice(IntModel.load(model_path)) as fake:
        link = DeviceLink(port=fake.port, timeout=2.0)
        run_bench(
            model_path,
            link=link,
            out_dir=out,
            limit=3,
            data_dir=data_dir,
            progress=False,
            quiet=True,
        )
    return out


def ends(pid: int, within: float = 5.0) -> bool:
    """Whether process `pid` has ended (a zombie has) or ends within `within` seconds; one that
    does not is killed, so that a failing test leaves no process behind."""
    deadline = time.monotonic() + within
    while _runs(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return False
        time.sleep(0.02)
    return True


def _runs(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
