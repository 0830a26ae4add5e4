"""`bs4nn sweep`: the paper's speed/accuracy trade-off (Fig. 7), measured on the device.

For each threshold setting: SET_THRESHOLDS over the link, stream the images, check every reply
against the integer reference run with the same thresholds, and record accuracy (strict and
tie-inclusive, and the share of tied decisions, as bench reports them), mean decision step and
the device's mean counter per inference (instructions on the emulated board). Settings
are one theta for every layer (as in the paper, converted with the model's alphas:
K_l = ceil(theta / alpha_l)), scales of the model's own K, or budgets of mean decision step:
the most accurate K on the model's validation split within each budget
(`calibrate.calibrate_for_budget`, as `bs4nn calibrate` chooses them). Two plots: accuracy and
decision step per setting (sweep.png), and accuracy against the mean counter with the settings no
other beats on both (the Pareto front, pareto.png).
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.host.connect import DEFAULT_LINK, DeviceLink, connect, load_model
from bs4nn.host.device_record import device_fields, record_device, recorded_device
from bs4nn.host.outdir import RUN_SPARE, run_folder
from bs4nn.host.records import Record, fits_run, read_records, refuse_beyond_limit
from bs4nn.host.report import dataset_images, summarize
from bs4nn.host.stream import check_device_forms, first_test_images, run_pass
from bs4nn.trainer.calibrate import choose_for_budget, score_box, validation_split
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import OutFolder, staged_file, staged_part, write_json
from bs4nn.trainer.plots import pyplot, save
from bs4nn.trainer.resume_hints import keeps, resume_note
from bs4nn.trainer.semantics import K_MAX, K_MIN, threshold_count
from bs4nn.trainer.wording import counted

DEFAULT_SCALES = (0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.6)


@dataclass
class SweepPoint:
    setting: float  # theta, scale of the default K, or budget of mean decision step
    thresholds: list[int]
    accuracy: float
    accuracy_tie_inclusive: float
    decision_step_mean: float
    mismatches: int
    counter_mean: float
    images: int
    fallback_rate: float  # images no output spike decided (largest count at step 255)
    tie_rate: float  # decisions where more than one output fired


def thresholds_for_theta(theta: float, alphas) -> list[int]:
    return [threshold_count(theta, float(a)) for a in alphas]


def thresholds_for_scale(scale: float, default_k) -> list[int]:
    return [max(1, math.ceil(scale * k)) for k in default_k]


def _settings(
    model, intmodel, thetas, scales, budgets, dataset, data_dir
) -> list[tuple[float, list[int]]]:
    if thetas:
        out = [(float(t), thresholds_for_theta(t, model.alphas)) for t in thetas]
    elif budgets:
        box = score_box(model, *validation_split(model, dataset, data_dir))
        out = []
        for budget in budgets:
            chosen = choose_for_budget(model, box, budget)
            print(
                f"budget {budget:g}: K {','.join(map(str, chosen.thresholds))}, validation "
                f"{100 * chosen.accuracy:.2f}% at mean decision step {chosen.mean_step:.2f}"
            )
            out.append((float(budget), chosen.thresholds))
    else:
        out = [
            (float(s), thresholds_for_scale(s, intmodel.thresholds))
            for s in (scales or DEFAULT_SCALES)
        ]
    names = [f"{setting:g}" for setting, _ in out]  # the CSV of a setting is named by it
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise Bs4nnError(f"setting {twice[0]} is given twice; give each setting once")
    for setting, ks in out:
        if not all(K_MIN <= k <= K_MAX for k in ks):
            shown = ", ".join(str(k) if k < 10**12 else f"{k:.3g}" for k in ks)  # not 300 digits
            raise Bs4nnError(
                f"setting {setting:g} gives thresholds [{shown}]; each K must be in "
                f"{K_MIN}..{K_MAX}: choose other --thetas/--scales"
            )
    for setting, ks in out:  # once every setting is known to be valid
        # a K above a layer's fan-in is never reached: measured, but said
        silent = [f"{k} > {n}" for k, n in zip(ks, intmodel.layer_sizes[:-1], strict=True) if k > n]
        if silent:
            print(
                f"warning: setting {setting:g}: K above the fan-in ({', '.join(silent)}): those "
                "layers never fire",
                file=sys.stderr,
            )
    return out


def _finished(
    csv_path: Path, intmodel: IntModel, test_labels: np.ndarray, n: int
) -> list[Record] | None:
    """The records of a setting's CSV that holds rows of this model for the first `n` images
    of a test set of `test_labels` (a setting cut short leaves no CSV), else None; rows of this
    model beyond them are refused (--resume does not drop what was measured)."""
    if not csv_path.is_file():
        return None
    records = read_records(
        csv_path, partial(fits_run, labels=test_labels, layer_sizes=intmodel.layer_sizes)
    )
    refuse_beyond_limit(csv_path, [r for r in records if r.model_hash == intmodel.model_hash], n)
    if sorted(r.index for r in records) != list(range(n)):
        return None
    return records if all(r.model_hash == intmodel.model_hash for r in records) else None


CSV_GLOB = "images_*.csv"  # the per-image CSVs of every setting
# what a sweep killed while it measured a setting leaves of it (staged_file)
LEFT_CSV_GLOB = staged_part(CSV_GLOB)
SWEEP_FOLDER = OutFolder("sweep", (CSV_GLOB,), (*RUN_SPARE, LEFT_CSV_GLOB))
# written once every setting is done
REPORT_JSON, SWEEP_PLOT, PARETO_PLOT = REPORT_NAMES = ("sweep.json", "sweep.png", "pareto.png")


def _start_over(out: Path, ours: set[str], earlier: dict | None, now: dict) -> None:
    """Without --resume: an earlier sweep's other settings in `out` are removed (this sweep's
    are measured again); when they were measured on another device, all of them, so that a
    later --resume cannot keep one this sweep did not reach."""
    if earlier not in (None, now):
        measured = sorted(out.glob(CSV_GLOB))
        board = earlier.get("board")
        said = f"removing {counted(len(measured), 'setting')} measured on {board} in {out}"
    else:
        measured = sorted(p for p in out.glob(CSV_GLOB) if p.name not in ours)
        said = f"removing {counted(len(measured), 'other setting')} of an earlier sweep in {out}"
        said += resume_note("would keep " + ("it" if len(measured) == 1 else "them"))
    if measured:
        print(f"starting over: {said}")
    for path in measured:
        path.unlink()


def _csv_name(kind: str, setting: float) -> str:
    """The per-image CSV of one setting, named by it."""
    return f"images_{kind}_{setting:g}.csv"


def run_sweep(
    model_path: str | Path,
    *,
    link: DeviceLink = DEFAULT_LINK,
    dataset: str | None = None,
    limit: int = 1000,
    out_dir: str | Path = "out/sweep",
    thetas: list[float] | None = None,
    scales: list[float] | None = None,
    data_dir: str | Path | None = None,
    budgets: list[float] | None = None,
    progress: bool = True,
    resume: bool = False,
) -> list[SweepPoint]:
    """Run every setting on the device of `link` against the reference; with `resume`, a
    setting whose CSV in `out_dir` already holds all its images for this model is kept, not
    run again."""
    out = Path(out_dir)
    SWEEP_FOLDER.check(out)
    model, intmodel = load_model(model_path)
    dataset = model.dataset_to_run(dataset)
    images, labels, test_labels = first_test_images(intmodel, dataset, data_dir, limit)
    settings = _settings(model, intmodel, thetas, scales, budgets, dataset, data_dir)
    kind = "theta" if thetas else "budget" if budgets else "scale"
    # the settings a resume keeps, known before any side effect
    finished = {
        setting: _finished(out / _csv_name(kind, setting), intmodel, test_labels, len(images))
        for setting, _ in settings
        if resume
    }
    points: list[SweepPoint] = []
    with (
        run_folder(out) as folder,
        keeps(lambda: SWEEP_FOLDER.marked(out)),  # the settings finished so far
        connect(
            intmodel,
            link,
            out_dir=out,
            resuming=f"the sweep in {out}" if resume else None,
        ) as conn,
    ):
        to_measure = any(finished.get(setting) is None for setting, _ in settings)
        check_device_forms(conn.device, images, list(range(len(images))) if to_measure else [])
        folder.started(outdated=REPORT_NAMES)  # an earlier sweep's: not of the CSVs left now
        for left in out.glob(LEFT_CSV_GLOB):  # a killed sweep's (we hold the folder's lock)
            left.unlink()
        if not resume:
            ours = {_csv_name(kind, setting) for setting, _ in settings}
            _start_over(out, ours, recorded_device(out), device_fields(conn.device.info))
        record_device(out, conn.device.info)
        for setting, ks in settings:
            csv_path = out / _csv_name(kind, setting)
            records = finished.get(setting)
            if records is not None:
                print(f"{kind} {setting:g}: kept from the earlier run ({csv_path})")
            else:
                if resume and csv_path.is_file():
                    print(
                        f"{kind} {setting:g}: measured again: {csv_path} holds other rows than "
                        "this run's (other images, another --limit or model, or damaged ones)"
                    )
                conn.device.set_thresholds(ks)
                ref = reference_batch(intmodel, images, ks)
                with staged_file(csv_path) as part:  # a setting cut short leaves no CSV
                    run_pass(
                        conn,
                        images,
                        labels,
                        ref,
                        part,
                        list(range(len(images))),
                        append=False,
                        progress=progress,
                        desc=f"{kind} {setting:g} K={ks}",
                    )
                records = read_records(csv_path)
            s = summarize(records, intmodel.layer_sizes[-1])
            point = SweepPoint(
                setting=setting,
                thresholds=ks,
                accuracy=s["accuracy"],
                accuracy_tie_inclusive=s["accuracy_tie_inclusive"],
                decision_step_mean=s["decision_step"]["mean"],
                mismatches=s["mismatches"],
                counter_mean=s["counter"]["mean"],
                images=s["images"],
                fallback_rate=s["fallback_rate"],
                tie_rate=s["tie_rate"],
            )
            points.append(point)
            print(
                f"{kind} {setting:6g}  K={ks}  accuracy {100 * point.accuracy:6.2f}% strict  "
                f"{100 * point.accuracy_tie_inclusive:6.2f}% tie-inclusive  "
                f"tied {100 * point.tie_rate:.1f}%  "
                f"decision step {point.decision_step_mean:6.1f}  "
                f"fallback {100 * point.fallback_rate:.1f}%  "
                f"{conn.device.info.counter_name} {point.counter_mean:,.0f}  "
                f"mismatches {point.mismatches}"
            )
        if conn.device.thresholds != tuple(intmodel.thresholds):  # put the model's back
            conn.device.set_thresholds(intmodel.thresholds)
        info = conn.device.info
    result = {
        "model": str(model_path),
        "model_hash": intmodel.model_hash,
        "dataset": dataset,
        "images": len(images),
        "kind": kind,
        "default_thresholds": list(intmodel.thresholds),
        "board": info.board if info else None,
        "kernel": info.kernel if info else None,
        "counter_name": info.counter_name if info else None,
        "points": [asdict(pt) for pt in points],
        "mismatches": sum(pt.mismatches for pt in points),
    }
    write_json(out / REPORT_JSON, result)
    plot_sweep(points, kind, out / SWEEP_PLOT, result)
    plot_pareto(points, kind, out / PARETO_PLOT, result)
    print(
        f"sweep: {out / REPORT_JSON}, plots: {out / SWEEP_PLOT}, {out / PARETO_PLOT}, "
        f"mismatches {result['mismatches']}"
    )
    return points


def _device_line(result: dict) -> str:
    """The board and kernel of a sweep, for the plots' titles."""
    return f"{result.get('board') or ''}, kernel {result.get('kernel') or ''}"


