"""The PlatformIO/Arduino board layer without hardware: the generated project passes
`pio project config --lint`, and the Arduino board file, built on the host against a minimal
Arduino.h stub (a fake Serial on stdin/stdout), answers the protocol exactly like the board."""

import dataclasses
import os
import select
import subprocess

import eembc_expect
import numpy as np
import pytest
from arduino_host import (
    LINE_STUB_MAIN,
    build_host_firmware,
    build_host_program,
    host_compilers,
)
from device_protocol import replies_as_batch

from bs4nn.codegen.agreement import mismatches
from bs4nn.codegen.export import export_firmware
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.host import protocol as p
from bs4nn.host.client import Device
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import model_from_arrays
from bs4nn.trainer.semantics import NO_SPIKE, NOT_FIRED

SIZES = [784, 64, 10]
PIO_ENVS = ["nucleo_f446re", "nucleo_l476rg", "pico", "nrf52840_dk", "teensy41"]


def _pio() -> str | None:
    """PlatformIO where `bs4nn build` finds it (the dev extras put it beside this Python)."""
    from bs4nn.host.build import find_pio

    try:
        return find_pio()
    except Bs4nnError:
        return None


PIO = _pio()


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    rng = np.random.default_rng(5)
    weights = [rng.standard_normal((o, i)) for i, o in zip(SIZES[:-1], SIZES[1:], strict=True)]
    intmodel = IntModel.from_model(model_from_arrays(weights, [1.0, 1.0], [8.0, 2.0]))
    out = tmp_path_factory.mktemp("arduino") / "fw"
    export_firmware(intmodel, out, board="nucleo_f446re")
    return intmodel, out


@pytest.fixture(scope="module")
def device(export, tmp_path_factory):
    """The Arduino firmware as a host program: stdin -> Serial -> stdout."""
    if not host_compilers():
        pytest.skip("needs gcc and g++")
    return build_host_firmware(export[1], tmp_path_factory.mktemp("arduino-host"))


# what the stub prints at start: the EEMBC banner, its timestamp the stub's first micros()
BOOT = "".join(line + "\r\n" for line in eembc_expect.banner(7)).encode()


def frames(out: bytes, boot: bytes = BOOT) -> list[p.Reply]:
    assert out.startswith(boot)
    splitter = p.FrameSplitter()
    return [
        p.parse_reply(p.parse_frame(f), SIZES[-1], len(SIZES) - 1)
        for f in splitter.feed(out[len(boot) :])
    ]


