"""Serial transport over a pty pair, and the messages for ports a user got wrong."""

import errno
import os

import pytest
import serial
from helpers import whole

from bs4nn.host.transport import LinkClosed, SerialTransport, _open_error_message
from bs4nn.trainer.errors import Bs4nnError


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    yield master, path
    try:
        os.close(master)
    except OSError:
        pass


def test_bytes_pass_unchanged_both_ways(pty_pair):
    master, path = pty_pair
    t = SerialTransport(path)
    try:
        payload = bytes(range(256))  # 0x00, \n, \r, ^C, ^S must not be touched (raw mode)
        t.write(payload)
        got = b""
        while len(got) < 256:
            got += os.read(master, 4096)
        assert got == payload
        os.write(master, payload)
        got = b""
        while len(got) < 256:
            chunk = t.read(1.0)
            assert chunk, "timed out"
            got += chunk
        assert got == payload
    finally:
        t.close()


def test_read_times_out_with_empty_bytes(pty_pair):
    _, path = pty_pair
    t = SerialTransport(path)
    try:
        assert t.read(0.05) == b""
    finally:
        t.close()


@pytest.mark.parametrize(
    ("emulator", "then"),
    [
        (
            None,
            ": the device went away (board unplugged or reset over USB); results so far are "
            "kept; reconnect, then use --resume",
        ),
        # no board to reconnect: the next run starts the emulator anew
        ("QEMU", "; results so far are kept; to start QEMU anew and go on, use --resume"),
    ],
    ids=["board", "emulator"],
)
def test_other_end_closing_raises_link_closed(pty_pair, emulator, then):
    master, path = pty_pair
    t = SerialTransport(path, emulator=emulator)
    try:
        os.close(master)
        with pytest.raises(LinkClosed) as exc:
            t.read(1.0)
    finally:
        t.close()
    assert str(exc.value) == f"serial link {path} closed (end of file){then}"


@pytest.mark.parametrize(
    ("emulator", "then"),
    [
        (None, "results so far are kept; reset the board, then use --resume"),
        # the emulator has no reset button: the next run starts it anew
        ("QEMU", "results so far are kept; to start QEMU anew and go on, use --resume"),
    ],
    ids=["board", "emulator"],
)
def test_a_write_that_times_out_says_how_to_go_on(pty_pair, emulator, then):
    _, path = pty_pair
    t = SerialTransport(path, emulator=emulator)

    def not_read(data):
        raise serial.SerialTimeoutException("Write timeout")

    try:
        t._ser.write = not_read
        with pytest.raises(Bs4nnError) as exc:
            t.write(b"x")
    finally:
        t.close()
    assert str(exc.value) == (
        f"writing to {path} timed out after 5 s: the device is not reading its serial input "
        f"(is the firmware running?); {then}"
    )


def test_a_write_that_fails_says_so_once(pty_pair):
    """pyserial's text already starts "write failed: "; the message said it twice."""
    _, path = pty_pair
    t = SerialTransport(path)

    def broken(data):
        raise serial.SerialException("write failed: [Errno 5] Input/output error")

    try:
        t._ser.write = broken
        with pytest.raises(LinkClosed) as exc:
            t.write(b"x")
    finally:
        t.close()
    assert str(exc.value) == (
        f"serial link {path} closed (writing failed: [Errno 5] Input/output error): the device "
        "went away (board unplugged or reset over USB); results so far are kept; reconnect, "
        "then use --resume"
    )


def test_missing_port_message():
    with pytest.raises(Bs4nnError) as exc:
        SerialTransport("/dev/ttyACM_bs4nn_missing")
    assert str(exc.value) == (
        "no serial device at /dev/ttyACM_bs4nn_missing: check the board is plugged in and "
        "flashed, and list the ports with `ls /dev/ttyACM* /dev/ttyUSB*` (or `pio device list`); "
        "pass the right one with --port, or use the emulated board (bench: --emulate; eembc: no "
        "--port)"
    )


def test_port_in_use_message(pty_pair):
    _, path = pty_pair
    first = SerialTransport(path)
    try:
        with pytest.raises(Bs4nnError) as exc:
            SerialTransport(path)
        assert str(exc.value).startswith(f"serial port {path} is in use by another program")
    finally:
        first.close()


def test_permission_message():
    exc = serial.SerialException(errno.EACCES, "could not open port /dev/ttyACM0: denied")
    assert _open_error_message("/dev/ttyACM0", exc) == (
        "permission denied opening /dev/ttyACM0: add your user to the dialout group "
        "(`sudo usermod -aG dialout $USER`, then log out and in again)"
    )


def test_pyserial_urls_are_ports():
    """loop:// (no file descriptor: pyserial's timed read) and socket:// (select on the socket)."""
    import socket
    import threading

    t = SerialTransport("loop://")
    try:
        t.write(b"\x00bs4nn\n")
        assert t.read(1.0) == b"\x00bs4nn\n"
        assert t.read(0.05) == b""
    finally:
        t.close()
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def echo_once():
            conn, _ = server.accept()
            with conn:
                conn.sendall(conn.recv(64)[::-1])

        peer = threading.Thread(target=echo_once)
        peer.start()
        t = SerialTransport(f"socket://127.0.0.1:{port}")
        try:
            t.write(b"abc")
            got = b""
            while len(got) < 3:
                chunk = t.read(2.0)
                assert chunk, "timed out"
                got += chunk
            assert got == b"cba"
            peer.join()
            message = (
                f"serial link socket://127.0.0.1:{port} closed (end of file): the device went "
                "away (board unplugged or reset over USB); results so far are kept; reconnect, "
                "then use --resume"
            )
            with pytest.raises(LinkClosed, match=whole(message)):
                t.read(1.0)
        finally:
            t.close()


def test_unknown_url_message():
    with pytest.raises(Bs4nnError) as exc:
        SerialTransport("foo://board")
    assert str(exc.value) == (
        "cannot open foo://board: invalid URL, protocol 'foo' not known; give a serial device "
        "(e.g. /dev/ttyACM0) or a pyserial URL (socket://HOST:PORT, rfc2217://HOST:PORT, loop://)"
    )


@pytest.mark.parametrize(
    "url",
    [
        "socket://127.0.0.1",
        "socket://127.0.0.1:",
        "rfc2217://board",
        "socket://host:abc",
        "socket://host:99999",
    ],
)
def test_a_network_url_without_a_port_number_says_so(url):
    # pyserial's own words were "'<=' not supported between instances of 'int' and 'NoneType'"
    with pytest.raises(Bs4nnError) as exc:
        SerialTransport(url)
    assert str(exc.value) == (
        f"cannot open {url}: no port number (1 to 65535) after the host; give a serial device "
        "(e.g. /dev/ttyACM0) or a pyserial URL (socket://HOST:PORT, rfc2217://HOST:PORT, loop://)"
    )
