"""The firmware's framing code (protocol/bs4nn_frame.c, bs4nn_ring.c) built for the host and
held byte for byte to host/protocol.py: CRC, COBS both ways at the 254-byte block edges, and
the RX ring's full/empty behaviour."""

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bs4nn.codegen.ccheck import CFLAGS
from bs4nn.host import protocol as p

PROTOCOL_DIR = Path(__file__).resolve().parents[1] / "firmware_template" / "protocol"


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    out = tmp_path_factory.mktemp("frame") / "libframe.so"
    subprocess.run(
        [
            "gcc",
            *CFLAGS,
            "-o",
            str(out),
            str(PROTOCOL_DIR / "bs4nn_frame.c"),
            str(PROTOCOL_DIR / "bs4nn_ring.c"),
        ],
        check=True,
    )
    so = ctypes.CDLL(str(out))
    so.bs4nn_crc16.restype = ctypes.c_uint16
    so.bs4nn_cobs_decode.restype = ctypes.c_int32
    so.bs4nn_cobs_encode.restype = ctypes.c_uint32
    return so


def _payloads():
    rng = np.random.default_rng(1)
    out = [b"", b"\x00", b"\x00\x00", b"\x01", b"\x11\x22\x00\x33"]
    for n in (253, 254, 255, 256, 508, 509, 1024):
        out.append(bytes(rng.integers(1, 256, n, dtype=np.uint8)))  # no zero: full blocks
        out.append(bytes(rng.integers(1, 256, n, dtype=np.uint8)) + b"\x00")
    out.append(bytes(rng.integers(0, 4, 1024, dtype=np.uint8)))  # many zeros
    return out


@pytest.mark.parametrize("data", _payloads(), ids=lambda d: f"{len(d)}B")
def test_crc_and_cobs_match_host(lib, data):
    assert lib.bs4nn_crc16(data, len(data)) == p.crc16_ccitt_false(data)
    dst = ctypes.create_string_buffer(len(data) + len(data) // 254 + 2)
    n = lib.bs4nn_cobs_encode(data, len(data), dst)
    assert dst.raw[:n] == p.cobs_encode(data)
    buf = ctypes.create_string_buffer(p.cobs_encode(data), len(p.cobs_encode(data)))
    assert lib.bs4nn_cobs_decode(buf, len(buf.raw)) == len(data)
    assert buf.raw[: len(data)] == data


@pytest.mark.parametrize("encoded", [b"\x00", b"\x05\x01\x02", b"\x02\x01\x00\x01", b"\x03\x01"])
def test_cobs_decode_rejects_invalid(lib, encoded):
    buf = ctypes.create_string_buffer(encoded, len(encoded))
    assert lib.bs4nn_cobs_decode(buf, len(encoded)) == -1


def test_ring_fills_empties_and_wraps(lib):
    size = 512
    # head u16, tail u16, data: start both near 2^16 so the indices wrap during the test
    ring = ctypes.create_string_buffer(b"\xf0\xff\xf0\xff" + bytes(size))
    assert lib.bs4nn_ring_get(ring) == -1
    for round_ in range(3):  # the indices wrap past the buffer end and past 2^16
        for i in range(size):
            assert lib.bs4nn_ring_put(ring, (i + round_) & 0xFF) == 0
        assert lib.bs4nn_ring_put(ring, 0xAA) == -1
        assert lib.bs4nn_ring_count(ring) == size
        assert [lib.bs4nn_ring_get(ring) for _ in range(size)] == [
            (i + round_) & 0xFF for i in range(size)
        ]
        assert lib.bs4nn_ring_get(ring) == -1
    assert ring.raw[:4] == (0xFFF0 + 3 * size & 0xFFFF).to_bytes(2, "little") * 2
