"""How a command that was cut short tells the user to go on: the command line that resumes
it (`offer_resume`), that runs it again (`offer_rerun`, a command without --resume, or one cut
short before it kept anything), or what to remove to start over; inside `bs4nn demo` and
`bs4nn paper` (`rerun_resumes`), whose steps give --resume themselves, the command line as it
is.

The command lines are given only where there is one: called from Python, a message says
"use --resume" when results were kept and "run it again" when nothing was (a bench or a sweep
tells what it keeps with `keeps`, however it is called; a device's first handshake that it
measured nothing, `nothing_measured_yet`).
"""

from __future__ import annotations

import contextlib
import contextvars
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

# Set while a command runs others that go on from what they kept when it is run again
# (`bs4nn demo`): their --resume is not an option of its own.
_RERUN_RESUMES: contextvars.ContextVar[bool] = contextvars.ContextVar("rerun", default=False)
# Set inside `offer_resume`: the command line that runs goes on from what it keeps.
_OFFERED: contextvars.ContextVar[bool] = contextvars.ContextVar("offered", default=False)
# Set inside `keeps` (and `offer_resume`): whether the run kept anything yet.
_KEPT: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "kept", default=None
)
# Set inside `offer_rerun`, whose command keeps nothing to go on from: how to run it again.
_RERUN: contextvars.ContextVar[str | None] = contextvars.ContextVar("rerun_only", default=None)
_RUN_IT_AGAIN = "run it again"  # where there is no command line to give


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
    the messages that say results were kept give that command line too (`resume_with`), and
    those of a run cut short (`go_on`) say so only when `kept()`."""
    token = _OFFERED.set(True)
    try:
        with keeps(kept):
            yield
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, SIGTERM, or its output closed
        if kept():
            print(resume_with(), file=sys.stderr)
        raise
    finally:
        _OFFERED.reset(token)


@contextlib.contextmanager
def keeps(kept: Callable[[], bool]) -> Iterator[None]:
    """Inside the block the messages of a run cut short (`go_on`) say it kept results only
    when `kept()`, with or without a command line."""
    token = _KEPT.set(kept)
    try:
        yield
    finally:
        _KEPT.reset(token)


@contextlib.contextmanager
def nothing_measured_yet() -> Iterator[None]:
    """Inside the block (a device's first handshake) nothing was measured: the messages of a
    run cut short (`go_on`) say nothing was kept, unless a run around it tells what it keeps
    (`keeps`: a bench or sweep resumed)."""
    if _KEPT.get() is not None:
        yield
    else:
        with keeps(lambda: False):
            yield


@contextlib.contextmanager
def offer_rerun(command_line: bool = True) -> Iterator[None]:
    """For a command with no --resume, which keeps nothing measured when a device cuts it
    short (`bs4nn eembc`): inside the block, the messages of a run cut short (`go_on`) give the
    command line as it is, to run again; without `command_line` (a script outside bs4nn, e.g.
    bench/kernels.py) they say to run it again."""
    token = _RERUN.set(_run_again() if command_line else _RUN_IT_AGAIN)
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
    if not _OFFERED.get():
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
    rerun = _RERUN.get()
    if rerun is not None:
        return f"{first}{rerun}"
    kept = _KEPT.get()
    if kept is not None and not kept():
        again = _run_again() if _OFFERED.get() else _RUN_IT_AGAIN
        return f"nothing was kept; {first}{again}"
    return f"results so far are kept; {first}{resume_with()}"


def _run_again() -> str:
    return f"run the command again: {_command_line(sys.argv[1:])}"


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
