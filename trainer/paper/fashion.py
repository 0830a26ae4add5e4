"""The paper's Fashion-MNIST figures (8 and 9) as results.json entries (see mnist.py)."""

from __future__ import annotations

import numpy as np

from bs4nn.trainer.datasets import CLASS_NAMES
from bs4nn.trainer.paper import figures
from bs4nn.trainer.paper.context import Context
from bs4nn.trainer.paper.mnist import spikes_per_class
from bs4nn.trainer.paper.models import SPECS
from bs4nn.trainer.plots import plot_confusion, plot_output_steps
from bs4nn.trainer.semantics import TMAX

NAMES = CLASS_NAMES["fashion-mnist"]
N_CONFUSIONS = 4  # most confused class pairs reported


def fig8(ctx: Context) -> dict:
    images, labels = ctx.test_set("fashion-mnist")
    figures.plot_class_samples(images, labels, NAMES, ctx.figure("fig8"))
    return {
        "ours": "the first 8 test images of every class",
        "numbers": {"classes": NAMES},
        "models": [],
        "split": ctx.split("fashion-mnist"),
        "differs": "Test images instead of the paper's unnamed samples.",
        "figures": ["fig8"],
    }


def fig9(ctx: Context) -> dict:
    ev = ctx.evaluate("fashion")
    labels = ctx.test_set("fashion-mnist")[1]
    split = ctx.split("fashion-mnist")
    plot_output_steps(
        ev.per_class_mean_output_step,
        ctx.figure("fig9a"),
        f"mean output firing step (full run, {TMAX} = silent)\n{split}",
        NAMES,
    )
    plot_confusion(
        ev.confusion,
        ctx.figure("fig9b"),
        f"confusion, accuracy {100 * ev.accuracy:.2f}% (strict)",
        names=NAMES,
    )
    per = spikes_per_class(ctx.forward("fashion"), labels)
    figures.plot_spikes_per_class(
        per, ctx.figure("fig9c"), NAMES, f"spikes to the decision, {split}"
    )
    grid = np.array(ev.per_class_mean_output_step, dtype=np.float64)
    present = ~np.isnan(grid).all(axis=1)
    own_first = sum(bool(np.argmin(grid[c]) == c) for c in range(10) if present[c])
    conf = np.array(ev.confusion)
    pair = conf + conf.T
    pairs = sorted(
        ((int(pair[i, j]), NAMES[i], NAMES[j]) for i in range(10) for j in range(i + 1, 10)),
        reverse=True,
    )[:N_CONFUSIONS]
    confused = "; ".join(f"{a} / {b} {n}" for n, a, b in pairs)
    total = [-1.0 if x is None else x for x in per["total"]]
    most = ", ".join(f"{NAMES[c]} {total[c]:.0f}" for c in np.argsort(total)[::-1][:3])
    return {
        "ours": f"own output earliest on average for {own_first} of {int(present.sum())} "
        f"classes; most confused pairs (both ways): {confused}; most spikes to the "
        f"decision: {most}",
        "numbers": {
            "per_class_mean_output_step": ev.per_class_mean_output_step,
            "confusion": ev.confusion,
            "own_neuron_first": own_first,
            "most_confused": [[a, b, n] for n, a, b in pairs],
            "spikes": per,
            "accuracy": ev.accuracy,
            "accuracy_tie_inclusive": ev.accuracy_tie_inclusive,
        },
        "models": [SPECS["fashion"].file],
        "split": split,
        "differs": f"Our 784-1000-10 model ({100 * ev.accuracy:.1f}% strict, "
        f"{100 * ev.accuracy_tie_inclusive:.1f}% tie-inclusive, "
        f"{100 * ev.fallback_rate:.1f}% decided at step 255) loses most of its "
        "errors to ties, which the strict decision gives to the largest count, "
        "then the lowest label.",
        "figures": ["fig9a", "fig9b", "fig9c"],
    }
