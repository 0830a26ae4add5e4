"""Stream test images to a connected board and record, per image, its answer beside the
integer reference's (a CSV row each, written as it goes)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import RefBatch
from bs4nn.host import protocol as p
from bs4nn.host.client import Device
from bs4nn.host.connect import Connection
from bs4nn.host.records import RecordWriter, compare
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import check_data_fits
from bs4nn.trainer.wording import TEST_IMAGE

LATENCY_IMAGES = 20  # the first images go one at a time: the host's idle round-trip latency


def check_fit_one_frame(images: np.ndarray) -> None:
    """Refuse test images (N, pixels) that no INFER form carries in one frame, before any side
    effect: the first of them, its non-zero pixels and how many fit."""
    too_many = _too_many_nonzero(images, range(len(images)), bitmap=True)
    if too_many:
        raise Bs4nnError(f"{too_many}; {p.MAKE_IMAGES_FIT}")


def first_test_images(intmodel: IntModel, dataset: str, data_dir, limit: int | None):
    """The first `limit` test images of `dataset` (all with None) and their labels, checked
    against the model and the frame they are sent in; and the labels of the whole test set.
    A bench and a sweep measure at least one image: a summary of none has no figures."""
    from bs4nn.trainer.datasets import load_dataset

    images, labels = load_dataset(dataset, "test", data_dir=data_dir)
    n = len(images) if limit is None else min(int(limit), len(images))
    if n < 1:
        raise Bs4nnError("--limit must be at least 1")
    check_data_fits(intmodel.layer_sizes, images[:n], labels[:n])
    check_fit_one_frame(images[:n])
    return images[:n], labels[:n], labels


def check_device_forms(dev: Device, images: np.ndarray, todo: list[int]) -> None:
    """After the handshake, before the first image is sent: refuse when one of images[todo]
    fits one frame only as INFER_BITMAP and the device lacks it (the request is optional and
    INFO does not report it, so the device is asked, and only then)."""
    too_many = _too_many_nonzero(images, todo, bitmap=False)
    if too_many and not dev.has_bitmap():
        raise Bs4nnError(f"{too_many}; {dev.no_bitmap_advice()}")


def _too_many_nonzero(images: np.ndarray, indices, bitmap: bool) -> str | None:
    """The first of images[indices] that no INFER form (INFER_BITMAP only if `bitmap`) carries
    in one frame, its non-zero pixels and how many fit; None when every one fits."""
    indices = list(indices)
    n_input = images.shape[1]
    nonzero = np.count_nonzero(images, axis=1)[indices]  # counted in place, no copy of images
    fits = p.fits_one_frame(p.form_lengths(n_input, nonzero, bitmap))
    if np.all(fits):
        return None
    first = int(np.argmin(fits))
    image = f"{TEST_IMAGE} {indices[first]}"
    return p.too_many_nonzero(image, n_input, int(nonzero[first]), bitmap)


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
                pixels = (images[i] for i in part)
                for res in dev.stream(pixels, part, window=window, noun=TEST_IMAGE):
                    rec = compare(res, labels[res.index], ref, res.index, model_hash)
                    writer.write(rec)
                    done += 1
                    bar.update(1)
                    if rec.mismatch:
                        bar.write(f"MISMATCH {TEST_IMAGE} {rec.index}: {rec.mismatch}")
    finally:
        bar.close()
    return done, time.monotonic() - t0
