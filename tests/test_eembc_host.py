"""`bs4nn eembc` without a board: the files the MLPerf Tiny runner reads, the port the launcher
adds to pyserial's listing, and the checks made before anything is written."""

import contextlib

import numpy as np
import pytest
from helpers import ends
from serial.tools import list_ports

from bs4nn.cli import main
from bs4nn.host import eembc, eembc_port
from bs4nn.host.protocol import InfoReply
from bs4nn.trainer.errors import Bs4nnError


def test_runner_files(tmp_path):
    images = np.arange(2 * 784).reshape(2, 784).astype(np.uint8)
    files = eembc.write_runner_files(
        tmp_path, images, np.array([7, 2]), 10, 46606, (0x0483, 0x374B)
    )
    folder = tmp_path / "datasets" / "bs4nn01"
    assert (folder / "y_labels.csv").read_text() == "00000.bin,10,7\n00001.bin,10,2\n"
    assert (folder / "00001.bin").read_bytes() == images[1].tobytes()
    assert files.tests["performance"].read_text() == (
        "# written by bs4nn eembc for the firmware's model ID\nbs4nn01:\n"
        "  name: bs4nn_performance\n  model: bs4nn01\n  truth_file: y_labels.csv\n"
        "  script:\n    - loop 5:\n      - download\n      - infer 46606 10\n"
    )
    assert (
        files.tests["accuracy"]
        .read_text()
        .endswith("  script:\n    - loop:\n      - download\n      - infer 1 0\n")
    )
    assert files.devices.read_text() == (
        "# written by bs4nn eembc: the board running the bs4nn firmware\n- name: bs4nn\n"
        "  type: dut\n  baud: 115200\n  usb:\n    0x0483: 0x374B\n"
    )
    assert eembc.runner_command(tmp_path / "runner" / "main.py", files, "performance") == (
        f"cd {tmp_path} && python {tmp_path}/runner/main.py -d {tmp_path}/devices.yaml "
        f"-t {tmp_path}/tests_performance.yaml -s {tmp_path}/datasets -m p"
    )


def test_runner_reads_our_yaml_as_intended(tmp_path):
    yaml = pytest.importorskip("yaml")
    files = eembc.write_runner_files(
        tmp_path, np.zeros((5, 784), np.uint8), np.zeros(5), 10, 100, (0x0483, 0x374B)
    )
    devices = yaml.load(files.devices.read_text(), Loader=yaml.CLoader)
    assert devices == [{"name": "bs4nn", "type": "dut", "baud": 115200, "usb": {0x0483: 0x374B}}]
    tests = yaml.load(files.tests["performance"].read_text(), Loader=yaml.CLoader)
    assert tests["bs4nn01"]["script"] == [{"loop 5": ["download", "infer 100 10"]}]


def test_runner_files_of_fewer_images_leave_none_of_an_earlier_runs(tmp_path):
    """A run with a smaller --limit in the same folder: the images are this run's only (the
    runner reads the truth file, but a folder of stale images misleads whoever looks)."""
    usb = (0x0483, 0x374B)
    eembc.write_runner_files(tmp_path, np.ones((4, 784), np.uint8), np.arange(4), 10, 100, usb)
    (tmp_path / "datasets" / "bs4nn01" / "notes.txt").write_text("mine")
    eembc.write_runner_files(tmp_path, np.zeros((2, 784), np.uint8), np.arange(2), 10, 100, usb)
    folder = tmp_path / "datasets" / "bs4nn01"
    assert sorted(p.name for p in folder.iterdir()) == [
        "00000.bin",
        "00001.bin",
        "notes.txt",
        "y_labels.csv",
    ]
    assert (folder / "00001.bin").read_bytes() == bytes(784)


def test_the_launcher_lists_the_pty_with_the_devices_file_vid_pid(monkeypatch):
    monkeypatch.setattr(list_ports, "comports", lambda include_links=False: [])
    eembc_port.add_port(eembc_port.emulated_port("/dev/pts/77", 0x0483, 0x374B))
    (port,) = list_ports.comports(True)
    assert (port.device, port.vid, port.pid, port.hwid) == (
        "/dev/pts/77",
        0x0483,
        0x374B,
        "USB VID:PID=0483:374B",
    )


