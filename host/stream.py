"""Stream test images to a connected board and record, per image, its answer beside the
integer reference's (a CSV row each, written as it goes)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bs4nn.codegen.reference import RefBatch
from bs4nn.host import protocol as p
from bs4nn.host.connect import Connection
from bs4nn.host.records import RecordWriter, compare
from bs4nn.trainer.errors import Bs4nnError

LATENCY_IMAGES = 20  # the first images go one at a time: the host's idle round-trip latency


def check_fit_one_frame(images: np.ndarray) -> None:
    """Refuse test images (N, pixels) that no INFER form carries in one frame, before any side
    effect: the first of them, its non-zero pixels and how many fit."""
    n_input = images.shape[1]
    nonzero = np.count_nonzero(images, axis=1)
    fits = p.fits_one_frame(p.form_lengths(n_input, nonzero))
    if np.all(fits):
        return
    first = int(np.argmin(fits))
    # the most non-zero pixels an image of n_input pixels may have, by trying every count
    most = int(np.flatnonzero(p.fits_one_frame(p.form_lengths(n_input, np.arange(n_input))))[-1])
    raise Bs4nnError(
        f"test image {first} has {nonzero[first]:,} non-zero pixels of {n_input:,}: too many "
        f"for one INFER request, whose body of at most {p.MAX_BODY:,} bytes holds {most:,} of "
        f"{n_input:,}; give images with more zero pixels, or a model of at most "
        f"{p.MAX_BODY:,} inputs"
    )


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
