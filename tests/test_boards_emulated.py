"""Every emulated board (`bs4nn boards`) runs 100 MNIST test images with 0 mismatches against
codegen's integer reference and reports its counter (instructions or cycles), a QEMU board's
count of an image does not depend on how many requests are in flight, and the rp2040js-pico
board at a real 115,200-baud line into its 32-byte RX FIFO loses no byte and needs
no resend because the host keeps no more bytes in flight than the board's buffer holds.

Each board test skips only when its emulator is missing (CI installs all of them: setup.sh)."""

import dataclasses
import os
import select
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from bs4nn.codegen.boards import board_info
from bs4nn.codegen.export import export_firmware
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.host import rp2040js
from bs4nn.host.bench import CSV_NAME, run_bench
from bs4nn.host.client import Device
from bs4nn.host.connect import DeviceLink
from bs4nn.host.emulate import emulated_boards, emulator_installed
from bs4nn.host.records import compare, read_records
from bs4nn.host.transport import SerialTransport
from bs4nn.trainer.datasets import load_dataset

MODEL = Path(__file__).resolve().parent.parent / "models" / "mnist-600-surrogate.bs4nn"
N = 100
COUNTERS = {"qemu": "instructions (QEMU icount proxy)", "rp2040js": "CPU cycles"}


def _need(board: str) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc needed (scripts/setup.sh installs it)")
    emulator = board_info(board)["emulator"]
    if not emulator_installed(emulator):
        what = (
            "qemu-system-arm" if emulator["kind"] == "qemu" else "node and the npm package rp2040js"
        )
        pytest.skip(f"{board} needs {what} (scripts/setup.sh installs it)")


def test_every_emulated_board_is_tested():
    assert emulated_boards() == [
        "qemu-mps2-an386",
        "qemu-netduinoplus2",
        "qemu-microbit",
        "qemu-mps3-an547",
        "rp2040js-pico",
    ]


@pytest.mark.e2e  # starts an emulator
@pytest.mark.parametrize("board", emulated_boards())
def test_board_runs_100_images_exactly(board, data_dir, tmp_path, capsys):
    _need(board)
    report = run_bench(
        MODEL,
        link=DeviceLink(board=board),
        limit=N,
        out_dir=tmp_path,
        data_dir=data_dir,
        progress=False,
        quiet=True,
    )
    link = report.report["link"]
    assert (report.images, report.mismatches) == (N, 0)
    assert (link["resends"], link["bad_frames"], link["recoveries"]) == (0, 0, 0)
    assert report.report["board"] == board
    assert report.counter_name == COUNTERS[board_info(board)["emulator"]["kind"]]
    assert link["device_rx_buffer"] == (512 if board_info(board).get("rx_drops") else 0)
    with capsys.disabled():
        print(
            f"\n{board}: {N} images, 0 mismatches, mean {report.counter_mean:,.0f} "
            f"{report.counter_name}"
        )


@pytest.mark.e2e  # starts an emulator
def test_counts_time_the_inference_alone_whatever_is_in_flight(data_dir, tmp_path):
    """The netduinoplus2's counter is exact (one instruction a tick). With requests in flight
    the next one's bytes reach the board while it computes; a flow-controlled board leaves them
    in the UART while an inference is timed (board_rx_hold), so every image costs the same
    with one request in flight or three."""
    board = "qemu-netduinoplus2"
    _need(board)

    def counts(window):
        out = tmp_path / f"window{window}"
        run_bench(
            MODEL,
            link=DeviceLink(board=board, window=window),
            limit=30,
            out_dir=out,
            data_dir=data_dir,
            progress=False,
            quiet=True,
        )
        return [r.counter for r in read_records(out / CSV_NAME)]

    alone = counts(1)
    assert len(alone) == 30 and min(alone) > 10_000
    assert counts(3) == alone


@pytest.fixture(scope="module")
def pico_firmware(tmp_path_factory):
    """The link tests' firmware: the slowest kernel, ref (~5 ms per inference at 125 MHz), so
    that how many bytes arrive during an inference does not hang on the default kernel's
    speed."""
    _need("rp2040js-pico")
    fw = tmp_path_factory.mktemp("pico") / "firmware"
    intmodel = IntModel.load(MODEL)
    export_firmware(intmodel, fw, board="rp2040js-pico")
    subprocess.run(["make", "-C", str(fw), "KERNEL=ref"], check=True, capture_output=True)
    return intmodel, fw / "build" / "firmware.bin"


