"""Files and folders at paths the user gave: checked before any work, written so that a crash,
a Ctrl-C or an error never leaves half of one behind, and every OS error on them turned into
one Bs4nnError naming the path and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.interrupts import signals_held

CHECK_PATH = "check the path, or choose another"
CHOOSE_PATH = "choose another path"

# What reading a damaged zip archive (a model file, a checkpoint, an .npz) raises besides
# OSError: a bad structure or CRC, bad deflate data, an entry cut short, and RuntimeError (of
# which NotImplementedError is one) for header bits that claim encryption, a compression
# method or a zip version that zipfile does not read.
ZIP_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError)
# a write that found the disk, or the user's quota on it, full: what to do instead of checking
# the path
FREE_SPACE = {errno.ENOSPC: "free space on the disk", errno.EDQUOT: "free space within your quota"}


@contextlib.contextmanager
def user_path(
    path: str | Path, doing: str, advice: str | None = None, choose: str = CHOOSE_PATH
) -> Iterator[None]:
    """`with user_path(p, "write"):` - an OSError inside becomes `cannot write p: reason` (see
    `reason` for `advice` and `choose`)."""
    try:
        yield
    except OSError as exc:
        raise Bs4nnError(f"cannot {doing} {path}: {reason(exc, advice, choose)}") from None


def reason(exc: OSError, advice: str | None = None, choose: str = CHOOSE_PATH) -> str:
    """`strerror; advice`: what an OSError on a user path says. Without `advice`: check the
    path, or `choose` (how to give another path), or, when the disk or the quota is full, free
    space, or `choose`."""
    if advice is None and exc.errno in FREE_SPACE:
        advice = f"{FREE_SPACE[exc.errno]}, or {choose}"
    elif advice is None:  # not "choose another path" after "the path"
        advice = CHECK_PATH if choose == CHOOSE_PATH else f"check the path, or {choose}"
    return f"{exc.strerror or exc}; {advice}"


def check_input_file(path: Path, what: str, missing: str = "") -> None:
    """Refuse an input `path` that is not a regular file: `what` names it ("model file");
    `missing` is what the message adds when nothing is there."""
    if path.is_dir():
        raise Bs4nnError(f"{what} {path} is a folder; give the {what} itself")
    if path.exists() and not path.is_file():
        raise Bs4nnError(f"{what} {path} is not a regular file; give the {what}")
    if not path.is_file():
        raise Bs4nnError(f"{what} {path} not found{missing}")


def check_output(path: str | Path, option: str, folder: bool, choose: str = CHOOSE_PATH) -> None:
    """Refuse, before any work, an output `path` (a folder, or a file when folder=False) that
    could not be written: an existing thing of the other kind, an ancestor that is a file, a
    place where no file can be created (all the refusals of a folder, and the last two of a
    file, end with `choose`: how to give another path). Creates nothing."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise Bs4nnError(f"{option} {path} is a file, not a folder; {choose}")
    if not folder and (path.is_dir() or path.name in ("", ".", "..")):
        raise Bs4nnError(f"{option} {path} is a folder; give a file name")
    if not folder and path.exists() and not path.is_file():  # a rename would replace it
        raise Bs4nnError(
            f"{option} {path} is not a regular file (a device or a pipe); give a file name"
        )
    base = path if folder else path.parent
    existing = next(p for p in (base, *base.parents) if p.exists())
    if not existing.is_dir():
        raise Bs4nnError(f"{option} {path}: {existing} is not a folder; {choose}")
    problem = write_problem(existing)
    if problem is not None:
        raise Bs4nnError(f"{option} {path}: cannot write in {existing} ({problem}); {choose}")


def check_replaced_file(path: str | Path, kind: str, is_kind: Callable[[Path], bool]) -> None:
    """Refuse an --out that is an existing file but no `kind` (a dataset, a plot, another
    command's output): saving would replace it. A file of its kind is replaced, as a run again
    does."""
    path = Path(path)
    if path.is_file() and not is_kind(path):
        raise Bs4nnError(
            f"--out {path} is a file but no {kind}, which saving would replace; give another "
            "file name"
        )


def folder_choices(command: str, option: str = "--out") -> str:
    """What the output folder of `bs4nn command` may be: the words of its refusal
    (`OutFolder.check`) and of the option's --help."""
    return f"an empty or new folder, or the {option} of an earlier `bs4nn {command}`"


