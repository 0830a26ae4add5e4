"""A handshaken connection to a board: on a serial port, or on an emulated board whose
firmware is built (or reused) and whose emulator is started here and always stopped."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bs4nn.codegen.intmodel import IntModel
from bs4nn.host.client import DEFAULT_TIMEOUT_S, Device
from bs4nn.host.device_record import refuse_other_board, refuse_other_device
from bs4nn.host.emulate import EMULATED_TARGET, require_emulator, running_emulator
from bs4nn.host.firmware import prepare_emulated_firmware
from bs4nn.host.transport import DEFAULT_BAUD, LinkClosed, SerialTransport
from bs4nn.trainer.model import Model

# two requests in flight: the next image arrives in the device's 512-byte RX ring while it
# computes; more only queue bytes in the pty (the emulated UART moves ~30 kB/s either way)
DEFAULT_WINDOW = 2


@dataclass
class Connection:
    device: Device
    kind: str  # "serial" or "qemu"
    where: str  # port or pty
    firmware: dict | None = None  # build figures when we built it


def load_model(model_path: str | Path) -> tuple[Model, IntModel]:
    model = Model.load(model_path)
    return model, IntModel.from_model(model, source=str(model_path))


@contextlib.contextmanager
def connect(
    intmodel: IntModel,
    *,
    port: str | None,
    out_dir: Path,
    window: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    quiet: bool = False,
    baud: int = DEFAULT_BAUD,
    board: str = EMULATED_TARGET,
    resuming: str | None = None,
) -> Iterator[Connection]:
    """A handshaken Device on `port`, or on the emulated `board` started (and always stopped)
    here. `resuming` names the rows in out_dir a --resume goes on from: a device other than
    the one they were measured on is refused (an emulated board before its firmware is
    built)."""

    def handshake(dev: Device) -> None:
        dev.handshake(intmodel.model_hash)
        if resuming is not None:
            refuse_other_device(out_dir, dev.info, resuming)

    if port is not None:
        link = SerialTransport(port, baudrate=baud)
        try:
            dev = Device(link, timeout=timeout, window=window or DEFAULT_WINDOW)
            handshake(dev)
            yield Connection(dev, "serial", port)
        finally:
            link.close()
        return
    if resuming is not None:
        refuse_other_board(out_dir, board, resuming)
    require_emulator(board)  # no firmware is built for a board that cannot be started
    firmware = prepare_emulated_firmware(intmodel, out_dir / "firmware", quiet=quiet, target=board)
    with running_emulator(board, Path(out_dir) / "firmware") as emu:
        link = SerialTransport(emu.where)
        name = "QEMU" if emu.kind == "qemu" else emu.kind
        try:
            dev = Device(
                link,
                timeout=timeout,
                window=window or DEFAULT_WINDOW,
                restart_hint=f"use --resume (it starts {name} anew)",
            )
            try:
                handshake(dev)
                yield Connection(dev, emu.kind, emu.where, firmware)
            except LinkClosed as exc:
                try:  # the pty closes a moment before the process is reaped
                    emu.process.wait(1.0)
                except subprocess.TimeoutExpired:
                    raise exc from None
                raise LinkClosed(
                    f"{name} exited (status {emu.process.returncode}) during the run: {exc}"
                ) from exc
        finally:
            link.close()
