"""`bs4nn demo`: the whole chain on a fresh machine, the README's first command.

data -> short training (or --model) -> export -> build -> emulated board -> bench -> report.
Each step is the same code as its own sub-command; this only strings them together.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bs4nn.trainer.options import existing_dir, path, positive_int, rerun_resumes

DEMO_TRAIN_ARGS = ["--preset", "mnist-600", "--epochs", "5", "--seed", "1"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole chain: data, train, export, build, QEMU board, bench, report",
        description="Train a short MNIST run (or take --model), export it, build the emulated "
        "board's firmware, bench test images on it in QEMU and report.",
    )
    p.add_argument("--model", type=path, help="use this model file instead of training one")
    p.add_argument("--out", type=path, default="out/demo", help="working folder (default out/demo)")
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


def _demo(args: argparse.Namespace) -> int:
    from bs4nn.host.connect import load_model
    from bs4nn.trainer.files import check_output
    from bs4nn.trainer.run import checkpoint_path

    out = Path(args.out)
    check_output(out, "--out", folder=True)  # before the fetch and the training
    dataset = "mnist"
    if args.model is not None:  # one the board can run, before any step
        given, _ = load_model(args.model)
        dataset = given.dataset_to_run()
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    _step("data", ["data", "fetch", dataset, *data])
    model = args.model
    if model is None:
        model = str(out / "mnist-demo.bs4nn")
        # a demo interrupted after an epoch goes on from its checkpoint
        resume = ["--resume"] if checkpoint_path(Path(model)).is_file() else []
        _step("train", ["train", *DEMO_TRAIN_ARGS, "--out", model, *resume, *data])
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
            str(out / "bench"),
            *data,
        ],
    )
    report = json.loads((out / "bench" / "report.json").read_text())
    print(f"\nreport: {out / 'bench' / 'report.json'}")
    for line in summary_lines(report):
        print(line)
    return 0 if report.get("mismatches", 1) == 0 else 1


def summary_lines(report: dict) -> list[str]:
    return [
        f"accuracy={report['accuracy']:.4f}",
        f"mismatches={report['mismatches']}",
        f"mean_instructions_per_inference={report['counter']['mean']:.0f}",
    ]
