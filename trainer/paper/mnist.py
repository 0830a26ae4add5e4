"""The paper's MNIST figures (1 to 7) on the BS4NN model (and S4NN where the paper shows it).

Every experiment takes a Context and returns its entry of results.json: `ours` (one line),
`numbers`, `models`, `split`, `differs` (where and why ours differs) and `figures`.
"""

from __future__ import annotations

import numpy as np

from bs4nn.trainer.datasets import CLASS_NAMES
from bs4nn.trainer.evaluate import (
    firing_steps,
    forward_batch,
    output_potentials,
    tie_inclusive_of,
)
from bs4nn.trainer.paper import figures, numbers
from bs4nn.trainer.paper.context import Context
from bs4nn.trainer.paper.models import SPECS
from bs4nn.trainer.plots import plot_output_steps
from bs4nn.trainer.semantics import K_MIN, TMAX, threshold_count

NAMES = CLASS_NAMES["mnist"]
JITTER_LEVELS = [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]  # % of Imax
JITTER_SEED = 0
SWEEP_THETAS = list(range(10, 201, 10))  # paper scale: the trained thresholds are 100
N_WEIGHT_IMAGES = 16


def jitter(images: np.ndarray, percent: int) -> np.ndarray:
    """Pixels plus noise uniform in [-J, J], J = percent% of 255, rounded and clipped to 0..255;
    drawn by numpy's default_rng([JITTER_SEED, percent]) in one uniform() call of the images'
    shape (every pixel, background included)."""
    j = 255.0 * percent / 100.0
    noise = np.random.default_rng([JITTER_SEED, percent]).uniform(-j, j, size=images.shape)
    return np.clip(np.rint(images + noise), 0, 255).astype(np.uint8)


def _roughness(loss: list[float]) -> float:
    """Mean |log change| of the loss from one epoch to the next (0 = a smooth curve)."""
    lg = np.log(np.asarray(loss, dtype=np.float64))
    return float(np.mean(np.abs(np.diff(lg)))) if len(lg) > 1 else 0.0


def fig1(ctx: Context) -> dict:
    curves, nums = {}, {}
    for key, name in (("mnist", "BS4NN"), ("mnist-s4nn", "S4NN")):
        hist = ctx.model(key).metrics["history"]
        epochs = [h["epoch"] for h in hist]
        loss = [h["train_loss"] for h in hist]
        curves[name] = (epochs, loss)
        nums[name] = {
            "epochs": epochs,
            "mse": loss,
            "final_mse": loss[-1],
            "roughness": _roughness(loss),
        }
    figures.plot_mse(curves, ctx.figure("fig1"), "training MSE per epoch, MNIST 784-600-10")
    b, s = nums["BS4NN"], nums["S4NN"]
    return {
        "ours": f"BS4NN final MSE {b['final_mse']:.5f} after {len(b['epochs'])} epochs, S4NN "
        f"{s['final_mse']:.5f} after {len(s['epochs'])}; epoch-to-epoch roughness "
        f"(mean |d log MSE|) {b['roughness']:.3f} vs {s['roughness']:.3f}",
        "numbers": nums,
        "models": [SPECS["mnist"].file, SPECS["mnist-s4nn"].file],
        "split": "mnist training samples (55,000; the running MSE of each epoch)",
        "differs": "Our MSE is lower from the start: the presets' targets (gamma 3, tie lead) "
        "and smaller initial weights differ from Table 1 (docs/training.md), and the "
        "S4NN run is shorter than the paper's; BS4NN is "
        + (
            "the rougher curve, as in the paper."
            if b["roughness"] > s["roughness"]
            else "not the rougher curve here, unlike the paper."
        ),
        "figures": ["fig1"],
    }


