"""`bs4nn eembc`: benchmark a board with the MLPerf Tiny host runner, unmodified.

Writes what the runner reads (the test images as raw `.bin` files with `y_labels.csv`, test
scripts for the firmware's model ID, a devices file with the board), then for the emulated
board builds the firmware, starts QEMU and runs the runner's own main.py from the folder the
user gives, with the pty made visible to its port discovery (bs4nn.host.eembc_port). For a
real board it prints the runner commands instead.

A performance window must last at least 10 s of the board's clock (MLPerf Tiny rule): the
number of inferences per window is measured on the board first (the fastest of the 5 images
the runner's performance loop loads, plus a margin).
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bs4nn.codegen.boards import DEFAULT_BOARD
from bs4nn.codegen.intmodel import IntModel
from bs4nn.host import protocol as p
from bs4nn.host.client import Device
from bs4nn.host.defaults import DEFAULT_BAUD, DEFAULT_LIMIT, DEFAULT_USB, MODES
from bs4nn.host.emulator_process import die_with_parent, stop_process
from bs4nn.host.outdir import FIRMWARE_DIR, FIRMWARE_SPARE, LOCK_NAME, run_folder
from bs4nn.host.transport import SerialTransport
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import check_data_fits
from bs4nn.trainer.files import OutFolder
from bs4nn.trainer.wording import TEST_IMAGE, counted

MODEL_ID = "bs4nn01"  # the firmware's m-model-[...] (firmware_template/protocol/bs4nn_eembc.c)
DATASETS_DIR = "datasets"  # the runner's --dataset_path, in --out
# the runner's folder of the model's test images: the first of the runner's files eembc
# writes, it marks an eembc folder; before it, a run writes only the firmware (and its lock)
MODEL_DATA = f"{DATASETS_DIR}/{MODEL_ID}"
EEMBC_FOLDER = OutFolder("eembc", (MODEL_DATA,), (LOCK_NAME, *FIRMWARE_SPARE))
MAX_RUNS = 1_000_000  # the firmware's limit of N and W in "infer N W"
WINDOWS = 5  # the runner's performance loop must run exactly 5 windows
WINDOW_S = 10.0  # shortest window (MLPerf Tiny rule)
WINDOW_MARGIN = 1.05
WARMUPS = 10
DUT_NAME = "bs4nn"
RUNNER_MODULES = {
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
    "usb": "pyusb",
    "matplotlib": "matplotlib",
    "serial": "pyserial",
}
# what the runner prints at the end (runner/main.py, summarize_result)
FIGURES = {
    "top1": re.compile(r"Top 1% = ([\d.]+)"),
    "auc": re.compile(r"AUC = ([\d.]+)"),
    "median_throughput": re.compile(r"Median throughput is\s+([\d.]+) inf\./sec\."),
    "session_log": re.compile(r"Session logged in file (\S+)"),
}
# the figure that is each mode's result, and its name in the runner's output
RESULT_FIGURE = {
    "accuracy": ("top1", "Top 1%"),
    "performance": ("median_throughput", "median throughput"),
}
# seconds per tick of each counter kind; cycles: 1 / clock_hz
SECONDS_PER_TICK = {
    p.COUNTER_CYCLES: None,
    p.COUNTER_INSTRUCTIONS: 1e-9,
    p.COUNTER_MICROSECONDS: 1e-6,
}


@dataclass(frozen=True)
class RunnerFiles:
    out: Path
    datasets: Path  # --dataset_path: holds MODEL_ID/
    devices: Path
    tests: dict[str, Path]  # mode -> test script
    images: int
    iterations: int  # per performance window


@dataclass
class RunnerResult:
    mode: str
    returncode: int
    figures: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    log: Path | None = None  # the runner's session log, when it said where

    @property
    def ok(self) -> bool:
        want, _ = RESULT_FIGURE[self.mode]
        return self.returncode == 0 and want in self.figures and not self.errors

    @property
    def failure(self) -> str:
        """What went wrong, for a run that is not ok: the runner's errors, its exit status (or
        the signal that ended it), or that it ended without error but printed no result."""
        if self.errors:
            return "; ".join(self.errors)
        where = f"its log: {self.log}" if self.log is not None else "its output is above"
        if self.returncode > 0:
            return f"the runner ended with exit status {self.returncode}; {where}"
        if self.returncode < 0:  # subprocess's way to say a signal ended it
            number = -self.returncode
            name = signal.strsignal(number) or "unknown to this system"
            return f"the runner was ended by signal {number} ({name}); {where}"
        _, name = RESULT_FIGURE[self.mode]
        return f"the runner ended without error but printed no {name} result; {where}"

    @property
    def hint(self) -> str | None:
        """What to change, for a refusal of the runner whose cause is known."""
        if self.mode == "performance" and any("before 10 seconds" in e for e in self.errors):
            return (
                "the performance window took under the runner's 10 s: give a larger "
                "--iterations, or leave it out to size the window on the board"
            )
        return None


class RunnerOutput:
    """Reads the runner's output line by line into `result`: the figures it prints at the end,
    its ERROR lines, and of a Python traceback the exception's own line (its last)."""

    def __init__(self, result: RunnerResult) -> None:
        self.result = result
        self.in_traceback = False

    def read(self, line: str) -> None:
        for name, pattern in FIGURES.items():
            if m := pattern.search(line):
                self.result.figures[name] = m.group(1)
        if line.startswith("Traceback"):
            self.in_traceback = True
        elif self.in_traceback and line[:1] not in ("", " ", "\t", "\n"):
            self.in_traceback = False  # a chained exception starts a traceback again
            if not line.startswith(("During handling", "The above exception")):
                self.result.errors.append(line.rstrip())
        elif "ERROR" in line:
            self.result.errors.append(line.rstrip())


