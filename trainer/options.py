"""argparse types with ranges, shared by every sub-command: a bad number is refused while the
command line is parsed, before anything is read, built, started or written.

Each type raises argparse.ArgumentTypeError; the CLI prints it as one line
(`bs4nn CMD: error: argument --limit: ...`) and exits 2.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bs4nn.trainer.presets import DATASETS, is_own_data
from bs4nn.trainer.semantics import LAST_STEP, TMAX


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


def margin_steps(text: str) -> float:
    """The Eq. 6 target margin gamma, in steps: from 0 to TMAX (a silent label's target is
    TMAX - gamma, a step only down to 0)."""
    return _float(text, f"a margin in steps from 0 to {TMAX}", zero_allowed=True, most=float(TMAX))


def lead_steps(text: str) -> float:
    """The tie lead, in steps: from 0 to the last step (a tied label fires at a step up to it,
    and its target is that step less the lead, at least 0: a longer lead changes nothing)."""
    return _float(
        text, f"a lead in steps from 0 to {LAST_STEP}", zero_allowed=True, most=float(LAST_STEP)
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


class _OneModel(argparse.Action):
    """Sets `model` from the first argument or --model. A second value is kept in
    `model_strays` for `bs4nn.cli` to refuse: it may be the value of a mistyped option
    (`--limt 5`), which is then the error to report."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if values is None:  # the first argument, not given: --model may give it
            return
        if namespace.model is not None:
            namespace.model_strays = [*namespace.model_strays, values]
            return
        namespace.model = values


def add_model_argument(p: argparse.ArgumentParser, help: str) -> None:
    """The model file of a command, as its first argument or as --model, whichever the user
    writes: eval, calibrate and export took it first, bench, sweep and eembc as --model.
    Required: `bs4nn.cli` refuses a command line without it (argparse cannot, as either form
    may give it)."""
    p.add_argument(
        "model", nargs="?", type=path, action=_OneModel, metavar="MODEL", help=f"{help}; or --model"
    )
    p.add_argument("--model", type=path, action=_OneModel, help=argparse.SUPPRESS)
    p.set_defaults(model_required=True, model_strays=[])


def given_options(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    """Those of the options `names` (their argparse dest, default None) given on the command
    line, spelled as there: `--max-mean-step`."""
    return [f"--{name.replace('_', '-')}" for name in names if getattr(args, name) is not None]


def existing_dir(text: str) -> str:
    """A folder that exists (where data is read from: a typo must not fall back elsewhere)."""
    path(text)  # "" would be the current folder
    folder = Path(text).expanduser()
    if folder.exists() and not folder.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text!r} is a file, not a folder; give an existing folder"
        )
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"no folder {text!r}; give an existing folder")
    return text


def dataset_spec(text: str) -> str:
    """mnist, fashion-mnist, or a user's own dataset: a .npz file or a folder of IDX files
    (read and checked when the command runs)."""
    if text in DATASETS:
        return text
    if is_own_data(text):
        if not Path(text).expanduser().exists():
            raise argparse.ArgumentTypeError(f"no file or folder {text!r}")
        return text
    raise argparse.ArgumentTypeError(
        f"expected {' or '.join(DATASETS)}, or a .npz file or IDX folder of your own, got {text!r}"
    )
