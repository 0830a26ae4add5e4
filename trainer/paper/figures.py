"""The paper's figures that trainer/plots.py does not draw already (same style: Agg, PNG_DPI,
labelled axes, class names). The confusion matrix and the mean output firing steps per class
are trainer/plots.py's."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bs4nn.trainer.datasets import COLS, ROWS
from bs4nn.trainer.plots import pyplot, save
from bs4nn.trainer.semantics import TMAX

LAYER_COLORS = {"input": "tab:blue", "hidden": "tab:orange", "total": "tab:gray"}


def _ticks(ax, names: list[str], axis: str = "x") -> None:
    rot = 45 if max(len(n) for n in names) > 2 else 0
    if axis == "x":
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=rot, ha="right" if rot else "center", fontsize=8)


def plot_mse(curves: dict[str, tuple[list[int], list[float]]], path: Path, title: str) -> Path:
    """Fig. 1: training MSE per epoch, one line per network."""
    fig, ax = pyplot().subplots(figsize=(6, 4))
    for name, (epochs, loss) in curves.items():
        ax.plot(epochs, loss, ".-", label=name, linewidth=1.2, markersize=4)
    ax.set_xlabel("training epoch")
    ax.set_ylabel("MSE on the training samples (Eq. 7)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=10)
    return save(fig, path)


def plot_output_raster(
    times: np.ndarray, labels: np.ndarray, path: Path, names: list[str], title: str
) -> Path:
    """Fig. 2a: every output neuron's firing step (full run) over the images ordered by class."""
    order = np.argsort(labels, kind="stable")
    t = times[order]
    fig, ax = pyplot().subplots(figsize=(8, 4))
    cmap = pyplot().get_cmap("tab10")
    x = np.arange(len(order))
    for k in range(t.shape[1]):
        ax.scatter(x, t[:, k], s=1, color=cmap(k % 10), label=f"neuron {names[k]}", rasterized=True)
    bounds = np.searchsorted(labels[order], np.arange(t.shape[1] + 1))
    for b in bounds[1:-1]:
        ax.axvline(b, color="black", linewidth=0.5)
    ax.set_xticks((bounds[:-1] + bounds[1:]) / 2, names, fontsize=7)  # each class's band
    ax.set_xlabel("test images, ordered by class (band = true class)")
    ax.set_ylabel(f"output firing step ({TMAX} = silent)")
    ax.set_ylim(-5, TMAX + 5)
    # outside the axes: inside, it covered the early firings of the later classes
    ax.legend(fontsize=7, markerscale=5, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title, fontsize=10)
    return save(fig, path)


def plot_spikes_per_class(
    spikes: dict[str, list[float | None]], path: Path, names: list[str], title: str
) -> Path:
    """Fig. 3 / 9c: mean spikes to the decision per class and layer (grouped bars); a class
    without images (None: a --limit of a few images) has no bars."""
    fig, ax = pyplot().subplots(figsize=(7, 4))
    width = 0.8 / len(spikes)
    for i, (layer, values) in enumerate(spikes.items()):
        ax.bar(
            np.arange(len(names)) + (i - (len(spikes) - 1) / 2) * width,
            [np.nan if v is None else v for v in values],
            width,
            label=layer,
            color=LAYER_COLORS.get(layer),
        )
    _ticks(ax, names)
    ax.set_xlabel("class")
    ax.set_ylabel("mean spikes to the decision")
    top = max((v for values in spikes.values() for v in values if v is not None), default=1)
    ax.set_ylim(0, 1.2 * top)
    ax.legend(ncol=len(spikes), loc="upper center", fontsize=8)
    ax.set_title(title, fontsize=10)
    return save(fig, path)


def plot_potentials(
    v: np.ndarray, theta: float, image: np.ndarray, shown: list[int], path: Path, title: str
) -> Path:
    """Fig. 4: output potentials over time with the threshold; the input spikes accumulated up
    to each of the `shown` steps as images."""
    plt = pyplot()
    fig = plt.figure(figsize=(9, 6))
    grid = fig.add_gridspec(2, len(shown), height_ratios=[3, 1.2])
    ax = fig.add_subplot(grid[0, :])
    cmap = plt.get_cmap("tab10")
    for k in range(v.shape[1]):
        ax.plot(np.arange(TMAX), v[:, k], color=cmap(k % 10), label=f"neuron {k}", linewidth=1.2)
    ax.axhline(theta, color="black", linestyle="--", linewidth=1, label="threshold")
    for s in shown:
        ax.axvline(s, color="gray", linestyle=":", linewidth=0.8)
    ax.set_xlabel("time step (t)")
    ax.set_ylabel("membrane potential V = alpha * count")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=10)
    times = 255 - image.astype(np.int64)
    for i, s in enumerate(shown):
        a = fig.add_subplot(grid[1, i])
        a.imshow(((image > 0) & (times <= s)).reshape(ROWS, COLS), cmap="gray_r")
        a.set_title(f"inputs to t = {s}", fontsize=8)
        a.axis("off")
    return save(fig, path)


