"""Byte transports to the device: a real serial port, a pyserial URL or the pty of an emulated
board.

Every read takes a timeout; nothing here blocks forever. Errors a user can fix (no such port,
port busy, no permission, an unknown URL) raise Bs4nnError naming what to check.
"""

from __future__ import annotations

import errno
import io
import os
import select
from typing import Protocol
from urllib.parse import urlsplit

import serial

from bs4nn.host.defaults import DEFAULT_BAUD
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.resume_hints import go_on

WRITE_TIMEOUT_S = 5.0


class LinkClosed(Bs4nnError):
    """The other end went away (board unplugged, the emulator stopped)."""


class Transport(Protocol):
    name: str
    emulator: str | None  # the emulator whose serial port it is (QEMU, rp2040js), or None

    def write(self, data: bytes) -> None: ...

    def read(self, timeout: float) -> bytes:
        """Whatever bytes arrive within `timeout` seconds (b"" if none)."""
        ...

    def close(self) -> None: ...


class SerialTransport:
    """pyserial port (USB CDC, UART adapter), a pty, or a pyserial URL (`socket://HOST:PORT`,
    `rfc2217://HOST:PORT`, `loop://`); raw mode. Reads wait in select() where the port has a file
    descriptor (devices, ptys, sockets) and in pyserial's own timed read otherwise.
    `emulator` names the emulator whose serial port it is (None: a board's)."""

    def __init__(
        self,
        port: str,
        baudrate: int = DEFAULT_BAUD,
        exclusive: bool = True,
        emulator: str | None = None,
    ) -> None:
        self.name = port
        self.emulator = emulator
        try:
            _check_network_url(port)
            self._ser = serial.serial_for_url(
                port,
                baudrate=baudrate,
                timeout=0,
                write_timeout=WRITE_TIMEOUT_S,
                exclusive=exclusive,
            )
        # ValueError: a bad URL or baud rate; OverflowError: a baud rate beyond the port's type
        except (serial.SerialException, OSError, ValueError, OverflowError) as exc:
            raise Bs4nnError(_open_error_message(port, exc)) from exc
        try:
            self._fd: int | None = self._ser.fileno()
        except (io.UnsupportedOperation, AttributeError):  # loop://, rfc2217://
            self._fd = None

    def write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
        except serial.SerialTimeoutException as exc:
            then = how_to_go_on(self.emulator, "reset the board, then")
            raise Bs4nnError(
                f"writing to {self.name} timed out after {WRITE_TIMEOUT_S:.0f} s: the device is "
                f"not reading its serial input (is the firmware running?); {then}"
            ) from exc
        except (serial.SerialException, OSError) as exc:
            # pyserial's own text already starts "write failed: "
            detail = getattr(exc, "strerror", None) or str(exc).removeprefix("write failed: ")
            raise LinkClosed(self._closed(f"writing failed: {detail}")) from exc

    def read(self, timeout: float) -> bytes:
        if self._fd is None:
            return self._read_pyserial(timeout)
        try:
            ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
            if not ready:
                return b""
            data = os.read(self._fd, 65536)
        except OSError as exc:
            if exc.errno == errno.EINTR:
                return b""
            raise LinkClosed(self._closed(exc.strerror or str(exc))) from exc
        if not data:  # readable but empty: the other side hung up
            raise LinkClosed(self._closed("end of file"))
        return data

    def _read_pyserial(self, timeout: float) -> bytes:
        try:
            self._ser.timeout = max(0.0, timeout)
            return self._ser.read(max(1, self._ser.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise LinkClosed(self._closed(str(exc))) from exc

    def close(self) -> None:
        try:
            self._ser.close()
        except (serial.SerialException, OSError):
            pass

    def _closed(self, detail: str) -> str:
        gone = ""  # an emulator's exit is said where it is known (host.connect: its status)
        if self.emulator is None:
            gone = ": the device went away (board unplugged or reset over USB)"
        then = how_to_go_on(self.emulator, "reconnect, then")
        return f"serial link {self.name} closed ({detail}){gone}; {then}"


def _check_network_url(port: str) -> None:
    """A socket:// or rfc2217:// URL names its port; pyserial's own error without one is a
    TypeError's text."""
    parts = urlsplit(port)
    if parts.scheme not in ("socket", "rfc2217"):
        return
    try:
        number = parts.port
    except ValueError:  # not a number, or beyond 65535
        number = None
    if not number:
        raise ValueError("no port number (1 to 65535) after the host")


def how_to_go_on(emulator: str | None, on_a_board: str) -> str:
    """The end of a message about a run its device cut short (`go_on`): first `on_a_board`
    (e.g. "reconnect, then") on a board; on an emulator's port nothing, the next run starts it
    anew."""
    return go_on(on_a_board if emulator is None else f"to start {emulator} anew and go on,")


def _open_error_message(port: str, exc: Exception) -> str:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text:
        return (
            f"no serial device at {port}: check the board is plugged in and flashed, and list "
            "the ports with `ls /dev/ttyACM* /dev/ttyUSB*` (or `pio device list`); pass the "
            "right one with --port, or use the emulated board (bench: --emulate; eembc: no --port)"
        )
    # a character device that is no tty (e.g. /dev/urandom) fails at the configuration
    not_tty = "Inappropriate ioctl" in text or "Could not configure port" in text
    if code in (errno.EISDIR, errno.ENOTTY) or not_tty:
        return (
            f"{port} is not a serial port; pass the board's port (e.g. /dev/ttyACM0) with "
            "--port, or use the emulated board (bench: --emulate; eembc: no --port)"
        )
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return (
            f"permission denied opening {port}: add your user to the dialout group "
            "(`sudo usermod -aG dialout $USER`, then log out and in again)"
        )
    if code == errno.EBUSY or "lock" in text.lower() or "busy" in text.lower():
        return (
            f"serial port {port} is in use by another program: close serial monitors "
            "(screen, minicom, `pio device monitor`, the Arduino IDE) and any other bs4nn run"
        )
    if isinstance(exc, OverflowError) or "baud" in text.lower():
        return (
            f"cannot open {port} at that baud rate ({text}); give the firmware's rate with "
            f"--baud (default {DEFAULT_BAUD})"
        )
    if isinstance(exc, ValueError):
        return (
            f"cannot open {port}: {text}; give a serial device (e.g. /dev/ttyACM0) or a pyserial "
            "URL (socket://HOST:PORT, rfc2217://HOST:PORT, loop://)"
        )
    return f"cannot open serial port {port}: {text}"
