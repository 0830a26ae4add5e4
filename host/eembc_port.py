"""Run the MLPerf Tiny runner's own main.py, unmodified, with the emulated board visible to it.

The runner's port discovery keeps only serial ports that report a USB vendor ID, so a QEMU pty
is invisible to it. This launcher (run as a child process by `bs4nn eembc`) wraps pyserial's
port listing in its own process to add the pty with the VID:PID of the runner's devices file,
then runs main.py as `__main__` with the runner's folder first on sys.path:

    python -m bs4nn.host.eembc_port PTY VID:PID RUNNER/main.py [runner arguments ...]
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from serial.tools import list_ports, list_ports_common


def emulated_port(pty: str, vid: int, pid: int) -> list_ports_common.ListPortInfo:
    port = list_ports_common.ListPortInfo(pty, skip_link_detection=True)
    port.vid, port.pid = vid, pid
    port.description = "bs4nn emulated board (QEMU)"
    port.hwid = f"USB VID:PID={vid:04X}:{pid:04X}"
    return port


def add_port(port: list_ports_common.ListPortInfo) -> None:
    """From now on, pyserial's list_ports.comports() lists `port` too."""
    listing = list_ports.comports

    def comports(include_links: bool = False) -> list:
        return [*listing(include_links), port]

    list_ports.comports = comports


def main(argv: list[str]) -> None:
    pty, usb, main_py, *runner_args = argv
    vid, pid = (int(v, 16) for v in usb.split(":"))
    add_port(emulated_port(pty, vid, pid))
    sys.path.insert(0, str(Path(main_py).parent))
    sys.argv = [main_py, *runner_args]
    runpy.run_path(main_py, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