def plot_sweep(points: list[SweepPoint], kind: str, path: Path, result: dict) -> None:
    """Accuracy and mean decision step against the threshold setting (two y axes, Fig. 7);
    a setting where most images fall back is marked: its accuracy is that of the counts at
    step 255, not of an early decision."""
    x = [pt.setting for pt in points]
    fig, ax = pyplot().subplots(figsize=(6.5, 4.2))
    acc = ax.plot(x, [100 * pt.accuracy for pt in points], "o-", color="tab:blue", label="accuracy")
    ax.set_xlabel(
        {
            "theta": "threshold theta (all layers)",
            "scale": "scale of the model's K",
            "budget": "budget of mean decision step (validation)",
        }[kind]
    )
    ax.set_ylabel("accuracy, strict (%)", color="tab:blue")
    for pt in points:
        if pt.fallback_rate >= 0.1:
            ax.annotate(
                f"{100 * pt.fallback_rate:.0f}% fallback",
                (pt.setting, 100 * pt.accuracy),
                fontsize=7,
                textcoords="offset points",
                xytext=(0, -14),
                ha="center",
            )
    ax.margins(y=0.1)
    ax2 = ax.twinx()
    # hollow and larger, so that a step point on top of an accuracy point hides neither
    step = ax2.plot(
        x,
        [pt.decision_step_mean for pt in points],
        "s--",
        color="tab:red",
        markerfacecolor="none",
        markersize=9,
        label="mean decision step",
    )
    ax2.set_ylabel("mean decision step", color="tab:red")
    ax.legend(handles=acc + step, loc="best", fontsize=8)
    images = dataset_images(result.get("images", 0), result.get("dataset"))
    ax.set_title(
        f"speed/accuracy trade-off, {images}\n{_device_line(result)}",
        fontsize=10,
    )
    save(fig, path)


