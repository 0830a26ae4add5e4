"""The EEMBC text mode's bounds, run on the host (the Arduino board file against the stub
Arduino.h of arduino_host.py, whose micros() advances 7 per call): exact replies at and around
every limit, the progress lines of a long window, and a seeded fuzz of command lines after which
the board still answers text and binary commands."""

import random

import eembc_expect
import numpy as np
import pytest
from arduino_host import build_host_firmware, host_compilers

from bs4nn.codegen.export import export_firmware
from bs4nn.codegen.intmodel import IntModel
from bs4nn.host import protocol as p
from bs4nn.host.eembc import MAX_RUNS
from bs4nn.trainer.model import model_from_arrays

SIZES = [784, 16, 10]
IMAGE = np.where(np.arange(784) % 7 == 0, 200, 0).astype(np.uint8)  # 112 pixels lit
ZEROS = "".join(f"db {bytes(28).hex()}%" for _ in range(28))  # 784 zero pixels


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    if not host_compilers():
        pytest.skip("needs gcc and g++")
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((o, i)) for i, o in zip(SIZES[:-1], SIZES[1:], strict=True)]
    intmodel = IntModel.from_model(model_from_arrays(weights, [1.0, 1.0], [4.0, 2.0]))
    out = tmp_path_factory.mktemp("eembc") / "fw"
    export_firmware(intmodel, out, board="nucleo_f446re")
    run = build_host_firmware(out, tmp_path_factory.mktemp("eembc-host"))

    def replies(commands: str | bytes) -> list[list[str]]:
        """One list of lines per command (the boot banner first), each ending with m-ready;
        binary frames may be mixed in (bytes, decoded as Latin-1)."""
        wire = commands if isinstance(commands, bytes) else commands.encode()
        parts = run(wire).decode("latin-1").split("m-ready\r\n")
        assert parts[-1] == ""
        return [part.split("\r\n") for part in parts[:-1]]

    return replies


def test_bounds_get_exact_errors_and_nothing_runs(device):
    cases = {
        "infer 999999999": "e-[Inference iterations must be <=1000000]",
        "infer 1 999999999": "e-[Inference warmup must be <=1000000]",
        "infer 1000001 0": "e-[Inference iterations must be <=1000000]",
        "infer 1 1000001": "e-[Inference warmup must be <=1000000]",
        "infer 99999999999999999999": "e-[Inference iterations must be <=1000000]",
        "infer 0": "e-[Inference iterations must be >0]",
        "infer -1": "e-[Inference iterations must be >0]",
        "infer 1x": "e-[Inference iterations must be >0]",
        "infer 1 -1": "e-[Inference warmup must be >=0]",
        "infer 1 0": "e-[Input db has 0 elements, expected 784]",
        "results": "e-[No inference run yet]",
        "db": "e-[Command 'db' requires a subcommand]",
        "db load": "e-[Command 'db load' requires the # of bytes]",
        "db load 0": "e-[Command 'db load' must be >0 bytes]",
        "db load many": "e-[Command 'db load' must be >0 bytes]",
        "db load 785": "e-[Supplied buffer size 785 exceeds maximum of 784]",
        "db load 99999999999": "e-[Supplied buffer size 99999999999 exceeds maximum of 784]",
        "db 0": "e-[Insufficent number of hex digits]",
        "db 0g": "e-[Invalid hex digit '0g']",
        "bogus 1": "e-[Unknown command: bogus]",
    }
    got = device("".join(c + "%" for c in cases) + "name%")
    assert got[0] == eembc_expect.banner(7)[:-1] + [""]
    assert got[1:] == [[error, ""] for error in cases.values()] + [
        ["m-name-dut-[bs4nn-nucleo_f446re]", ""]
    ]


def test_short_db_load_is_reported_at_infer(device):
    got = device("db load 4%db 0102030405%db print%infer 1 0%")
    assert got[1:] == [
        ["m-[Expecting 4 bytes]", ""],
        ["m-load-done", ""],
        ["m-buffer-01-02-03-04", ""],
        ["e-[Input db has 4 elements, expected 784]", ""],
    ]


def test_tabs_line_ends_and_runs_of_spaces_split_words_and_a_bad_digit_names_its_pair(device):
    # words after the third are ignored; the bytes after a bad pair are not part of the reply
    got = device("db\tload \r\n 3 more words%db 0a0b0c0d%db print%db 12g4%db 0g12%infer\t1\t0 9 9%")
    assert got[1:] == [
        ["m-[Expecting 3 bytes]", ""],
        ["m-load-done", ""],
        ["m-buffer-0a-0b-0c", ""],
        ["e-[Invalid hex digit 'g4']", ""],
        ["e-[Invalid hex digit '0g']", ""],
        ["e-[Input db has 3 elements, expected 784]", ""],
    ]


