"""Run the selected experiments, resuming from DIR/results.json, and write report.md.

An experiment is done (and skipped on the next run) when results.json holds its entry for the
same inputs (the SHA-256 of every model file it uses, the image limit) and its PNGs are there.
results.json is rewritten after every experiment, so an interrupted run loses one at most.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import OutFolder, write_atomic
from bs4nn.trainer.paper import fashion, mnist, numbers, tables
from bs4nn.trainer.paper.context import Context
from bs4nn.trainer.paper.models import SPECS
from bs4nn.trainer.paper.report import reportable, write_report
from bs4nn.trainer.progress import progress_bar

RESULTS = "results.json"
RETRAINED = "models"  # the folder --retrain trains the models into, in --out
# --out: a paper folder holds results.json; before it, what a first run cut short leaves (the
# models --retrain trained, the first experiment's figures)
PAPER_FOLDER = OutFolder("paper", (RESULTS,), (RETRAINED, "fig*.png"))


@dataclass(frozen=True)
class Experiment:
    run: Callable[[Context], dict]
    models: tuple[str, ...]  # SPECS keys it reads (optional ones included)
    dataset: str | None = "mnist"  # whose test images it reads (None: none)


def datasets_of(ids: list[str]) -> set[str]:
    return {EXPERIMENTS[i].dataset for i in ids} - {None}


EXPERIMENTS: dict[str, Experiment] = {
    "fig1": Experiment(mnist.fig1, ("mnist", "mnist-s4nn")),
    "fig2": Experiment(mnist.fig2, ("mnist",)),
    "fig3": Experiment(mnist.fig3, ("mnist",)),
    "fig4": Experiment(mnist.fig4, ("mnist",)),
    "fig5": Experiment(mnist.fig5, ("mnist", "mnist-s4nn")),
    "fig6": Experiment(mnist.fig6, ("mnist",)),
    "fig7": Experiment(mnist.fig7, ("mnist",)),
    "fig8": Experiment(fashion.fig8, (), "fashion-mnist"),
    "fig9": Experiment(fashion.fig9, ("fashion",), "fashion-mnist"),
    "table1": Experiment(tables.table1, (), None),
    "table2": Experiment(tables.table2, ("mnist", "mnist-surrogate", "mnist-s4nn", "bnn-mnist")),
    "table3": Experiment(
        tables.table3,
        (
            "fashion",
            "fashion-surrogate",
            "fashion-deep",
            "fashion-deep-surrogate",
            "fashion-s4nn",
            "bnn-fashion",
        ),
        "fashion-mnist",
    ),
    "swap": Experiment(tables.swap, ("mnist",)),
    "alpha": Experiment(tables.alpha, ("mnist",)),
}


def _file_hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _inputs(ctx: Context, exp: Experiment) -> dict:
    return {
        "models": {SPECS[k].file: _file_hash(ctx.models.path(k)) for k in exp.models},
        "limit": ctx.limit,
    }


def load_results(out: Path) -> tuple[dict, list[str]]:
    """The entries of an earlier results.json that the report can show, and the ids of those it
    cannot (damaged or edited: they run again if asked for, and are dropped)."""
    path = out / RESULTS
    if not path.is_file():
        return {}, []
    try:
        experiments = json.loads(path.read_bytes())["experiments"]
    except (ValueError, TypeError, KeyError):
        experiments = None
    if not isinstance(experiments, dict):  # not ours, or cut short: nothing of it is dropped
        raise Bs4nnError(
            f"{path} is not a results file of bs4nn paper (not JSON, or no experiments in it); "
            "move it away, or choose another --out"
        )
    good = {k: e for k, e in experiments.items() if k in EXPERIMENTS and reportable(k, e)}
    return good, [k for k in experiments if k not in good]


def _done(entry: dict | None, inputs: dict, out: Path) -> bool:
    return (
        entry is not None
        and entry.get("inputs") == inputs
        and all((out / f"{f}.png").is_file() for f in entry.get("figures", []))
    )


def run_paper(ctx: Context, ids: list[str]) -> dict:
    """Run `ids` (in EXPERIMENTS order), skipping those done for the same inputs; returns all
    entries of results.json."""
    results, damaged = load_results(ctx.out)
    if damaged:
        ctx.log(f"{RESULTS}: dropped damaged entries {', '.join(damaged)} (they run again)")
    started = time.perf_counter()
    for exp_id in progress_bar(ids, desc="paper", unit="experiment", disable=not ctx.progress):
        exp = EXPERIMENTS[exp_id]
        if ctx.models.retrain:
            for key in exp.models:  # train what is missing before hashing the inputs
                ctx.model(key)
        inputs = _inputs(ctx, exp)
        if _done(results.get(exp_id), inputs, ctx.out):
            ctx.log(f"{exp_id}: done before, kept (delete it from {RESULTS} to rerun)")
            continue
        t0 = time.perf_counter()
        entry = exp.run(ctx)
        entry.update(
            paper=numbers.PAPER[exp_id], inputs=inputs, seconds=round(time.perf_counter() - t0, 1)
        )
        results[exp_id] = entry
        _save(ctx.out, results)
        ctx.log(f"{exp_id}: {entry['ours']} ({entry['seconds']:.0f} s)")
    _save(ctx.out, results)
    write_report(ctx.out / "report.md", results, [k for k in EXPERIMENTS if k in results])
    ctx.log(
        f"wrote {ctx.out / RESULTS} and {ctx.out / 'report.md'} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return results


def _save(out: Path, results: dict) -> None:
    ordered = {k: results[k] for k in EXPERIMENTS if k in results}
    write_atomic(out / RESULTS, (json.dumps({"experiments": ordered}, indent=1) + "\n").encode())
