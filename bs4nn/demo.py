"""`bs4nn demo`: the whole chain on a fresh machine, the README's first command.

data -> short training (or --model) -> export -> build -> emulated board -> bench -> report.
Each step is the same code as its own sub-command; this only strings them together.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bs4nn.trainer.files import folder_choices
from bs4nn.trainer.options import existing_dir, path, positive_int
from bs4nn.trainer.resume_hints import rerun_resumes

DEMO_TRAIN_ARGS = ["--preset", "mnist-600", "--epochs", "5", "--seed", "1"]
DEMO_MODEL = "mnist-demo.bs4nn"  # the model the demo trains, in --out
BENCH_DIR = "bench"  # the demo's bench folder, in --out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole chain: data, train, export, build, QEMU board, bench, report",
        description="Train a short MNIST run (or take --model), export it, build the emulated "
        "board's firmware, bench test images on it in QEMU and report.",
    )
    p.add_argument("--model", type=path, help="use this model file instead of training one")
    p.add_argument(
        "--out",
        type=path,
        default="out/demo",
        help=f"working folder (default out/demo): {folder_choices('demo')}",
    )
    p.add_argument(
        "--limit", type=positive_int, default=1000, help="test images to bench (default 1000)"
    )
    p.add_argument(
        "--data-dir",
        type=existing_dir,
        help="dataset folder (default: $BS4NN_DATA, then the user cache)",
    )
    p.set_defaults(func=run_demo)


def _step(title: str, argv: list[str]) -> None:
    from bs4nn.cli import run_command

    print(f"\n== {title}: bs4nn {' '.join(argv)}", flush=True)
    run_command(argv)


def run_demo(args: argparse.Namespace) -> int:
    # run again, the demo goes on from what its steps kept: that is the resume an interrupted
    # step offers
    with rerun_resumes():
        return _demo(args)


def _demo_folder():
    """What makes a folder the demo's: its model (or that model's checkpoint) or its bench; it
    may hold the lock of a training killed before its first checkpoint."""
    from bs4nn.trainer.files import OutFolder, lock_name
    from bs4nn.trainer.run import checkpoint_path

    marks = (DEMO_MODEL, checkpoint_path(Path(DEMO_MODEL)).name, BENCH_DIR)
    return OutFolder("demo", marks, (lock_name(DEMO_MODEL),))


def _demo(args: argparse.Namespace) -> int:
    from bs4nn.host.bench import BENCH_FOLDER, REPORT_NAME
    from bs4nn.host.connect import load_model
    from bs4nn.trainer.errors import Bs4nnError
    from bs4nn.trainer.presets import DATASETS
    from bs4nn.trainer.run import checkpoint_path

    out = Path(args.out)
    bench_out = out / BENCH_DIR
    _demo_folder().check(out)  # before the fetch and the training
    BENCH_FOLDER.check(bench_out)
    dataset = "mnist"
    if args.model is not None:  # one the board can run, before any step
        given, _ = load_model(args.model)
        if given.dataset not in DATASETS or given.dataset_sha256 is not None:  # no --data here
            raise Bs4nnError(
                f"the demo runs MNIST and Fashion-MNIST models, and {args.model} is not one: "
                f"bench it with `bs4nn bench --model {args.model} --data FILE`"
            )
        dataset = given.dataset
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    _step("data", ["data", "fetch", dataset, *data])
    model = args.model
    if model is None:
        model = str(out / DEMO_MODEL)
        train = ["train", *DEMO_TRAIN_ARGS, "--out", model, *data]
        if checkpoint_path(Path(model)).is_file():  # interrupted after an epoch
            _step("train", [*train, "--resume"])
        elif _bench_to_resume(bench_out, model):  # interrupted while benching
            print(f"\n== train: {model} (trained; its bench was interrupted)", flush=True)
        else:
            _step("train", train)
    resume = ["--resume"] if _bench_to_resume(bench_out, model) else []
    _step(
        "bench on the emulated board",
        [
            "bench",
            "--model",
            model,
            "--emulate",
            "--limit",
            str(args.limit),
            "--out",
            str(bench_out),
            *resume,
            *data,
        ],
    )
    report = json.loads((bench_out / REPORT_NAME).read_text())
    print(f"\nreport: {bench_out / REPORT_NAME}")
    for line in summary_lines(report):
        print(line)
    return 0 if report.get("mismatches", 1) == 0 else 1


def _bench_to_resume(bench_out: Path, model: str) -> bool:
    """Whether bench_out holds an interrupted bench of this model file."""
    from bs4nn.host.bench import unfinished_rows
    from bs4nn.trainer.errors import Bs4nnError
    from bs4nn.trainer.model import Model

    if not Path(model).is_file():
        return False
    try:
        return unfinished_rows(bench_out, Model.load(model).content_hash) > 0
    except Bs4nnError:  # a damaged model: the steps say so
        return False


def summary_lines(report: dict) -> list[str]:
    return [
        f"accuracy={report['accuracy']:.4f}",
        f"mismatches={report['mismatches']}",
        f"mean_instructions_per_inference={report['counter']['mean']:.0f}",
    ]
