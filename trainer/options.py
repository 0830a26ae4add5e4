"""argparse types with ranges, shared by every sub-command: a bad number is refused while the
command line is parsed, before anything is read, built, started or written.

Each type raises argparse.ArgumentTypeError; the CLI prints it as one line
(`bs4nn CMD: error: argument --limit: ...`) and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import math
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from bs4nn.trainer.semantics import LAST_STEP


def _int(text: str, least: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (counts, sizes, limits, baud rates)."""
    return _int(text, 1, "a whole number of at least 1")


def nonnegative_int(text: str) -> int:
    """A whole number >= 0 (where 0 means off or none)."""
    return _int(text, 0, "a whole number of at least 0")


def _float(text: str, what: str, *, zero_allowed: bool, most: float = math.inf) -> float:
    """A finite number from 0 (or above it) to `most`; `what` names it in the error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed) or value > most:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, thresholds, scales)."""
    return _float(text, "a finite number above 0", zero_allowed=False)


def timeout_seconds(text: str) -> float:
    """Seconds to wait: above 0 and at most a day (the OS's wait calls take no more)."""
    return _float(
        text,
        "a number of seconds above 0 and at most 86400",
        zero_allowed=False,
        most=86400.0,
    )


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (weights and margins where 0 means off)."""
    return _float(text, "a finite number of at least 0", zero_allowed=True)


def mean_step(text: str) -> float:
    """A mean decision step: a number from 0 to the last step."""
    return _float(
        text,
        f"a mean decision step from 0 to {LAST_STEP}",
        zero_allowed=True,
        most=float(LAST_STEP),
    )


def _floats(text: str, one, what: str) -> list[float]:
    parts = [v.strip() for v in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    try:
        return [one(v) for v in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_floats(text: str) -> list[float]:
    """A non-empty comma-separated list of finite numbers > 0, e.g. `0.8,1,1.2`."""
    return _floats(text, positive_float, "comma-separated finite numbers above 0, e.g. 0.8,1,1.2")


def mean_steps(text: str) -> list[float]:
    """A non-empty comma-separated list of mean decision steps above 0 and at most the last
    step."""

    def one(v: str) -> float:
        return _float(v, "", zero_allowed=False, most=float(LAST_STEP))

    return _floats(
        text, one, f"comma-separated mean decision steps above 0 and at most {LAST_STEP}"
    )


def path(text: str) -> str:
    """A non-empty path (an empty one would silently mean the current folder)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path, got ''")
    return text


def given_options(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    """Those of the options `names` (their argparse dest, default None) given on the command
    line, spelled as there: `--max-mean-step`."""
    return [f"--{name.replace('_', '-')}" for name in names if getattr(args, name) is not None]


def existing_dir(text: str) -> str:
    """A folder that exists (where data is read from: a typo must not fall back elsewhere)."""
    path(text)  # "" would be the current folder
    if not Path(text).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"no folder {text!r}; give an existing folder")
    return text


def dataset_spec(text: str) -> str:
    """mnist, fashion-mnist, or a user's own dataset: a .npz file or a folder of IDX files
    (read and checked when the command runs)."""
    from bs4nn.trainer.datasets import DATASETS
    from bs4nn.trainer.owndata import is_own_data

    if text in DATASETS:
        return text
    if is_own_data(text):
        if not Path(text).expanduser().exists():
            raise argparse.ArgumentTypeError(f"no file or folder {text!r}")
        return text
    raise argparse.ArgumentTypeError(
        f"expected {' or '.join(DATASETS)}, or a .npz file or IDX folder of your own, got {text!r}"
    )


# Set while a command runs others that go on from what they kept when it is run again
# (`bs4nn demo`): their --resume is not an option of its own.
_RERUN_RESUMES: contextvars.ContextVar[bool] = contextvars.ContextVar("rerun", default=False)
# Set inside `offer_resume`: the command line that runs goes on from what it keeps.
_RESUMABLE: contextvars.ContextVar[bool] = contextvars.ContextVar("resumable", default=False)
# Set inside `offer_rerun`: the command line that runs keeps nothing to go on from.
_RERUN: contextvars.ContextVar[bool] = contextvars.ContextVar("rerun_only", default=False)


@contextlib.contextmanager
def rerun_resumes() -> Iterator[None]:
    """Inside the block an interruption's hint is the command line as it is."""
    token = _RERUN_RESUMES.set(True)
    try:
        yield
    finally:
        _RERUN_RESUMES.reset(token)


@contextlib.contextmanager
def offer_resume(kept: Callable[[], bool]) -> Iterator[None]:
    """On Ctrl-C (or SIGTERM, or its output closed) inside the block, when `kept()` says
    results were kept: the command line that resumes them; the interruption goes on. Inside,
    the messages that say results were kept give that command line too (`resume_with`)."""
    token = _RESUMABLE.set(True)
    try:
        yield
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, SIGTERM, or its output closed
        if kept():
            print(resume_with(), file=sys.stderr)
        raise
    finally:
        _RESUMABLE.reset(token)


@contextlib.contextmanager
def offer_rerun() -> Iterator[None]:
    """For a command with no --resume, which keeps nothing measured when a device cuts it
    short (`bs4nn eembc`): inside the block, the messages of a run cut short (`go_on`) give the
    command line as it is, to run again."""
    token = _RERUN.set(True)
    try:
        yield
    finally:
        _RERUN.reset(token)


def _command_line(argv: list[str]) -> str:
    return f"bs4nn {shlex.join(argv)}"


def resume_command() -> str | None:
    """Inside `offer_resume`, the command line that goes on from what this run kept: this one
    with --resume (once), or as it is inside `rerun_resumes`. None outside (called from
    Python: there is no command line to give)."""
    if not _RESUMABLE.get():
        return None
    argv = sys.argv[1:]
    if not _RERUN_RESUMES.get():
        argv = [a for a in argv if a != "--resume"] + ["--resume"]
    return _command_line(argv)


def resume_with() -> str:
    """How to go on from the results a run kept, for the end of a message that says so."""
    command = resume_command()
    return "use --resume" if command is None else f"resume with: {command}"


def go_on(first: str = "") -> str:
    """The end of a message about a run a device cut short (it stopped answering, reset or went
    away): what the run kept and how to go on, after doing `first` (e.g. "reconnect, then")."""
    first = f"{first} " if first else ""
    if _RERUN.get():
        return f"{first}run the command again: {_command_line(sys.argv[1:])}"
    return f"results so far are kept; {first}{resume_with()}"


def start_over(kept: str | Path, how: str) -> str:
    """How to start over where a --resume cannot go on from `kept` (a checkpoint, a bench's or
    sweep's folder): `how`; inside `rerun_resumes`, whose steps give --resume themselves
    whenever `kept` is there, by removing it."""
    return f"remove {kept} to start over" if _RERUN_RESUMES.get() else how


def resume_note(does: str) -> str:
    """` (--resume DOES: COMMAND)`, said by a run that starts over what --resume would have
    kept; nothing inside `rerun_resumes`, whose steps give --resume themselves."""
    if _RERUN_RESUMES.get():
        return ""
    command = resume_command()
    return f" (--resume {does}" + (f": {command})" if command else ")")