def parse_usb(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(?:0x)?([0-9a-fA-F]{1,4}):(?:0x)?([0-9a-fA-F]{1,4})", text.strip())
    if m is None:
        raise Bs4nnError(f"--usb {text!r}: expected VID:PID in hex, e.g. 0483:374B")
    return int(m.group(1), 16), int(m.group(2), 16)


RUNNER_FOLDER = (
    "the MLPerf Tiny runner folder (benchmark/runner of mlcommons/tiny), the one holding main.py"
)


def runner_main(runner: str | Path) -> Path:
    folder = Path(runner).expanduser().resolve()
    if folder.is_file():
        raise Bs4nnError(f"--runner {folder} is a file: give {RUNNER_FOLDER}")
    main_py = folder / "main.py"
    if not main_py.is_file():
        raise Bs4nnError(f"{main_py} does not exist: --runner is {RUNNER_FOLDER}")
    return main_py


def check_runner_modules() -> None:
    missing = [pkg for mod, pkg in RUNNER_MODULES.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise Bs4nnError(
            f"the MLPerf Tiny runner needs {', '.join(missing)}: pip install 'bs4nn-edge[mlperf]'"
        )


def check_iterations(n: int | None) -> None:
    if n is not None and not 1 <= n <= MAX_RUNS:
        raise Bs4nnError(f"--iterations must be 1..{MAX_RUNS:,} (the firmware's limit)")


def write_runner_files(
    out: Path,
    images: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    iterations: int,
    usb: tuple[int, int],
) -> RunnerFiles:
    """The runner's inputs under `out`: MODEL_DATA/*.bin + y_labels.csv, a test script per
    mode, devices.yaml."""
    folder = out / MODEL_DATA
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i:05d}.bin" for i in range(len(images))]
    ours = set(names)
    for stale in folder.glob("*.bin"):  # a longer earlier run's images go
        if stale.name not in ours:
            stale.unlink()
    rows = []
    for name, image, label in zip(names, images, labels, strict=True):
        (folder / name).write_bytes(np.asarray(image, np.uint8).tobytes())
        rows.append(f"{name},{n_classes},{int(label)}\n")
    (folder / "y_labels.csv").write_text("".join(rows))
    steps = {
        "accuracy": "    - loop:\n      - download\n      - infer 1 0\n",
        "performance": f"    - loop {WINDOWS}:\n      - download\n"
        f"      - infer {iterations} {WARMUPS}\n",
    }
    tests = {}
    for mode, script in steps.items():
        tests[mode] = out / f"tests_{mode}.yaml"
        tests[mode].write_text(
            f"# written by bs4nn eembc for the firmware's model ID\n{MODEL_ID}:\n"
            f"  name: bs4nn_{mode}\n  model: {MODEL_ID}\n  truth_file: y_labels.csv\n"
            f"  script:\n{script}"
        )
    devices = out / "devices.yaml"
    devices.write_text(
        f"# written by bs4nn eembc: the board running the bs4nn firmware\n- name: {DUT_NAME}\n"
        f"  type: dut\n  baud: {DEFAULT_BAUD}\n  usb:\n    0x{usb[0]:04X}: 0x{usb[1]:04X}\n"
    )
    return RunnerFiles(out, out / DATASETS_DIR, devices, tests, len(images), iterations)


def check_every_class(labels: np.ndarray, limit: int, n_classes: int) -> None:
    """The runner's accuracy mode computes an AUC over the classes, which fails unless the
    first `limit` test images hold every class: refuse a --limit below that."""
    missing = [c for c in range(n_classes) if not np.any(labels[:limit] == c)]
    if not missing:
        return
    absent = [c for c in missing if not np.any(labels == c)]
    if absent:
        raise Bs4nnError(
            f"the test split has no image of class {', '.join(map(str, absent))}: the runner's "
            "accuracy mode (its AUC) needs every class; use --mode performance"
        )
    needed = max(int(np.argmax(labels == c)) for c in missing) + 1
    raise Bs4nnError(
        f"--limit {limit}: the first {limit} test images have no image of class "
        f"{', '.join(map(str, missing))}, and the runner's accuracy mode (its AUC) needs every "
        f"class: use --limit {needed} or more"
    )


def seconds_per_inference(info: p.InfoReply, ticks: int) -> float:
    per_tick = SECONDS_PER_TICK.get(info.counter_kind)
    if per_tick is None:
        per_tick = 1.0 / info.clock_hz
    return ticks * per_tick


def window_iterations(link: SerialTransport, intmodel: IntModel, images: np.ndarray) -> int:
    """Inferences per performance window: WINDOW_S x WINDOW_MARGIN of board time on the
    fastest of `images`, measured with the binary protocol (counter of each inference)."""
    dev = Device(link)
    info = dev.handshake(intmodel.model_hash)
    fastest = min(r.reply.counter for r in dev.stream(images, noun=TEST_IMAGE))
    seconds = seconds_per_inference(info, max(fastest, 1))
    n = math.ceil(WINDOW_S * WINDOW_MARGIN / seconds)
    if n > MAX_RUNS:
        raise Bs4nnError(
            f"an inference takes {seconds * 1e6:.1f} us on the board: a {WINDOW_S:g} s window "
            f"needs more than the firmware's {MAX_RUNS:,} inferences"
        )
    return n


def runner_args(files: RunnerFiles, mode: str) -> list[str]:
    return [
        "-d",
        str(files.devices),
        "-t",
        str(files.tests[mode]),
        "-s",
        str(files.datasets),
        "-m",
        MODES[mode],
    ]


def runner_command(main_py: Path, files: RunnerFiles, mode: str) -> str:
    """The exact command for a real board (run it in `files.out`: sessions/ goes there)."""
    return " ".join([f"cd {files.out} &&", "python", str(main_py), *runner_args(files, mode)])


def run_runner(
    main_py: Path, files: RunnerFiles, mode: str, pty: str, usb: tuple[int, int], echo: bool = True
) -> RunnerResult:
    """Run the runner on the emulated board's pty; its output is shown as it comes and the
    figures it prints at the end are collected."""
    cmd = [
        sys.executable,
        "-m",
        "bs4nn.host.eembc_port",
        pty,
        f"{usb[0]:04X}:{usb[1]:04X}",
        str(main_py),
        *runner_args(files, mode),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    result = RunnerResult(mode, returncode=-1)
    reader = RunnerOutput(result)
    with subprocess.Popen(
        cmd,
        cwd=files.out,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=die_with_parent(),
    ) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                if echo:
                    print(line, end="", flush=True)
                reader.read(line)
        except BaseException:  # e.g. SIGTERM to us alone: the run would wait for the runner
            stop_process(proc)
            raise
    result.returncode = proc.returncode
    if "session_log" in result.figures:  # printed relative to the folder it ran in
        result.log = files.out / result.figures["session_log"]
    return result


def run_eembc(
    model_path: str | Path,
    runner: str | Path,
    out_dir: str | Path = "out/eembc",
    modes: tuple[str, ...] = ("accuracy", "performance"),
    limit: int = DEFAULT_LIMIT,
    port: str | None = None,
    usb: tuple[int, int] = DEFAULT_USB,
    iterations: int | None = None,
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    echo: bool = True,
) -> list[RunnerResult]:
    """Write the runner's inputs; on the emulated board (port None) run the runner in each mode
    and return its results; for a real board print the runner commands and return []."""
    from bs4nn.host.connect import load_model
    from bs4nn.host.emulate import running_emulator
    from bs4nn.host.firmware import prepare_emulated_firmware
    from bs4nn.trainer.datasets import load_dataset

    EEMBC_FOLDER.check(Path(out_dir))
    main_py = runner_main(runner)
    if port is None:
        check_runner_modules()
    check_iterations(iterations)
    if limit < WINDOWS:
        raise Bs4nnError(f"--limit must be at least {WINDOWS} (the performance loop's images)")
    model, intmodel = load_model(model_path)
    images, labels = load_dataset(model.dataset_to_run(dataset), "test", data_dir=data_dir)
    check_data_fits(intmodel.layer_sizes, images[:limit], labels[:limit])
    if "accuracy" in modes:
        check_every_class(labels, limit, intmodel.layer_sizes[-1])
    images, labels = images[:limit], labels[:limit]
    out = Path(out_dir).resolve()
    # one run at a time in --out; if it fails before the runner's files are written, what it
    # created goes again
    with run_folder(out) as folder:

        def write_files(port_path: str, emulator: str | None = None) -> RunnerFiles:
            """The runner's files, the window sized on the board at port_path (`emulator`'s
            port, or a board's) if not given."""
            n = iterations
            if n is None:
                link = SerialTransport(port_path, emulator=emulator)
                try:
                    n = window_iterations(link, intmodel, images[:WINDOWS])
                finally:
                    link.close()
            written = write_runner_files(out, images, labels, intmodel.layer_sizes[-1], n, usb)
            folder.started()
            return written

        if port is not None:
            written = write_files(port)
            print(
                f"wrote {written.images} test images and the runner's files to {out}; with the "
                f"board on {port} (USB {usb[0]:04X}:{usb[1]:04X}), run:"
            )
            for mode in modes:
                print(f"  {runner_command(main_py, written, mode)}")
            return []

        fw_dir = out / FIRMWARE_DIR
        prepare_emulated_firmware(intmodel, fw_dir, quiet=not echo, board=DEFAULT_BOARD)
        results = []
        with running_emulator(DEFAULT_BOARD, fw_dir) as emu:
            written = write_files(emu.where, emu.name)
            if echo:
                print(
                    f"eembc: {counted(written.images, 'test image')}, "
                    f"{counted(written.iterations, 'inference')} per performance window, runner "
                    f"files in {out}"
                )
            for mode in modes:
                results.append(run_runner(main_py, written, mode, emu.where, usb, echo))
        return results
