"""Build the firmware of a model for the emulated board and check the footprint limits.

    python bench/firmware_size.py MODEL [--kernel sliced] [--board NAME | --board all]
    python bench/firmware_size.py --random 784-600-10     (random weights of that shape)

Prints flash (text + data), RAM (data + bss, with the 2 KB stack), the packed weights, the
inference state (the core's bs4nn_state) and whether the limits hold: flash <= packed weights
+ 8 KB, inference state <= 4 KB. For the default board, or for each board given (`--board
all`: every emulated board, Cortex-M0 to M55). Exit status 0 only when both hold on every
board.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bs4nn.codegen.boards import DEFAULT_BOARD
from bs4nn.codegen.export import export_firmware
from bs4nn.codegen.footprint import CODE_BUDGET_BYTES, DEFAULT_KERNEL
from bs4nn.codegen.intmodel import IntModel
from bs4nn.host.build import elf_sizes, make_elf
from bs4nn.host.emulate import emulated_boards
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import model_from_arrays

CODE_LIMIT = CODE_BUDGET_BYTES
STATE_LIMIT = 4 * 1024


def random_model(shape: str) -> IntModel:
    sizes = [int(n) for n in shape.split("-")]
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((o, i)) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    n = len(weights)
    return IntModel.from_model(
        model_from_arrays(weights, [1.0] * n, [10.0] * n), source=f"random {shape}"
    )


def symbol_sizes(elf: Path) -> dict[str, int]:
    out = subprocess.run(
        ["arm-none-eabi-nm", "-S", "--size-sort", str(elf)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            sizes[parts[3]] = int(parts[1], 16)
    return sizes


def measure(intmodel: IntModel, kernel: str, board: str) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix="bs4nn-size-") as tmp:
        result = export_firmware(intmodel, Path(tmp) / "fw", board=board)
        proc = subprocess.run(
            ["make", "-s", "-C", str(result.out_dir), f"KERNEL={kernel}"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise Bs4nnError(f"firmware build failed:\n{proc.stdout}{proc.stderr}")
        elf = make_elf(result.out_dir)
        text, data, bss = elf_sizes(elf)
        symbols = symbol_sizes(elf)
    return {
        "text": text,
        "data": data,
        "bss": bss,
        "weights": result.footprint.weight_bytes,
        "state": symbols["bs4nn_state"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("model", nargs="?", type=Path, help="model file (bs4nn train --out)")
    src.add_argument("--random", metavar="SHAPE", help="random weights, e.g. 784-600-10")
    ap.add_argument(
        "--kernel",
        default=DEFAULT_KERNEL,
        help=f"firmware kernel (default {DEFAULT_KERNEL}, as make)",
    )
    board_help = f"board (default {DEFAULT_BOARD}); repeat for several, or all"
    # --target: the option's name before bench and sweep named the idea --board; still taken
    for name, shown in (("--board", board_help), ("--target", argparse.SUPPRESS)):
        ap.add_argument(
            name, dest="board", action="append", choices=[*emulated_boards(), "all"], help=shown
        )
    args = ap.parse_args(argv)
    boards = args.board or [DEFAULT_BOARD]
    if "all" in boards:
        boards = emulated_boards()
    try:
        intmodel = random_model(args.random) if args.random else IntModel.load(args.model)
        ok = all(report(intmodel, args.kernel, board) for board in boards)
    except Bs4nnError as exc:
        print(f"firmware_size: error: {exc}", file=sys.stderr)
        return 2
    return 0 if ok else 1


def report(intmodel: IntModel, kernel: str, board: str) -> bool:
    """Print one board's footprint; True when both limits hold."""
    m = measure(intmodel, kernel, board)
    flash = m["text"] + m["data"]
    ram = m["data"] + m["bss"]
    code = flash - m["weights"]
    flash_ok = flash <= m["weights"] + CODE_LIMIT
    state_ok = m["state"] <= STATE_LIMIT
    print(
        f"model {'-'.join(map(str, intmodel.layer_sizes))} ({intmodel.source}), "
        f"board {board}, kernel {kernel}"
    )
    print(f"text={m['text']} data={m['data']} bss={m['bss']}")
    print(f"flash={flash} (packed weights {m['weights']} + code/consts {code})")
    print(f"ram={ram} (inference state {m['state']}, the rest I/O buffers and 2048 stack)")
    print(
        f"flash <= weights + {CODE_LIMIT}: {'yes' if flash_ok else 'NO'} "
        f"(margin {m['weights'] + CODE_LIMIT - flash})"
    )
    print(
        f"inference state <= {STATE_LIMIT}: {'yes' if state_ok else 'NO'} "
        f"(margin {STATE_LIMIT - m['state']})"
    )
    return flash_ok and state_ok


if __name__ == "__main__":
    sys.exit(main())
