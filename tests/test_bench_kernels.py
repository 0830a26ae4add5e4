"""bench/kernels.py, the script that benches every kernel in QEMU (here the fake device on the
emulator's pty, the build left out)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

from badinput import tiny_model
from fake_device import FakeDevice, Faults

from bs4nn.codegen.intmodel import IntModel
from bs4nn.host import qemu

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "kernels.py"


def load_script(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_kernels", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look it up there
    spec.loader.exec_module(module)
    return module


def test_a_device_error_says_to_run_it_again(tmp_path, data_dir, monkeypatch, capsys):
    """The script has no --resume and keeps nothing: QEMU's link closing (here in the
    handshake) says to run it again."""
    kernels = load_script(monkeypatch)
    model = tmp_path / "m.bs4nn"
    tiny_model().save(model)
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    monkeypatch.setenv("BS4NN_DATA", str(data_dir))
    monkeypatch.setattr(kernels, "build", lambda m, kernel, out: (out / "elf", 1, 1, None))
    with FakeDevice(IntModel.load(model), Faults(hang_up_at=0)) as fake:
        monkeypatch.setattr(
            qemu, "start_qemu", lambda elf, *a: qemu.QemuProcess(exited, fake.port, elf)
        )
        assert kernels.main(["--model", str(model), "--limit", "5", "--kernels", "packed"]) == 2
    assert capsys.readouterr().err == (
        f"kernels: error: serial link {fake.port} closed (end of file); to start QEMU anew and "
        "go on, run it again\n"
    )
