"""Bench figures from the per-image records: report.json, the console table and PNG plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bs4nn.host.records import Record, arrays
from bs4nn.trainer.evaluate import tie_inclusive_correct, tied
from bs4nn.trainer.plots import plot_confusion, plot_decision_steps, pyplot, save
from bs4nn.trainer.wording import TEST_IMAGE, counted

MAX_LISTED_MISMATCHES = 1000  # report.json lists at most this many image indices
# the link's stats a bench reports as trouble, each with its noun
LINK_TROUBLE = (
    ("bad_frames", "bad frame"),
    ("resends", "resend"),
    ("recoveries", "recovery"),
    ("error_replies", "error reply"),
)


def _stats(values: np.ndarray) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "p99": float(np.percentile(v, 99)),
        "min": float(v.min()),
        "max": float(v.max()),
    }


def summarize(records: list[Record], n_classes: int) -> dict:
    """Accuracy, agreement with the reference, counter, decision steps, spikes, wire bytes, of
    at least one record (a bench and a sweep measure at least one image)."""
    a = arrays(records)
    correct = a["label"] == a["true_label"]
    tie_ok = tie_inclusive_correct(
        output_steps=a["output_steps"],
        decision_steps=a["decision_step"],
        fallback=a["fallback"],
        predicted=a["label"],
        labels=a["true_label"],
    )
    mism = a["index"][~a["match"]]
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (a["true_label"], a["label"]), 1)
    per_class = []
    for c in range(n_classes):
        sel = a["true_label"] == c
        per_class.append(float(a["decision_step"][sel].mean()) if sel.any() else None)
    return {
        "images": len(a["index"]),
        "accuracy": float(correct.mean()),
        "accuracy_tie_inclusive": float(tie_ok.mean()),
        "reference_accuracy": float((a["ref_label"] == a["true_label"]).mean()),
        "mismatches": int(len(mism)),
        "agreement": float(a["match"].mean()),
        "mismatch_indices": [int(i) for i in mism[:MAX_LISTED_MISMATCHES]],
        "counter": _stats(a["counter"]),
        "decision_step": {
            **_stats(a["decision_step"]),
            "per_class": per_class,
        },
        "fallback_rate": float(a["fallback"].mean()),
        "tie_rate": float(tied(a["output_steps"], a["decision_step"]).mean()),
        "spikes_per_layer_mean": [float(x) for x in a["spikes"].mean(axis=0)],
        "counter_by_input_spikes": counter_by_input_spikes(a["counter"], a["spikes"][:, 0]),
        "wire_bytes_per_image": float(a["wire_bytes"].mean()),
        "rtt_ms": _stats(a["rtt_ms"]),
        "confusion": confusion.tolist(),
    }


def counter_by_input_spikes(counter: np.ndarray, input_spikes: np.ndarray) -> list[dict]:
    """Mean counter per fifth of the images, ordered by the input spikes they took up to the
    decision: an event-driven kernel's cost follows them (docs/speed.md)."""
    order = np.argsort(input_spikes, kind="stable")
    rows = []
    for part in np.array_split(order, 5):
        if len(part):
            rows.append(
                {
                    "images": int(len(part)),
                    "input_spikes_min": int(input_spikes[part].min()),
                    "input_spikes_max": int(input_spikes[part].max()),
                    "input_spikes_mean": float(input_spikes[part].mean()),
                    "counter_mean": float(counter[part].mean()),
                }
            )
    return rows


