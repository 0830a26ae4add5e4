"""Start the rp2040js-pico board: the firmware on the RP2040 emulated by the npm package rp2040js
(Node.js), through the harness in firmware_template/boards/rp2040js-pico/harness.js, which serves
UART0 on a TCP socket; the host opens it as socket://127.0.0.1:PORT (SerialTransport).

rp2040js is installed by scripts/setup.sh (npm ci beside the harness); RP2040JS_NODE_PATH may
name another node_modules folder that holds it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bs4nn.codegen.boards import TEMPLATE_ROOT
from bs4nn.host.emulator_process import START_TIMEOUT_S, start_announcing, stop_process
from bs4nn.trainer.errors import Bs4nnError

BOARD_DIR = TEMPLATE_ROOT / "boards" / "rp2040js-pico"
HARNESS = BOARD_DIR / "harness.js"
URL_RE = re.compile(r"serving UART0 on (socket://\S+)")
OVERFLOW_RE = re.compile(r"^rx overflow:")


def node_modules() -> Path:
    """The node_modules folder that holds rp2040js, or Bs4nnError saying how to install it."""
    candidates = [Path(p) for p in os.environ.get("RP2040JS_NODE_PATH", "").split(os.pathsep) if p]
    candidates.append(BOARD_DIR / "node_modules")
    for folder in candidates:
        if (folder / "rp2040js" / "package.json").is_file():
            return folder
    raise Bs4nnError(
        "the npm package rp2040js is not installed: run scripts/setup.sh (it runs `npm ci` in "
        f"{BOARD_DIR}), or set RP2040JS_NODE_PATH to a node_modules folder that holds it"
    )


def find_node() -> str:
    path = shutil.which("node") or shutil.which("nodejs")
    if path is None:
        raise Bs4nnError("node not found on PATH: install it with `sudo apt-get install nodejs`")
    return path


@dataclass
class Rp2040jsProcess:
    process: subprocess.Popen
    url: str
    log: deque = field(default_factory=lambda: deque(maxlen=200))
    rx_overflows: int = 0  # bytes the RX FIFO dropped (--rx-baud runs)

    def stop(self, timeout: float = 3.0) -> None:
        """Terminate the emulator (SIGTERM, then SIGKILL). Safe to call twice."""
        stop_process(self.process, timeout)


def rp2040js_command(firmware_bin: Path | str, rx_baud: int | None = None) -> list[str]:
    cmd = [find_node(), str(HARNESS), str(firmware_bin)]
    if rx_baud:
        cmd += ["--rx-baud", str(int(rx_baud))]
    return cmd


def start_rp2040js(
    firmware_bin: Path | str, rx_baud: int | None = None, timeout: float = START_TIMEOUT_S
) -> Rp2040jsProcess:
    firmware_bin = Path(firmware_bin)
    if not firmware_bin.is_file():
        raise Bs4nnError(f"firmware {firmware_bin} does not exist: build it first (`bs4nn build`)")
    cmd = rp2040js_command(firmware_bin, rx_baud)
    env = dict(os.environ, NODE_PATH=str(node_modules()))
    handle = Rp2040jsProcess(None, "")

    def count_overflow(line: str) -> None:
        if OVERFLOW_RE.match(line):
            handle.rx_overflows += 1

    handle.process, handle.url = start_announcing(
        cmd,
        URL_RE,
        name="rp2040js",
        what="its socket",
        log=handle.log,
        timeout=timeout,
        env=env,
        on_line=count_overflow,
    )
    return handle


@contextlib.contextmanager
def running_rp2040js(
    firmware_bin: Path | str, rx_baud: int | None = None, timeout: float = START_TIMEOUT_S
) -> Iterator[Rp2040jsProcess]:
    handle = start_rp2040js(firmware_bin, rx_baud, timeout)
    try:
        yield handle
    finally:
        handle.stop()