@pytest.mark.parametrize(
    "info, ticks, seconds",
    [
        (InfoReply(1, 1, bytes(32), (784, 10), (5,), 256, 25_000_000, 1, "q", "k"), 300_000, 3e-4),
        (InfoReply(1, 1, bytes(32), (784, 10), (5,), 256, 100_000_000, 0, "b", "k"), 50_000, 5e-4),
        (InfoReply(1, 1, bytes(32), (784, 10), (5,), 256, 16_000_000, 2, "b", "k"), 700, 7e-4),
    ],
)
def test_seconds_per_inference_for_every_counter_kind(info, ticks, seconds):
    assert eembc.seconds_per_inference(info, ticks) == pytest.approx(seconds)


def test_usb_ids():
    assert eembc.parse_usb("0483:374b") == (0x0483, 0x374B)
    assert eembc.parse_usb("0x2341:0x0043") == (0x2341, 0x0043)
    with pytest.raises(Bs4nnError, match=r"--usb '2341': expected VID:PID in hex"):
        eembc.parse_usb("2341")


def test_bad_options_are_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "out"
    model = "models/mnist-600-surrogate.bs4nn"
    assert main(["eembc", "--model", model, "--runner", str(tmp_path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"bs4nn eembc: error: {tmp_path}/main.py does not exist: --runner is the MLPerf Tiny "
        "runner folder (benchmark/runner of mlcommons/tiny), the one holding main.py\n"
    )
    (tmp_path / "main.py").write_text("")
    for option, message in (
        (["--iterations", "1000001"], "--iterations must be 1..1,000,000"),
        (["--limit", "4"], "--limit must be at least 5"),
        (
            ["--limit", "61"],
            "--limit 61: the first 61 test images have no image of class 8, and the runner's "
            "accuracy mode (its AUC) needs every class: use --limit 62 or more\n",
        ),
        (
            ["--limit", "20", "--mode", "both"],
            "--limit 20: the first 20 test images have no image of class 8, and the runner's "
            "accuracy mode (its AUC) needs every class: use --limit 62 or more\n",
        ),
        (["--usb", "x"], "--usb 'x': expected VID:PID in hex"),
        (
            ["--dataset", "fashion-mnist"],
            "--dataset fashion-mnist is not the model's dataset (mnist)",
        ),
    ):
        assert (
            main(["eembc", "--model", model, "--runner", str(tmp_path), "--out", str(out), *option])
            == 2
        )
        assert message in capsys.readouterr().err
    assert not out.exists()


MODEL = "models/mnist-600-surrogate.bs4nn"


def test_real_board_gets_the_runner_commands(tmp_path, capsys):
    (tmp_path / "runner").mkdir()
    (tmp_path / "runner" / "main.py").write_text("")
    out = tmp_path / "out"
    assert (
        eembc.run_eembc(
            MODEL,
            tmp_path / "runner",
            out,
            limit=62,  # the first 62 MNIST test images hold every class (the AUC needs them)
            port="/dev/ttyACM0",
            usb=(0x2341, 0x0043),
            iterations=5000,
        )
        == []
    )
    main_py = tmp_path / "runner" / "main.py"
    assert capsys.readouterr().out == (
        f"wrote 62 test images and the runner's files to {out}; with the board on /dev/ttyACM0 "
        "(USB 2341:0043), run:\n"
        f"  cd {out} && python {main_py} -d {out}/devices.yaml -t {out}/tests_accuracy.yaml "
        f"-s {out}/datasets -m a\n"
        f"  cd {out} && python {main_py} -d {out}/devices.yaml -t {out}/tests_performance.yaml "
        f"-s {out}/datasets -m p\n"
    )
    assert "infer 5000 10" in (out / "tests_performance.yaml").read_text()


def test_window_sizing_refuses_a_board_too_fast_for_the_limit():
    """The fake board reports about 2,000 instructions per inference (2 us): a 10 s window
    would need over a million inferences, more than the firmware runs."""
    from fake_device import FakeDevice

    from bs4nn.host.connect import load_model
    from bs4nn.host.transport import SerialTransport
    from bs4nn.trainer.datasets import load_dataset

    _, intmodel = load_model(MODEL)
    images = load_dataset("mnist", "test")[0][:5]
    with FakeDevice(intmodel) as fake:
        link = SerialTransport(fake.port)
        try:
            with pytest.raises(
                Bs4nnError,
                match=r"^an inference takes [\d.]+ us on the board: "
                r"a 10 s window needs more than the firmware's 1,000,000 "
                r"inferences$",
            ):
                eembc.window_iterations(link, intmodel, images)
        finally:
            link.close()


def _runner(tmp_path):
    (tmp_path / "runner").mkdir()
    (tmp_path / "runner" / "main.py").write_text("")
    return tmp_path / "runner"


def test_a_run_that_fails_before_the_runner_files_leaves_nothing(tmp_path, monkeypatch):
    from bs4nn.host import firmware

    def no_compiler(*args, **kwargs):
        raise Bs4nnError("arm-none-eabi-gcc not found on PATH")

    monkeypatch.setattr(firmware, "prepare_emulated_firmware", no_compiler)
    out = tmp_path / "new" / "out"
    with pytest.raises(Bs4nnError, match="^arm-none-eabi-gcc not found on PATH$"):
        eembc.run_eembc(MODEL, _runner(tmp_path), out, limit=62, echo=False)
    assert not (tmp_path / "new").exists()


def test_a_second_run_into_the_same_out_is_refused(tmp_path):
    import os

    from bs4nn.host.outdir import folder_lock

    out = tmp_path / "out"
    out.mkdir()
    with folder_lock(out):
        with pytest.raises(
            Bs4nnError,
            match=rf"^--out {out} is in use by another bs4nn run \(pid {os.getpid()}\); ",
        ):
            eembc.run_eembc(
                MODEL, _runner(tmp_path), out, limit=62, port="/dev/ttyACM0", iterations=5000
            )
    assert sorted(p.name for p in out.iterdir()) == []


def test_runner_output_gives_the_figures_and_the_exception_of_a_traceback():
    result = eembc.RunnerResult("accuracy", returncode=1)
    reader = eembc.RunnerOutput(result)
    for line in [
        "00012.345 ulp : Top 1% = 97.5\n",
        "Traceback (most recent call last):\n",
        '  File "main.py", line 90, in <module>\n',
        "    summarize_result(result)\n",
        "ValueError: Number of classes in y_true not equal to the number of columns\n",
        "\n",
        "During handling of the above exception, another exception occurred:\n",
        "\n",
        "Traceback (most recent call last):\n",
        '  File "main.py", line 95, in <module>\n',
        "RuntimeError: gave up\n",
        "ERROR: the DUT did not answer\n",
    ]:
        reader.read(line)
    assert result.figures == {"top1": "97.5"}
    assert result.errors == [
        "ValueError: Number of classes in y_true not equal to the number of columns",
        "RuntimeError: gave up",
        "ERROR: the DUT did not answer",
    ]


def test_a_window_too_short_for_the_runner_says_what_to_change(monkeypatch, capsys):
    result = eembc.RunnerResult("performance", returncode=0)
    # the runner's own line (mlcommons/tiny benchmark/runner/main.py)
    eembc.RunnerOutput(result).read(
        "00020.1 ulp-mlperf: ERROR 2 - loop exited before 10 seconds elapsed.\n"
    )
    monkeypatch.setattr(eembc, "run_eembc", lambda *args: [result])
    argv = ["eembc", "--model", "models/mnist-600.bs4nn", "--runner", ".", "--iterations", "5"]
    assert main(argv) == 1
    assert capsys.readouterr().out.splitlines() == [
        "eembc performance: no figures - FAILED (00020.1 ulp-mlperf: ERROR 2 - loop exited before "
        "10 seconds elapsed.)",
        "  the performance window took under the runner's 10 s: give a larger --iterations, or "
        "leave it out to size the window on the board",
    ]
    assert eembc.RunnerResult("accuracy", returncode=1, errors=["ERROR: other"]).hint is None


@pytest.mark.parametrize(
    ("printed", "where"),
    [
        ("", "its output is above"),
        (
            "print('Session logged in file sessions/0101.120000/log.txt')",
            "its log: {out}/sessions/0101.120000/log.txt",
        ),
    ],
    ids=["silent", "session-log"],
)
def test_a_runner_that_exits_0_without_its_result_says_so(
    tmp_path, monkeypatch, capsys, printed, where
):
    """A fake main.py, run by the real launcher, that exits 0 without a result: the line said
    'no figures - FAILED (exit 0)'."""
    runner = _runner(tmp_path)
    (runner / "main.py").write_text(printed + "\n")
    out = tmp_path / "out"
    files = eembc.write_runner_files(
        out, np.zeros((5, 784), np.uint8), np.arange(5), 10, 100, (1, 2)
    )

    def run_eembc(model, runner_dir, *args):
        return [
            eembc.run_runner(eembc.runner_main(runner_dir), files, mode, "/dev/null", (1, 2), False)
            for mode in eembc.MODES
        ]

    monkeypatch.setattr(eembc, "run_eembc", run_eembc)
    assert main(["eembc", "--model", MODEL, "--runner", str(runner), "--out", str(out)]) == 1
    where = where.format(out=out)
    assert capsys.readouterr().out.splitlines() == [
        "eembc accuracy: no figures - FAILED (the runner ended without error but printed no "
        f"Top 1% result; {where})",
        "eembc performance: no figures - FAILED (the runner ended without error but printed no "
        f"median throughput result; {where})",
    ]


@pytest.mark.parametrize(
    ("script", "failure"),
    [
        ("import sys; sys.exit(3)", "the runner ended with exit status 3; its output is above"),
        (
            "print('Session logged in file sessions/0101.120000/log.txt'); import sys; sys.exit(3)",
            "the runner ended with exit status 3; its log: {out}/sessions/0101.120000/log.txt",
        ),
        (
            "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
            "the runner was ended by signal 9 (Killed); its output is above",
        ),
    ],
    ids=["exit-3", "exit-3-session-log", "killed"],
)
def test_a_runner_that_exits_non_zero_says_its_status_and_where_its_log_is(
    tmp_path, monkeypatch, capsys, script, failure
):
    """A fake main.py, run by the real launcher, that exits non-zero without an error line:
    the line said only 'FAILED (exit 3)'."""
    runner = _runner(tmp_path)
    (runner / "main.py").write_text(script + "\n")
    out = tmp_path / "out"
    files = eembc.write_runner_files(
        out, np.zeros((5, 784), np.uint8), np.arange(5), 10, 100, (1, 2)
    )
    monkeypatch.setattr(
        eembc,
        "run_eembc",
        lambda model, runner_dir, *args: [
            eembc.run_runner(
                eembc.runner_main(runner_dir), files, "accuracy", "/dev/null", (1, 2), False
            )
        ],
    )
    argv = ["eembc", "--model", MODEL, "--runner", str(runner), "--out", str(out)]
    assert main([*argv, "--mode", "accuracy"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"eembc accuracy: no figures - FAILED ({failure.format(out=out)})"
    ]


class BoardOfCounts:
    """A Device double for window sizing: each image's counter as given, in the counter kind
    and at the clock of its INFO."""

    def __init__(self, counters, counter_kind, clock_hz=25_000_000):
        self.counters = counters
        self.info = InfoReply(
            1, 1, bytes(32), (784, 10), (5,), 256, clock_hz, counter_kind, "b", "k"
        )

    def __call__(self, link):
        return self

    def handshake(self, expected_hash=None):
        return self.info

    def stream(self, images, noun):
        from types import SimpleNamespace

        return [SimpleNamespace(reply=SimpleNamespace(counter=c)) for c in self.counters]


@pytest.mark.parametrize(
    "counters, kind, clock_hz, iterations",
    [
        # the fastest image, 1,999 us: 10 s x 1.05 / 1.999 ms = 5,252.6, rounded up
        ((2500, 1999, 3000, 2200, 2100), 2, 25_000_000, 5253),
        ((2000,) * 5, 2, 25_000_000, 5250),
        ((1050, 1100, 1200, 1300, 1400), 0, 100_000_000, 1_000_000),  # the firmware's most
    ],
)
def test_the_window_lasts_10_s_and_a_margin_on_the_fastest_image(
    monkeypatch, counters, kind, clock_hz, iterations
):
    from types import SimpleNamespace

    monkeypatch.setattr(eembc, "Device", BoardOfCounts(counters, kind, clock_hz))
    intmodel = SimpleNamespace(model_hash="00" * 32)
    assert eembc.window_iterations(None, intmodel, np.zeros((5, 784), np.uint8)) == iterations


def test_a_counter_that_reads_0_is_taken_as_1_tick(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(eembc, "Device", BoardOfCounts((0, 3, 4, 5, 6), 2))  # microseconds
    with pytest.raises(Bs4nnError) as exc:
        eembc.window_iterations(None, SimpleNamespace(model_hash="00" * 32), np.zeros((5, 784)))
    assert str(exc.value) == (
        "an inference takes 1.0 us on the board: a 10 s window needs more than the firmware's "
        "1,000,000 inferences"
    )


def test_a_result_is_ok_with_its_mode_s_figure_and_no_error():
    performance = {"median_throughput": "12.5"}
    assert eembc.RunnerResult("performance", 0, performance).ok
    assert eembc.RunnerResult("accuracy", 0, {"top1": "97.5"}).ok
    assert not eembc.RunnerResult("accuracy", 0, performance).ok
    assert not eembc.RunnerResult("performance", 0, {"top1": "97.5"}).ok
    assert not eembc.RunnerResult("accuracy", 0, {"top1": "97.5"}, ["ERROR: 1 - timed out"]).ok
    assert not eembc.RunnerResult("accuracy", 1, {"top1": "97.5"}).ok


def test_iterations_up_to_the_firmware_s_limit_are_taken():
    eembc.check_iterations(None)
    eembc.check_iterations(1)
    eembc.check_iterations(1_000_000)
    for n in (0, 1_000_001):
        with pytest.raises(Bs4nnError) as exc:
            eembc.check_iterations(n)
        assert str(exc.value) == "--iterations must be 1..1,000,000 (the firmware's limit)"


def test_usb_ids_are_two_hex_numbers_and_nothing_more():
    for text in ("0483:374B0", "0483:374Bx", "0483:374B:1", "10483:374B"):
        with pytest.raises(Bs4nnError) as exc:
            eembc.parse_usb(text)
        assert str(exc.value) == f"--usb {text!r}: expected VID:PID in hex, e.g. 0483:374B"


def test_a_class_the_test_split_lacks_is_named_not_a_limit():
    labels = np.array([0, 1, 2, 1, 0, 2])  # no class 3 at all
    with pytest.raises(Bs4nnError) as exc:
        eembc.check_every_class(labels, 6, 4)
    assert str(exc.value) == (
        "the test split has no image of class 3: the runner's accuracy mode (its AUC) needs "
        "every class; use --mode performance"
    )
    eembc.check_every_class(labels, 3, 3)


def test_performance_alone_takes_5_images_of_any_classes(tmp_path, capsys):
    # the first 5 MNIST test images are of 4 classes: only the accuracy mode needs them all
    out = tmp_path / "out"
    eembc.run_eembc(
        MODEL,
        _runner(tmp_path),
        out,
        modes=("performance",),
        limit=5,
        port="/dev/ttyACM0",
        iterations=5000,
    )
    assert capsys.readouterr().out.startswith(
        f"wrote 5 test images and the runner's files to {out}"
    )
    labels = (out / "datasets" / "bs4nn01" / "y_labels.csv").read_text().splitlines()
    assert len(labels) == 5 and len({line.split(",")[2] for line in labels}) < 10


def test_a_real_board_needs_no_runner_modules_on_this_host(tmp_path, monkeypatch):
    monkeypatch.setattr(eembc, "RUNNER_MODULES", {"bs4nn_no_such_module": "no-such-package"})
    runner = _runner(tmp_path)
    with pytest.raises(Bs4nnError) as exc:  # the emulated board runs the runner here
        eembc.run_eembc(MODEL, runner, tmp_path / "emulated", limit=62, echo=False)
    assert str(exc.value) == (
        "the MLPerf Tiny runner needs no-such-package: pip install 'bs4nn-edge[mlperf]'"
    )
    out = tmp_path / "real"
    eembc.run_eembc(MODEL, runner, out, limit=62, port="/dev/ttyACM0", iterations=5000)
    assert (out / "devices.yaml").is_file()


def test_the_runner_files_stay_once_written_whatever_stops_the_run(tmp_path, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(eembc, "runner_command", interrupted)
    out = tmp_path / "new" / "out"
    with pytest.raises(KeyboardInterrupt):
        eembc.run_eembc(
            MODEL, _runner(tmp_path), out, limit=62, port="/dev/ttyACM0", iterations=5000
        )
    assert sorted(p.name for p in out.iterdir()) == [
        "datasets",
        "devices.yaml",
        "tests_accuracy.yaml",
        "tests_performance.yaml",
    ]


@pytest.mark.parametrize(
    ("emulated", "then"),
    [(False, "restart it, then"), (True, "to start QEMU anew and go on,")],
    ids=["port", "emulated"],
)
def test_a_device_that_stops_answering_says_to_run_eembc_again(
    tmp_path, monkeypatch, capsys, emulated, then
):
    """eembc has no --resume and keeps nothing when the window's sizing is cut short."""
    import functools
    import subprocess
    import sys

    from fake_device import FakeDevice, Faults

    from bs4nn.host import emulate, firmware
    from bs4nn.host.client import Device
    from bs4nn.host.connect import load_model

    monkeypatch.setattr(eembc, "Device", functools.partial(Device, timeout=0.3))
    out = tmp_path / "out"
    process = subprocess.Popen(["true"])
    process.wait()
    with FakeDevice(load_model(MODEL)[1], Faults(silent_after=2)) as fake:

        @contextlib.contextmanager
        def emulator(board, fw_dir):  # the fake device on the emulator's pty
            yield emulate.RunningEmulator("qemu", fake.port, process)

        monkeypatch.setattr(firmware, "prepare_emulated_firmware", lambda *a, **kw: {})
        monkeypatch.setattr(emulate, "running_emulator", emulator)
        argv = ["eembc", "--model", MODEL, "--runner", str(_runner(tmp_path))]
        argv += ["--limit", "62", "--out", str(out), *([] if emulated else ["--port", fake.port])]
        monkeypatch.setattr(sys, "argv", ["bs4nn", *argv])
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bs4nn eembc: error: the device on {fake.port} stopped answering (")
    assert err.endswith(
        f"it hangs or was reset, or it answers later than that; {then} run the command again: "
        "bs4nn " + " ".join(argv) + "\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "files",
    [["notes.txt"], ["images.csv", "device.json"], ["datasets/mnist.npz"]],
    ids=["own-files", "bench", "other-datasets"],
)
def test_a_folder_not_eembc_s_own_is_refused_before_anything(tmp_path, capsys, files):
    from badinput import snapshot

    out = tmp_path / "out"
    for name in files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("mine\n")
    before = snapshot(out)
    argv = ["eembc", "--model", MODEL, "--runner", str(_runner(tmp_path)), "--out", str(out)]
    assert main([*argv, "--port", "/dev/ttyACM0", "--iterations", "5000", "--limit", "62"]) == 2
    assert capsys.readouterr() == (
        "",
        f"bs4nn eembc: error: --out {out} is a non-empty folder that is not a bs4nn eembc "
        "folder; choose an empty or new folder, or the --out of an earlier `bs4nn eembc`\n",
    )
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "left",
    [
        [],
        [".bs4nn.lock", "firmware/Makefile"],
        [".bs4nn.lock", ".firmware.lock", ".firmware.k1ll3d_x.part/Makefile"],
        ["datasets/bs4nn01/00000.bin"],
    ],
    ids=[
        "finished",
        "killed-before-the-runner-files",
        "killed-exporting-the-firmware",
        "killed-writing-them",
    ],
)
def test_eembc_writes_again_into_its_own_earlier_folder(tmp_path, capsys, left):
    out, runner = tmp_path / "out", _runner(tmp_path)
    run = dict(limit=62, port="/dev/ttyACM0", iterations=5000)
    if not left:
        eembc.run_eembc(MODEL, runner, out, **run)
    for name in left:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("")
    eembc.run_eembc(MODEL, runner, out, **run)
    assert capsys.readouterr().out.endswith(f"-s {out}/datasets -m p\n")
    assert (out / "datasets" / "bs4nn01" / "y_labels.csv").read_text().count("\n") == 62


def test_a_signal_without_a_name_is_reported_by_number():
    """signal.strsignal gives None for a signal the C library does not name (32 on glibc)."""
    result = eembc.RunnerResult(mode="accuracy", returncode=-32)
    assert result.failure == (
        "the runner was ended by signal 32 (unknown to this system); its output is above"
    )


def test_sigterm_stops_the_runner_at_once(tmp_path):
    # the runner is a child of ours that `kill PID` (or a scheduler's SIGTERM to bs4nn alone)
    # does not reach: the run waited for it to finish (minutes in performance mode)
    import os
    import signal
    import time

    from bs4nn.cli import Terminated

    runner = _runner(tmp_path)
    pid_file = tmp_path / "pid"
    (runner / "main.py").write_text(
        "import os, signal, time\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        f"os.kill({os.getpid()}, signal.SIGTERM)\n"
        "time.sleep(30)\n"
    )
    files = eembc.write_runner_files(
        tmp_path / "out", np.zeros((5, 784), np.uint8), np.arange(5), 10, 100, (1, 2)
    )

    def terminate(signum, frame):  # as the CLI takes SIGTERM
        raise Terminated(signum)

    before = signal.signal(signal.SIGTERM, terminate)
    started = time.monotonic()
    try:
        with pytest.raises(Terminated):
            eembc.run_runner(
                eembc.runner_main(runner), files, "accuracy", "/dev/null", (1, 2), False
            )
    finally:
        signal.signal(signal.SIGTERM, before)
    took = time.monotonic() - started
    pid = int(pid_file.read_text())
    assert took < 10 and ends(pid, within=0)  # stopped already


def test_the_runner_ends_with_a_killed_bs4nn(tmp_path):
    # SIGKILL (the OOM killer) gives no chance to stop it: it ends with its parent (Linux)
    import subprocess
    import sys
    import time

    runner = _runner(tmp_path)
    pid_file = tmp_path / "pid"
    (runner / "main.py").write_text(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    )
    host = (
        "import sys\n"
        "from pathlib import Path\n"
        "import numpy as np\n"
        "from bs4nn.host import eembc\n"
        "out, runner = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "files = eembc.write_runner_files(out, np.zeros((5, 784), np.uint8), np.arange(5), 10, "
        "100, (1, 2))\n"
        "eembc.run_runner(eembc.runner_main(runner), files, 'accuracy', '/dev/null', (1, 2), "
        "False)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", host, str(tmp_path / "out"), str(runner)]
    ) as bs4nn:
        deadline = time.monotonic() + 20
        while not pid_file.is_file() or not pid_file.read_text():
            assert bs4nn.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        bs4nn.kill()
    pid = int(pid_file.read_text())
    assert ends(pid)
