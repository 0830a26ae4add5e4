"""`bs4nn import-nir`: a NIR graph (Linear/Affine + IF layers) -> a bs4nn model file."""

from __future__ import annotations

import argparse

from bs4nn.trainer.files import check_not_input, check_output
from bs4nn.trainer.options import path
from bs4nn.trainer.semantics import network_shape


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-nir",
        help="make a bs4nn model from a NIR graph",
        description="Read a NIR graph Input -> (Linear or Affine -> IF)... -> Output, binarise its "
        "weights (sign, one alpha per layer) and save it as a bs4nn model; prints "
        "what the conversion changed. `bs4nn export --format nir` writes such graphs.",
    )
    p.add_argument("nir_file", type=path, metavar="NIR_FILE")
    p.add_argument("--out", type=path, required=True, help="model file to write")
    p.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    from bs4nn.trainer.model import check_model_out
    from bs4nn.trainer.nir_graph import read_nir

    check_output(args.out, "--out", folder=False)
    check_not_input(args.out, args.nir_file, "NIR graph", "model")
    check_model_out(args.out)
    result = read_nir(args.nir_file)
    for line in result.report:
        print(line)
    result.model.save(args.out)
    shape = network_shape(result.model.layer_sizes)
    print(f"wrote {args.out} ({shape}, hash {result.model.content_hash[:16]})")
    return 0
