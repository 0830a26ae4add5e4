"""`bs4nn train`, `bs4nn eval` and `bs4nn calibrate`: their options. What they do is
bs4nn.trainer.commands, imported when one runs (it brings numpy; `--help` should not wait)."""

from __future__ import annotations

import argparse

from bs4nn.trainer.files import folder_choices
from bs4nn.trainer.options import (
    add_model_argument,
    dataset_spec,
    existing_dir,
    lead_steps,
    margin_steps,
    mean_step,
    nonnegative_float,
    nonnegative_int,
    path,
    positive_float,
    positive_int,
)
from bs4nn.trainer.presets import PRESETS, VAL_SIZE
from bs4nn.trainer.semantics import LAST_STEP, TMAX


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a BS4NN (or S4NN) network",
        description="Train with the paper's learning rule (or, with --rule surrogate, a "
        "surrogate gradient: docs/training.md); the model selected on the validation "
        "split is saved with its test accuracy. A checkpoint <out>.ckpt is written "
        "after every epoch; --resume continues from it bit-identically. At the "
        "end, accuracy and loss per epoch are plotted to <out>.training.png "
        "(<out> without .bs4nn).",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="mnist-600",
        help="Table 1 settings to start from (default: mnist-600)",
    )
    p.add_argument(
        "--rule",
        choices=("paper", "surrogate"),
        default="paper",
        help="paper = the paper's temporal-error rule (default); surrogate = soft "
        "first spikes on quantised time, Adam on mini-batches, then thresholds "
        "calibrated every epoch (binary weights only; beyond the paper)",
    )
    p.add_argument(
        "--dataset",
        "--data",
        type=dataset_spec,
        help="mnist, fashion-mnist, or a .npz file or IDX folder of your own data "
        "(default: the preset's; the generic preset needs one)",
    )
    p.add_argument(
        "--hidden",
        type=positive_int,
        action="append",
        metavar="N",
        help="hidden layer size; repeat for more layers (default: the preset's)",
    )
    p.add_argument(
        "--theta",
        type=positive_float,
        action="append",
        metavar="THETA",
        help="threshold: once for all layers or once per weight layer",
    )
    p.add_argument(
        "--weights",
        choices=("binary", "real"),
        default="binary",
        help="binary = BS4NN (default); real = S4NN (real weights, alpha fixed 1)",
    )
    p.add_argument("--epochs", type=positive_int, help="default: the preset's")
    p.add_argument(
        "--train-limit", type=positive_int, metavar="N", help="use only N training images"
    )
    p.add_argument(
        "--val-size",
        type=nonnegative_int,
        default=VAL_SIZE,
        help=f"validation images held out of the training set (default {VAL_SIZE})",
    )
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument(
        "--silent-target",
        choices=("code", "paper"),
        help="targets when every output is silent: code = no error, paper = the "
        "label at tmax - gamma (default: the preset's choice)",
    )
    p.add_argument(
        "--ema-samples",
        type=nonnegative_int,
        metavar="N",
        help="also average the weights over about N samples and let validation pick "
        "(0 = off; default: the preset's)",
    )
    p.add_argument(
        "--gamma",
        type=margin_steps,
        help=f"Eq. 6 target margin in steps, 0 to {TMAX} (default: the preset's, 1 in the paper)",
    )
    p.add_argument(
        "--tie-lead",
        type=lead_steps,
        metavar="STEPS",
        help="a label tied with another output at the first output step gets the "
        f"target tau - STEPS, 0 to {LAST_STEP} (0 = off, the paper; default: the preset's)",
    )
    p.add_argument(
        "--clip",
        type=nonnegative_float,
        action="append",
        metavar="BOUND",
        help="clip the real weights to [-BOUND, BOUND]: once for all layers or once "
        "per weight layer; 0 = no clipping (default: the preset's)",
    )
    p.add_argument(
        "--calibrate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after training, choose each layer's integer threshold on the validation "
        "split (default: the preset's)",
    )
    p.add_argument(
        "--levels",
        type=positive_int,
        help="surrogate rule: intensity levels of the quantised time (default: the "
        "preset's, 32 or 16)",
    )
    p.add_argument(
        "--shift",
        type=nonnegative_int,
        metavar="PIXELS",
        help="surrogate rule: shift training images randomly by up to PIXELS "
        "(0 = off; default: the preset's, 1 for MNIST, 0 for Fashion-MNIST)",
    )
    p.add_argument(
        "--count-loss",
        type=nonnegative_float,
        metavar="WEIGHT",
        help="surrogate rule: weight of a cross-entropy on the outputs' counts at "
        "the last level, which decide when no output fires (0 = off; default: "
        "the preset's)",
    )
    p.add_argument(
        "--out", type=path, default="model.bs4nn", help="model file (default model.bs4nn)"
    )
    p.add_argument("--resume", action="store_true", help="continue from <out>.ckpt")
    p.add_argument(
        "--data-dir", type=existing_dir, help="where the datasets are (default: $BS4NN_DATA, cache)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-plot", action="store_true", help="do not write the training curves <out>.training.png"
    )
    p.set_defaults(func=_train)

    e = subparsers.add_parser(
        "eval",
        help="evaluate a model on the test set",
        description="Accuracy (strict and tie-inclusive decision), tied decisions, mean "
        "response time, spikes per layer, per-class output "
        "firing times, confusion matrix.",
    )
    add_model_argument(e, "model file")
    e.add_argument(
        "--dataset",
        "--data",
        type=dataset_spec,
        help="default: the model's dataset (own data: give its .npz file or folder)",
    )
    e.add_argument(
        "--split", choices=("test", "train"), default="test", help="images to score (default test)"
    )
    e.add_argument("--limit", type=positive_int, metavar="N", help="only the first N images")
    e.add_argument("--json", action="store_true", help="print JSON instead of text")
    e.add_argument(
        "--plots",
        type=path,
        metavar="DIR",
        help="also write confusion.png, output_steps.png, "
        "decision_step_per_class.png and, for a model with a training history, "
        f"training.png into DIR: {folder_choices('eval', '--plots')}",
    )
    e.add_argument("--data-dir", type=existing_dir, help="where the datasets are")
    e.set_defaults(func=_eval)

    c = subparsers.add_parser(
        "calibrate",
        help="choose thresholds for earlier decisions on the validation split",
        description="Trade accuracy for earlier decisions (fewer instructions on the board): "
        "choose each layer's integer threshold K to classify the most validation images "
        "correctly (the model's own validation split, never the test set) with a mean "
        "decision step of at most --max-mean-step on them, searching every K from 1 to 1.6 "
        "times the model's; write the model with those thresholds to --out (its metrics "
        "record the budget and the choice). A budget no K reaches is refused, naming the "
        "earliest mean step they reach.",
    )
    add_model_argument(c, "model file (binary weights, trained by bs4nn)")
    c.add_argument(
        "--max-mean-step",
        type=mean_step,
        required=True,
        metavar="S",
        help=f"largest mean decision step (0..{LAST_STEP}) allowed on the validation split",
    )
    c.add_argument("--out", type=path, required=True, help="the new model file")
    c.add_argument(
        "--dataset",
        "--data",
        type=dataset_spec,
        help="default: the model's dataset (own data: give its .npz file or folder)",
    )
    c.add_argument("--data-dir", type=existing_dir, help="where the datasets are")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(func=_calibrate)


def _train(args: argparse.Namespace) -> int:
    from bs4nn.trainer.commands import run_train

    return run_train(args)


def _eval(args: argparse.Namespace) -> int:
    from bs4nn.trainer.commands import run_eval

    return run_eval(args)


def _calibrate(args: argparse.Namespace) -> int:
    from bs4nn.trainer.commands import run_calibrate

    return run_calibrate(args)
