"""`bs4nn bench`: stream test images to a board (or the emulated board), prove it bit-exact
against codegen's integer reference, and measure accuracy, on-device counters and the link.

With no port an emulated board (--board, default qemu-mps2-an386) is exported, built (or reused
when the model hash matches) and started in its emulator (QEMU or rp2040js); the emulator is
stopped at the end, on error and on Ctrl-C alike.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import RefBatch, reference_batch
from bs4nn.host.client import DEFAULT_TIMEOUT_S, Device
from bs4nn.host.outdir import run_folder
from bs4nn.host.records import (
    RecordWriter,
    ScannedCsv,
    compare,
    read_records,
    rewrite_records,
    scan_records,
)
from bs4nn.host.report import console_lines, summarize, write_plots
from bs4nn.host.transport import DEFAULT_BAUD, LinkClosed, SerialTransport
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import check_output
from bs4nn.trainer.model import Model

EMULATED_TARGET = "qemu-mps2-an386"  # the default emulated board
LATENCY_IMAGES = 20  # the first images go one at a time: the host's idle round-trip latency
CSV_NAME = "images.csv"
BUILD_STAMP = "bs4nn_bench_build.json"  # model + firmware sources of the build in firmware/
# two requests in flight: the next image arrives in the device's 512-byte RX ring while it
# computes; more only queue bytes in the pty (the emulated UART moves ~30 kB/s either way)
DEFAULT_WINDOW = 2


@dataclass
class BenchReport:
    """The headline figures of one bench (the full dictionary is `report`, saved as JSON)."""

    images: int
    accuracy: float
    mismatches: int
    agreement: float
    counter_mean: float | None
    counter_name: str
    decision_step_mean: float | None
    images_per_s: float | None
    out_dir: Path
    report: dict = field(repr=False)


@dataclass
class Connection:
    device: Device
    kind: str  # "serial" or "qemu"
    where: str  # port or pty
    firmware: dict | None = None  # build figures when we built it


def load_model(model_path: str | Path) -> tuple[Model, IntModel]:
    model = Model.load(model_path)
    return model, IntModel.from_model(model, source=str(model_path))


def template_fingerprint(target: str = EMULATED_TARGET) -> str:
    """SHA-256 of the firmware sources an export for `target` copies (core, protocol, model
    templates, the board's folders, targets.json): a build is reused only if these did not
    change since."""
    from bs4nn.codegen.export import board_folders
    from bs4nn.codegen.footprint import TARGETS_FILE, target_info
    from bs4nn.codegen.render import TEMPLATE_ROOT

    h = hashlib.sha256(TARGETS_FILE.read_bytes())
    folders = ["core", "protocol", "model"]
    folders += [f"boards/{name}" for name in board_folders(target_info(target))]
    for folder in folders:
        for path in sorted((TEMPLATE_ROOT / folder).rglob("*")):
            skip = {"__pycache__", "node_modules"}
            if path.is_file() and not skip.intersection(path.relative_to(TEMPLATE_ROOT).parts):
                h.update(path.relative_to(TEMPLATE_ROOT).as_posix().encode() + b"\0")
                h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def _stamp(model_hash: str, target: str) -> dict:
    return {
        "model_hash": model_hash,
        "target": target,
        "template_hash": template_fingerprint(target),
    }


def prepare_emulated_firmware(
    intmodel: IntModel, fw_dir: Path, quiet: bool = False, target: str = EMULATED_TARGET
) -> dict:
    """Export + build for an emulated board unless fw_dir holds a build of this model for it
    made from the current firmware sources (BUILD_STAMP written after a successful build)."""
    from bs4nn.codegen.export import export_firmware
    from bs4nn.host.build import build_firmware, elf_sizes

    say = (lambda *a: None) if quiet else print
    stamp_path = fw_dir / BUILD_STAMP
    elf = fw_dir / "build" / "firmware.elf"
    stamp = _stamp(intmodel.model_hash, target)
    try:
        reusable = elf.is_file() and json.loads(stamp_path.read_text()) == stamp
    except (OSError, ValueError):
        reusable = False
    if reusable:
        say(
            f"firmware: reusing {fw_dir} (model hash {intmodel.model_hash[:16]} and firmware "
            "sources unchanged)"
        )
        text, data, bss = elf_sizes(elf)
        return {"dir": str(fw_dir), "reused": True, "text": text, "data": data, "bss": bss}
    say(f"firmware: exporting and building for {target} in {fw_dir} ...")
    stamp_path.unlink(missing_ok=True)
    export_firmware(intmodel, fw_dir, target=target)
    result = build_firmware(fw_dir)
    stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")
    for line in result.lines():
        say(line)
    return {"reused": False, **result.to_dict()}


@contextlib.contextmanager
def connect(
    intmodel: IntModel,
    port: str | None,
    out_dir: Path,
    window: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    quiet: bool = False,
    baud: int = DEFAULT_BAUD,
    board: str = EMULATED_TARGET,
) -> Iterator[Connection]:
    """A handshaken Device on `port`, or on the emulated `board` started (and always stopped)
    here."""
    from bs4nn.host.emulate import emulator_of, running_emulator
    from bs4nn.host.qemu import find_qemu

    if port is not None:
        link = SerialTransport(port, baudrate=baud)
        try:
            dev = Device(link, timeout=timeout, window=window or DEFAULT_WINDOW)
            dev.handshake(intmodel.model_hash)
            yield Connection(dev, "serial", port)
        finally:
            link.close()
        return
    if emulator_of(board)["kind"] == "qemu":
        find_qemu()  # no firmware is built for a board that cannot be started
    firmware = prepare_emulated_firmware(intmodel, out_dir / "firmware", quiet, board)
    with running_emulator(board, Path(out_dir) / "firmware" / "build") as emu:
        link = SerialTransport(emu.where)
        try:
            dev = Device(link, timeout=timeout, window=window or DEFAULT_WINDOW)
            try:
                dev.handshake(intmodel.model_hash)
                yield Connection(dev, emu.kind, emu.where, firmware)
            except LinkClosed as exc:
                try:  # the pty closes a moment before the process is reaped
                    emu.process.wait(1.0)
                except subprocess.TimeoutExpired:
                    raise exc from None
                name = "QEMU" if emu.kind == "qemu" else emu.kind
                raise LinkClosed(
                    f"{name} exited (status {emu.process.returncode}) during the run: {exc}"
                ) from exc
        finally:
            link.close()


def run_pass(
    conn: Connection,
    images: np.ndarray,
    labels: np.ndarray,
    ref: RefBatch,
    csv_path: Path,
    todo: list[int],
    append: bool,
    progress: bool = True,
    desc: str = "bench",
) -> tuple[int, float]:
    """Stream images[todo] and append a CSV row per image. Returns (images done, seconds)."""
    from tqdm import tqdm

    dev = conn.device
    assert dev.info is not None  # handshaken
    model_hash = dev.info.model_hash_hex
    done = 0
    bar = tqdm(total=len(todo), desc=desc, unit="img", disable=not progress, leave=False)
    t0 = time.monotonic()
    try:
        with RecordWriter(csv_path, append) as writer:
            # idle latency first (one request in flight), then the pipelined stream
            first, rest = todo[:LATENCY_IMAGES], todo[LATENCY_IMAGES:]
            for part, window in ((first, 1), (rest, None)):
                for res in dev.stream((images[i] for i in part), part, window=window):
                    rec = compare(res, labels[res.index], ref, res.index, model_hash)
                    writer.write(rec)
                    done += 1
                    bar.update(1)
                    if rec.mismatch:
                        bar.write(f"MISMATCH image {rec.index}: {rec.mismatch}")
    finally:
        bar.close()
    return done, time.monotonic() - t0


def run_bench(
    model_path: str | Path,
    port: str | None = None,
    dataset: str | None = None,
    limit: int | None = None,
    out_dir: str | Path = "out/bench",
    resume: bool = False,
    data_dir: str | Path | None = None,
    window: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: bool = True,
    quiet: bool = False,
    baud: int = DEFAULT_BAUD,
    board: str = EMULATED_TARGET,
) -> BenchReport:
    """Bench a model on a board (port) or an emulated board (port=None); write the reports."""
    from bs4nn.trainer.datasets import load_dataset

    say = (lambda *a: None) if quiet else print
    out = Path(out_dir)
    check_output(out, "--out", folder=True)
    model, intmodel = load_model(model_path)
    dataset = model.dataset_to_run(dataset)
    images, labels = load_dataset(dataset, "test", data_dir=data_dir)
    if images.shape[1] != intmodel.layer_sizes[0]:
        raise Bs4nnError(
            f"{dataset} images have {images.shape[1]} pixels, the model takes "
            f"{intmodel.layer_sizes[0]} inputs"
        )
    n = len(images) if limit is None else min(int(limit), len(images))
    if n < 1:
        raise Bs4nnError("--limit must be at least 1")
    images, labels = images[:n], labels[:n]
    csv_path = out / CSV_NAME
    with run_folder(out) as folder:
        resumed = _resume(csv_path, intmodel.model_hash, say) if resume else ScannedCsv()
        have = {r.index for r in resumed.records}
        todo = [i for i in range(n) if i not in have]
        if resume:
            say(
                f"resume: {len(have & set(range(n)))} images already in {csv_path}, "
                f"{len(todo)} to go"
            )
        say(f"reference: integer model on {n} {dataset} test images ...")
        ref = reference_batch(intmodel, images)
        t_start = time.monotonic()
        with connect(intmodel, port, out, window, timeout, quiet, baud, board) as conn:
            folder.started()
            if resumed.damaged or resumed.duplicates:  # the device answers: now, not before
                rewrite_records(csv_path, resumed.records)
            info = conn.device.info
            assert info is not None
            say(
                f"device: {info.board}, {info.clock_hz / 1e6:g} MHz, kernel {info.kernel}, "
                f"counter: {info.counter_name}, model {info.model_hash_hex[:16]} (matches)"
            )
            done, seconds = run_pass(
                conn, images, labels, ref, csv_path, todo, append=resume, progress=progress
            )
            stats = asdict(conn.device.stats)
            window_used, bitmap = conn.device.window, conn.device.bitmap
            kind, where, firmware = conn.kind, conn.where, conn.firmware

        records = [r for r in read_records(csv_path) if r.index < n]
        report = summarize(records, n_classes=intmodel.layer_sizes[-1])
        streamed = max(done - LATENCY_IMAGES, 0)
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
                "link": {
                    "kind": kind,
                    "where": where,
                    "window": window_used,
                    "device_rx_buffer": info.rx_buffer,  # 0: flow-controlled
                    "infer_bitmap": bitmap,  # None: never the shortest form, so never tried
                    **stats,
                },
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
                "pipelined_images": streamed,
                "latency_ms": {
                    "mean": float(np.mean(latency)) if latency else None,
                    "median": float(np.median(latency)) if latency else None,
                },
            }
        )
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        plots = write_plots(report, records, out)
        if not quiet:
            print()
            for line in console_lines(report):
                print(line)
            print(
                f"report: {out / 'report.json'}, per image: {csv_path}, plots: "
                + ", ".join(pth.name for pth in plots)
            )
        return BenchReport(
            images=report["images"],
            accuracy=report["accuracy"],
            mismatches=report["mismatches"],
            agreement=report["agreement"],
            counter_mean=report["counter"]["mean"],
            counter_name=report["counter_name"],
            decision_step_mean=report["decision_step"]["mean"],
            images_per_s=report["images_per_s"],
            out_dir=out,
            report=report,
        )


def _resume(csv_path: Path, model_hash: str, say) -> ScannedCsv:
    """What csv_path holds for this model; damaged and repeated rows are reported (the bench
    rewrites the file without them once the device answers, and measures the damaged images
    again); rows of another model are refused."""
    scan = scan_records(csv_path)
    others = sorted({r.model_hash for r in scan.records} - {model_hash})
    if others:
        raise Bs4nnError(
            f"--resume: {csv_path} holds rows measured with another model (hash "
            f"{others[0][:16]}..., this one is {model_hash[:16]}...); use another --out, or "
            "drop --resume to start over"
        )
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
