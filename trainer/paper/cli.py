"""`bs4nn paper`: every figure and table of the paper, ours beside the paper's."""

from __future__ import annotations

import argparse
from pathlib import Path

import bs4nn
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import folder_choices, made_for
from bs4nn.trainer.options import existing_dir, path, positive_int
from bs4nn.trainer.resume_hints import offer_resume, rerun_resumes

SHIPPED = Path(bs4nn.__file__).resolve().parents[1] / "models"  # default of --models


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "paper",
        help="rerun the paper's figures and tables beside ours",
        description="Rerun every figure and table of the BS4NN paper on the shipped models "
        "(or, with --retrain, on models trained from scratch with the presets): "
        "one PNG per figure, DIR/results.json with every number, DIR/report.md "
        "with the paper's figure beside ours. Resumable: experiments already in "
        "results.json for the same model files are kept.",
    )
    p.add_argument(
        "--out",
        type=path,
        default="out/paper",
        help=f"output folder (default out/paper): {folder_choices('paper')}",
    )
    p.add_argument(
        "--only",
        metavar="IDS",
        help="comma-separated experiment ids (default all): fig1..fig9, table1..3, swap, alpha",
    )
    p.add_argument(
        "--models",
        type=existing_dir,
        metavar="DIR",
        help=f"folder holding the model files under the shipped models' names (default {SHIPPED})",
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help="train the models from scratch with the presets into OUT/models "
        "(hours; resumable) instead of using --models",
    )
    p.add_argument("--limit", type=positive_int, metavar="N", help="only the first N test images")
    p.add_argument(
        "--data-dir", type=existing_dir, help="where the datasets are (default: $BS4NN_DATA, cache)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_paper)


def _ids(only: str | None) -> list[str]:
    from bs4nn.trainer.paper.run import EXPERIMENTS

    if only is None:
        return list(EXPERIMENTS)
    wanted = [s.strip() for s in only.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in EXPERIMENTS]
    if unknown or not wanted:
        raise Bs4nnError(
            f"--only: unknown experiment id(s) {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(EXPERIMENTS)}"
        )
    return [k for k in EXPERIMENTS if k in wanted]


def _paper(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bs4nn.trainer.paper.context import Context
    from bs4nn.trainer.paper.models import ModelSet
    from bs4nn.trainer.paper.run import (
        EXPERIMENTS,
        PAPER_FOLDER,
        RESULTS,
        RETRAINED,
        datasets_of,
        load_results,
        run_paper,
    )
    from bs4nn.trainer.plots import make_dir

    ids = _ids(args.only)
    out = Path(args.out)
    PAPER_FOLDER.check(out)  # another command's folder, or the user's own, is refused
    load_results(out)  # an earlier results.json it cannot go on from is refused before any work
    if args.retrain and args.models is not None:
        raise Bs4nnError("--retrain trains the models into OUT/models: leave out --models")
    folder = out / RETRAINED if args.retrain else Path(args.models or SHIPPED)
    models = ModelSet(folder, args.retrain)
    models.check({k for i in ids for k in EXPERIMENTS[i].models})
    ctx = Context(
        out, models, args.limit, args.data_dir, not args.no_progress, log=tqdm.write
    )  # lines above the progress bars, not through them
    for dataset in sorted(datasets_of(ids)):  # missing data fails before the folder exists
        ctx.test_set(dataset)
    # run again, it keeps the experiments an interrupted run finished
    with rerun_resumes(), offer_resume(lambda: (out / RESULTS).is_file()):
        with made_for(out):  # a run that fails before its first file leaves no empty folders
            make_dir(out)
            run_paper(ctx, ids)
    return 0
