"""The firmware's own division (protocol/bs4nn_udiv.c, which replaces libgcc's on Cortex-M0)
built for the host and held to Python's divmod: the protocol's decimal digits, EEMBC scores and
timestamps, and the SysTick boards' microseconds go through it."""

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bs4nn.codegen.ccheck import CFLAGS

PROTOCOL_DIR = Path(__file__).resolve().parents[1] / "firmware_template" / "protocol"
TOP = 0xFFFFFFFF


@pytest.fixture(scope="module")
def udivmod(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    out = tmp_path_factory.mktemp("udiv") / "libudiv.so"
    subprocess.run(["gcc", *CFLAGS, "-o", str(out), str(PROTOCOL_DIR / "bs4nn_udiv.c")], check=True)
    fn = ctypes.CDLL(str(out)).bs4nn_udivmod
    fn.restype = ctypes.c_uint32
    fn.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32)]

    def call(n: int, d: int) -> tuple[int, int]:
        rem = ctypes.c_uint32(0xDEADBEEF)
        q = fn(n, d, ctypes.byref(rem))
        return q, rem.value

    return call


def _pairs():
    edges = [0, 1, 2, 3, 9, 10, 11, 125, 999, 1000, 1001, 10**6, 2**24, 2**31 - 1, 2**31, 2**31 + 1]
    edges += [TOP - 1, TOP]
    pairs = [(n, d) for n in edges for d in edges if d != 0]
    rng = np.random.default_rng(0)
    for _ in range(2000):
        n = int(rng.integers(0, 2**32, dtype=np.uint64))
        d = int(rng.integers(1, 2 ** int(rng.integers(1, 33)), dtype=np.uint64))
        pairs.append((n, d))
    return pairs


def test_udivmod_matches_python_divmod(udivmod):
    got = [(n, d, udivmod(n, d)) for n, d in _pairs()]
    wrong = [(n, d, q_r) for n, d, q_r in got if q_r != divmod(n, d)]
    assert wrong == []


@pytest.mark.parametrize(
    "n, d, expected",
    [
        (0, 10, (0, 0)),
        (9, 10, (0, 9)),
        (4294967295, 10, (429496729, 5)),
        (4294967295, 1, (4294967295, 0)),
        (4294967295, 4294967295, (1, 0)),
        (2147483648, 2147483649, (0, 2147483648)),
        (1999, 1000, (1, 999)),
    ],
)
def test_udivmod_edges(udivmod, n, d, expected):
    assert udivmod(n, d) == expected
