"""The output folder of a bench, sweep or eembc: a command's own, one run at a time, and gone
again if the run never started.

`OutFolder(...).check(out)` refuses, before any work, an `out` that holds another command's
files or the user's own. `with run_folder(out) as folder:` creates `out` (and missing parents)
and takes an exclusive lock on it (a second bench, sweep or resume into the same folder is
refused with the pid of the one running); `folder.started()` marks the point from which the
folder holds results worth keeping. If the block fails before that, what this run created is
removed again.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bs4nn.host.device_record import DEVICE_NAME
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import check_output, exclusive_lock, first_missing, user_path

LOCK_NAME = ".bs4nn.lock"  # holds the pid of the run that has the folder
FIRMWARE_DIR = "firmware"  # the emulated board's export and build
# what a bench or sweep writes in its folder before its first result (kept by an interrupted
# run, e.g. the firmware built in an existing folder)
RUN_SPARE = (LOCK_NAME, FIRMWARE_DIR, DEVICE_NAME)


@dataclass(frozen=True)
class OutFolder:
    """The --out of one command: `marks` are glob patterns of what only it writes there,
    `spare` what it may hold without them."""

    command: str
    marks: tuple[str, ...]
    spare: tuple[str, ...] = ()

    def marked(self, path: Path) -> bool:
        """Whether folder `path` holds what only this command writes."""
        return any(any(path.glob(mark)) for mark in self.marks)

    def check(self, path: Path) -> None:
        """Refuse, before any work, an --out that cannot be written or a non-empty folder that
        is not this command's (its marks, or only what is spare): its files would mix with
        another command's or the user's own."""
        check_output(path, "--out", folder=True)
        if not path.is_dir() or self.marked(path):
            return
        with user_path(path, "read"):
            if all(entry.name in self.spare for entry in path.iterdir()):
                return
        raise Bs4nnError(
            f"--out {path} is a non-empty folder that is not a bs4nn {self.command} folder; "
            f"choose an empty or new folder, or the --out of an earlier `bs4nn {self.command}`"
        )


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
