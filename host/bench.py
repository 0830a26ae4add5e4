"""`bs4nn bench`: stream test images to a board (or the emulated board), prove it bit-exact
against codegen's integer reference, and measure accuracy, on-device counters and the link.

With no port an emulated board (--board, default qemu-mps2-an386) is exported, built (or reused
when the model hash matches) and started in its emulator (QEMU or rp2040js); the emulator is
stopped at the end, on error and on Ctrl-C alike.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from bs4nn.codegen.reference import reference_batch
from bs4nn.host.connect import DEFAULT_LINK, DeviceLink, connect, load_model
from bs4nn.host.device_record import record_device, start_over_rows
from bs4nn.host.outdir import RUN_SPARE, run_folder
from bs4nn.host.records import (
    ScannedCsv,
    fits_run,
    read_records,
    refuse_beyond_limit,
    rewrite_records,
    scan_records,
)
from bs4nn.host.report import PLOT_NAMES, console_lines, dataset_images, summarize, write_plots
from bs4nn.host.stream import (
    LATENCY_IMAGES,
    check_device_forms,
    first_test_images,
    run_pass,
)
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import OutFolder, write_json
from bs4nn.trainer.resume_hints import keeps, resume_note
from bs4nn.trainer.wording import counted

CSV_NAME = "images.csv"
REPORT_NAME = "report.json"  # written last: there only when the images.csv run finished
BENCH_FOLDER = OutFolder("bench", (CSV_NAME,), RUN_SPARE)


@dataclass
class BenchReport:
    """The headline figures of one bench (the full dictionary is `report`, saved as JSON)."""

    images: int
    accuracy: float
    accuracy_tie_inclusive: float
    tie_rate: float  # share of decisions where more than one output fired
    mismatches: int
    agreement: float
    counter_mean: float
    counter_name: str
    decision_step_mean: float
    images_per_s: float | None
    out_dir: Path
    report: dict = field(repr=False)


def run_bench(
    model_path: str | Path,
    *,
    link: DeviceLink = DEFAULT_LINK,
    dataset: str | None = None,
    limit: int | None = None,
    out_dir: str | Path = "out/bench",
    resume: bool = False,
    data_dir: str | Path | None = None,
    progress: bool = True,
    quiet: bool = False,
) -> BenchReport:
    """Bench a model on the device of `link` (a board on a port, or an emulated board);
    write the reports."""
    say = (lambda *a: None) if quiet else print
    out = Path(out_dir)
    BENCH_FOLDER.check(out)
    model, intmodel = load_model(model_path)
    dataset = model.dataset_to_run(dataset)
    images, labels, test_labels = first_test_images(intmodel, dataset, data_dir, limit)
    n = len(images)
    csv_path = out / CSV_NAME
    with run_folder(out) as folder, keeps(lambda: holds_rows(out)):
        fits = partial(fits_run, labels=test_labels, layer_sizes=intmodel.layer_sizes)
        resumed = _resume(csv_path, intmodel.model_hash, fits, n, say) if resume else ScannedCsv()
        have = {r.index for r in resumed.records}
        todo = [i for i in range(n) if i not in have]
        earlier = _rows(csv_path) if not resume and csv_path.is_file() else 0
        t_start = time.monotonic()
        # the device first: a port that cannot be opened is the only line printed
        with connect(
            intmodel,
            link,
            out_dir=out,
            quiet=quiet,
            resuming=str(csv_path) if resume else None,
        ) as conn:
            info = conn.device.info
            assert info is not None
            check_device_forms(conn.device, images, todo)
            if resume:
                say(
                    f"resume: {counted(len(have), 'image')} already in {csv_path}, "
                    f"{len(todo)} to go"
                )
            elif earlier:
                say(
                    f"starting over: the {counted(earlier, 'image')} of an earlier run in "
                    f"{csv_path} will be replaced{resume_note('would continue that run')}"
                )
            say(f"reference: integer model on {dataset_images(n, dataset)} ...")
            t_ref = time.monotonic()
            ref = reference_batch(intmodel, images)
            t_start += time.monotonic() - t_ref  # wall_seconds counts the device's part
            # an earlier run's report and plots no longer describe the CSV if images are added
            folder.started(outdated=(REPORT_NAME, *PLOT_NAMES) if todo else ())
            if resumed.damaged or resumed.duplicates:  # the device answers: now, not before
                rewrite_records(csv_path, resumed.records)
            record_device(out, info)
            say(
                f"device: {info.board}, {info.clock_hz / 1e6:g} MHz, kernel {info.kernel}, "
                f"counter: {info.counter_name}, model {info.model_hash_hex[:16]} (matches)"
            )
            done, seconds = run_pass(
                conn, images, labels, ref, csv_path, todo, append=resume, progress=progress
            )
            link = {
                "kind": conn.kind,
                "where": conn.where,
                "window_asked": conn.device.window,  # window_used (in the stats): the real one
                "device_rx_buffer": info.rx_buffer,  # 0: flow-controlled
                "infer_bitmap": conn.device.bitmap,  # None: never the shortest form, never tried
                **asdict(conn.device.stats),
            }
            firmware = conn.firmware

        records = read_records(csv_path, fits)
        report = summarize(records, n_classes=intmodel.layer_sizes[-1])
        latency = [
            r.rtt_ms
            for r in sorted(records, key=lambda r: r.index)
            if r.index in set(todo[:LATENCY_IMAGES])
        ]
        report.update(
            {
                "model": str(model_path),
                "model_hash": intmodel.model_hash,
                "dataset": dataset,
                "thresholds": list(info.thresholds),
                "board": info.board,
                "kernel": info.kernel,
                "clock_hz": info.clock_hz,
                "counter_kind": info.counter_kind,
                "counter_name": info.counter_name,
                "link": link,
                "firmware": firmware,
                "resumed_images": len(have),
                "resume_dropped_lines": {
                    "damaged": resumed.damaged,
                    "duplicates": resumed.duplicates,
                },
                "images_this_run": done,
                "seconds_this_run": seconds,
                "wall_seconds": time.monotonic() - t_start,
                "images_per_s": done / seconds if done and seconds > 0 else None,
                "pipelined_images": max(done - LATENCY_IMAGES, 0),
                "latency_ms": {
                    "mean": float(np.mean(latency)) if latency else None,
                    "median": float(np.median(latency)) if latency else None,
                },
            }
        )
        _write_report(report, records, out, csv_path, quiet)
        return BenchReport(
            images=report["images"],
            accuracy=report["accuracy"],
            accuracy_tie_inclusive=report["accuracy_tie_inclusive"],
            tie_rate=report["tie_rate"],
            mismatches=report["mismatches"],
            agreement=report["agreement"],
            counter_mean=report["counter"]["mean"],
            counter_name=report["counter_name"],
            decision_step_mean=report["decision_step"]["mean"],
            images_per_s=report["images_per_s"],
            out_dir=out,
            report=report,
        )


def _write_report(report: dict, records, out: Path, csv_path: Path, quiet: bool) -> None:
    """report.json and the plots in `out`; the summary on the console unless quiet."""
    write_json(out / REPORT_NAME, report)
    plots = write_plots(report, records, out)
    if not quiet:
        print()
        for line in console_lines(report):
            print(line)
        print(
            f"report: {out / 'report.json'}, per image: {csv_path}, plots: "
            + ", ".join(pth.name for pth in plots)
        )


def unfinished_rows(out_dir: str | Path, model_hash: str) -> int:
    """Images of this model that an interrupted bench into `out_dir` measured (its images.csv
    without a report.json); 0 when there is none: `--resume` would go on from them."""
    out = Path(out_dir)
    if not (out / CSV_NAME).is_file() or (out / REPORT_NAME).is_file():
        return 0
    try:
        return sum(r.model_hash == model_hash for r in read_records(out / CSV_NAME))
    except Bs4nnError:  # not a CSV a bench goes on from
        return 0


def holds_rows(out: Path) -> bool:
    """Whether the images.csv in `out` holds a measured image (what --resume goes on from)."""
    csv_path = out / CSV_NAME
    return csv_path.is_file() and _rows(csv_path) > 0


def _rows(csv_path: Path) -> int:
    """Rows of an images.csv, its header not counted."""
    with open(csv_path, "rb") as f:
        return max(sum(1 for line in f if line.strip()) - 1, 0)


def _resume(csv_path: Path, model_hash: str, fits, n: int, say) -> ScannedCsv:
    """What csv_path holds for this model; damaged rows (`fits` refuses a row that parses but
    is not one of this run) and repeated rows are reported (the bench rewrites the file without
    them once the device answers, and measures the damaged images again); rows of another model
    and of images beyond the first `n` are refused."""
    scan = scan_records(csv_path, fits)
    others = sorted({r.model_hash for r in scan.records} - {model_hash})
    if others:
        raise Bs4nnError(
            f"{csv_path} holds rows measured with another model (hash {others[0][:16]}..., "
            f"this one is {model_hash[:16]}...); {start_over_rows(csv_path.parent)}"
        )
    refuse_beyond_limit(csv_path, scan.records, n)
    if scan.damaged:
        say(
            f"resume: {csv_path} has damaged rows (cut short, not UTF-8 or wrong fields) on "
            f"line(s) {_numbers(scan.damaged)}: dropped, their images are measured again"
        )
    if scan.duplicates:
        say(
            f"resume: {csv_path} repeats images already in it on line(s) "
            f"{_numbers(scan.duplicates)}: dropped"
        )
    return scan


def _numbers(values: list[int], most: int = 10) -> str:
    shown = ", ".join(map(str, values[:most]))
    return shown + (f" and {len(values) - most} more" if len(values) > most else "")
