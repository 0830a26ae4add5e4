"""`bs4nn build`, `bs4nn bench`, `bs4nn sweep`: the host-side sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from bs4nn.codegen.boards import DEFAULT_BOARD
from bs4nn.host.defaults import (
    DEFAULT_BAUD,
    DEFAULT_TIMEOUT_S,
    DEFAULT_WINDOW,
    HOST_RX_BYTES,
)
from bs4nn.trainer.files import folder_choices
from bs4nn.trainer.options import (
    add_model_argument,
    dataset_spec,
    existing_dir,
    mean_steps,
    path,
    positive_floats,
    positive_int,
    timeout_seconds,
)
from bs4nn.trainer.resume_hints import offer_resume


def _device_args(p: argparse.ArgumentParser) -> None:
    add_model_argument(p, "model file (from `bs4nn train`)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--port", type=path, help="serial port of a flashed board, e.g. /dev/ttyACM0"
    )
    where.add_argument(
        "--emulate",
        action="store_true",
        help="use an emulated board (the default when no --port is given)",
    )
    p.add_argument(
        "--board",
        default=None,
        help=f"the emulated board (default {DEFAULT_BOARD}; `bs4nn boards` lists them); "
        "not with --port",
    )
    p.add_argument(
        "--dataset",
        "--data",
        type=dataset_spec,
        help="test images to stream (default: the model's dataset; an other one is refused; "
        "a model made from own data needs its .npz file or IDX folder)",
    )
    p.add_argument(
        "--data-dir",
        type=existing_dir,
        help="dataset folder (default: $BS4NN_DATA, then the user cache)",
    )
    p.add_argument(
        "--window",
        type=positive_int,
        default=DEFAULT_WINDOW,
        help=f"requests kept in flight (default {DEFAULT_WINDOW}; fewer when the device's "
        f"receive buffer or {HOST_RX_BYTES:,} bytes of replies would not hold them)",
    )
    p.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for a reply (default {DEFAULT_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--baud",
        type=positive_int,
        help=f"serial baud rate of --port (default {DEFAULT_BAUD}, the firmware's)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction) -> None:
    bl = sub.add_parser(
        "boards",
        help="list the boards: core, clock, flash/RAM and whether they can be emulated here",
        description="Every board of `bs4nn export --board`, with its core, clock, flash and "
        "RAM, and for the emulated ones (`bs4nn bench --board NAME --emulate`) the emulator and "
        "whether it is installed.",
    )
    bl.set_defaults(func=_run_boards)

    b = sub.add_parser(
        "build",
        help="compile an exported firmware tree and report its size",
        description="Run the export's build (make or PlatformIO) and print "
        "text/data/bss and flash/RAM against the board's limits.",
    )
    b.add_argument(
        "out_dir", type=path, metavar="OUT_DIR", help="directory written by `bs4nn export`"
    )
    b.add_argument("--verbose", action="store_true", help="show the compiler output")
    b.set_defaults(func=_run_build)

    p = sub.add_parser(
        "bench",
        help="stream test images to the board, check it bit-exact, "
        "measure accuracy, counters and the link",
        description="Bench MODEL on a board (--port) or on the emulated board, "
        "comparing every reply with the integer reference.",
    )
    _device_args(p)
    p.add_argument(
        "--limit", type=positive_int, help="bench the first N test images (default: all)"
    )
    p.add_argument(
        "--out",
        type=path,
        default="out/bench",
        help=f"report folder (default out/bench): {folder_choices('bench')}",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the per-image CSV in --out without repeating images",
    )
    p.set_defaults(func=_run_bench)

    s = sub.add_parser(
        "sweep",
        help="speed/accuracy trade-off over thresholds on the device (paper Fig. 7)",
        description="For each threshold setting, set it on the device, bench, "
        "and check against the reference with the same thresholds.",
    )
    _device_args(s)
    s.add_argument(
        "--limit", type=positive_int, default=1000, help="test images per setting (1000)"
    )
    s.add_argument(
        "--out",
        type=path,
        default="out/sweep",
        help=f"output folder (default out/sweep): {folder_choices('sweep')}",
    )
    kind = s.add_mutually_exclusive_group()
    kind.add_argument(
        "--thetas",
        type=positive_floats,
        help="theta values for every layer, K_l = ceil(theta / alpha_l), e.g. 20,40,60,80,100",
    )
    kind.add_argument(
        "--scales",
        type=positive_floats,
        help="scales of the model's K (default 0.4,0.6,0.8,0.9,1,1.1,1.2,1.4,1.6)",
    )
    kind.add_argument(
        "--budgets",
        type=mean_steps,
        help="budgets of mean decision step, e.g. 40,60,80: for each, the most accurate K on "
        "the model's validation split that decides within it there (as bs4nn calibrate)",
    )
    s.add_argument(
        "--resume",
        action="store_true",
        help="keep the settings an interrupted sweep into --out finished; run the others",
    )
    s.set_defaults(func=_run_sweep)


def _run_build(args: argparse.Namespace) -> int:
    from bs4nn.host.build import build_firmware

    result = build_firmware(args.out_dir, verbose=args.verbose)
    for line in result.lines():
        print(line)
    return 0


def _run_boards(args: argparse.Namespace) -> int:
    from bs4nn.host.emulate import board_lines

    for line in board_lines():
        print(line)
    return 0


def _device_options(args: argparse.Namespace) -> dict:
    """The options bench and sweep share: which device and how to talk to it, which images.
    The board is checked here, before anything is written, built or started."""
    from bs4nn.host.connect import DeviceLink
    from bs4nn.host.emulate import emulator_of
    from bs4nn.trainer.errors import Bs4nnError

    if args.port is not None and args.board is not None:
        raise Bs4nnError("--board names an emulated board: give --port or --board, not both")
    board = args.board or DEFAULT_BOARD
    if args.port is None:
        if args.baud is not None:
            raise Bs4nnError("--baud is the rate of --port's serial link; give --port with it")
        emulator_of(board)
    link = DeviceLink(
        port=args.port,
        board=board,
        baud=args.baud or DEFAULT_BAUD,
        window=args.window,
        timeout=args.timeout,
    )
    return dict(
        link=link,
        dataset=args.dataset,
        limit=args.limit,
        out_dir=args.out,
        data_dir=args.data_dir,
        progress=not args.no_progress,
    )


def _run_bench(args: argparse.Namespace) -> int:
    from bs4nn.host.bench import holds_rows, run_bench

    # the images measured so far are kept
    with offer_resume(lambda: holds_rows(Path(args.out))):
        report = run_bench(args.model, resume=args.resume, **_device_options(args))
    return 0 if report.mismatches == 0 else 1


def _run_sweep(args: argparse.Namespace) -> int:
    from bs4nn.host.sweep import SWEEP_FOLDER, run_sweep

    # the settings finished so far are kept
    with offer_resume(lambda: SWEEP_FOLDER.marked(Path(args.out))):
        points = run_sweep(
            args.model,
            thetas=args.thetas,
            scales=args.scales,
            budgets=args.budgets,
            resume=args.resume,
            **_device_options(args),
        )
    return 0 if all(pt.mismatches == 0 for pt in points) else 1