def _fmt(x, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def console_lines(report: dict) -> list[str]:
    s = report
    unit = s["counter_name"]
    lines = [
        f"device        {s['board']}  kernel {s['kernel']}  clock {s['clock_hz'] / 1e6:g} MHz  "
        f"counter: {unit}",
        f"model         {s['model']}  ({s['model_hash'][:16]})  K={s['thresholds']}",
        f"images        {s['images']} of {s['dataset']} test"
        + (f"  ({s['resumed_images']} from an earlier run)" if s.get("resumed_images") else ""),
        f"accuracy      {100 * s['accuracy']:.2f}% strict  "
        f"({100 * s['accuracy_tie_inclusive']:.2f}% tie-inclusive, {100 * s['tie_rate']:.2f}% "
        f"of decisions tied, reference {100 * s['reference_accuracy']:.2f}%)",
        f"mismatches    {s['mismatches']}  (agreement with the integer reference "
        f"{100 * s['agreement']:.2f}%)",
        f"{unit:<28s} mean {_fmt(s['counter']['mean'], ',.0f')}  median "
        f"{_fmt(s['counter']['median'], ',.0f')}  p99 {_fmt(s['counter']['p99'], ',.0f')}",
        f"decision step mean {_fmt(s['decision_step']['mean'], '.2f')}  per class "
        + " ".join(_fmt(x) for x in s["decision_step"]["per_class"])
        + f"  fallback {100 * s['fallback_rate']:.2f}%",
        "spikes/layer  "
        + " / ".join(f"{x:.1f}" for x in s["spikes_per_layer_mean"])
        + "  (input / hidden... / output, to the decision)",
        f"throughput    {_fmt(s['images_per_s'], '.1f')} images/s  "
        f"{s['wire_bytes_per_image']:.0f} bytes on the wire per image"
        + {True: " (INFER_BITMAP)", False: " (no INFER_BITMAP on the device: sparse/dense)"}.get(
            (s.get("link") or {}).get("infer_bitmap"), ""
        ),
        f"latency       {_fmt(s['latency_ms']['mean'], '.2f')} ms round trip (one request "
        f"in flight), {_fmt(s['rtt_ms']['mean'], '.2f')} ms pipelined",
    ]
    link = s.get("link") or {}
    trouble = {noun: link.get(key, 0) for key, noun in LINK_TROUBLE}
    if any(trouble.values()):
        lines.append(
            "link trouble  "
            + ", ".join(counted(n, noun) for noun, n in trouble.items())
            + " (recovered: every counted image was answered and checked)"
        )
    if s["mismatches"]:
        shown = s["mismatch_indices"][:20]
        more = "" if s["mismatches"] <= 20 else f" ... ({s['mismatches']} in all)"
        lines.append(f"MISMATCH      {TEST_IMAGE} " + ", ".join(map(str, shown)) + more)
    return lines


# the plots of a bench, in the order write_plots makes them
CONFUSION_PLOT, STEPS_PLOT, COUNTER_PLOT, COUNTER_SPIKES_PLOT = PLOT_NAMES = (
    "confusion.png",
    "decision_step_per_class.png",
    "counter_hist.png",
    "counter_vs_input_spikes.png",
)


def write_plots(report: dict, records: list[Record], out_dir: Path) -> list[Path]:
    """The PLOT_NAMES in out_dir (matplotlib Agg)."""
    a = arrays(records)
    paths = [
        plot_confusion(
            report["confusion"],
            out_dir / CONFUSION_PLOT,
            title=(
                f"confusion, {dataset_images(report['images'], report.get('dataset'))}, "
                f"accuracy {100 * report['accuracy']:.2f}%"
            ),
            xlabel="predicted (device)",
        ),
        plot_decision_steps(
            report["decision_step"]["per_class"],
            out_dir / STEPS_PLOT,
            title=(
                f"decision step per class (mean {_fmt(report['decision_step']['mean'], '.1f')}, "
                f"fallback {100 * report['fallback_rate']:.1f}%)"
            ),
        ),
    ]
    paths.append(_plot_counter_hist(report, a, out_dir / COUNTER_PLOT))
    paths.append(_plot_counter_vs_input_spikes(report, a, out_dir / COUNTER_SPIKES_PLOT))
    return paths


# the counter's figures marked on its histogram: (report key, line style)
COUNTER_MARKS = (("mean", "-"), ("median", "--"), ("p99", ":"))


def _plot_counter_hist(report: dict, a: dict, path: Path) -> Path:
    """The counter per image, its mean, median and p99 marked (the console's figures)."""
    fig, ax = pyplot().subplots(figsize=(6, 4))
    ax.hist(a["counter"], bins=50, color="tab:green")
    for key, style in COUNTER_MARKS:
        value = report["counter"][key]
        ax.axvline(value, color="black", linestyle=style, label=f"{key} {value:,.0f}")
    ax.set_xlabel(report["counter_name"] + " per inference")
    ax.set_ylabel("images")
    ax.set_title(_plot_title(report))
    ax.legend(loc="upper right")
    return save(fig, path)


def dataset_images(n: int, dataset: str | None) -> str:
    """`n` test images of `dataset`: "1 mnist test image", "2 mnist test images" ("2 test
    images" without a dataset)."""
    return counted(n, f"{dataset} test image" if dataset else "test image")


def _plot_title(report: dict) -> str:
    """The device and the images of a bench, for the plots' titles."""
    return f"{report['board']}, {report['kernel']} kernel, {counted(report['images'], 'image')}"


def _plot_counter_vs_input_spikes(report: dict, a: dict, path: Path) -> Path:
    """One dot per image, and the mean of each fifth of the images (by input spikes)."""
    fig, ax = pyplot().subplots(figsize=(6, 4))
    # lighter as the images grow many: 10,000 dots at one alpha merge into one blob
    alpha = min(0.4, max(0.05, 300 / len(a["counter"])))
    ax.scatter(a["spikes"][:, 0], a["counter"], s=4, alpha=alpha, color="tab:blue", label="image")
    fifths = report["counter_by_input_spikes"]
    ax.plot(
        [f["input_spikes_mean"] for f in fifths],
        [f["counter_mean"] for f in fifths],
        "o-",
        color="tab:red",
        label="mean of each fifth of the images",
    )
    ax.set_xlabel("input spikes up to the decision")
    ax.set_ylabel(report["counter_name"] + " per inference")
    ax.set_title(_plot_title(report))
    ax.legend(loc="upper left")
    return save(fig, path)