@dataclass(frozen=True)
class OutFolder:
    """The output folder of one command, given with command-line option `option`: `marks` are
    glob patterns of what only it writes there, `spare` those of what it may hold without them
    (what an interrupted run leaves before its first mark; so are the temp files a killed
    `write_atomic` of one of them leaves)."""

    command: str
    marks: tuple[str, ...]
    spare: tuple[str, ...] = ()
    option: str = "--out"

    def marked(self, path: Path) -> bool:
        """Whether folder `path` holds what only this command writes."""
        return any(any(path.glob(mark)) for mark in self.marks)

    def check(self, path: Path) -> None:
        """Refuse, before any work, a folder that cannot be written or a non-empty folder that
        is not this command's (its marks, or only what is spare): its files would mix with
        another command's or the user's own."""
        check_output(path, self.option, folder=True)
        if not path.is_dir() or self.marked(path):
            return
        with user_path(path, "read"):
            names = [entry.name for entry in path.iterdir()]
        own = (*self.marks, *self.spare)
        spare = (*self.spare, *(left_parts(pattern) for pattern in own))
        if all(any(fnmatchcase(name, pattern) for pattern in spare) for name in names):
            return
        raise Bs4nnError(
            f"{self.option} {path} is a non-empty folder that is not a bs4nn {self.command} "
            f"folder; choose {folder_choices(self.command, self.option)}"
        )


