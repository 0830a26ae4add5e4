"""`bs4nn eembc`: the MLPerf Tiny runner against the board (bs4nn.host.eembc)."""

from __future__ import annotations

import argparse

from bs4nn.host.defaults import DEFAULT_LIMIT, DEFAULT_USB, MODES
from bs4nn.trainer.files import folder_choices
from bs4nn.trainer.options import add_model_argument, existing_dir, path, positive_int
from bs4nn.trainer.presets import DATASETS
from bs4nn.trainer.resume_hints import offer_rerun


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "eembc",
        help="benchmark the board with the MLPerf Tiny runner (accuracy and performance mode)",
        description="Write the test images, test scripts and devices file the MLPerf Tiny host "
        "runner reads, then run the runner (unmodified, from --runner) against the emulated "
        "board, or print its commands for a board on --port.",
    )
    add_model_argument(e, "model file (from `bs4nn train`)")
    e.add_argument(
        "--runner",
        type=path,
        required=True,
        help="the MLPerf Tiny runner folder (benchmark/runner, holding main.py)",
    )
    e.add_argument(
        "--out",
        type=path,
        default="out/eembc",
        help=f"output folder (default out/eembc): {folder_choices('eembc')}",
    )
    e.add_argument(
        "--mode", choices=[*MODES, "both"], default="both", help="runner mode(s) (default both)"
    )
    e.add_argument(
        "--limit",
        type=positive_int,
        default=DEFAULT_LIMIT,
        help=f"test images for accuracy mode (default {DEFAULT_LIMIT})",
    )
    e.add_argument(
        "--port", type=path, help="serial port of a flashed board: print the runner commands"
    )
    e.add_argument(
        "--usb",
        default=f"{DEFAULT_USB[0]:04X}:{DEFAULT_USB[1]:04X}",
        help="USB VID:PID of the board's serial port for the devices file "
        "(default: the runner's reference DUT, which the emulated board poses as)",
    )
    e.add_argument(
        "--iterations",
        type=positive_int,
        help="inferences per performance window (default: measured on the board "
        "for 10 s of its clock, plus 5%%)",
    )
    e.add_argument(
        "--dataset",
        choices=DATASETS,
        help="test split to write (default: the model's dataset; an other one is refused)",
    )
    e.add_argument(
        "--data-dir",
        type=existing_dir,
        help="dataset folder (default: $BS4NN_DATA, then the user cache)",
    )
    e.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from bs4nn.host.eembc import parse_usb, run_eembc

    modes = tuple(MODES) if args.mode == "both" else (args.mode,)
    # a device that cuts the window's sizing short leaves no runner files: run it again
    with offer_rerun():
        results = run_eembc(
            args.model,
            args.runner,
            args.out,
            modes,
            args.limit,
            args.port,
            parse_usb(args.usb),
            args.iterations,
            args.dataset,
            args.data_dir,
        )
    for r in results:
        figures = ", ".join(f"{k} {v}" for k, v in r.figures.items() if k != "session_log")
        print(
            f"eembc {r.mode}: {figures or 'no figures'}"
            + ("" if r.ok else f" - FAILED ({r.failure})")
        )
        if r.hint is not None:
            print(f"  {r.hint}")
    return 0 if all(r.ok for r in results) else 1
