"""What `bs4nn train`, `bs4nn eval` and `bs4nn calibrate` do (their options: trainer/cli.py)."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bs4nn.trainer.calibrate import calibrate_for_budget, validation_split
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import evaluate
from bs4nn.trainer.files import OutFolder, check_not_input, check_output, file_lock, staged_dir
from bs4nn.trainer.memory import available_memory, training_memory_problem
from bs4nn.trainer.model import Model, check_model_out
from bs4nn.trainer.options import given_options
from bs4nn.trainer.plots import (
    OUTPUT_STEPS_PLOT,
    eval_plots,
    model_name,
    training_curves,
    training_plot_path,
)
from bs4nn.trainer.presets import is_own_data
from bs4nn.trainer.resume_hints import offer_resume
from bs4nn.trainer.run import checkpoint_path
from bs4nn.trainer.semantics import check_thresholds, firmware_size_problem, network_shape
from bs4nn.trainer.surrogate import make_surrogate_config, train_surrogate
from bs4nn.trainer.train import TrainConfig, make_config, train

# options of the paper's rule only, and of the surrogate rule only (attribute names); the
# paper's rule takes --theta as `thetas` and the others as config fields of the same name
PAPER_FIELDS = ("silent_target", "ema_samples", "gamma", "tie_lead", "clip", "calibrate")
PAPER_ONLY = ("theta", *PAPER_FIELDS)
SURROGATE_ONLY = ("levels", "shift", "count_loss")
EVAL_FOLDER = OutFolder("eval", (OUTPUT_STEPS_PLOT,), option="--plots")


def _check_train_outputs(args: argparse.Namespace) -> None:
    """--out and its checkpoint, before any work: not at the first checkpoint, after epoch 1
    (whether the checkpoint may be there, the trainers check before any data is read)."""
    check_output(args.out, "--out", folder=False)
    _check_not_dataset(args.out, args.dataset, "model")
    check_model_out(args.out)
    check_output(checkpoint_path(args.out), "--out's checkpoint", folder=False)
    if not args.no_plot:
        check_output(training_plot_path(args.out), "--out's training plot", folder=False)


def _check_not_dataset(out: str, dataset: str | None, result: str) -> None:
    """Refuse an --out that is the user's own dataset file (saving would replace the data)."""
    if dataset is not None and is_own_data(dataset):
        check_not_input(out, Path(dataset).expanduser(), "dataset", result)


def _train_setup(args: argparse.Namespace):
    """(config, a description of its rule's settings, the trainer) for the command line."""
    overrides = {"val_size": args.val_size, "train_limit": args.train_limit, "seed": args.seed}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.rule == "surrogate":
        _reject(args, PAPER_ONLY, "the paper's rule")
        if args.weights != "binary":
            raise Bs4nnError("--rule surrogate trains binary weights only (drop --weights real)")
        for key in SURROGATE_ONLY:
            if getattr(args, key) is not None:
                overrides[key] = getattr(args, key)
        cfg = make_surrogate_config(
            args.preset, hidden=args.hidden, dataset=args.dataset, **overrides
        )
        details = (
            f"surrogate rule, {cfg.levels} levels, training K {cfg.k_train}, shift "
            f"{cfg.shift}, count loss {cfg.count_loss}"
        )
        return cfg, details, train_surrogate
    _reject(args, SURROGATE_ONLY, "--rule surrogate")
    for key in PAPER_FIELDS:
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    cfg = make_config(
        args.preset,
        hidden=args.hidden,
        thetas=args.theta,
        dataset=args.dataset,
        weights=args.weights,
        **overrides,
    )
    details = f"{cfg.weights} weights, thetas {cfg.thetas}, alphas {cfg.alphas}"
    return cfg, details, train