@pytest.mark.parametrize(
    "frame",
    [
        p.reset_request(5),
        p.infer_request(6, IMAGE, sparse=False),
        p.infer_request(6, IMAGE, sparse=True),
        p.build_frame(p.INFER_BITMAP, 7, p.bitmap_body(IMAGE)),
    ],
    ids=["reset", "dense-infer", "sparse-infer", "bitmap-infer"],
)
def test_a_binary_request_that_writes_the_pixels_leaves_no_db_image_nor_result(device, frame):
    # the text mode's image is the binary requests' pixel buffer: once RESET clears it or an
    # INFER fills it, "infer" must not run it as the loaded image
    got = device(
        f"db load 784%{ZEROS}infer 1 0%".encode() + b"\x00" + frame + b"results%infer 1 0%"
    )
    assert got[-3][-2].startswith("m-results-[")  # the text inference before the frame
    assert got[-2][-2].endswith("e-[No inference run yet]")  # after the frame's binary reply
    assert got[-1] == ["e-[Input db has 0 elements, expected 784]", ""]


def _progress(n: int, clock: int) -> list[int]:
    """The inferences after which a window of n prints a progress line: the stub's clock reads
    `clock` at the window's start and advances 7 per read; each inference reads it twice (the
    counter), then once more to check whether a second has passed since the last line."""
    since, marks = clock, []
    for done in range(1, n):
        clock += 3 * 7
        if clock - since >= 1_000_000:
            marks.append(done)
            clock += 7  # the new start
            since = clock
    return marks


def test_the_largest_window_runs_and_prints_a_line_per_second(device):
    got = device(f"db load 784%{ZEROS}infer {MAX_RUNS} 0%name%")
    lines = got[-2]
    start = int(lines[3].removeprefix("m-lap-us-"))  # the stub's micros() then reads +7 on
    marks = _progress(MAX_RUNS, start + 7)
    assert len(marks) == 20  # 21 us of stub time per inference: 21 s
    assert lines[:4] == [
        "m-warmup-start-0",
        "m-warmup-done",
        f"m-infer-start-{MAX_RUNS}",
        f"m-lap-us-{start}",
    ]
    assert lines[4:-4] == [f"m-infer-progress-{k}" for k in marks]
    assert lines[-4].startswith("m-lap-us-") and lines[-3] == "m-infer-done"
    assert got[-1] == ["m-name-dut-[bs4nn-nucleo_f446re]", ""]


WORDS = [
    "infer",
    "db",
    "load",
    "print",
    "results",
    "name",
    "profile",
    "timestamp",
    "help",
    "0",
    "1",
    "2",
    "-1",
    "783",
    "784",
    "785",
    "1000000",
    "1000001",
    "999999999",
    "99999999999",
    "x",
    "1a",
    "0a0b",
    "zz",
    "abc",
    "0102",
    "",
]


def test_fuzzed_command_lines_each_get_one_reply_and_the_board_still_answers(device):
    rng = random.Random(16)
    commands = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) for _ in range(400)]
    # a '%' ends a text command only after a letter (firmware_template/README.md); no window
    # of more than 2 runs, so the fuzz stays fast
    commands = [
        c
        for c in commands
        if any(ch.isalpha() for ch in c)
        and not (
            c.startswith("infer")
            and any(w.isdigit() and 2 < int(w) <= MAX_RUNS for w in c.split()[1:3])
        )
    ]
    got = device("".join(c + "%" for c in commands) + "db load 784%" + ZEROS + "infer 1 0%name%")
    assert len(got) == 1 + len(commands) + 1 + 28 + 2  # banner, one reply per command
    for command, reply in zip(commands, got[1:], strict=False):
        assert reply[-1] == "", (command, reply)
        assert all(
            line[:2] in ("m-", "e-") or line.startswith("ULPMark") or line.startswith("name, ")
            for line in reply[:-1]
        ), (command, reply)
        words = command.split()
        if words[:1] == ["infer"] and any(w.isdigit() and int(w) > MAX_RUNS for w in words[1:3]):
            assert len(reply) == 2 and reply[0].startswith("e-["), (command, reply)
    assert got[-2][:3] == ["m-warmup-start-0", "m-warmup-done", "m-infer-start-1"]
    assert got[-1] == ["m-name-dut-[bs4nn-nucleo_f446re]", ""]