def pareto_front(points: list[SweepPoint]) -> list[SweepPoint]:
    """The settings no other setting beats on both counts: fewer (or as few) instructions and
    higher (or as high) accuracy, one strictly. In order of the counter."""
    front = []
    for pt in sorted(points, key=lambda q: (q.counter_mean, -q.accuracy)):
        if not front or pt.accuracy > front[-1].accuracy:
            front.append(pt)
    return front


def plot_pareto(points: list[SweepPoint], kind: str, path: Path, result: dict) -> None:
    """Accuracy against the mean counter per inference, every setting labelled, the front
    joined."""
    fig, ax = pyplot().subplots(figsize=(6.5, 4.2))
    front = pareto_front(points)
    others = [pt for pt in points if pt not in front]
    if others:
        ax.plot(
            [pt.counter_mean for pt in others],
            [100 * pt.accuracy for pt in others],
            "o",
            color="tab:gray",
            label="other settings (dominated)",
        )
    ax.plot(
        [pt.counter_mean for pt in front],
        [100 * pt.accuracy for pt in front],
        "o-",
        color="tab:blue",
        label="Pareto front",
    )
    for pt in points:
        ax.annotate(
            f"{pt.setting:g}",
            (pt.counter_mean, 100 * pt.accuracy),
            fontsize=8,
            textcoords="offset points",
            xytext=(4, 4),
        )
    ax.margins(x=0.08, y=0.12)  # room for the labels inside the axes
    ax.set_xlabel(f"mean {result.get('counter_name') or 'counter'} per inference")
    ax.set_ylabel("accuracy, strict (%)")
    label = {"theta": "theta", "scale": "scale of K", "budget": "step budget"}[kind]
    ax.set_title(
        f"accuracy vs cost, points labelled by {label}, "
        f"{counted(result.get('images', 0), 'test image')}\n{_device_line(result)}",
        fontsize=10,
    )
    ax.legend(loc="best", fontsize=8)
    save(fig, path)