def run_train(args: argparse.Namespace) -> int:
    _check_train_outputs(args)
    cfg, details, run = _train_setup(args)
    problem = training_memory_problem(cfg.layer_sizes, available_memory())
    if problem is not None:
        raise Bs4nnError(problem)
    epochs = f"{cfg.epochs} epoch" + ("" if cfg.epochs == 1 else "s")
    shape = network_shape(cfg.layer_sizes)

    def announce() -> None:  # once the data and any checkpoint are found good
        print(f"training {shape} on {cfg.dataset}: {epochs}, seed {cfg.seed}, {details}")
        problem = firmware_size_problem(cfg.layer_sizes)
        if problem is not None:  # host-only models are allowed; said before the hours of training
            print(f"warning: {problem}: bs4nn export will refuse this model", file=sys.stderr)
        problem = cfg.silent_start() if isinstance(cfg, TrainConfig) else None
        if problem is not None:
            print(f"warning: {problem}", file=sys.stderr)

    # a checkpoint is kept from the end of the first epoch
    with file_lock(args.out), offer_resume(lambda: checkpoint_path(args.out).is_file()):
        result = run(
            cfg,
            args.out,
            resume=args.resume,
            data_dir=args.data_dir,
            progress=not args.no_progress,
            announce=announce,
        )
    if not args.no_plot:
        try:
            path = _training_plot(result.model, args.out, training_plot_path(args.out), sys.stdout)
        except KeyboardInterrupt:
            print(
                f"{args.out} is saved; its training curves were not drawn (`bs4nn eval "
                f"{shlex.quote(str(args.out))} --plots DIR` draws them)",
                file=sys.stderr,
            )
            raise
        if path is not None:
            print(f"training curves: {path}")
    return 0


def _reject(args: argparse.Namespace, names: tuple[str, ...], owner: str) -> None:
    given = given_options(args, names)
    if given:
        raise Bs4nnError(f"{', '.join(given)}: for {owner} only, not with --rule {args.rule}")


def run_eval(args: argparse.Namespace) -> int:
    if args.plots is not None:
        EVAL_FOLDER.check(Path(args.plots))  # fail before the work
    model = Model.load(args.model)
    if model.weight_kind == "binary":
        check_thresholds(model.thresholds())  # as export does: the firmware could not run it
    dataset = model.dataset_to_run(args.dataset)
    images, labels = load_dataset(dataset, args.split, args.data_dir)
    if args.limit is not None:
        images, labels = images[: args.limit], labels[: args.limit]
    result = evaluate(model, images, labels, dataset, args.split)
    if args.json:
        print(result.to_json())
    else:
        print(result.format_text())
    if args.plots is not None:
        stream = sys.stderr if args.json else sys.stdout  # keep --json output pure JSON
        # all plots or none: a failure leaves the folder as it was (or no new folder)
        with staged_dir(Path(args.plots), option="--plots") as staged:
            paths = eval_plots(result, staged)
            paths.append(_training_plot(model, args.model, staged / "training.png", stream))
        for path in paths:
            if path is not None:
                print(f"wrote {Path(args.plots) / path.name}", file=stream)
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    check_output(args.out, "--out", folder=False)
    check_not_input(args.out, args.model, "model", "calibrated one")
    _check_not_dataset(args.out, args.dataset, "calibrated model")
    check_model_out(args.out)
    model = Model.load(args.model)
    if model.weight_kind != "binary":
        raise Bs4nnError(
            f"{args.model} has real weights (S4NN); calibration chooses the integer thresholds "
            "of a binary model"
        )
    images, labels = validation_split(model, args.dataset, args.data_dir)
    from bs4nn.trainer.progress import progress_bar

    def progress(combos):
        return progress_bar(combos, desc="thresholds", unit=" passes", disable=args.no_progress)

    result = calibrate_for_budget(model, images, labels, args.max_mean_step, progress=progress)
    metrics = {k: v for k, v in model.metrics.items() if not k.startswith("test_")}
    metrics["val_accuracy"] = result.accuracy
    metrics["step_budget"] = result.record(model.content_hash)
    replace(result.model, metrics=metrics).save(args.out)
    print(
        f"K {','.join(map(str, result.thresholds_before))} -> "
        f"{','.join(map(str, result.thresholds))}: validation {100 * result.accuracy_before:.2f}% "
        f"-> {100 * result.accuracy:.2f}%, mean decision step {result.mean_step_before:.2f} -> "
        f"{result.mean_step:.2f} (at most {args.max_mean_step:g}) on {result.images} images; "
        f"wrote {args.out}"
    )
    return 0


def _training_plot(model: Model, model_path: str, path: Path, stream: TextIO) -> Path | None:
    """The training curves of `model` to `path`; a one-line note instead when it has none."""
    if not model.metrics.get("history"):
        print(f"{model_path} holds no training history: no {path.name} written", file=stream)
        return None
    return training_curves(model.metrics, path, model_name(model))
