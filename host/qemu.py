"""Start the emulated board (docs/design.md section 5) and always stop it again.

QEMU prints `char device redirected to /dev/pts/N (label serial0)` (on stdout in QEMU 7.2,
stderr in some other versions: we merge both); the host opens that pty with
bs4nn.host.transport.SerialTransport.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bs4nn.host.emulator_process import START_TIMEOUT_S, start_announcing, stop_process
from bs4nn.trainer.errors import Bs4nnError

QEMU_BINARY = "qemu-system-arm"
# the default board's machine; the others come from their boards.json entry ("emulator")
MACHINE = "mps2-an386"
CPU = "cortex-m4"
PTY_RE = re.compile(r"char device redirected to (/dev/\S+) \(label serial0\)")


def find_qemu() -> str:
    path = shutil.which(QEMU_BINARY)
    if path is None:
        raise Bs4nnError(
            f"{QEMU_BINARY} not found on PATH: install it with "
            "`sudo apt-get install qemu-system-arm` (Debian/Ubuntu), or bench a real board "
            "with --port"
        )
    return path


def qemu_command(
    elf: Path | str, qemu: str = QEMU_BINARY, machine: str = MACHINE, cpu: str = CPU
) -> list[str]:
    """The exact command of docs/design.md section 5 (for the board's machine and cpu)."""
    return [
        qemu,
        "-M",
        machine,
        "-cpu",
        cpu,
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "pty",
        "-kernel",
        str(elf),
        "-icount",
        "shift=0,align=off,sleep=on",
    ]


@dataclass
class QemuProcess:
    process: subprocess.Popen
    pty_path: str
    elf: Path
    log: deque = field(default_factory=lambda: deque(maxlen=50))

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 3.0) -> None:
        """Terminate QEMU (SIGTERM, then SIGKILL). Safe to call twice."""
        stop_process(self.process, timeout)


def start_qemu(
    elf: Path | str, timeout: float = START_TIMEOUT_S, machine: str = MACHINE, cpu: str = CPU
) -> QemuProcess:
    """Start QEMU on a firmware ELF and wait for its pty. Raises Bs4nnError on failure."""
    elf = Path(elf)
    if not elf.is_file():
        raise Bs4nnError(f"firmware {elf} does not exist: build it first (`bs4nn build DIR`)")
    cmd = qemu_command(elf, find_qemu(), machine, cpu)
    log: deque = deque(maxlen=50)
    process, pty = start_announcing(
        cmd, PTY_RE, name="QEMU", what="its serial pty", log=log, timeout=timeout
    )
    return QemuProcess(process, pty, elf, log)


@contextlib.contextmanager
def running_qemu(
    elf: Path | str, timeout: float = START_TIMEOUT_S, machine: str = MACHINE, cpu: str = CPU
) -> Iterator[QemuProcess]:
    """`with running_qemu(elf) as q:` - QEMU is stopped on exit, error and Ctrl-C alike."""
    handle = start_qemu(elf, timeout, machine, cpu)
    try:
        yield handle
    finally:
        handle.stop()
