"""`bs4nn` console script: one sub-command per pipeline step.

Each package registers its own sub-commands (`register(subparsers)` in its `cli` module);
this file only assembles them and turns a Bs4nnError into a clean message and exit status 2.
Those modules import what their options show, free of numpy (`--help` should not wait for it);
a command's work is imported when it runs.
"""

import argparse
import os
import signal
import sys
import threading
from typing import NoReturn

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import reason
from bs4nn.trainer.interrupts import HELD, TERMINATING

# sub-command modules, in pipeline order
_COMMAND_MODULES = (
    "bs4nn.trainer.data_cli",
    "bs4nn.trainer.cli",
    "bs4nn.trainer.nir_cli",
    "bs4nn.codegen.cli",
    "bs4nn.host.cli",
    "bs4nn.host.eembc_cli",
    "bs4nn.demo",
    "bs4nn.trainer.paper.cli",
)


class _Parser(argparse.ArgumentParser):
    """A usage error is one line too (`bs4nn CMD: error: ...`), like every other error; the
    usage itself is in `--help`. Sub-command parsers are of the same class."""

    commands: dict[str, argparse.ArgumentParser] = {}

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        # an option the sub-command does not know is its error, not bs4nn's
        parsed, extra = self.parse_known_args(args, namespace)
        command = self.commands.get(getattr(parsed, "command", None) or "", self)
        # a second model file after an unknown option is that option's value
        strays = getattr(parsed, "model_strays", [])
        if extra:
            command.error(f"unrecognized arguments: {' '.join(extra + strays)}")
        if strays:
            command.error(
                f"the model file is given twice ({parsed.model!r} and {strays[0]!r}); give it "
                "once, first or as --model"
            )
        if getattr(parsed, "model_required", False) and parsed.model is None:
            command.error("the following arguments are required: MODEL (first, or as --model)")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(
        prog="bs4nn",
        description="Train a binarized single-spike SNN, generate C for Cortex-M, bench it.",
    )
    parser.add_argument("--version", action=_PrintVersion)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    parser.commands = dict(sub.choices)
    return parser


class _PrintVersion(argparse.Action):
    """--version: the installed distribution's version (pyproject.toml), looked up only when
    asked for (building the parser reads no file)."""

    def __init__(self, option_strings, dest, **kwargs) -> None:
        super().__init__(option_strings, argparse.SUPPRESS, nargs=0, help="print the version")

    def __call__(self, parser, namespace, values, option_string=None) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("bs4nn-edge")
        except PackageNotFoundError:  # run from a checkout that was never installed
            text = "(not installed)"
        print(f"bs4nn {text}")
        parser.exit()


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a job scheduler) or SIGHUP (the terminal closed, an ssh
    session lost) taken as Ctrl-C is: checkpoints and measured images kept, a half-made output
    folder removed, emulators stopped, locks released; the exit status is 128 + the signal
    (143, 129), as a shell reports a killed job."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame) -> NoReturn:
    if signum == signal.SIGHUP:
        _drop_hung_up_outputs()
    raise Terminated(signum)


def _drop_hung_up_outputs() -> None:
    """After a hang-up the terminal fails every write (EIO): stdout and stderr, where they are
    that terminal, go to /dev/null, so that what the interruption prints (a resume hint, the
    last line) cannot fail the clean-up. A log file or pipe keeps them."""
    devnull = None
    for fd in (1, 2):  # stdout, stderr
        try:
            os.write(fd, b"")  # 0 bytes: EIO only from a hung-up terminal
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY) if devnull is None else devnull
            os.dup2(devnull, fd)


def run_command(argv: list[str]) -> None:
    """Run one sub-command in this process (for pipelines); a failure raises Bs4nnError."""
    args = build_parser().parse_args(argv)
    status = int(args.func(args) or 0)
    if status != 0:
        raise Bs4nnError(f"`bs4nn {' '.join(argv)}` failed (exit status {status})")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # a usage error (printed, status 2) or --help (status 0)
        return int(exc.code or 0)
    except KeyboardInterrupt as exc:  # while the sub-commands' modules load
        return _interrupted(_command_word(sys.argv[1:] if argv is None else argv), exc)
    # only the main thread may set handlers; a signal ignored by whoever started us (a SIGHUP
    # under nohup) stays so
    caught = {}
    if threading.current_thread() is threading.main_thread():
        for signum in TERMINATING:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                caught[signum] = signal.signal(signum, _terminate)
    try:
        return int(args.func(args) or 0)
    except Bs4nnError as exc:
        print(f"bs4nn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # before OSError, of which it is one
        # output piped into e.g. `head`, which stopped reading: the work stops there, as on
        # Ctrl-C (what was kept is kept), with the status of a process SIGPIPE ended
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"bs4nn {args.command}: stopped: its output was closed", file=sys.stderr)
        return 128 + signal.SIGPIPE
    except OSError as exc:  # one not met where it happens: still one line, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"bs4nn {args.command}: error: {where}{reason(exc)}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # e.g. numpy's, for a network too large for this machine
        print(f"bs4nn {args.command}: error: out of memory: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(args.command, exc)
    finally:
        for signum, before in caught.items():
            signal.signal(signum, signal.SIG_DFL if before is None else before)


def console() -> NoReturn:
    """The `bs4nn` program: main(), then Ctrl-C, SIGTERM and SIGHUP ignored, for the command is
    over. Python resets their handlers early in its shutdown (which numba makes last ~0.4 s): a
    signal then ended the process with no word and the status of an interrupted run, e.g.
    after `bs4nn train` had said `saved`."""
    status = main()
    for signum in HELD:
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(status)


def _interrupted(command: str, exc: KeyboardInterrupt) -> int:
    who = f"bs4nn {command}" if command else "bs4nn"
    if isinstance(exc, Terminated):
        print(f"{who}: {TERMINATING[exc.signum]}", file=sys.stderr)
        return 128 + exc.signum
    print(f"{who}: interrupted", file=sys.stderr)
    return 130


def _command_word(argv: list[str]) -> str:
    """The sub-command of a command line not parsed yet: its first word that is no option."""
    return next((word for word in argv if not word.startswith("-")), "")


if __name__ == "__main__":
    console()
