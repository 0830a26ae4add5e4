"""End to end on the emulated board: export, build with arm-none-eabi-gcc, run in QEMU, and
check the firmware against codegen's integer reference through the serial protocol."""

import re
import shutil
import subprocess
import time

import eembc_expect
import numpy as np
import pytest
from device_protocol import replies_as_batch
from helpers import random_intmodel

from bs4nn.codegen.agreement import mismatches
from bs4nn.codegen.export import export_firmware
from bs4nn.codegen.reference import reference_batch
from bs4nn.host import protocol as p
from bs4nn.host.client import Device
from bs4nn.host.qemu import running_qemu
from bs4nn.host.transport import SerialTransport
from bs4nn.trainer.datasets import load_dataset

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
        reason="needs arm-none-eabi-gcc and qemu-system-arm",
    ),
]

SIZES = [784, 100, 10]
THETAS = [12.0, 2.0]


class Raw:
    """Bytes in, frames or text lines out, with a deadline (no retries: we test the device)."""

    def __init__(self, link: SerialTransport) -> None:
        self.link = link
        self.splitter = p.FrameSplitter()

    def frame(self, data: bytes, timeout: float = 5.0) -> p.Frame:
        self.link.write(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames = self.splitter.feed(self.link.read(0.1))
            if frames:
                assert len(frames) == 1, frames
                return p.parse_frame(frames[0])
        raise AssertionError(f"no reply to {data[:20]!r}")

    def reply(self, data: bytes) -> p.Reply:
        return p.parse_reply(self.frame(data), SIZES[-1], len(SIZES) - 1)

    def text(self, command: str, timeout: float = 10.0) -> list[str]:
        self.link.write(command.encode() + b"%")
        out = b""
        deadline = time.monotonic() + timeout
        while not out.endswith(b"m-ready\r\n"):
            assert time.monotonic() < deadline, f"no m-ready after {command!r}: {out!r}"
            out += self.link.read(0.1)
        return out.decode().split("\r\n")[:-1]


def _stream_on_its_own_board(out, images, *make_args, window: int = 2):
    """Build the export `out` (`make` with make_args), boot it in a QEMU of its own and
    stream `images`: (device, its INFO, the replies)."""
    subprocess.run(["make", "-s", "-C", str(out), *make_args], check=True, capture_output=True)
    with running_qemu(out / "build" / "firmware.elf") as qemu:
        link = SerialTransport(qemu.pty_path)
        try:
            dev = Device(link, window=window)
            info = dev.handshake()
            replies = [r.reply for r in dev.stream(images)]
        finally:
            link.close()
    return dev, info, replies


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    intmodel = random_intmodel(SIZES, THETAS, seed=11)
    out = tmp_path_factory.mktemp("qemu") / "fw"
    export_firmware(intmodel, out)
    subprocess.run(["make", "-s", "-C", str(out)], check=True, capture_output=True)
    with running_qemu(out / "build" / "firmware.elf") as qemu:
        link = SerialTransport(qemu.pty_path)
        try:
            yield intmodel, link
        finally:
            link.close()


@pytest.fixture(scope="module")
def images():
    return np.asarray(load_dataset("mnist", "test")[0][:300])


def test_info(board):
    intmodel, link = board
    info = Device(link).handshake()
    assert (
        info.protocol_version,
        info.model_hash_hex,
        info.layer_sizes,
        info.thresholds,
        info.tmax,
        info.clock_hz,
        info.counter_kind,
        info.board,
        info.kernel,
    ) == (
        1,
        intmodel.model_hash,
        tuple(SIZES),
        intmodel.thresholds,
        256,
        25_000_000,
        1,
        "qemu-mps2-an386",
        "sliced",
    )


def test_stream_equals_reference(board, images):
    intmodel, link = board
    dev = Device(link)
    dev.handshake()
    replies = [r.reply for r in dev.stream(images)]
    ref = reference_batch(intmodel, images)
    assert mismatches(ref, replies_as_batch(replies)) == []
    assert len(np.unique(ref.decision_steps)) > 5
    assert dev.stats.resends == 0 and dev.stats.error_replies == 0
    assert dev.bitmap is True  # the firmware takes the optional INFER_BITMAP form
    assert all(r.counter > 0 for r in replies)


def test_dense_sparse_bitmap_agree_and_counter_is_an_instruction_proxy(board, images):
    intmodel, link = board
    raw = Raw(link)
    dense = raw.reply(b"\x00" + p.infer_request(7, images[0], sparse=False))
    sparse = raw.reply(b"\x00" + p.infer_request(8, images[0], sparse=True))
    bitmap = raw.reply(b"\x00" + p.build_frame(p.INFER_BITMAP, 9, p.bitmap_body(images[0])))
    assert (dense.seq, sparse.seq, bitmap.seq) == (7, 8, 9)
    ref = reference_batch(intmodel, images[:1])
    for reply in (dense, sparse, bitmap):  # each request form, every field of the reply
        assert mismatches(ref, replies_as_batch([reply])) == []
    # -icount: instructions are deterministic; the 25 MHz timer reads them in steps of 40
    assert abs(dense.counter - sparse.counter) <= 40
    assert dense.counter % 40 == 0


def test_thresholds_and_reset(board, images):
    intmodel, link = board
    raw = Raw(link)
    reply = raw.reply(b"\x00" + p.set_thresholds_request(3, [20, 1]))
    assert reply == p.ThresholdsReply(3, (20, 1))
    dev = Device(link)
    dev.handshake()
    assert dev.info.thresholds == (20, 1)
    replies = [r.reply for r in dev.stream(images[:50])]
    assert (
        mismatches(reference_batch(intmodel, images[:50], [20, 1]), replies_as_batch(replies)) == []
    )
    assert raw.reply(b"\x00" + p.reset_request(4)) == p.ResetReply(4)
    assert Device(link).handshake().thresholds == intmodel.thresholds


def _row_adder_images():
    """Images whose looks add every number of rows a round can take: all 784 pixels at one
    step (the counts pass 64, 128, ...), then 1, 2, 3, ... 39 pixels per step, one pixel per
    step for 200 steps, and uniform random pixels."""
    rng = np.random.default_rng(5)
    stairs = np.zeros(784, np.uint8)
    where = rng.permutation(784)
    at = 0
    for t in range(39):
        stairs[where[at : at + t + 1]] = 255 - t
        at += t + 1
    single = np.zeros(784, np.uint8)
    single[rng.permutation(784)[:200]] = 255 - np.arange(200)
    return np.stack(
        [np.full(784, 255, np.uint8), stairs, single, *rng.integers(0, 256, (3, 784), np.uint8)]
    )


@pytest.mark.parametrize("thresholds", [(1, 1), (12, 2)])
def test_thumb2_row_adder_equals_reference_on_every_round_size(board, thresholds):
    """The default build adds a look's rows with the Thumb-2 adder (rounds of up to 15 rows,
    its first 1 to 4 rows into zero planes, a single last row with a ripple carry): looks of
    every size, counts past plane 5, give what the reference gives."""
    intmodel, link = board
    images = _row_adder_images()
    dev = Device(link)
    dev.handshake()
    dev.set_thresholds(thresholds)
    try:
        replies = [r.reply for r in dev.stream(images)]
    finally:
        dev.reset()
    ref = reference_batch(intmodel, images, list(thresholds))
    assert mismatches(ref, replies_as_batch(replies)) == []


def _valid_infer_works(raw, intmodel, image, seq=100):
    reply = raw.reply(b"\x00" + p.infer_request(seq, image))
    assert reply.seq == seq
    assert mismatches(reference_batch(intmodel, image[None]), replies_as_batch([reply])) == []


def _raw_frame(ftype, seq, body=b"", crc_delta=0):
    data = bytes([ftype]) + seq.to_bytes(2, "little") + body
    crc = (p.crc16_ccitt_false(data) + crc_delta) & 0xFFFF
    return p.cobs_encode(data + crc.to_bytes(2, "little")) + b"\x00"


@pytest.mark.parametrize(
    "wire, expected",
    [
        (_raw_frame(p.INFO, 9, crc_delta=1), p.ErrorReply(0xFFFF, p.BAD_CRC)),
        (_raw_frame(p.INFO, 9, b"\x01"), p.ErrorReply(9, p.BAD_LENGTH)),
        (_raw_frame(0x7F, 10), p.ErrorReply(10, p.UNKNOWN_CMD)),
        (b"\x01" * 1100 + b"\x00", p.ErrorReply(0xFFFF, p.OVERSIZE)),
        (_raw_frame(p.INFO, 11)[:3] + b"\x00", p.ErrorReply(0xFFFF, p.BAD_FRAME)),  # truncated
        (b"\x13\x37garbage\x00", p.ErrorReply(0xFFFF, p.BAD_FRAME)),  # COBS runs past the end
        (b"\x02\x05\x00", p.ErrorReply(0xFFFF, p.BAD_FRAME)),  # too short for a frame
        (_raw_frame(p.INFER, 12, bytes(783)), p.ErrorReply(12, p.BAD_LENGTH)),
        (
            _raw_frame(p.INFER_SPARSE, 13, b"\x02\x00" + b"\x01\x00\x05"),
            p.ErrorReply(13, p.BAD_LENGTH),
        ),
        (
            _raw_frame(p.INFER_SPARSE, 14, b"\x01\x00" + b"\x10\x03\x05"),  # index 784
            p.ErrorReply(14, p.BAD_ARG),
        ),
        (_raw_frame(p.SET_THRESHOLDS, 15, b"\x00\x00\x01\x00"), p.ErrorReply(15, p.BAD_ARG)),
        (_raw_frame(p.SET_THRESHOLDS, 16, b"\x05\x00"), p.ErrorReply(16, p.BAD_LENGTH)),
        (_raw_frame(p.RESET, 17, b"\x00"), p.ErrorReply(17, p.BAD_LENGTH)),
        (_raw_frame(p.INFER_BITMAP, 18, b"\x01" + bytes(97)), p.ErrorReply(18, p.BAD_LENGTH)),
        (
            _raw_frame(p.INFER_BITMAP, 19, b"\x03" + bytes(97) + b"\x05"),  # 2 lit, 1 value
            p.ErrorReply(19, p.BAD_LENGTH),
        ),
    ],
    ids=[
        "bad-crc",
        "info-with-body",
        "unknown-cmd",
        "oversize",
        "truncated",
        "garbage",
        "short",
        "dense-783",
        "sparse-count",
        "sparse-index",
        "threshold-0",
        "thresholds-count",
        "reset-with-body",
        "bitmap-no-values",
        "bitmap-short",
    ],
)
def test_malformed_frame_gets_error_and_next_frame_works(board, images, wire, expected):
    intmodel, link = board
    raw = Raw(link)
    assert raw.reply(b"\x00" + wire) == expected
    _valid_infer_works(raw, intmodel, images[1])


def test_resync_zeros_are_ignored(board, images):
    intmodel, link = board
    raw = Raw(link)
    assert raw.reply(b"\x00" * 50 + p.info_request(21)).seq == 21
    _valid_infer_works(raw, intmodel, images[2])


def test_eembc_performance_mode_sequence(board, images):
    intmodel, link = board
    raw = Raw(link)
    assert raw.text("name") == ["m-name-dut-[bs4nn-qemu-mps2-an386]", "m-ready"]
    assert raw.text("profile") == [
        "m-profile-[ULPMark for tinyML Firmware V0.0.1]",
        "m-model-[bs4nn01]",
        f"m-model-hash-[{intmodel.model_hash}]",
        "m-ready",
    ]
    assert raw.text("help") == [
        "ULPMark for tinyML Firmware V0.0.1",
        "name, profile, timestamp, db load N, db HH.., db print, infer N [W=10], results, help",
        "m-ready",
    ]
    assert raw.text("db load 784") == ["m-[Expecting 784 bytes]", "m-ready"]
    image = images[3]
    chunks = [image[i : i + 31] for i in range(0, 784, 31)]  # as the MLPerf Tiny runner sends
    for n, chunk in enumerate(chunks):
        lines = raw.text("db " + chunk.tobytes().hex())
        assert lines == (["m-load-done", "m-ready"] if n == len(chunks) - 1 else ["m-ready"])
    assert raw.text("db print")[:2] == [
        "m-buffer-" + "-".join(f"{v:02x}" for v in image[i : i + 8]) for i in (0, 8)
    ]
    lines = raw.text("infer 3 1")
    scores = eembc_expect.scores(reference_batch(intmodel, image[None]), 0)
    assert lines[:3] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-3"]
    assert re.fullmatch(r"m-lap-us-\d+", lines[3]) and re.fullmatch(r"m-lap-us-\d+", lines[4])
    assert int(lines[4][9:]) >= int(lines[3][9:])
    assert lines[5:] == ["m-infer-done", f"m-results-[{scores}]", "m-ready"]
    assert raw.text("results") == [f"m-results-[{scores}]", "m-ready"]
    assert raw.text("bogus 1") == ["e-[Unknown command: bogus]", "m-ready"]
    assert raw.text("db load 0") == ["e-[Command 'db load' must be >0 bytes]", "m-ready"]
    assert raw.text("db 0g") == ["e-[Invalid hex digit '0g']", "m-ready"]
    assert raw.text("infer 0") == ["e-[Inference iterations must be >0]", "m-ready"]
    # the binary protocol still works right after text commands
    _valid_infer_works(raw, intmodel, images[4])


def test_eembc_huge_infer_is_refused_and_the_board_answers(board, images):
    intmodel, link = board
    raw = Raw(link)
    assert raw.text("infer 999999999", timeout=2) == [
        "e-[Inference iterations must be <=1000000]",
        "m-ready",
    ]
    assert raw.text("infer 1 999999999", timeout=2) == [
        "e-[Inference warmup must be <=1000000]",
        "m-ready",
    ]
    assert raw.text("name", timeout=2) == ["m-name-dut-[bs4nn-qemu-mps2-an386]", "m-ready"]
    _valid_infer_works(raw, intmodel, images[5])


def test_eembc_timestamps_follow_the_host_clock_while_idle(board):
    """QEMU runs with sleep=on: an idle board's clock keeps pace with the host's, instead of
    jumping from timer to timer (which made 32-bit m-lap-us wrap between two commands)."""
    raw = Raw(board[1])
    t0 = time.monotonic()
    first = int(raw.text("timestamp")[0].removeprefix("m-lap-us-"))
    time.sleep(1.0)
    second = int(raw.text("timestamp")[0].removeprefix("m-lap-us-"))
    assert 0.9e6 < second - first < (time.monotonic() - t0 + 0.1) * 1e6


@pytest.mark.parametrize(
    ("make_arg", "kernel"),
    [
        ("KERNEL=ref", "ref"),
        ("KERNEL=packed", "packed"),
        ("EXTRA_CFLAGS=-DBS4NN_PORTABLE_ROWS", "sliced"),  # its C row adder, not the Thumb-2 one
    ],
)
def test_other_kernels_on_the_board(board, images, tmp_path, make_arg, kernel):
    """make KERNEL=ref / packed, or sliced with its portable C row adder: INFO names the
    kernel, results equal the reference; the default build needs fewer instructions for the
    same images."""
    intmodel, link = board
    out = tmp_path / "fw"
    export_firmware(intmodel, out)
    default_dev = Device(link)
    assert default_dev.handshake().kernel == "sliced"
    default = [r.reply for r in default_dev.stream(images[:100])]
    _, info, replies = _stream_on_its_own_board(out, images[:100], make_arg)
    assert info.kernel == kernel
    assert mismatches(reference_batch(intmodel, images[:100]), replies_as_batch(replies)) == []
    assert sum(r.counter for r in default) < sum(r.counter for r in replies)


def test_rx_ring_overflow_pauses_input_and_loses_nothing(board, images):
    """While the board runs 200 EEMBC inferences, 3 dense frames (2.4 KB) arrive: more than the
    512-byte RX ring. The UART interrupt pauses, QEMU holds the input, nothing is lost."""
    intmodel, link = board
    assert Raw(link).text("db load 784") == ["m-[Expecting 784 bytes]", "m-ready"]
    link.write(
        b"".join(f"db {images[5][i : i + 31].tobytes().hex()}%".encode() for i in range(0, 784, 31))
    )
    burst = b"".join(b"\x00" + p.infer_request(40 + i, images[i], sparse=False) for i in range(3))
    link.write(b"infer 200 0%" + burst)
    out = b""
    deadline = time.monotonic() + 60
    while out.count(b"\x00") < 3:  # text has no 0x00; each of the 3 replies ends with one
        assert time.monotonic() < deadline, out[-200:]
        out += link.read(0.2)
    text_end = out.index(b"m-infer-done") + out[out.index(b"m-infer-done") :].index(b"m-ready\r\n")
    replies = [
        p.parse_reply(p.parse_frame(f), SIZES[-1], len(SIZES) - 1)
        for f in p.FrameSplitter().feed(out[text_end + len(b"m-ready\r\n") :])
    ]
    assert [r.seq for r in replies] == [40, 41, 42]
    assert mismatches(reference_batch(intmodel, images[:3]), replies_as_batch(replies)) == []


def test_255_outputs_fit_the_stack(images, tmp_path):
    """The INFER path's stack frames grow with the outputs (~2.1 KB at 255): the stack is
    sized for them (codegen.footprint.stack_bytes). A fixed 2 KB stack overflowed into the
    receive ring and the counter's SysTick wraps: error replies with two requests in flight,
    counters in the billions."""
    intmodel = random_intmodel([784, 64, 255], [12.0, 2.0], seed=3)
    out = tmp_path / "fw"
    export_firmware(intmodel, out)
    dev, _, replies = _stream_on_its_own_board(out, images[:200], window=2)
    assert mismatches(reference_batch(intmodel, images[:200]), replies_as_batch(replies)) == []
    assert dev.stats.resends == 0 and dev.stats.error_replies == 0
    counters = [r.counter for r in replies]
    assert max(counters) < 4 * float(np.median(counters))


def test_a_first_layer_too_wide_for_sliced_builds_packed(images, tmp_path):
    """784 inputs x 2,657 neurons is 65,856 words, more than the sliced kernel's uint16 row
    offsets reach: the export builds the packed kernel by default and says so (the sliced
    kernel's #error stopped `make`)."""
    intmodel = random_intmodel([784, 2657, 10], [30.0, 20.0], seed=4)
    out = tmp_path / "fw"
    result = export_firmware(intmodel, out)
    assert result.footprint.lines()[-1] == (
        "  kernel: packed (the first weight layer has more than the 65,536 words the sliced "
        "kernel can hold)"
    )
    assert "KERNEL ?= packed\n" in (out / "Makefile").read_text()
    _, info, replies = _stream_on_its_own_board(out, images[:20])
    assert info.kernel == "packed"
    assert mismatches(reference_batch(intmodel, images[:20]), replies_as_batch(replies)) == []
