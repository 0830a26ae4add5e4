"""Start the emulator of an emulated board (its `emulator` entry in boards.json) and always stop
it again: QEMU for the qemu-* boards (bs4nn.host.qemu, a pty), rp2040js for rp2040js-pico
(bs4nn.host.rp2040js, a TCP socket that SerialTransport opens as socket://HOST:PORT)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bs4nn.codegen.boards import board_info, load_boards
from bs4nn.trainer.errors import Bs4nnError


@dataclass
class RunningEmulator:
    kind: str  # "qemu" or "rp2040js"
    where: str  # the serial port to open: a pty path or a socket:// URL
    process: subprocess.Popen

    @property
    def name(self) -> str:
        """The emulator, as messages name it."""
        return "QEMU" if self.kind == "qemu" else self.kind


def emulated_boards() -> list[str]:
    return [name for name, info in load_boards().items() if "emulator" in info]


def emulator_of(board: str) -> dict:
    """The board's emulator entry; refuses a board that cannot be emulated, naming those that
    can (checked before anything is built or started)."""
    info = board_info(board)
    if "emulator" not in info:
        raise Bs4nnError(
            f"{board} cannot be emulated: bench it with --port, or choose an emulated board: "
            + ", ".join(emulated_boards())
        )
    return info["emulator"]


def _require(emulator: dict) -> None:
    if emulator["kind"] == "qemu":
        from bs4nn.host.qemu import find_qemu

        find_qemu()
    else:
        from bs4nn.host.rp2040js import find_node, node_modules

        find_node()
        node_modules()


def emulator_installed(emulator: dict) -> bool:
    try:
        _require(emulator)
    except Bs4nnError:
        return False
    return True


def require_emulator(board: str) -> None:
    """Bs4nnError saying what to install when the emulator of `board` is not there (before any
    firmware is built for it)."""
    _require(emulator_of(board))


def board_lines() -> list[str]:
    """`bs4nn boards`: a line per board."""
    rows = [("board", "core", "clock", "flash", "RAM", "emulated")]
    for name, info in load_boards().items():
        emulator = info.get("emulator")
        if emulator is None:
            how = "no (flash it, bench with --port)"
        else:
            what = emulator.get("machine", emulator["kind"])
            what = f"QEMU -M {what}" if emulator["kind"] == "qemu" else what
            how = f"yes: {what}" + ("" if emulator_installed(emulator) else " (not installed)")
        rows.append(
            (
                name,
                info["core"],
                f"{info['clock_hz'] / 1e6:g} MHz",
                f"{info['flash_bytes'] // 1024:,} KB",
                f"{info['ram_bytes'] // 1024:,} KB",
                how,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
        counter = load_boards().get(row[0], {}).get("counter")
        if counter:
            lines.append(f"    counter: {counter}")
    return lines


@contextlib.contextmanager
def running_emulator(
    board: str, fw_dir: Path, rx_baud: int | None = None
) -> Iterator[RunningEmulator]:
    """`with running_emulator(board, fw_dir) as emu:` open emu.where, the firmware make built
    in the export `fw_dir` running on the board's emulator; the emulator is stopped
    on exit, error and Ctrl-C alike. rx_baud (rp2040js only): feed the UART at this line rate
    into its 32-byte FIFO, dropping on overflow like real hardware (None: as fast as the
    firmware reads)."""
    from bs4nn.host.build import make_bin, make_elf  # numpy and jinja2: not for `bs4nn boards`

    emulator = emulator_of(board)
    if emulator["kind"] == "qemu":
        from bs4nn.host.qemu import running_qemu

        with running_qemu(make_elf(fw_dir), machine=emulator["machine"], cpu=emulator["cpu"]) as q:
            yield RunningEmulator("qemu", q.pty_path, q.process)
    elif emulator["kind"] == "rp2040js":
        from bs4nn.host.rp2040js import running_rp2040js

        with running_rp2040js(make_bin(fw_dir), rx_baud=rx_baud) as r:
            yield RunningEmulator("rp2040js", r.url, r.process)
    else:
        raise Bs4nnError(f"{board} has an unknown emulator {emulator['kind']!r} in boards.json")