def fig2(ctx: Context) -> dict:
    model = ctx.model("mnist")
    images, labels = ctx.test_set("mnist")
    ev = ctx.evaluate("mnist")
    times = firing_steps(model, images, len(model.weights) - 1)
    figures.plot_output_raster(
        times,
        labels,
        ctx.figure("fig2a"),
        NAMES,
        f"output firing steps (full run), {ctx.split('mnist')}",
    )
    grid = np.array(ev.per_class_mean_output_step, dtype=np.float64)
    plot_output_steps(
        ev.per_class_mean_output_step,
        ctx.figure("fig2b"),
        f"mean output firing step (full run, {TMAX} = silent)\n{ctx.split('mnist')}",
        NAMES,
    )
    present = ~np.isnan(grid).all(axis=1)
    diag = np.diag(grid)
    own_first = [
        bool(np.argmin(grid[c]) == c and (grid[c] > grid[c, c]).sum() == 9)
        for c in range(10)
        if present[c]
    ]
    slowest = int(np.nanargmax(np.where(present, diag, np.nan)))
    return {
        "ours": f"own neuron earliest for {sum(own_first)} of {len(own_first)} classes; "
        f"diagonal {', '.join(f'{x:.0f}' for x in diag)}; slowest class {slowest} "
        f"({diag[slowest]:.0f} steps)",
        "numbers": {
            "per_class_mean_output_step": ev.per_class_mean_output_step,
            "diagonal": [None if np.isnan(x) else float(x) for x in diag],
            "own_neuron_first": sum(own_first),
            "slowest_class": slowest,
            "paper_diagonal": numbers.FIG2_DIAGONAL,
        },
        "models": [SPECS["mnist"].file],
        "split": ctx.split("mnist"),
        "differs": "Rows are our true classes and columns output neurons (the paper's figure "
        "is transposed); silent outputs count as 256. The paper's digit 1 waits "
        "for late input spikes (188 steps); ours is decided "
        f"{'early' if diag[1] < np.nanmedian(diag) else 'late'} ({diag[1]:.0f} "
        "steps): our hidden threshold (K "
        f"{model.thresholds()[0]}) differs from the paper's (theta 100 / alpha 5 = "
        "K 20) and the preset's weights start 10x smaller, so other hidden "
        "features form.",
        "figures": ["fig2a", "fig2b"],
    }


def _class_mean(values: np.ndarray, labels: np.ndarray) -> list[float | None]:
    return [float(values[labels == c].mean()) if (labels == c).any() else None for c in range(10)]


def spikes_per_class(fr, labels: np.ndarray) -> dict[str, list[float | None]]:
    """Mean spikes to the decision per class: input, all hidden layers, total (with output)."""
    sp = fr.spikes.astype(np.float64)
    return {
        "input": _class_mean(sp[:, 0], labels),
        "hidden": _class_mean(sp[:, 1:-1].sum(axis=1), labels),
        "total": _class_mean(sp.sum(axis=1), labels),
    }


def fig3(ctx: Context) -> dict:
    labels = ctx.test_set("mnist")[1]
    per = spikes_per_class(ctx.forward("mnist"), labels)
    figures.plot_spikes_per_class(
        per, ctx.figure("fig3"), NAMES, f"spikes to the decision, {ctx.split('mnist')}"
    )
    inp, hid = per["input"], per["hidden"]
    others = [c for c in range(10) if c != 1 and inp[c] is not None]
    mean_in = float(np.mean([inp[c] for c in others])) if others else None
    mean_hid = float(np.mean([hid[c] for c in others])) if others else None
    one = f"digit 1: {inp[1]:.0f} input, {hid[1]:.0f} hidden" if inp[1] is not None else ""
    return {
        "ours": (
            f"digits other than 1: {mean_in:.0f} input, {mean_hid:.0f} hidden spikes on "
            f"average; {one}"
        )
        if mean_in is not None
        else one,
        "numbers": per,
        "models": [SPECS["mnist"].file],
        "split": ctx.split("mnist"),
        "differs": "Total counts input, hidden and the output spikes of the decision step. "
        "Our hidden layer is sparser than the paper's (higher K, see fig2); "
        "digit 1 needs fewer input spikes than other digits here, the opposite of "
        "the paper's, for the same reason as its early decision in fig2."
        if inp[1] is not None and mean_in is not None and inp[1] < mean_in
        else "Total counts input, hidden and the output spikes of the decision step. "
        "Our hidden layer is sparser than the paper's (higher K, see fig2).",
        "figures": ["fig3"],
    }


def _overtake_step(v: np.ndarray, label: int, fire: int) -> int:
    """First step from which the label's potential is the strict maximum up to its firing."""
    others = np.delete(v, label, axis=1).max(axis=1)
    lead = v[:, label] > others
    end = min(fire, TMAX - 1)
    t = end
    while t > 0 and lead[t - 1]:
        t -= 1
    return int(t) if lead[end] else int(end)


