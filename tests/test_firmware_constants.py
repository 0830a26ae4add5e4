"""The numbers the host and the firmware must agree on, read from the C sources: a change on
one side only fails here, without a toolchain or an emulator."""

import re

import pytest

from bs4nn.codegen import footprint
from bs4nn.codegen.boards import TEMPLATE_ROOT
from bs4nn.host import eembc
from bs4nn.host import protocol as p
from bs4nn.trainer.semantics import FLAG_FALLBACK


def c_defines(relpath: str) -> dict[str, str]:
    """`#define NAME value` lines of one firmware source (value without a u suffix or comment)."""
    text = (TEMPLATE_ROOT / relpath).read_text()
    found = re.findall(r"^#define (\w+) +(\"[^\"]*\"|\w+)", text, flags=re.MULTILINE)
    return {name: value.removesuffix("u") if value[0] != '"' else value for name, value in found}


def c_int(defines: dict[str, str], name: str) -> int:
    return int(defines[name], 0)


APP = c_defines("protocol/bs4nn_app.h")


@pytest.mark.parametrize(
    "c_name,value",
    [
        ("BS4NN_PROTOCOL_VERSION", p.PROTOCOL_VERSION),
        ("BS4NN_MSG_INFO", p.INFO),
        ("BS4NN_MSG_INFER", p.INFER),
        ("BS4NN_MSG_INFER_SPARSE", p.INFER_SPARSE),
        ("BS4NN_MSG_SET_THRESHOLDS", p.SET_THRESHOLDS),
        ("BS4NN_MSG_RESET", p.RESET),
        ("BS4NN_MSG_INFER_BITMAP", p.INFER_BITMAP),
        ("BS4NN_MSG_ERROR", p.ERROR_REPLY),
        ("BS4NN_SEQ_UNKNOWN", p.SEQ_UNKNOWN),
        ("BS4NN_ERR_BAD_CRC", p.BAD_CRC),
        ("BS4NN_ERR_BAD_LENGTH", p.BAD_LENGTH),
        ("BS4NN_ERR_UNKNOWN_CMD", p.UNKNOWN_CMD),
        ("BS4NN_ERR_OVERSIZE", p.OVERSIZE),
        ("BS4NN_ERR_BAD_ARG", p.BAD_ARG),
        ("BS4NN_ERR_BAD_FRAME", p.BAD_FRAME),
    ],
)
def test_message_and_error_codes(c_name, value):
    assert c_int(APP, c_name) == value


def test_reply_types_are_request_types_with_the_reply_bit():
    reply_bit = c_int(APP, "BS4NN_MSG_REPLY")
    assert p.INFO_REPLY == p.INFO | reply_bit
    assert p.INFER_REPLY == p.INFER | reply_bit
    assert p.THRESHOLDS_REPLY == p.SET_THRESHOLDS | reply_bit
    assert p.RESET_REPLY == p.RESET | reply_bit


def test_fallback_flag():
    infer_h = c_defines("core/bs4nn_infer.h")
    assert c_int(infer_h, "BS4NN_FLAG_FALLBACK") == FLAG_FALLBACK


def test_frame_limits():
    frame = c_defines("protocol/bs4nn_frame.h")
    assert c_int(frame, "BS4NN_MAX_FRAME") == p.MAX_FRAME
    assert c_int(frame, "BS4NN_FRAME_OVERHEAD") == p.HEADER + p.CRC_BYTES


def test_counter_kinds():
    board = c_defines("protocol/bs4nn_board.h")
    assert c_int(board, "BS4NN_COUNTER_CYCLES") == p.COUNTER_CYCLES
    assert c_int(board, "BS4NN_COUNTER_INSTRUCTIONS") == p.COUNTER_INSTRUCTIONS
    assert c_int(board, "BS4NN_COUNTER_MICROSECONDS") == p.COUNTER_MICROSECONDS
    assert set(p.COUNTER_KINDS) == {0, 1, 2}
    assert set(eembc.SECONDS_PER_TICK) == set(p.COUNTER_KINDS)


def test_mlperf_model_id_and_run_limit():
    firmware = c_defines("protocol/bs4nn_eembc.c")
    assert firmware["MODEL_ID"] == f'"{eembc.MODEL_ID}"'
    assert c_int(firmware, "MAX_RUNS") == eembc.MAX_RUNS


def test_kernel_limits_export_checks():
    kernel_h = (TEMPLATE_ROOT / "core" / "bs4nn_kernel.h").read_text()
    assert f"#if BS4NN_LAYER0_WORDS > {footprint.SLICED_MAX_LAYER0_WORDS}\n" in kernel_h
    kernel = c_defines("core/bs4nn_kernel.h")
    assert c_int(kernel, "BS4NN_COUNT16_MAX_INPUTS") == footprint.PACKED_MAX_INPUTS
