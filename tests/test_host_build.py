"""`bs4nn build` interrupted or killed: make (or pio) is stopped, with the signal that lets it
stop its compilers and remove the target it was making (a fake make on PATH)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ends, fake_program

from bs4nn.cli import Terminated
from bs4nn.codegen.export import export_firmware
from bs4nn.host.build import build_firmware

MODEL = Path(__file__).resolve().parents[1] / "models" / "mnist-600.bs4nn"


@pytest.fixture
def exported(tmp_path, monkeypatch):
    """An export, and PATH where `make` is the fake written by `fake_make(script)`."""
    fw = tmp_path / "fw"
    export_firmware(MODEL, fw)
    bin_dir = fake_program(tmp_path / "bin", "arm-none-eabi-gcc", "").parent
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    def fake_make(script: str) -> None:
        fake_program(bin_dir, "make", script)

    return fw, fake_make


def test_sigterm_stops_make_with_sigterm(exported, tmp_path):
    # it was SIGKILLed: its compilers ran on, and it could not remove a half-made object
    fw, fake_make = exported
    pid_file, said = tmp_path / "pid", tmp_path / "said"
    fake_make(
        "import os, signal\n"
        "def stop(signum, frame):\n"
        f"    open({str(said)!r}, 'w').write(signal.Signals(signum).name); sys.exit(2)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        f"os.kill({os.getpid()}, signal.SIGTERM)\n"
        "time.sleep(30)\n"
    )

    def terminate(signum, frame):  # as the CLI takes SIGTERM
        raise Terminated(signum)

    before = signal.signal(signal.SIGTERM, terminate)
    try:
        with pytest.raises(Terminated):
            build_firmware(fw)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert ends(int(pid_file.read_text()), within=0)  # stopped already
    assert said.read_text() == "SIGTERM"


def test_make_ends_with_a_killed_bs4nn(exported, tmp_path):
    # SIGKILL (the OOM killer) gives no chance to stop it: it ends with its parent (Linux)
    fw, fake_make = exported
    pid_file = tmp_path / "pid"
    fake_make(f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)")
    host = "import sys\nfrom bs4nn.host.build import build_firmware\nbuild_firmware(sys.argv[1])"
    with subprocess.Popen([sys.executable, "-c", host, str(fw)]) as bs4nn:
        deadline = time.monotonic() + 20
        while not pid_file.is_file() or not pid_file.read_text():
            assert bs4nn.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        bs4nn.kill()
    assert ends(int(pid_file.read_text()))


def test_one_build_of_a_folder_at_a_time_and_no_export_into_it(exported, tmp_path):
    # two makes in one folder write the same objects; an export replaces the tree under it
    from bs4nn.trainer.errors import Bs4nnError

    fw, fake_make = exported
    pid_file = tmp_path / "pid"
    fake_make(f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)")
    argv = [sys.executable, "-m", "bs4nn", "build", str(fw)]
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as first:
        try:
            deadline = time.monotonic() + 20
            while not pid_file.is_file() or not pid_file.read_text():
                assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
                time.sleep(0.02)
            make_pid = pid_file.read_text()
            pid_file.unlink()
            in_use = f"is in use by another bs4nn run (pid {first.pid}); wait for it to finish"
            with pytest.raises(Bs4nnError) as refused:
                build_firmware(fw)
            assert str(refused.value).startswith(f"OUT_DIR {fw} {in_use}")
            assert not pid_file.exists()  # its make never ran
            with pytest.raises(Bs4nnError) as refused:
                export_firmware(MODEL, fw)
            assert str(refused.value).startswith(f"--out {fw} {in_use}")
        finally:
            first.terminate()
    assert ends(int(make_pid))
    fake_make(f"open({str(pid_file)!r}, 'w').write('done')")
    with pytest.raises(Bs4nnError, match="firmware.elf is missing"):  # the lock is free again
        build_firmware(fw)
    assert pid_file.read_text() == "done"
