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
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bs4nn.codegen.render import TEMPLATE_ROOT
from bs4nn.host.qemu import _die_with_parent, stop_process
from bs4nn.trainer.errors import Bs4nnError

BOARD_DIR = TEMPLATE_ROOT / "boards" / "rp2040js-pico"
HARNESS = BOARD_DIR / "harness.js"
URL_RE = re.compile(r"serving UART0 on (socket://\S+)")
OVERFLOW_RE = re.compile(r"^rx overflow:")
START_TIMEOUT_S = 10.0


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


def available() -> bool:
    """Node.js and rp2040js are both installed."""
    try:
        find_node()
        node_modules()
    except Bs4nnError:
        return False
    return True


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
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    handle = Rp2040jsProcess(proc, "")
    found = threading.Event()

    def drain() -> None:
        for line in proc.stdout:
            line = line.rstrip()
            handle.log.append(line)
            if OVERFLOW_RE.match(line):
                handle.rx_overflows += 1
            m = URL_RE.search(line)
            if m and not handle.url:
                handle.url = m.group(1)
                found.set()
        found.set()

    threading.Thread(target=drain, daemon=True, name="rp2040js-output").start()
    deadline = time.monotonic() + timeout
    while not found.wait(0.05) and time.monotonic() < deadline:
        pass
    if not handle.url:
        handle.stop()
        tail = "\n".join(handle.log) or "(no output)"
        raise Bs4nnError(
            f"rp2040js did not announce its socket within {timeout:.0f} s "
            f"(command: {' '.join(cmd)}); its output:\n{tail}"
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
