"""Stream test images to a connected board and record, per image, its answer beside the
integer reference's (a CSV row each, written as it goes)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bs4nn.codegen.reference import RefBatch
from bs4nn.host.connect import Connection
from bs4nn.host.records import RecordWriter, compare

LATENCY_IMAGES = 20  # the first images go one at a time: the host's idle round-trip latency


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
    from bs4nn.trainer.progress import progress_bar

    dev = conn.device
    assert dev.info is not None  # handshaken
    model_hash = dev.info.model_hash_hex
    done = 0
    bar = progress_bar(total=len(todo), desc=desc, unit="img", disable=not progress, leave=False)
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
