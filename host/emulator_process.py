"""An emulator as a child process: started, read until it announces where the host connects
(QEMU's pty, rp2040js's socket), and always stopped again."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable

from bs4nn.trainer.errors import Bs4nnError

START_TIMEOUT_S = 10.0  # how long an emulator may take to announce itself


def die_with_parent() -> Callable[[], None]:
    """Linux: a preexec_fn for a child (an emulator, the eembc runner, make) that then gets
    SIGTERM if this process dies without cleaning up (e.g. SIGKILL). This process can die between
    the fork and that request, which then never comes: the child sees it has another parent
    already and exits (status 143) before it runs its program."""
    parent = os.getpid()
    prctl = None
    with contextlib.suppress(Exception):  # loaded here, not in the child between fork and exec
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl

    def in_child() -> None:
        if prctl is not None:
            prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(128 + signal.SIGTERM)

    return in_child


def stop_process(process: subprocess.Popen, timeout: float = 3.0) -> None:
    """Terminate an emulator process (or another child: the eembc runner, make): SIGTERM, then
    SIGKILL if it has not ended within `timeout`. Safe to call twice."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def start_announcing(
    cmd: list[str],
    announcement: re.Pattern[str],
    *,
    name: str,
    what: str,
    log: deque,
    timeout: float,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> tuple[subprocess.Popen, str]:
    """Start `cmd` and wait until a line of its output (stdout and stderr merged) matches
    `announcement`; returns the process and the match's group 1. A thread keeps reading the
    output into `log` (and `on_line`) so that the emulator never blocks on a full pipe.
    An emulator that exits or says nothing within `timeout` is stopped and named for what
    it did (`name`, the `what` it did not announce, the command and its output's tail) in a
    Bs4nnError; one that Ctrl-C or SIGTERM interrupts is stopped too."""
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # Ctrl-C reaches us, and we stop the emulator ourselves
        preexec_fn=die_with_parent(),
    )
    found = threading.Event()
    announced: list[str] = []

    def drain() -> None:
        for line in proc.stdout:
            line = line.rstrip()
            log.append(line)
            if on_line is not None:
                on_line(line)
            m = announcement.search(line)
            if m and not announced:
                announced.append(m.group(1))
                found.set()
        found.set()  # EOF: it exited

    try:
        threading.Thread(target=drain, daemon=True, name=f"{name}-output").start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if time.monotonic() > deadline:
                break
    except BaseException:  # Ctrl-C or SIGTERM, which its session of its own does not get
        stop_process(proc)
        raise
    if announced:
        return proc, announced[0]
    try:  # its output ended: it is exiting
        status = proc.wait(timeout=2) if found.is_set() else None
    except subprocess.TimeoutExpired:
        status = None
    stop_process(proc)
    tail = "\n".join(log) or "(no output)"
    did = (
        f"did not announce {what} within {timeout:.0f} s"
        if status is None
        else f"exited with status {status} before it announced {what}"
    )
    raise Bs4nnError(f"{name} {did} (command: {' '.join(cmd)}); its output:\n{tail}")
