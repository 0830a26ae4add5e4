"""Per-image results of a bench: one CSV row per image, written and flushed as it arrives.

The CSV is the bench's memory: `--resume` reads it back, keeps every complete row and streams
only the images it does not hold. A row cut short by a crash is dropped on resume.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bs4nn.codegen.reference import RefBatch
from bs4nn.host.client import StreamResult
from bs4nn.host.protocol import NOT_FIRED
from bs4nn.trainer.errors import Bs4nnError

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
]
STATE_FILE = "bench_state.json"  # what the CSV was measured with: resume refuses a different run


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
        ]

    @classmethod
    def from_row(cls, row: dict) -> Record:
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
        )


def _ints(values) -> str:
    return " ".join(str(int(v)) for v in values)


def _parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split())


def compare(result: StreamResult, true_label: int, ref: RefBatch, i: int) -> Record:
    """The device's reply for image i against the integer reference (row i of ref)."""
    r = result.reply
    out_steps = tuple(-1 if s == NOT_FIRED else s for s in r.output_steps)
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
    )


class RecordWriter:
    """Appends rows to the CSV, flushing each one so a crash loses at most the row in flight."""

    def __init__(self, path: Path, append: bool) -> None:
        self.path = path
        new = not append or not path.exists() or path.stat().st_size == 0
        self._f = open(path, "w" if new else "a", newline="")
        self._w = csv.writer(self._f)
        if new:
            self._w.writerow(COLUMNS)
            self._f.flush()

    def write(self, record: Record) -> None:
        self._w.writerow(record.row())
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_records(path: Path) -> list[Record]:
    """Complete rows of a bench CSV; a torn last line (crash mid-write) is cut off the file."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):  # torn last row: drop it for good
        raw = raw[: raw.rfind(b"\n") + 1]
        path.write_bytes(raw)
    lines = raw.decode().splitlines()
    if not lines:
        return []
    if lines[0].split(",") != COLUMNS:
        raise Bs4nnError(f"{path} is not a bs4nn bench CSV (header differs); use another --out")
    records = []
    for row in csv.DictReader(lines):
        try:
            records.append(Record.from_row(row))
        except (KeyError, ValueError, TypeError) as exc:
            raise Bs4nnError(
                f"{path} has a damaged row ({exc}); delete the file or bench without --resume"
            ) from exc
    return records


def check_state(out_dir: Path, state: dict, resume: bool) -> None:
    """Write the run's identity; on --resume refuse a CSV measured with something else."""
    path = out_dir / STATE_FILE
    if resume and path.exists():
        old = json.loads(path.read_text())
        diffs = [k for k in state if old.get(k) != state[k]]
        if diffs:
            details = ", ".join(f"{k}: {old.get(k)!r} then, {state[k]!r} now" for k in diffs)
            raise Bs4nnError(
                f"--resume: {out_dir} holds a run with different settings ({details}); "
                "use another --out, or drop --resume to start over"
            )
    path.write_text(json.dumps(state, indent=2) + "\n")


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
