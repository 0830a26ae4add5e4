"""The output folder of a bench, sweep or eembc: a command's own, one run at a time, and gone
again if the run never started.

`OutFolder(...).check(out)` (trainer/files.py) refuses, before any work, an `out` that holds
another command's files or the user's own. `with run_folder(out) as folder:` creates `out`
(and missing parents) and takes an exclusive lock on it (a second bench, sweep or resume into
the same folder is refused with the pid of the one running); `folder.started()` marks the
point from which the folder holds results worth keeping. If the block fails before that, what
this run created is removed again.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from bs4nn.host.device_record import DEVICE_NAME
from bs4nn.trainer.files import exclusive_lock, first_missing, staged_left, user_path

LOCK_NAME = ".bs4nn.lock"  # holds the pid of the run that has the folder
FIRMWARE_DIR = "firmware"  # the emulated board's export and build
# what a folder holds of its emulated board's firmware, also when a run was killed while it
# exported it
FIRMWARE_SPARE = (FIRMWARE_DIR, *staged_left(FIRMWARE_DIR))
# what a bench or sweep writes in its folder before its first result (kept by an interrupted
# run, e.g. the firmware built in an existing folder)
RUN_SPARE = (LOCK_NAME, *FIRMWARE_SPARE, DEVICE_NAME)


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.has_results = False

    def started(self, outdated: Iterable[str] = ()) -> None:
        """From here the folder holds this run's results; the `outdated` files in it (an
        earlier run's report and plots, which would no longer describe them) are removed."""
        self.has_results = True
        for name in outdated:
            (self.path / name).unlink(missing_ok=True)


@contextlib.contextmanager
def folder_lock(path: Path) -> Iterator[None]:
    """Exclusive lock on folder `path` for as long as the block runs."""
    with exclusive_lock(path / LOCK_NAME, "--out", path):
        yield


@contextlib.contextmanager
def run_folder(path: Path) -> Iterator[RunFolder]:
    """Create and lock `path`; remove what this created if the block fails before
    `started()`. The caller has checked `path` (OutFolder.check) before any work."""
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
