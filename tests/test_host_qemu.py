"""QEMU launcher: the design.md command, pty discovery, and QEMU always stopped.

Uses a 20-line echo program for the mps2-an386 UART (not the project firmware), so it runs
in a second and does not depend on the firmware being finished.
"""

import os
import shutil
import signal
import subprocess
import sys

import pytest
from helpers import ends, fake_program, start_refusal

from bs4nn.host import qemu
from bs4nn.host.transport import LinkClosed, SerialTransport
from bs4nn.trainer.errors import Bs4nnError

ECHO_C = r"""
#include <stdint.h>
#define UART0 0x40004000u
#define DATA (*(volatile uint32_t *)(UART0 + 0x0))
#define STATE (*(volatile uint32_t *)(UART0 + 0x4))
#define CTRL (*(volatile uint32_t *)(UART0 + 0x8))
#define BAUD (*(volatile uint32_t *)(UART0 + 0x10))
void reset(void);
__attribute__((section(".vectors"), used))
const void *vectors[2] = {(void *)0x20010000u, (void *)reset};
static void put(uint8_t c) { while (STATE & 1u) {} DATA = c; }
void reset(void) {
    BAUD = 16; CTRL = 3;
    for (;;) { if (STATE & 2u) { put((uint8_t)DATA); } }
}
"""
LINK_LD = """
MEMORY { FLASH (rx) : ORIGIN = 0x0, LENGTH = 4M }
SECTIONS { .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH }
"""

needs_tools = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="qemu-system-arm and arm-none-eabi-gcc needed",
)


@pytest.fixture(scope="module")
def echo_elf(tmp_path_factory):
    d = tmp_path_factory.mktemp("echo")
    (d / "echo.c").write_text(ECHO_C)
    (d / "link.ld").write_text(LINK_LD)
    subprocess.run(
        [
            "arm-none-eabi-gcc",
            "-mcpu=cortex-m4",
            "-mthumb",
            "-O1",
            "-nostdlib",
            "-nostartfiles",
            "-T",
            "link.ld",
            "echo.c",
            "-o",
            "echo.elf",
        ],
        cwd=d,
        check=True,
    )
    return d / "echo.elf"


def test_command_is_the_design_contract():
    assert (
        qemu.qemu_command("DIR/build/firmware.elf")
        == (
            "qemu-system-arm -M mps2-an386 -cpu cortex-m4 -display none -monitor none -serial pty "
            "-kernel DIR/build/firmware.elf -icount shift=0,align=off,sleep=on"
        ).split()
    )


def test_missing_qemu_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(Bs4nnError) as exc:
        qemu.find_qemu()
    assert str(exc.value) == (
        "qemu-system-arm not found on PATH: install it with `sudo apt-get install "
        "qemu-system-arm` (Debian/Ubuntu), or bench a real board with --port"
    )


def test_missing_elf_says_build_first(tmp_path):
    with pytest.raises(Bs4nnError) as exc:
        qemu.start_qemu(tmp_path / "firmware.elf")
    assert str(exc.value) == (
        f"firmware {tmp_path / 'firmware.elf'} does not exist: build it first (`bs4nn build DIR`)"
    )


@needs_tools
def test_echo_through_pty_and_stopped_after_error(echo_elf):
    with pytest.raises(RuntimeError, match="boom"):
        with qemu.running_qemu(echo_elf) as q:
            assert q.pty_path.startswith("/dev/pts/")
            link = SerialTransport(q.pty_path)
            link.write(bytes(range(256)))
            got = b""
            while len(got) < 256:
                chunk = link.read(2.0)
                assert chunk, "QEMU echo timed out"
                got += chunk
            assert got == bytes(range(256))
            raise RuntimeError("boom")
    assert q.process.poll() is not None  # stopped by the context manager
    with pytest.raises(LinkClosed):
        link.read(1.0)
    link.close()


@needs_tools
def test_stopped_on_keyboard_interrupt(echo_elf):
    with pytest.raises(KeyboardInterrupt):
        with qemu.running_qemu(echo_elf) as q:
            raise KeyboardInterrupt
    assert not q.alive


@pytest.mark.parametrize(
    "script, said",
    [
        ("print('qemu: machine unknown'); sys.exit(1)", "exited with status 1 before it announced"),
        ("print('booting'); sys.stdout.flush(); time.sleep(30)", "did not announce its serial pty"),
    ],
    ids=["exits", "silent"],
)
def test_a_qemu_that_gives_no_pty_is_named_for_what_it_did(tmp_path, monkeypatch, script, said):
    monkeypatch.setenv("PATH", str(fake_program(tmp_path / "bin", qemu.QEMU_BINARY, script).parent))
    message = start_refusal(qemu.start_qemu, tmp_path / "firmware.elf")
    shown = "qemu: machine unknown" if "exit" in script else "booting"
    assert message.startswith(f"QEMU {said}") and message.endswith(f"its output:\n{shown}")


def test_stopped_when_interrupted_before_it_gave_its_pty(tmp_path, monkeypatch):
    # SIGTERM (or Ctrl-C) while QEMU starts: it runs in a session of its own, so no signal
    # reaches it; it ran on until the Python process ended (a notebook, a test run)
    pid_file = tmp_path / "pid"
    script = (
        "import os, signal\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "os.kill(os.getppid(), signal.SIGTERM); time.sleep(30)"
    )
    monkeypatch.setenv("PATH", str(fake_program(tmp_path / "bin", qemu.QEMU_BINARY, script).parent))
    (tmp_path / "firmware.elf").write_bytes(b"")

    def terminate(signum, frame):  # as the CLI takes SIGTERM
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, terminate)
    try:
        with pytest.raises(KeyboardInterrupt):
            qemu.start_qemu(tmp_path / "firmware.elf", timeout=20)
    finally:
        signal.signal(signal.SIGTERM, before)
    pid = int(pid_file.read_text())
    assert ends(pid, within=0)  # stopped already


def test_killed_with_the_process_that_started_it(tmp_path):
    # SIGKILL (the OOM killer) gives no chance to stop QEMU: it ends with its parent (Linux)
    announce = "print('char device redirected to /dev/pts/99 (label serial0)', flush=True)"
    fake = fake_program(tmp_path / "bin", qemu.QEMU_BINARY, f"{announce}; time.sleep(60)")
    (tmp_path / "firmware.elf").write_bytes(b"")
    starter = (
        "import sys, time\n"
        "from bs4nn.host import qemu\n"
        "print(qemu.start_qemu(sys.argv[1]).process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    with subprocess.Popen(
        [sys.executable, "-c", starter, str(tmp_path / "firmware.elf")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as host:
        pid = int(host.stdout.readline())
        host.kill()
    assert ends(pid)


def test_a_child_whose_parent_died_before_it_ran_exits(tmp_path, monkeypatch):
    # the parent can die between the fork and the child's PR_SET_PDEATHSIG, which then never
    # comes; here the child is told that its parent is a process it does not have, as if
    # another had taken it over
    from bs4nn.host import emulator_process

    marker = tmp_path / "ran"
    monkeypatch.setattr(emulator_process.os, "getpid", lambda: 1)
    in_child = emulator_process.die_with_parent()
    monkeypatch.undo()
    child = subprocess.Popen(["touch", str(marker)], preexec_fn=in_child)
    assert child.wait(10) == 128 + signal.SIGTERM
    assert not marker.exists()  # it exited before it ran its program
    child = subprocess.Popen(["touch", str(marker)], preexec_fn=emulator_process.die_with_parent())
    assert child.wait(10) == 0 and marker.exists()  # with its own parent it runs
