"""`bs4nn export`: model file -> integer model -> firmware tree for a board."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bs4nn.codegen.boards import DEFAULT_BOARD, board_info
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import (
    check_not_input,
    check_output,
    check_replaced_file,
    folder_choices,
)
from bs4nn.trainer.options import (
    add_model_argument,
    dataset_spec,
    existing_dir,
    given_options,
    nonnegative_int,
    path,
)
from bs4nn.trainer.semantics import network_shape
from bs4nn.trainer.wording import TEST_IMAGE

if TYPE_CHECKING:
    import numpy as np

    from bs4nn.codegen.intmodel import IntModel
    from bs4nn.trainer.model import Model

CHECK_IMAGES = 10000  # default of --check-images


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="render a trained model into C headers and a firmware tree for a board",
        description="Render MODEL into bit-packed C headers plus a ready-to-build firmware tree, "
        "or (--format nir) into a NIR graph for other neuromorphic tools.",
    )
    add_model_argument(p, "model file (from `bs4nn train`)")
    p.add_argument(
        "--out",
        type=path,
        required=True,
        help=f"output directory for the firmware tree ({folder_choices('export')}; "
        "--format nir: the .nir file)",
    )
    p.add_argument(
        "--format",
        choices=("c", "nir"),
        default="c",
        help="c = firmware tree (default); nir = a NIR graph (HDF5), see docs/design.md",
    )
    # checked in run_export (board_info): building the parser reads no file
    p.add_argument(
        "--board",
        help=f"the board to build for (default {DEFAULT_BOARD}, the QEMU-emulated "
        "Cortex-M4; `bs4nn boards` lists them)",
    )
    # the option's name before bench and sweep named the idea --board: still taken, not shown
    p.add_argument("--target", dest="board", help=argparse.SUPPRESS)
    p.add_argument(
        "--check-images",
        type=nonnegative_int,
        metavar="N",
        help="compare the integer model with the trainer's evaluation on the first N "
        f"test images of the model's dataset (0 to skip; default {CHECK_IMAGES})",
    )
    p.add_argument(
        "--dataset",
        "--data",
        type=dataset_spec,
        help="dataset of the check (default: the model's; own data: its .npz file or IDX folder)",
    )
    p.add_argument("--data-dir", type=existing_dir, help="dataset folder for the check")
    p.set_defaults(func=run_export)


# options of the C export only; None when not given (--format nir refuses them)
C_ONLY = {
    "board": DEFAULT_BOARD,
    "check_images": CHECK_IMAGES,
    "dataset": None,
    "data_dir": None,
}


def run_export(args: argparse.Namespace) -> int:
    if args.format == "nir":
        return _export_nir(args)
    # numpy and jinja2 come with these: imported when an export runs, not for --help
    from bs4nn.codegen.export import check_export_dir, export_firmware
    from bs4nn.codegen.intmodel import IntModel
    from bs4nn.trainer.datasets import load_dataset
    from bs4nn.trainer.evaluate import check_data_fits
    from bs4nn.trainer.model import Model

    for name, default in C_ONLY.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    board_info(args.board)  # an unknown board is refused before anything is read or written
    check_export_dir(Path(args.out))
    model = Model.load(args.model)
    intmodel = IntModel.from_model(model, source=args.model)
    images = None
    if args.check_images > 0:  # the data of the check is read before the tree is written
        dataset = model.dataset_to_run(args.dataset)
        try:
            images, _ = load_dataset(dataset, "test", data_dir=args.data_dir)
        except Bs4nnError as exc:  # the check is the only use of the data: it can be left out
            raise Bs4nnError(f"{exc}; or export without the check: --check-images 0") from None
        images = images[: args.check_images]
        check_data_fits(intmodel.layer_sizes, images)
    command = "bs4nn " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    result = export_firmware(intmodel, args.out, board=args.board, command=command)
    print(
        f"exported {args.model} ({network_shape(intmodel.layer_sizes)}, "
        f"K={list(intmodel.thresholds)}, hash {intmodel.model_hash[:16]}) to {result.out_dir}"
    )
    if result.replaced_board is not None:
        print(f"replaced the {result.replaced_board} export that was there, and its build")
    for line in result.footprint.lines():
        print(line)
    if images is not None:
        try:
            return _check_against_trainer(model, intmodel, dataset, images)
        except KeyboardInterrupt:
            print(
                f"{result.out_dir} is complete; its check against the trainer's evaluation did "
                "not finish (the same export again checks it)",
                file=sys.stderr,
            )
            raise
    return 0


def _export_nir(args: argparse.Namespace) -> int:
    from bs4nn.trainer.model import Model
    from bs4nn.trainer.nir_graph import is_nir_file, write_nir

    given = given_options(args, C_ONLY)
    if given:
        flags = ", ".join(given)
        raise Bs4nnError(f"{flags}: only for the C export; --format nir writes the graph alone")
    check_output(args.out, "--out", folder=False)
    check_not_input(args.out, args.model, "model", "NIR graph")
    check_replaced_file(args.out, "NIR graph", is_nir_file)
    model = Model.load(args.model)
    path = write_nir(model, args.out)
    print(
        f"exported {args.model} ({network_shape(model.layer_sizes)}, K="
        f"{model.thresholds()}, hash {model.content_hash[:16]}) as a NIR graph to {path}"
    )
    return 0


def _check_against_trainer(
    model: Model, intmodel: IntModel, dataset: str, images: np.ndarray
) -> int:
    from bs4nn.codegen.agreement import compare_with_trainer

    # images: the first N of the test split, named as bench names them
    agreement = compare_with_trainer(model, intmodel, images, TEST_IMAGE)
    if agreement.ok:
        print(
            f"integer model == trainer evaluation on {agreement.images} {dataset} test images "
            "(label, decision step, output steps, spikes per layer)"
        )
        return 0
    print(
        f"integer model differs from the trainer evaluation on {len(agreement.mismatched)} of "
        f"{agreement.images} test images:",
        file=sys.stderr,
    )
    for line in agreement.details:
        print("  " + line, file=sys.stderr)
    return 1