def plot_jitter_images(noisy: list[np.ndarray], levels: list[int], path: Path) -> Path:
    """Fig. 5a: one test image under every jitter level."""
    plt = pyplot()
    cols = min(len(levels), 6)
    rows = -(-len(levels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for a in axes.ravel():
        a.axis("off")
    for a, img, level in zip(axes.ravel(), noisy, levels, strict=False):
        a.imshow(img.reshape(ROWS, COLS), cmap="gray", vmin=0, vmax=255)
        a.set_title(f"J = {level}%", fontsize=8)
    return save(fig, path)


def plot_jitter_accuracy(
    levels: list[int], curves: dict[str, list[float]], path: Path, title: str
) -> Path:
    """Fig. 5b: test accuracy against the jitter level, one line per network."""
    fig, ax = pyplot().subplots(figsize=(6, 4))
    for name, acc in curves.items():
        ax.plot(levels, [100 * a for a in acc], "o-", label=name, markersize=4)
    ax.set_xlabel("jitter noise J (% of Imax)")
    ax.set_ylabel("test accuracy, strict (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=10)
    return save(fig, path)


def plot_weight_pairs(real: np.ndarray, path: Path, title: str) -> Path:
    """Fig. 6: real proxy weights and their signs of some hidden neurons as 28x28 images."""
    plt = pyplot()
    n = len(real)
    cols = 8
    rows = 2 * -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.4 * rows), squeeze=False)
    for a in axes.ravel():
        a.axis("off")
    for i, w in enumerate(real):
        r, c = 2 * (i // cols), i % cols
        lim = np.abs(w).max() or 1.0
        axes[r, c].imshow(w.reshape(ROWS, COLS), cmap="gray", vmin=-lim, vmax=lim)
        signs = np.where(w >= 0, 1, -1).reshape(ROWS, COLS)
        axes[r + 1, c].imshow(signs, cmap="gray", vmin=-1, vmax=1)
        axes[r, c].set_title("W", fontsize=7)
        axes[r + 1, c].set_title("sign(W)", fontsize=7)
    fig.suptitle(f"{title}\n(white: positive, black: negative; W scaled per neuron)", fontsize=10)
    return save(fig, path)


def plot_threshold_sweep(
    thetas: list[float],
    accuracy: list[float],
    steps: list[float],
    fallback: list[float],
    trained: float,
    path: Path,
    title: str,
) -> Path:
    """Fig. 7: accuracy and mean response time against the threshold (two y axes), with the
    share of images no output spike decided (there the accuracy is that of the counts)."""
    fig, ax = pyplot().subplots(figsize=(6.5, 4))
    lines = ax.plot(
        thetas,
        [100 * a for a in accuracy],
        "o-",
        color="tab:blue",
        markersize=4,
        label="accuracy, strict",
    )
    lines += ax.plot(
        thetas, [100 * f for f in fallback], ":", color="tab:gray", label="fallback decisions"
    )
    ax.set_xlabel("threshold theta (paper scale: the trained thresholds = 100)")
    ax.set_ylabel("test images (%)")
    ax.axvline(trained, color="black", linestyle=":", linewidth=1)
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    lines += ax2.plot(
        thetas, steps, "s--", color="tab:red", markersize=4, label="mean response time"
    )
    ax2.set_ylabel("mean response time (steps)", color="tab:red")
    ax.legend(handles=lines, loc="center right", fontsize=8)
    ax.set_title(title, fontsize=10)
    return save(fig, path)


def plot_class_samples(
    images: np.ndarray, labels: np.ndarray, names: list[str], path: Path, per_class: int = 8
) -> Path:
    """Fig. 8: the first `per_class` images of every class, one row per class."""
    plt = pyplot()
    fig, axes = plt.subplots(
        len(names), per_class, figsize=(per_class, len(names) * 1.05), squeeze=False
    )
    for c, name in enumerate(names):
        idx = np.flatnonzero(labels == c)[:per_class]
        for j in range(per_class):
            a = axes[c, j]
            a.set_xticks([])
            a.set_yticks([])
            if j < len(idx):
                a.imshow(images[idx[j]].reshape(ROWS, COLS), cmap="gray_r")
        axes[c, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    return save(fig, path)
