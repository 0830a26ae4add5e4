"""PNG plots (matplotlib, Agg backend, imported only when a plot is drawn).

`training_curves` draws a trained model's per-epoch history (metrics["history"], kept by
trainer/train.py); `eval_plots` draws the figures of an EvalResult. The confusion matrix, the
decision step per class and `save` are the project's only versions of these drawings: host's
bench report uses them too (host imports trainer, never the other way round).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import user_path, write_atomic
from bs4nn.trainer.semantics import TMAX, network_shape

if TYPE_CHECKING:
    from bs4nn.trainer.evaluate import EvalResult
    from bs4nn.trainer.model import Model

PNG_DPI = 100
OUTPUT_STEPS_PLOT = "output_steps.png"  # of `eval --plots` only: it marks its folder


@dataclass
class TrainingSeries:
    """What `training_curves` draws, one value per history entry (accuracies as fractions)."""

    epochs: np.ndarray  # int64
    train_acc: np.ndarray  # running accuracy on the training samples during the epoch
    val_acc: np.ndarray  # validation, the epoch's weights (NaN: no validation split)
    val_acc_ema: np.ndarray  # validation, the averaged weights (NaN: no average kept)
    train_loss: np.ndarray
    best_epoch: int  # the epoch whose weights were saved (metrics["best_epoch"])
    selected_val: float  # their validation accuracy before calibration (NaN: unknown)
    selected_ema: bool  # True when the averaged weights of that epoch were the ones saved
    calibrated_val: float | None  # validation accuracy after threshold calibration


def training_series(metrics: dict) -> TrainingSeries:
    """The plotted series of a model's metrics (see trainer/train.py for the history entries).

    The selected weights are the averaged ones when their validation accuracy beat the epoch's
    own weights at the selected epoch (train.py keeps the strictly better of the two).
    """
    history = metrics.get("history") or []
    if not history:
        raise Bs4nnError(
            "the model's metrics hold no training history (it was not trained by "
            "`bs4nn train`): there are no training curves to draw"
        )

    def column(key: str, optional: bool = False) -> np.ndarray:
        values = []
        for i, entry in enumerate(history):
            if key not in entry and not optional:
                raise Bs4nnError(
                    f"training history entry {i} has no {key!r}: the model file "
                    "comes from another version of bs4nn"
                )
            v = entry.get(key)
            values.append(np.nan if v is None else float(v))
        return np.array(values, dtype=np.float64)

    epochs = column("epoch").astype(np.int64)
    val_acc, val_ema = column("val_acc"), column("val_acc_ema", optional=True)
    best = int(metrics.get("best_epoch", epochs[-1]))
    at = np.flatnonzero(epochs == best)
    raw = val_acc[at[-1]] if len(at) else np.nan
    ema = val_ema[at[-1]] if len(at) else np.nan
    selected_ema = bool(ema > raw)  # False when either is NaN
    calibration = metrics.get("calibration")
    return TrainingSeries(
        epochs=epochs,
        train_acc=column("train_acc"),
        val_acc=val_acc,
        val_acc_ema=val_ema,
        train_loss=column("train_loss"),
        best_epoch=best,
        selected_val=float(ema if selected_ema else raw),
        selected_ema=selected_ema,
        calibrated_val=None if calibration is None else float(calibration["val_after"]),
    )


def training_curves(metrics: dict, path: str | Path, name: str = "") -> Path:
    """Accuracy per epoch (training samples, validation, validation of the averaged weights)
    with the selected epoch and the calibrated accuracy marked; training loss below."""

    try:
        return _training_curves(metrics, path, name)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a hand-edited file
        raise Bs4nnError(
            f"the model's training metrics are damaged ({type(exc).__name__}: "
            f"{exc}); there are no training curves to draw"
        ) from None


def _training_curves(metrics: dict, path: str | Path, name: str) -> Path:
    from matplotlib.ticker import MaxNLocator

    s = training_series(metrics)
    plt = pyplot()
    fig, (ax, lx) = plt.subplots(
        2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]}
    )
    line = {"marker": ".", "markersize": 4, "linewidth": 1.2}
    ax.plot(
        s.epochs, 100 * s.train_acc, color="tab:gray", label="training samples (running)", **line
    )
    if not np.isnan(s.val_acc).all():
        ax.plot(s.epochs, 100 * s.val_acc, color="tab:blue", label="validation", **line)
    if not np.isnan(s.val_acc_ema).all():
        ax.plot(
            s.epochs,
            100 * s.val_acc_ema,
            color="tab:green",
            label="validation, averaged weights",
            **line,
        )
    for a in (ax, lx):
        a.axvline(s.best_epoch, color="black", linestyle=":", linewidth=1)
        a.grid(alpha=0.3)
    if not np.isnan(s.selected_val):
        which = "averaged weights" if s.selected_ema else "epoch's weights"
        ax.plot(
            [s.best_epoch],
            [100 * s.selected_val],
            "o",
            markersize=10,
            markerfacecolor="none",
            markeredgecolor="black",
            markeredgewidth=1.5,
            label=f"selected: epoch {s.best_epoch}, {which}, {100 * s.selected_val:.2f}%",
        )
    if s.calibrated_val is not None:
        ax.plot(
            [s.best_epoch],
            [100 * s.calibrated_val],
            "D",
            color="tab:red",
            markersize=7,
            label=f"with calibrated thresholds {100 * s.calibrated_val:.2f}%",
        )
    ax.set_ylabel("accuracy (%)")
    ax.legend(loc="best", fontsize=8)  # where it covers the fewest points
    ax.set_title(_training_title(metrics, s, name), fontsize=10)
    lx.plot(s.epochs, s.train_loss, color="tab:purple", **line)
    # log only where the loss spans a decade (below that, log ticks read 1.8x10^0, 1.6x10^0)
    if (s.train_loss > 0).all() and s.train_loss.max() >= 10 * s.train_loss.min():
        lx.set_yscale("log")
    lx.set_ylabel("training loss")
    lx.set_xlabel("epoch")
    lx.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    lx.set_xlim(s.epochs.min() - 0.5, s.epochs.max() + 0.5)
    return save(fig, Path(path))


def _training_title(metrics: dict, s: TrainingSeries, name: str) -> str:
    head = f"{name}: " if name else ""
    head += f"epoch {s.best_epoch} of {len(s.epochs)} selected on validation"
    figures = []
    if not np.isnan(s.selected_val):
        figures.append(f"validation {100 * s.selected_val:.2f}%")
    if s.calibrated_val is not None:
        figures.append(f"{100 * s.calibrated_val:.2f}% calibrated")
    if metrics.get("test_accuracy") is not None:
        figures.append(f"test {100 * metrics['test_accuracy']:.2f}% (strict)")
    if metrics.get("train_seconds") is not None:
        figures.append(f"{metrics['train_seconds']:.0f} s")
    return head + ("\n" + ", ".join(figures) if figures else "")


def eval_plots(result: EvalResult, out_dir: str | Path) -> list[Path]:
    """confusion.png, output_steps.png and decision_step_per_class.png in `out_dir`
    (created if missing)."""
    from bs4nn.trainer.datasets import class_names

    out_dir = make_dir(out_dir)
    where = " ".join(x for x in (result.dataset, result.split) if x)
    images = f"{result.n} {where} images" if where else f"{result.n} images"
    names = class_names(result.dataset)
    return [
        plot_confusion(
            result.confusion,
            out_dir / "confusion.png",
            title=f"confusion, {images}, accuracy {100 * result.accuracy:.2f}%",
            names=names,
        ),
        plot_output_steps(
            result.per_class_mean_output_step,
            out_dir / OUTPUT_STEPS_PLOT,
            f"mean output firing step, full run, {images}",
            names=names,
        ),
        plot_decision_steps(
            result.per_class_mean_decision_step,
            out_dir / "decision_step_per_class.png",
            title=f"decision step per class (mean {result.mean_decision_step:.1f}"
            f", fallback {100 * result.fallback_rate:.1f}%)",
        ),
    ]


def plot_confusion(
    confusion: list[list[int]],
    path: Path,
    title: str,
    xlabel: str = "predicted",
    names: list[str] | None = None,
) -> Path:
    """Confusion matrix, rows true class, columns predicted, non-zero counts in the cells
    (`names`: class names for the ticks, default the class numbers)."""
    plt = pyplot()
    conf = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(conf, cmap="Blues")
    for (i, j), v in np.ndenumerate(conf):
        if v:
            color = "white" if v > conf.max() / 2 else "black"
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("true class")
    ax.set_title(title)
    _class_ticks(ax, len(conf), len(conf), names)
    fig.colorbar(im, ax=ax)
    return save(fig, path)


def _class_ticks(ax, n_x: int, n_y: int, names: list[str] | None) -> None:
    """Integer ticks on both axes, labelled with the class names when given."""
    ax.set_xticks(range(n_x))
    ax.set_yticks(range(n_y))
    if names is not None:
        long = max(len(n) for n in names) > 2
        ax.set_xticklabels(
            names[:n_x], rotation=45 if long else 0, ha="right" if long else "center", fontsize=8
        )
        ax.set_yticklabels(names[:n_y], fontsize=8)


def plot_decision_steps(per_class: list[float | None], path: Path, title: str) -> Path:
    """Mean decision step per true class as bars (None or NaN: class absent)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(
        range(len(per_class)), [np.nan if x is None else x for x in per_class], color="tab:orange"
    )
    ax.set_xlabel("true class")
    ax.set_ylabel("mean decision step")
    ax.set_xticks(range(len(per_class)))
    ax.set_title(title)
    return save(fig, path)


