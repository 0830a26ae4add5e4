"""Train a preset to completion and evaluate the selected model on the test set.

    python bench/reproduce.py PRESET [--rule paper|surrogate] [--epochs N] [--out FILE] [--resume]

The default output is models/PRESET.bs4nn (paper's rule) or models/PRESET-surrogate.bs4nn.

Writes the model and, beside it, `<name>.eval.json` (the `bs4nn eval --json` output) and
`<name>.training.png` (accuracy and loss per epoch, as `bs4nn train` draws them). Prints
the per-epoch summaries, then `wall_seconds=...` and `test_accuracy=...` (strict decision rule,
model selected on the validation split) on the last line.
"""

import argparse
import time
from pathlib import Path

from bs4nn.trainer.plots import model_name, training_curves, training_plot_path
from bs4nn.trainer.presets import PRESETS
from bs4nn.trainer.surrogate import make_surrogate_config, train_surrogate
from bs4nn.trainer.train import make_config, train

MODELS = Path(__file__).resolve().parents[1] / "models"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the presets with a dataset (generic is for own data, which this script does not take)
    ap.add_argument("preset", choices=sorted(n for n, p in PRESETS.items() if p["dataset"]))
    ap.add_argument("--rule", choices=("paper", "surrogate"), default="paper")
    ap.add_argument("--epochs", type=int, help="default: the preset's")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="model file (default models/PRESET[-surrogate].bs4nn)")
    ap.add_argument("--resume", action="store_true", help="continue from <out>.ckpt")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--data-dir")
    args = ap.parse_args()

    overrides = {"seed": args.seed}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.rule == "surrogate":
        cfg, run, suffix = (
            make_surrogate_config(args.preset, **overrides),
            train_surrogate,
            "-surrogate",
        )
    else:
        cfg, run, suffix = make_config(args.preset, **overrides), train, ""
    out = Path(args.out) if args.out else MODELS / f"{args.preset}{suffix}.bs4nn"
    t0 = time.perf_counter()
    result = run(
        cfg, out, resume=args.resume, data_dir=args.data_dir, progress=not args.no_progress
    )
    wall = time.perf_counter() - t0
    ev = result.test  # scored once, by the training run
    ev.save_beside(out)
    training_curves(result.model.metrics, training_plot_path(out), model_name(result.model))
    print(f"best_epoch={result.best_epoch} val_accuracy={result.val_accuracy:.4f}")
    print(f"wall_seconds={wall:.0f}")
    print(f"test_accuracy={ev.accuracy:.4f}")


if __name__ == "__main__":
    main()
