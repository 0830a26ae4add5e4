"""The output folder of a bench or sweep: one run at a time, and gone again if the run never
started.

`with run_folder(out) as folder:` creates `out` (and missing parents) and takes an exclusive
lock on it (a second bench, sweep or resume into the same folder is refused with the pid of the
one running); `folder.started()` marks the point from which the folder holds results worth
keeping. If the block fails before that, what this run created is removed again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import first_missing, user_path

LOCK_NAME = ".bs4nn.lock"  # holds the pid of the run that has the folder


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.has_results = False

    def started(self) -> None:
        self.has_results = True


@contextlib.contextmanager
def folder_lock(path: Path) -> Iterator[None]:
    """Exclusive lock on folder `path` for as long as the block runs (released by the kernel
    if the process dies); refused at once, naming the other pid, if another run holds it."""
    lock = path / LOCK_NAME
    while True:
        with user_path(lock, "create the lock file"):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Bs4nnError(
                f"--out {path} is in use by another bs4nn run (pid {other}); wait for it to "
                "finish, or choose another --out"
            ) from None
        try:  # the holder before us may have removed the file between our open and our lock
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still locked: no one can take a stale file
        os.close(fd)


@contextlib.contextmanager
def run_folder(path: Path) -> Iterator[RunFolder]:
    """Create and lock `path`; remove what this created if the block fails before
    `started()`. The caller has checked `path` with check_output before any work."""
    top = first_missing(path)
    with user_path(path, "create"):
        path.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(path)
    with folder_lock(path):
        try:
            yield folder
        except BaseException:
            if top is not None and not folder.has_results:
                shutil.rmtree(top, ignore_errors=True)
            raise