@pytest.mark.skipif(PIO is None, reason="needs PlatformIO (pio): pip install '.[dev]'")
def test_platformio_project_lints_and_lists_every_board(export):
    _, out = export
    text = (out / "platformio.ini").read_text()
    for env in PIO_ENVS:
        assert f"[env:{env}]\n" in text
    assert "default_envs = nucleo_f446re\n" in text
    assert "build_src_flags = -Wall -Wextra -O2 -fno-tree-loop-distribute-patterns\n" in text
    assert (
        "[env:teensy41]\nplatform = teensy\nboard = teensy41\nbuild_flags = ${env.build_flags} "
        '-DBS4NN_BOARD_NAME=\\"teensy41\\" -DBS4NN_CLOCK_HZ=600000000u\n'
        "upload_protocol = teensy-cli\n"
    ) in text
    proc = subprocess.run(
        [PIO, "project", "config", "--lint", "-d", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "free from linting errors" in proc.stdout


def test_info_reply(export, device):
    intmodel, _ = export
    (info,) = frames(device(p.info_request(1)))
    assert info == p.InfoReply(
        1,
        1,
        bytes.fromhex(intmodel.model_hash),
        tuple(SIZES),
        intmodel.thresholds,
        256,
        16_000_000,
        2,
        "nucleo_f446re",
        "sliced",
        rx_buffer=64,
    )


def test_clock_without_f_cpu_is_the_boards(export, tmp_path):
    """ArduinoCore-mbed (the Pico's core in PlatformIO) has no F_CPU: INFO reports the clock
    that platformio.ini passes from boards.json, not 0."""
    if not host_compilers():
        pytest.skip("needs gcc and g++")
    exe = build_host_program(export[1], tmp_path, f_cpu=None)
    wire = subprocess.run(
        [str(exe)], input=p.info_request(1), capture_output=True, check=True, timeout=60
    ).stdout
    (info,) = frames(wire)
    assert info.clock_hz == 125_000_000


@pytest.mark.parametrize(("teensy4", "section"), [(True, ".progmem"), (False, ".rodata")])
def test_weights_stay_in_flash_on_teensy4(export, tmp_path, teensy4, section):
    """Teensy 4's linker copies .rodata into RAM: there the weights go to its .progmem."""
    if not host_compilers():
        pytest.skip("needs gcc and g++")
    _, out = export
    obj = tmp_path / "model.o"
    define = ["-D__IMXRT1062__"] if teensy4 else []
    source = out / "generated" / "bs4nn_model.c"
    subprocess.run(
        ["gcc", "-c", "-O2", *define, "-I", str(out / "generated"), str(source), "-o", str(obj)],
        check=True,
    )
    symbols = subprocess.run(
        ["objdump", "-t", str(obj)], capture_output=True, text=True, check=True
    ).stdout
    places = {
        line.split()[-1]: line.split()[-3]
        for line in symbols.splitlines()
        if "bs4nn_weights_l" in line
    }
    assert places == {"bs4nn_weights_l0": section, "bs4nn_weights_l1": section}


def test_inferences_equal_reference(export, device):
    intmodel, _ = export
    images = np.asarray(load_dataset("mnist", "test")[0][:200])
    wire = b"".join(
        b"\x00" + p.infer_request(i, img, sparse=bool(i % 2)) for i, img in enumerate(images)
    )
    replies = frames(device(wire))
    assert [r.seq for r in replies] == list(range(200))
    assert mismatches(reference_batch(intmodel, images), replies_as_batch(replies)) == []
    assert {r.counter for r in replies} == {7}  # micros() of the stub: one tick per read


def test_errors_thresholds_reset(export, device):
    intmodel, _ = export
    image = np.asarray(load_dataset("mnist", "test")[0][0])
    bad_crc = bytearray(p.info_request(2))
    bad_crc[-2] ^= 0x01  # a payload byte of the COBS frame (the CRC's high byte)
    wire = (
        bytes(bad_crc)
        + b"junk\x00"
        + p.build_frame(0x42, 3)
        + p.set_thresholds_request(4, [30, 2])
        + p.infer_request(5, image)
        + p.reset_request(6)
        + p.infer_request(7, image)
    )
    replies = frames(device(wire))
    assert replies[:4] == [
        p.ErrorReply(0xFFFF, p.BAD_CRC),
        p.ErrorReply(0xFFFF, p.BAD_FRAME),
        p.ErrorReply(3, p.UNKNOWN_CMD),
        p.ThresholdsReply(4, (30, 2)),
    ]
    assert replies[5] == p.ResetReply(6)
    for reply, ks in ((replies[4], [30, 2]), (replies[6], None)):
        ref = reference_batch(intmodel, image[None], ks)
        assert mismatches(ref, replies_as_batch([reply])) == []


def test_eembc_text_mode(export, device):
    intmodel, _ = export
    image = np.asarray(load_dataset("mnist", "test")[0][1])
    chunks = "".join(f"db {image[i : i + 31].tobytes().hex()}%" for i in range(0, 784, 31))
    out = device(f"name%profile%db load 784%{chunks}infer 2 0%results%".encode()).decode()
    scores = eembc_expect.scores(reference_batch(intmodel, image[None]), 0)
    # the stub's micros() advances 7 per call: the banner's timestamp is the first call; then
    # the warm-up loop's start (14), the first timestamp (21), the window's start (28), two
    # counter reads per inference and one progress check between the two inferences (70)
    assert out.split("\r\n") == [
        *eembc_expect.banner(7),
        "m-name-dut-[bs4nn-nucleo_f446re]",
        "m-ready",
        "m-profile-[ULPMark for tinyML Firmware V0.0.1]",
        "m-model-[bs4nn01]",
        f"m-model-hash-[{intmodel.model_hash}]",
        "m-ready",
        "m-[Expecting 784 bytes]",
        "m-ready",
        *["m-ready"] * 25,
        "m-load-done",
        "m-ready",
        "m-warmup-start-0",
        "m-warmup-done",
        "m-infer-start-2",
        "m-lap-us-21",
        "m-lap-us-70",
        "m-infer-done",
        f"m-results-[{scores}]",
        "m-ready",
        f"m-results-[{scores}]",
        "m-ready",
        "",
    ]


def test_long_cobs_runs_decode(export, device):
    """A dense image with no zero pixel: COBS blocks of 254 bytes (code 0xFF) in the request."""
    intmodel, _ = export
    images = np.random.default_rng(9).integers(1, 256, (3, 784), dtype=np.uint8)
    wire = b"".join(p.infer_request(i, img, sparse=False) for i, img in enumerate(images))
    assert max(p.cobs_encode(bytes(images[0]))) == 0xFF
    replies = frames(device(wire))
    assert [r.seq for r in replies] == [0, 1, 2]
    assert mismatches(reference_batch(intmodel, images), replies_as_batch(replies)) == []


def test_text_and_binary_interleave_and_long_lines_are_refused(export, device):
    out = device(b"a" * 1100 + b"%" + b"name%" + p.info_request(8) + b"timestamp%")
    assert out.startswith(BOOT)
    parts = out[len(BOOT) :].split(b"m-ready\r\n", 2)
    assert parts[:2] == [b"e-[Command too long]\r\n", b"m-name-dut-[bs4nn-nucleo_f446re]\r\n"]
    rest = parts[2]
    frame_end = rest.index(b"\x00") + 1
    (info,) = frames(rest[:frame_end], boot=b"")
    assert info.seq == 8
    assert rest[frame_end:] == b"m-lap-us-14\r\nm-ready\r\n"


def test_bitmap_infer(export, device):
    intmodel, _ = export
    images = np.asarray(load_dataset("mnist", "test")[0][:50]).copy()
    images[0] = 0  # nothing lit
    images[1] = 255  # everything lit
    wire = b"".join(
        p.build_frame(p.INFER_BITMAP, i, p.bitmap_body(img)) for i, img in enumerate(images)
    )
    replies = frames(device(wire))
    ref = reference_batch(intmodel, images)
    assert [
        (r.seq, r.label, r.decision_step, list(r.output_steps), list(r.spikes)) for r in replies
    ] == [
        (
            i,
            int(ref.labels[i]),
            int(ref.decision_steps[i]),
            [NO_SPIKE if s == NOT_FIRED else int(s) for s in ref.output_steps[i]],
            ref.spikes[i].tolist(),
        )
        for i in range(50)
    ]


class PipeTransport:
    """The host side of a firmware host program's stdin and stdout."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.name = "stub serial line"
        self.emulator = None  # a board's line, as far as the messages go
        self.proc = proc

    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, timeout))
        return os.read(self.proc.stdout.fileno(), 65536) if ready else b""

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def line_firmware(export, tmp_path_factory):
    """The Arduino firmware on a 64-byte Serial buffer behind a 115,200-baud line."""
    if not host_compilers():
        pytest.skip("needs gcc and g++")
    return build_host_program(export[1], tmp_path_factory.mktemp("arduino-line"), LINE_STUB_MAIN)


def _stream_over_the_line(export, exe, n, tmp_path, honour_buffer=True):
    """window 2 over the 64-byte buffer; (mismatching images, resends, bytes dropped)."""
    intmodel, _ = export
    images = np.asarray(load_dataset("mnist", "test")[0][:n])
    errors = tmp_path / "stderr.txt"
    with open(errors, "wb") as err:
        proc = subprocess.Popen(
            [str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err
        )
        link = PipeTransport(proc)
        try:
            dev = Device(link, timeout=1.0, window=2)
            info = dev.handshake(intmodel.model_hash)
            assert info.rx_buffer == 64
            if not honour_buffer:  # a host that ignores the board's buffer
                dev.info = dataclasses.replace(info, rx_buffer=0)
            replies = [res.reply for res in dev.stream(images)]
        finally:
            link.close()
    wrong = mismatches(reference_batch(intmodel, images), replies_as_batch(replies))
    return len(wrong), dev.stats.resends, errors.read_text().count("rx overflow")


def test_64_byte_serial_buffer_needs_no_resend(export, line_firmware, tmp_path):
    assert _stream_over_the_line(export, line_firmware, 100, tmp_path) == (0, 0, 0)


def test_64_byte_serial_buffer_overflows_when_the_host_ignores_it(export, line_firmware, tmp_path):
    wrong, resends, dropped = _stream_over_the_line(
        export, line_firmware, 10, tmp_path, honour_buffer=False
    )
    assert wrong == 0 and resends > 0 and dropped > 0