def fig4(ctx: Context) -> dict:
    model = ctx.model("mnist")
    images, labels = ctx.test_set("mnist")
    fr = ctx.forward("mnist")
    nines = np.flatnonzero((labels == 9) & (fr.labels == 9))
    if not len(nines):
        nines = np.flatnonzero(fr.labels == labels)
    # a typical '9': the first correct one decided at the median step of the correct ones
    steps = fr.steps[nines]
    idx = int(nines[np.argmin(np.abs(steps - np.median(steps)))]) if len(nines) else 0
    label = int(labels[idx])
    v, times = output_potentials(model, images[idx])
    fire = int(times[label])
    over = _overtake_step(v, label, fire)
    shown = sorted({over, min(fire, TMAX - 1), 100, 190, 250})
    figures.plot_potentials(
        v,
        float(model.thetas[-1]),
        images[idx],
        shown,
        ctx.figure("fig4"),
        f"output potentials, test image {idx} (a '{label}')",
    )
    return {
        "ours": f"test image {idx} (a '{label}'): output {label} overtakes at step {over} and "
        f"fires at step {fire}",
        "numbers": {
            "image": idx,
            "label": label,
            "overtake_step": over,
            "fire_step": fire,
            "output_steps": times.tolist(),
            "shown_steps": shown,
            "paper": numbers.FIG4_STEPS,
        },
        "models": [SPECS["mnist"].file],
        "split": f"mnist test image {idx}",
        "differs": "Another '9' than the paper's (its image is not identified): the first "
        "correctly decided '9' at the median decision step of those; our decisions "
        "come later on average than the paper's (fig7). The "
        "shown steps are ours (overtake, firing) plus the paper's 100, 190, 250.",
        "figures": ["fig4"],
    }


def fig5(ctx: Context) -> dict:
    images, labels = ctx.test_set("mnist")
    nets = {"BS4NN": ctx.model("mnist"), "S4NN": ctx.model("mnist-s4nn")}
    curves = {name: [] for name in nets}
    ties = {name: [] for name in nets}
    samples = []
    for level in ctx.bar(JITTER_LEVELS, "fig5 jitter levels"):
        noisy = jitter(images, level)
        samples.append(noisy[0])
        for name, m in nets.items():
            fr = forward_batch(m, noisy)
            curves[name].append(float(np.mean(fr.labels == labels)))
            ties[name].append(float(np.mean(tie_inclusive_of(fr, labels))))
    figures.plot_jitter_images(samples, JITTER_LEVELS, ctx.figure("fig5a"))
    figures.plot_jitter_accuracy(
        JITTER_LEVELS,
        curves,
        ctx.figure("fig5b"),
        f"accuracy under jitter noise, {ctx.split('mnist')}",
    )
    at = {lv: i for i, lv in enumerate(JITTER_LEVELS)}
    b, s = curves["BS4NN"], curves["S4NN"]
    s_drop = s[at[0]] - s[at[100]]
    return {
        "ours": f"BS4NN {100 * b[at[0]]:.1f}% clean, {100 * b[at[50]]:.1f}% at J 50%, "
        f"{100 * b[at[100]]:.1f}% at 100% (tie-inclusive "
        f"{100 * ties['BS4NN'][at[50]]:.1f}% and {100 * ties['BS4NN'][at[100]]:.1f}%); "
        f"S4NN {100 * s[at[0]]:.1f}% clean, "
        f"{100 * s[at[100]]:.1f}% at 100% (drop {100 * s_drop:.1f} points)",
        "numbers": {
            "levels": JITTER_LEVELS,
            "accuracy": curves,
            "accuracy_tie_inclusive": ties,
            "seed": JITTER_SEED,
            "paper": numbers.FIG5,
        },
        "models": [SPECS["mnist"].file, SPECS["mnist-s4nn"].file],
        "split": ctx.split("mnist"),
        "differs": "Strict decision; the noise is added to every pixel (background included) "
        "and clipped to 0..255, our reading of the paper's recipe. "
        + (
            "Our S4NN loses more than the paper's 5 points at J 100%: it is our "
            "trainer's S4NN (BS4NN preset with real weights, fewer epochs), not the "
            "S4NN paper's network."
            if s_drop > numbers.FIG5["s4nn_drop_at_most"]
            else "Our S4NN, like the paper's, loses at most 5 points."
        ),
        "figures": ["fig5a", "fig5b"],
    }


