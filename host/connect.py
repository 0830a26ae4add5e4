"""A handshaken connection to a board: on a serial port, or on an emulated board whose
firmware is built (or reused) and whose emulator is started here and always stopped."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bs4nn.codegen.boards import DEFAULT_BOARD
from bs4nn.codegen.intmodel import IntModel
from bs4nn.host.client import Device
from bs4nn.host.defaults import DEFAULT_BAUD, DEFAULT_TIMEOUT_S, DEFAULT_WINDOW
from bs4nn.host.device_record import refuse_other_board, refuse_other_device
from bs4nn.host.emulate import require_emulator, running_emulator
from bs4nn.host.firmware import prepare_emulated_firmware
from bs4nn.host.outdir import FIRMWARE_DIR
from bs4nn.host.transport import LinkClosed, SerialTransport
from bs4nn.trainer.model import Model


@dataclass(frozen=True)
class DeviceLink:
    """Which device and how to talk to it: a board on the serial `port`, or (port None) the
    emulated `board`, whose firmware is built and whose emulator is started by `connect`."""

    port: str | None = None
    board: str = DEFAULT_BOARD
    baud: int = DEFAULT_BAUD  # of the port's serial link
    window: int = DEFAULT_WINDOW  # requests in flight
    timeout: float = DEFAULT_TIMEOUT_S  # seconds for each reply


DEFAULT_LINK = DeviceLink()  # the default emulated board, default settings


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
    link: DeviceLink,
    *,
    out_dir: Path,
    quiet: bool = False,
    resuming: str | None = None,
) -> Iterator[Connection]:
    """A handshaken Device on `link`'s port, or on its emulated board started (and always
    stopped) here. `resuming` names the rows in out_dir a --resume goes on from: a device other than
    the one they were measured on is refused (an emulated board before its firmware is
    built)."""

    def handshake(dev: Device) -> None:
        dev.handshake(intmodel.model_hash)
        if resuming is not None:
            refuse_other_device(out_dir, dev.info, resuming)

    if link.port is not None:
        serial = SerialTransport(link.port, baudrate=link.baud)
        try:
            dev = Device(serial, timeout=link.timeout, window=link.window)
            handshake(dev)
            yield Connection(dev, "serial", link.port)
        finally:
            serial.close()
        return
    board = link.board
    if resuming is not None:
        refuse_other_board(out_dir, board, resuming)
    require_emulator(board)  # no firmware is built for a board that cannot be started
    fw_dir = Path(out_dir) / FIRMWARE_DIR
    firmware = prepare_emulated_firmware(intmodel, fw_dir, quiet=quiet, board=board)
    with running_emulator(board, fw_dir) as emu:
        serial = SerialTransport(emu.where, emulator=emu.name)
        try:
            dev = Device(serial, timeout=link.timeout, window=link.window)
            try:
                handshake(dev)
                yield Connection(dev, emu.kind, emu.where, firmware)
            except LinkClosed as exc:
                try:  # the pty closes a moment before the process is reaped
                    emu.process.wait(1.0)
                except subprocess.TimeoutExpired:
                    raise exc from None
                raise LinkClosed(
                    f"{emu.name} exited (status {emu.process.returncode}) during the run: {exc}"
                ) from exc
        finally:
            serial.close()