def plot_output_steps(
    steps: list[list[float]], path: Path, title: str, names: list[str] | None = None
) -> Path:
    """Heatmap: true class x output neuron, mean firing step of a full run (TMAX = silent)."""
    plt = pyplot()
    grid = np.asarray(steps, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=TMAX)
    for (i, j), v in np.ndenumerate(grid):
        if not np.isnan(v):
            color = "black" if v > 0.6 * TMAX else "white"
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("output neuron")
    ax.set_ylabel("true class")
    _class_ticks(ax, grid.shape[1], grid.shape[0], names)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label=f"mean firing step ({TMAX} = silent)")
    return save(fig, path)


def training_plot_path(model_path: str | Path) -> Path:
    """models/mnist-600.bs4nn -> models/mnist-600.training.png (beside the model)."""
    p = Path(model_path)
    return p.with_name(p.name.removesuffix(".bs4nn") + ".training.png")


def model_name(model: Model) -> str:
    """'mnist 784-600-10' (plus ', real weights' for S4NN), for plot titles."""
    kind = "" if model.weight_kind == "binary" else f", {model.weight_kind} weights"
    return f"{model.dataset or 'unnamed dataset'} {network_shape(model.layer_sizes)}{kind}"


def make_dir(path: str | Path) -> Path:
    """`path` as a folder, created with its parents if missing."""
    path = Path(path)
    with user_path(path, "create the folder"):
        path.mkdir(parents=True, exist_ok=True)
    return path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    """Lay out, write `path` as PNG, whole or not at all (an earlier plot stays as it was),
    and close the figure."""
    plt = pyplot()
    fig.tight_layout()
    png = io.BytesIO()
    try:
        fig.savefig(png, format="png", dpi=PNG_DPI)
    finally:
        plt.close(fig)
    with user_path(path, "write the plot"):
        write_atomic(path, png.getvalue())
    return path