def positive_share(weights: np.ndarray) -> float:
    """Share of weights whose sign is +1 (sign(0) = +1, as binarize)."""
    return float(np.mean(np.asarray(weights) >= 0))


def fig6(ctx: Context) -> dict:
    model = ctx.model("mnist")
    hidden = model.weights[0]
    pick = np.sort(
        np.random.default_rng(0).choice(
            len(hidden), min(N_WEIGHT_IMAGES, len(hidden)), replace=False
        )
    )
    figures.plot_weight_pairs(
        hidden[pick],
        ctx.figure("fig6"),
        f"{SPECS['mnist'].file}, hidden neurons {', '.join(str(i) for i in pick)}: real "
        "weights and their signs",
    )
    shares = [positive_share(w) for w in model.weights]
    return {
        "ours": f"{100 * shares[0]:.1f}% of hidden and {100 * shares[-1]:.1f}% of output "
        "weights positive",
        "numbers": {"positive_share": shares, "neurons": pick.tolist(), "paper": numbers.FIG6},
        "models": [SPECS["mnist"].file],
        "split": "weights (no images)",
        "differs": "Our preset starts from 10x smaller all-positive weights and clips them "
        "(docs/training.md), which lets more signs flip to negative.",
        "figures": ["fig6"],
    }


def sweep_thresholds(model, theta: float) -> list[int]:
    """Integer K per layer for the paper-scale threshold `theta`: the model's own thetas scaled
    by theta / 100 (100 = as trained), K_l = ceil(theta_l * theta / 100 / alpha_l)."""
    return [
        max(K_MIN, threshold_count(t * theta / 100.0, a))
        for t, a in zip(model.thetas, model.alphas, strict=True)
    ]


def fig7(ctx: Context) -> dict:
    model = ctx.model("mnist")
    images, labels = ctx.test_set("mnist")
    points = []
    for theta in ctx.bar(SWEEP_THETAS, "fig7 thresholds"):
        ks = sweep_thresholds(model, theta)
        fr = forward_batch(model, images, ks)
        points.append(
            {
                "theta": theta,
                "K": ks,
                "accuracy": float(np.mean(fr.labels == labels)),
                "accuracy_tie_inclusive": float(np.mean(tie_inclusive_of(fr, labels))),
                "mean_decision_step": float(fr.steps.mean()),
                "fallback_rate": float(fr.fallback.mean()),
            }
        )
    figures.plot_threshold_sweep(
        SWEEP_THETAS,
        [p["accuracy"] for p in points],
        [p["mean_decision_step"] for p in points],
        [p["fallback_rate"] for p in points],
        100.0,
        ctx.figure("fig7"),
        f"speed / accuracy vs threshold, {ctx.split('mnist')}",
    )
    best = max(points, key=lambda p: p["accuracy"])
    by = {p["theta"]: p for p in points}
    return {
        "ours": f"peak {100 * best['accuracy']:.1f}% at theta {best['theta']} (K "
        f"{best['K']}); theta 80: {by[80]['mean_decision_step']:.1f} steps at "
        f"{100 * by[80]['accuracy']:.1f}% vs {by[100]['mean_decision_step']:.1f} at "
        f"{100 * by[100]['accuracy']:.1f}% for theta 100 (K {by[100]['K']}); "
        f"tie-inclusive {100 * by[80]['accuracy_tie_inclusive']:.1f}% and "
        f"{100 * by[100]['accuracy_tie_inclusive']:.1f}%",
        "numbers": {"points": points, "paper": numbers.FIG7},
        "models": [SPECS["mnist"].file],
        "split": ctx.split("mnist"),
        "differs": "Our model was trained with thresholds 150/250 and calibrated (K 35/42), "
        "so theta is on the paper's scale: theta 100 = the trained thresholds, "
        "theta x = those scaled by x/100; theta 0 cannot run (K >= 1). Integer "
        "semantics of the board (bs4nn eval's code with other K).",
        "figures": ["fig7"],
    }
