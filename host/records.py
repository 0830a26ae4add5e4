"""Per-image results of a bench: one CSV row per image, written and flushed as it arrives.

The CSV is the bench's memory: `--resume` reads it back, keeps every good row and streams only
the images it does not hold. Each row ends with the hash of the model it was measured with, so
a row is keyed by (image index, model hash) and a row cut short anywhere lacks its full hash.
Damaged lines (cut short, not UTF-8, wrong fields) and repeated images are found by line
number (`scan_records`); the bench reports them, rewrites the file without them and measures
the damaged images again.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bs4nn.codegen.reference import RefBatch
from bs4nn.host.client import StreamResult
from bs4nn.host.device_record import start_over_rows
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import user_path, write_atomic
from bs4nn.trainer.resume_hints import resume_with
from bs4nn.trainer.semantics import NO_SPIKE, NOT_FIRED

COLUMNS = [
    "index",
    "true_label",
    "label",
    "ref_label",
    "decision_step",
    "ref_decision_step",
    "fallback",
    "match",
    "mismatch",
    "counter",
    "rtt_ms",
    "wire_bytes",
    "spikes",
    "ref_spikes",
    "output_steps",
    "model_hash",
]
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass
class Record:
    index: int
    true_label: int
    label: int
    ref_label: int
    decision_step: int
    ref_decision_step: int
    fallback: bool
    mismatch: str  # ";"-joined fields that differ from the reference, "" when bit-exact
    counter: int
    rtt_ms: float
    wire_bytes: int
    spikes: tuple[int, ...]
    ref_spikes: tuple[int, ...]
    output_steps: tuple[int, ...]  # -1 = not fired by the decision
    model_hash: str

    @property
    def match(self) -> bool:
        return not self.mismatch

    def row(self) -> list:
        return [
            self.index,
            self.true_label,
            self.label,
            self.ref_label,
            self.decision_step,
            self.ref_decision_step,
            int(self.fallback),
            int(self.match),
            self.mismatch,
            self.counter,
            f"{self.rtt_ms:.3f}",
            self.wire_bytes,
            _ints(self.spikes),
            _ints(self.ref_spikes),
            _ints(self.output_steps),
            self.model_hash,
        ]

    @classmethod
    def from_row(cls, fields: list[str]) -> Record:
        """The record of one CSV row; ValueError if it is not one this module wrote."""
        if len(fields) != len(COLUMNS):
            raise ValueError(f"{len(fields)} fields, not {len(COLUMNS)}")
        row = dict(zip(COLUMNS, fields, strict=True))
        if not _HASH.fullmatch(row["model_hash"]):
            raise ValueError("no full model hash")
        if row["match"] != str(int(not row["mismatch"])) or row["fallback"] not in ("0", "1"):
            raise ValueError("match, mismatch and fallback disagree")
        if int(row["index"]) < 0:
            raise ValueError("negative image index")
        return cls(
            index=int(row["index"]),
            true_label=int(row["true_label"]),
            label=int(row["label"]),
            ref_label=int(row["ref_label"]),
            decision_step=int(row["decision_step"]),
            ref_decision_step=int(row["ref_decision_step"]),
            fallback=row["fallback"] == "1",
            mismatch=row["mismatch"],
            counter=int(row["counter"]),
            rtt_ms=float(row["rtt_ms"]),
            wire_bytes=int(row["wire_bytes"]),
            spikes=_parse_ints(row["spikes"]),
            ref_spikes=_parse_ints(row["ref_spikes"]),
            output_steps=_parse_ints(row["output_steps"]),
            model_hash=row["model_hash"],
        )


def _ints(values) -> str:
    return " ".join(str(int(v)) for v in values)


def _parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split())


def compare(
    result: StreamResult, true_label: int, ref: RefBatch, i: int, model_hash: str
) -> Record:
    """The device's reply for image i against the integer reference (row i of ref)."""
    r = result.reply
    out_steps = tuple(NOT_FIRED if s == NO_SPIKE else s for s in r.output_steps)
    ref_out = tuple(int(s) for s in ref.output_steps[i])
    ref_spikes = tuple(int(s) for s in ref.spikes[i])
    diffs = []
    if r.label != ref.labels[i]:
        diffs.append("label")
    if r.decision_step != ref.decision_steps[i]:
        diffs.append("decision_step")
    if r.fallback != bool(ref.fallback[i]):
        diffs.append("fallback")
    if out_steps != ref_out:
        diffs.append("output_steps")
    if tuple(r.spikes) != ref_spikes:
        diffs.append("spikes")
    return Record(
        index=result.index,
        true_label=int(true_label),
        label=r.label,
        ref_label=int(ref.labels[i]),
        decision_step=r.decision_step,
        ref_decision_step=int(ref.decision_steps[i]),
        fallback=r.fallback,
        mismatch=";".join(diffs),
        counter=r.counter,
        rtt_ms=result.rtt_s * 1000,
        wire_bytes=result.wire_bytes,
        spikes=tuple(r.spikes),
        ref_spikes=ref_spikes,
        output_steps=out_steps,
        model_hash=model_hash,
    )


