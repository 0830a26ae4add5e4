"""The MNIST accuracy-cost front: shipped models and their budget-calibrated thresholds.

    python bench/front.py [--models M1 M2 ...] [--budgets 30,40,50,60,80,100] [--limit 1000]
                          [--out out/front] [--plot docs/front-mnist.png]

For each model: its own thresholds, and for each budget of mean decision step the thresholds
`bs4nn calibrate --max-mean-step` chooses on the model's validation split (never the test
set). Every setting runs on the emulated board (qemu-mps2-an386, default kernel) through
`bs4nn sweep` on the first --limit test images, every reply checked against the integer
reference; its cost is the board's mean instructions per inference on those images
(QEMU icount proxy; the same to one SysTick tick, 40 instructions, from run to run). Its
accuracy is the strict test accuracy on all 10,000 test images from the integer semantics the
board was just checked against (1,000 images would move it by +-0.5%). Prints one line per
setting and draws accuracy against mean instructions, one line per model, into --plot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bs4nn.codegen.boards import DEFAULT_BOARD
from bs4nn.host.sweep import run_sweep
from bs4nn.trainer.calibrate import score_box, validation_split
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.evaluate import forward_batch
from bs4nn.trainer.model import Model
from bs4nn.trainer.options import positive_floats, positive_int
from bs4nn.trainer.plots import pyplot, save

ROOT = Path(__file__).resolve().parents[1]
MODELS = [ROOT / "models" / "mnist-600.bs4nn", ROOT / "models" / "mnist-600-surrogate.bs4nn"]
BUDGETS = [30.0, 40.0, 50.0, 60.0, 80.0, 100.0]


def measure(path: Path, budgets: list[float], limit: int, out: Path) -> list[dict]:
    """One row per setting of one model: its own K, then each budget's."""
    model = Model.load(path)
    images, labels = load_dataset(model.dataset_to_run(), "test")
    rows = []
    for kind, sweep in (
        ("own", dict(scales=[1.0])),
        ("budget", dict(budgets=budgets)),
    ):
        points = run_sweep(path, limit=limit, out_dir=out / f"{path.stem}-{kind}", **sweep)
        for pt in points:
            fr = forward_batch(model, images, pt.thresholds)
            rows.append(
                {
                    "model": path.stem,
                    "setting": "own K" if kind == "own" else f"budget {pt.setting:g}",
                    "budget": None if kind == "own" else pt.setting,
                    "K": pt.thresholds,
                    "test_accuracy": float(np.mean(fr.labels == labels)),
                    "test_mean_step": float(fr.steps.mean()),
                    "board_images": pt.images,
                    "board_instructions_mean": pt.counter_mean,
                    "board_mismatches": pt.mismatches,
                }
            )
    val_images, val_labels = validation_split(model)
    box = score_box(model, val_images, val_labels)  # the validation figures of every row's K
    index = {tuple(k): i for i, k in enumerate(box.thresholds.tolist())}
    for row in rows:
        i = index[tuple(row["K"])]
        row["val_accuracy"] = int(box.right[i]) / box.images
        row["val_mean_step"] = int(box.step_sum[i]) / box.images
    return rows


def plot(rows: list[dict], path: Path, limit: int) -> None:
    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = sorted(
            (r for r in rows if r["model"] == name), key=lambda r: r["board_instructions_mean"]
        )
        xs = [r["board_instructions_mean"] for r in mine]
        ys = [100 * r["test_accuracy"] for r in mine]
        (line,) = ax.plot(xs, ys, "o-", label=name, alpha=0.8)
        # budgets that keep the same K are one point: one label for all of them
        budgets_at: dict[tuple, list[str]] = {}
        for r in mine:
            if r["budget"] is None:
                ax.plot(
                    r["board_instructions_mean"],
                    100 * r["test_accuracy"],
                    "*",
                    markersize=14,
                    color=line.get_color(),
                )
            else:
                budgets_at.setdefault(tuple(r["K"]), []).append(f"{r['budget']:g}")
        for r in mine:
            names = budgets_at.pop(tuple(r["K"]), None)
            if names:
                ax.annotate(
                    ", ".join(sorted(names, key=float)),
                    (r["board_instructions_mean"], 100 * r["test_accuracy"]),
                    fontsize=7,
                    textcoords="offset points",
                    xytext=(3, -9),
                )
    ax.set_xlabel(f"mean instructions per inference, {DEFAULT_BOARD} (first {limit:,} test images)")
    ax.set_ylabel("test accuracy, strict (%, all 10,000)")
    ax.set_title(
        "MNIST 784-600-10: own K (star), step budgets on validation (numbers)", fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    save(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", type=Path, default=MODELS)
    ap.add_argument("--budgets", type=positive_floats, default=BUDGETS)
    ap.add_argument("--limit", type=positive_int, default=1000)
    ap.add_argument("--out", type=Path, default=Path("out/front"))
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "front-mnist.png")
    args = ap.parse_args()
    rows = []
    for path in args.models:
        rows += measure(path, args.budgets, args.limit, args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "front.json").write_text(json.dumps(rows, indent=1) + "\n")
    plot(rows, args.plot, args.limit)
    print()
    for r in rows:
        print(
            f"{r['model']:26s} {r['setting']:11s} K={','.join(map(str, r['K'])):6s} "
            f"val {100 * r['val_accuracy']:.2f}% step {r['val_mean_step']:6.2f}  "
            f"test {100 * r['test_accuracy']:.2f}% step {r['test_mean_step']:6.2f}  "
            f"board {r['board_instructions_mean']:9,.0f} instructions  "
            f"mismatches {r['board_mismatches']}/{r['board_images']}"
        )
    print(f"plot: {args.plot}, figures: {args.out / 'front.json'}")


if __name__ == "__main__":
    main()