def _stream_at_line_rate(pico_firmware, data_dir, n, baud, honour_buffer=True):
    """Dense INFER frames (791 bytes: more than the board's 512-byte ring) at `baud` into the
    32-byte RX FIFO, window 2. Returns (mismatches, resends, bytes the RX FIFO dropped)."""
    intmodel, firmware = pico_firmware
    images, labels = load_dataset("mnist", "test", data_dir=data_dir)
    images, labels = images[:n], labels[:n]
    ref = reference_batch(intmodel, images)
    with rp2040js.running_rp2040js(firmware, rx_baud=baud) as emu:
        link = SerialTransport(emu.url)
        try:
            dev = Device(link, timeout=2.0, window=2, sparse=False)
            dev.bitmap = False
            info = dev.handshake(intmodel.model_hash)
            assert info.rx_buffer == 512
            if not honour_buffer:  # a host that ignores the board's buffer
                dev.info = dataclasses.replace(info, rx_buffer=0)
            records = [
                compare(res, labels[res.index], ref, res.index, intmodel.model_hash)
                for res in dev.stream(images)
            ]
        finally:
            link.close()
        overflows = emu.rx_overflows
    assert [r.index for r in records] == list(range(n))
    return sum(bool(r.mismatch) for r in records), dev.stats.resends, overflows


@pytest.mark.e2e  # starts an emulator
def test_pico_at_115200_baud_needs_no_resend(pico_firmware, data_dir):
    assert _stream_at_line_rate(pico_firmware, data_dir, N, 115200) == (0, 0, 0)


# At 8 Mbaud a whole dense request (791 bytes, 1 ms) arrives during one inference of `ref`
# (~5 ms): more than the 512-byte ring and the 32-byte FIFO hold, so only the host's limit (one
# dense request in flight) keeps the bytes whole.
@pytest.mark.e2e  # starts an emulator
def test_pico_at_8_mbaud_needs_no_resend_because_the_host_honours_the_buffer(
    pico_firmware, data_dir
):
    assert _stream_at_line_rate(pico_firmware, data_dir, 10, 8_000_000) == (0, 0, 0)


@pytest.mark.e2e  # starts an emulator
def test_pico_at_8_mbaud_overruns_when_the_host_ignores_the_buffer(pico_firmware, data_dir):
    wrong, resends, overflows = _stream_at_line_rate(
        pico_firmware, data_dir, 10, 8_000_000, honour_buffer=False
    )
    assert wrong == 0 and resends > 0 and overflows > 0


def test_bench_refuses_a_board_that_cannot_be_emulated_before_any_side_effect(tmp_path, capsys):
    from bs4nn.cli import main

    out = tmp_path / "out"
    assert main(["bench", "--model", str(MODEL), "--board", "teensy41", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "bs4nn bench: error: teensy41 cannot be emulated: bench it with --port, or choose an "
        "emulated board: qemu-mps2-an386, qemu-netduinoplus2, qemu-microbit, qemu-mps3-an547, "
        "rp2040js-pico\n"
    )
    assert not out.exists()


def test_boards_lists_core_clock_memory_and_emulation(capsys):
    from bs4nn.cli import main

    assert main(["boards"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["board", "core", "clock", "flash", "RAM", "emulated"]
    microbit = next(line for line in lines if line.startswith("qemu-microbit "))
    assert microbit.split()[:7] == ["qemu-microbit", "cortex-m0", "16", "MHz", "256", "KB", "16"]
    assert "QEMU -M microbit" in microbit
    assert lines[lines.index(microbit) + 1] == (
        "    counter: instructions, to one 16 MHz SysTick tick (62.5 instructions under "
        "-icount shift=0)"
    )


@pytest.mark.e2e  # starts an emulator
def test_make_run_of_the_pico_export_finds_rp2040js(pico_firmware):
    """`make run` in the exported tree starts the emulator (it needs NODE_PATH at rp2040js)."""
    fw = pico_firmware[1].parents[1]
    proc = subprocess.Popen(
        ["make", "-s", "-C", str(fw), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30.0)
        first = proc.stdout.readline() if ready else "(nothing in 30 s)"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    assert first.startswith("bs4nn-rp2040js: serving UART0 on socket://127.0.0.1:"), first