class RecordWriter:
    """Appends rows to the CSV, flushing each one so a crash loses at most the row in flight."""

    def __init__(self, path: Path, append: bool) -> None:
        self.path = path
        # what a row that cannot be written says (the rows before it are in the file)
        self._kept = f"what was measured before is kept: make room, then {resume_with()}"
        new = not append or not path.exists() or path.stat().st_size == 0
        with user_path(path, "write"):  # e.g. a full disk: the message names the file
            self._f = open(path, "w" if new else "a", newline="")
            self._w = csv.writer(self._f)
            if new:
                self._w.writerow(COLUMNS)
                self._f.flush()

    def write(self, record: Record) -> None:
        with user_path(self.path, "write", self._kept):  # e.g. a full disk, in mid-run
            self._w.writerow(record.row())
            self._f.flush()

    def close(self) -> None:
        with user_path(self.path, "write"):
            self._f.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class ScannedCsv:
    """What a bench CSV holds: the first good row of each (image, model), and the line
    numbers (1 = the header) of damaged rows and of repeated ones."""

    records: list[Record] = field(default_factory=list)
    damaged: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)


def fits_run(record: Record, labels: np.ndarray, layer_sizes) -> bool:
    """Whether a row is one a run on a test set of these labels (all of them, whatever the
    --limit) with a model of these layer sizes writes: an image of the set with its own label,
    labels that name outputs, a spike count per layer and an output step per output (a row
    edited by hand can parse and still not be)."""
    n_out = layer_sizes[-1]
    return (
        record.index < len(labels)
        and record.true_label == labels[record.index]
        and 0 <= record.label < n_out
        and 0 <= record.ref_label < n_out
        and len(record.spikes) == len(record.ref_spikes) == len(layer_sizes)
        and len(record.output_steps) == n_out
    )


def refuse_beyond_limit(csv_path: Path, records: list[Record], n: int) -> None:
    """For a --resume on the first `n` test images: refuse `records` (of this model, in
    csv_path) that hold images beyond them, which the report would leave out while the CSV
    keeps them. Says how many were measured and the --limit that goes on from all of them."""
    top = max((r.index for r in records), default=-1) + 1
    if top > n:
        raise Bs4nnError(
            f"{csv_path} holds images measured beyond --limit {n} ({len(records)} of the "
            f"first {top} test images): give --limit {top} or more to go on from them, or "
            + start_over_rows(csv_path.parent)
        )


def scan_records(path: Path, fits: Callable[[Record], bool] | None = None) -> ScannedCsv:
    """Read a bench CSV line by line; a damaged line is noted, never raised. A last line
    without its newline was cut by a crash: damaged however it parses. With `fits`, a row
    it refuses is damaged too."""
    with user_path(path, "read"):
        raw = path.read_bytes() if path.exists() else b""
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the newline after the last row
    if not lines:
        return ScannedCsv()
    if lines[0].rstrip(b"\r") != ",".join(COLUMNS).encode():
        raise Bs4nnError(
            f"{path} has other columns than this bs4nn writes (another version, or not a bench "
            f"CSV); {start_over_rows(path.parent)}"
        )
    result = ScannedCsv()
    seen = set()
    for number, line in enumerate(lines[1:], start=2):
        try:
            if number == len(lines) and not raw.endswith(b"\n"):
                raise ValueError("cut short")
            record = Record.from_row(next(csv.reader([line.decode().rstrip("\r")]), []))
            if fits is not None and not fits(record):
                raise ValueError("not a row of this run")
        except (ValueError, UnicodeDecodeError, csv.Error):
            result.damaged.append(number)
            continue
        key = (record.index, record.model_hash)
        if key in seen:
            result.duplicates.append(number)
        else:
            seen.add(key)
            result.records.append(record)
    return result


def read_records(path: Path, fits: Callable[[Record], bool] | None = None) -> list[Record]:
    """The good rows of a bench CSV, one per (image, model)."""
    return scan_records(path, fits).records


def rewrite_records(path: Path, records: list[Record]) -> None:
    """Replace the CSV by its header and `records` (atomically: a crash keeps the old file)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow(record.row())
    with user_path(path, "write"):
        write_atomic(path, buf.getvalue().encode())


def arrays(records: list[Record]) -> dict[str, np.ndarray]:
    """Column arrays, sorted by image index."""
    recs = sorted(records, key=lambda r: r.index)
    return {
        "index": np.array([r.index for r in recs], dtype=np.int64),
        "true_label": np.array([r.true_label for r in recs], dtype=np.int64),
        "label": np.array([r.label for r in recs], dtype=np.int64),
        "ref_label": np.array([r.ref_label for r in recs], dtype=np.int64),
        "decision_step": np.array([r.decision_step for r in recs], dtype=np.int64),
        "fallback": np.array([r.fallback for r in recs], dtype=bool),
        "match": np.array([r.match for r in recs], dtype=bool),
        "counter": np.array([r.counter for r in recs], dtype=np.int64),
        "rtt_ms": np.array([r.rtt_ms for r in recs], dtype=np.float64),
        "wire_bytes": np.array([r.wire_bytes for r in recs], dtype=np.int64),
        "spikes": np.array([r.spikes for r in recs], dtype=np.int64).reshape(len(recs), -1),
        "output_steps": np.array([r.output_steps for r in recs], dtype=np.int64).reshape(
            len(recs), -1
        ),
    }
