"""Start the emulated board (docs/design.md section 5) and always stop it again.

QEMU prints `char device redirected to /dev/pts/N (label serial0)` (on stdout in QEMU 7.2,
stderr in some other versions: we merge both); the host opens that pty with
bs4nn.host.transport.SerialTransport.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bs4nn.trainer.errors import Bs4nnError

QEMU_BINARY = "qemu-system-arm"
# the default board's machine; the others come from their targets.json entry ("emulator")
MACHINE = "mps2-an386"
CPU = "cortex-m4"
PTY_RE = re.compile(r"char device redirected to (/dev/\S+) \(label serial0\)")
START_TIMEOUT_S = 10.0


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
    """The exact command of docs/design.md section 5 (for the target's machine and cpu)."""
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


def _die_with_parent() -> None:
    """Linux: QEMU gets SIGTERM if the host process dies without cleaning up (e.g. SIGKILL)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


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


def stop_process(process: subprocess.Popen, timeout: float = 3.0) -> None:
    """Terminate an emulator process: SIGTERM, then SIGKILL if it has not ended within
    `timeout`. Safe to call twice."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def start_qemu(
    elf: Path | str, timeout: float = START_TIMEOUT_S, machine: str = MACHINE, cpu: str = CPU
) -> QemuProcess:
    """Start QEMU on a firmware ELF and wait for its pty. Raises Bs4nnError on failure."""
    elf = Path(elf)
    if not elf.is_file():
        raise Bs4nnError(f"firmware {elf} does not exist: build it first (`bs4nn build DIR`)")
    cmd = qemu_command(elf, find_qemu(), machine, cpu)
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # Ctrl-C reaches us, and we stop QEMU ourselves
        preexec_fn=_die_with_parent,
    )
    log: deque = deque(maxlen=50)
    found = threading.Event()
    pty: list[str] = []

    def drain() -> None:  # keep reading its output so QEMU never blocks on a full pipe
        for line in proc.stdout:
            log.append(line.rstrip())
            m = PTY_RE.search(line)
            if m and not pty:
                pty.append(m.group(1))
                found.set()
        found.set()  # EOF: QEMU exited

    threading.Thread(target=drain, daemon=True, name="qemu-output").start()
    handle = QemuProcess(proc, "", elf, log)
    deadline = time.monotonic() + timeout
    while not found.wait(0.05):
        if time.monotonic() > deadline:
            break
    if not pty:
        try:  # its output ended: it is exiting
            status = proc.wait(timeout=2) if found.is_set() else None
        except subprocess.TimeoutExpired:
            status = None
        handle.stop()
        tail = "\n".join(log) or "(no output)"
        what = (
            f"did not announce its serial pty within {timeout:.0f} s"
            if status is None
            else f"exited with status {status} before it announced its serial pty"
        )
        raise Bs4nnError(f"QEMU {what} (command: {' '.join(cmd)}); its output:\n{tail}")
    handle.pty_path = pty[0]
    return handle


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