def write_problem(folder: Path) -> str | None:
    """Why no file can be created in `folder` (None: one can). The only sure test
    (permissions, read-only or virtual file systems) is to try it."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".bs4nn-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def check_not_input(out: str | Path, source: str | Path, what: str, result: str) -> None:
    """Refuse an output file that is the input itself (writing it would destroy the input):
    the same path, or another name for the same file."""
    out, source = Path(out), Path(source)
    same = out.exists() and source.exists() and os.path.samefile(out, source)
    if same or out.resolve() == source.resolve():
        raise Bs4nnError(f"--out is the input {what}; give another file for the {result}")


def first_missing(path: Path) -> Path | None:
    """The topmost folder that creating `path` (with its parents) would create; None if it
    exists: what to remove to leave nothing behind."""
    top = None
    for p in (path, *path.parents):
        if p.exists():
            break
        top = p
    return top


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder, then rename: a reader never sees half a file. The temp
    file is locked until renamed, so that `remove_left_parts` tells it from one a killed
    process left; those that killed writes of `path` left (SIGKILL, the OOM killer: of a
    checkpoint, a model, a record, a plot) are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_left_parts(path)
    fd, tmp = _locked_temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _locked_temp_file(path: Path) -> tuple[int, str]:
    """A new temp file beside `path`, locked: (its descriptor, its name). mkstemp creates it
    unlocked, so a `remove_left_parts` running at that moment may take it for a killed
    process's and remove it before it is locked (a cleanup holding its lock makes us wait
    until it has). Once we hold the lock no cleanup removes it: if its name still names it
    then, it is ours to keep, else a new one is made. (Leaving young files alone would instead
    guess how long a process may stall between creating and locking.)"""
    while True:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: no lock, and no cleanup removes it
            return fd, tmp
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return fd, tmp
        os.close(fd)  # removed by a cleanup before it was locked


def left_parts(name: str) -> str:
    """The glob pattern of the temp files a killed `write_atomic` leaves beside a file named
    `name` (or, for a glob pattern, beside those it matches), and of the temp folder a killed
    `staged_dir` leaves beside a folder so named."""
    return f".{name}.*.part"


def _left_siblings(path: Path, suffix: str) -> Iterator[Path]:
    """The entries beside `path` named as mkstemp and mkdtemp name the temp siblings of
    `write_atomic` and `staged_dir`: `.NAME.<random>.SUFFIX`."""
    left = re.compile(rf"\.{re.escape(path.name)}\.[^.]+\.{re.escape(suffix)}")
    if path.parent.is_dir():
        yield from (e for e in path.parent.iterdir() if left.fullmatch(e.name))


def remove_left_parts(path: Path) -> None:
    """Remove the temp files of `write_atomic(path, ...)` that a killed process left beside
    `path` (unlocked; those of a write under way are locked, and kept, and so are another
    user's that we may not open or remove, e.g. in /tmp)."""
    for entry in _left_siblings(path, "part"):
        try:
            fd = os.open(entry, os.O_RDONLY)
        except (FileNotFoundError, PermissionError):  # renamed or removed since; not ours
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # locked by a write under way (or a file system without locks)
                continue
            with user_path(entry, "remove"), contextlib.suppress(PermissionError):
                entry.unlink(missing_ok=True)
        finally:
            os.close(fd)


def write_json(path: Path, obj, indent: int = 2) -> None:
    """`obj` as JSON at `path`, whole or not at all (an earlier file stays as it was); an
    OSError names the path."""
    with user_path(path, "write"):
        write_atomic(path, (json.dumps(obj, indent=indent) + "\n").encode())


def staged_part(name: str) -> str:
    """The name of the temporary file `staged_file` fills for a file named `name` (for a glob
    pattern, the pattern of theirs); a killed process leaves it."""
    return f".{name}.part"


@contextlib.contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to write; renamed to `path` when the block succeeds,
    removed when it fails."""
    tmp = path.with_name(staged_part(path.name))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staged_dir(path: Path, drop: Collection[str] = (), option: str = "--out") -> Iterator[Path]:
    """Yield a new empty temporary sibling of folder `path` to fill. When the block succeeds its
    entries take the place of the same-named ones of `path` (created if missing; an existing
    folder keeps its other entries, e.g. a build, and its inode, so it may be the current one)
    and those of `path` named in `drop` are removed, all of it or, if that fails, none; when
    the block fails it is removed, and so are the parents made for it. What was replaced is
    removed last, Ctrl-C no longer held (one then leaves it in a `.old` sibling). One run at a
    time stages `path` (a lock beside it; another is refused, naming `option`, the command
    line's option for `path`), so the `.part` and `.old` siblings an earlier run left (killed,
    or cut short while removing) are its own leftovers: they are removed."""
    path = Path(os.path.abspath(path))
    top = first_missing(path.parent)
    with user_path(path, "create"):
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with lock_beside(path, option):
            _remove_left(path, "part")
            with user_path(path, "create"):
                tmp = Path(
                    tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
                )
                os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual mode
            placed = False
            try:
                yield tmp
                # the renames are quick: a Ctrl-C or SIGTERM waits for them, never falls
                # between two
                with signals_held(), user_path(path, "write"):
                    _put_in_place(tmp, path, drop)
                    placed = True
            except BaseException:
                if not placed:  # (a signal held while placing comes out after it: the new stay)
                    shutil.rmtree(tmp, ignore_errors=True)
                raise
            _remove_left(path, "old")
    except BaseException:
        if top is not None and not path.exists():
            shutil.rmtree(top, ignore_errors=True)
        raise


def staged_left(name: str) -> tuple[str, ...]:
    """The glob patterns of what `staged_dir` leaves beside a folder named `name` when killed:
    its lock, its temporary folder and what it moved aside (the next staged_dir removes
    them)."""
    return (lock_name(name), left_parts(name), f".{name}.*.old")


def _put_in_place(tmp: Path, path: Path, drop: Collection[str]) -> None:
    """Folder `tmp` becomes `path`, or, if `path` exists, its entries replace those of the same
    name there and the entries named in `drop` go (all moved aside into a `.old` sibling, left
    for `_remove_left`); if a rename fails, what was moved goes back."""
    if not path.exists():
        tmp.rename(path)
        return
    old = tmp.with_suffix(".old")
    old.mkdir()
    names = [entry.name for entry in tmp.iterdir()]
    try:
        for name in drop:
            if name not in names and os.path.lexists(path / name):
                (path / name).rename(old / name)
        for name in names:
            if os.path.lexists(path / name):
                (path / name).rename(old / name)
            (tmp / name).rename(path / name)
    except BaseException:
        for name in names:
            if not os.path.lexists(tmp / name):  # the new one was placed
                (path / name).rename(tmp / name)
        for entry in old.iterdir():
            entry.rename(path / entry.name)
        old.rmdir()
        raise
    tmp.rmdir()


def _remove_left(path: Path, suffix: str) -> None:
    """Remove the siblings of folder `path` that staged_dir names `.NAME.*.part` (its temporary
    folder) or `.NAME.*.old` (what `_put_in_place` moved aside): the one just made, or those
    an earlier run left (killed, or Ctrl-C while removing: they may be large, e.g. another
    board's whole build)."""
    for entry in _left_siblings(path, suffix):
        if entry.is_dir():
            with user_path(entry, "remove"):
                shutil.rmtree(entry)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def lock_name(name: str) -> str:
    """The lock beside a file or folder named `name` that one run at a time holds while it
    writes it (`file_lock`, `staged_dir`, a firmware build); a killed run leaves it, unlocked:
    harmless."""
    return f".{name}.lock"


def lock_beside(path: Path, option: str) -> contextlib.AbstractContextManager[None]:
    """The exclusive lock (`lock_name`) of the one run at a time that writes file or folder
    `path` (also `.`), given with command-line option `option`."""
    whole = Path(os.path.abspath(path))
    return exclusive_lock(whole.with_name(lock_name(whole.name)), option, Path(path))


@contextlib.contextmanager
def exclusive_lock(lock: Path, option: str, target: Path) -> Iterator[None]:
    """Exclusive lock through file `lock` (holding our pid) for as long as the block runs
    (released by the kernel if the process dies); refused at once, naming the other pid, if
    another run holds it. It guards output `target`, given with command-line option `option`."""
    while True:
        with user_path(lock, "create the lock file"):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Bs4nnError(
                f"{option} {target} is in use by another bs4nn run (pid {other}); wait for it "
                f"to finish, or choose another {option}"
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
def made_for(folder: Path) -> Iterator[None]:
    """The folders the block makes for `folder` (it and its missing parents) are removed again
    when it ends with no file in them: a failed write leaves no empty folders behind."""
    top = first_missing(Path(folder))
    try:
        yield
    finally:
        if top is not None and not any(p.is_file() for p in top.rglob("*")):
            shutil.rmtree(top, ignore_errors=True)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """One run at a time writing file `path` (and its checkpoint): the lock is `.NAME.lock`
    beside it. Folders made for it are removed again if nothing was written into them."""
    path = Path(path)
    with made_for(path.parent):
        with user_path(path.parent, "create"):
            path.parent.mkdir(parents=True, exist_ok=True)
        with lock_beside(path, "--out"):
            yield
