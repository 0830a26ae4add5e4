"""Image-by-image comparison of two result batches, against the integer reference.

Used for the trainer's evaluation (implemented independently in trainer/kernels.py), the host
C build (codegen/ccheck.py) and the boards (host/): any difference is a bug and is reported
per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import RefBatch, reference_batch
from bs4nn.trainer.model import Model

FIELDS = ("labels", "decision_steps", "fallback", "output_steps", "spikes")


@dataclass
class Agreement:
    images: int
    mismatched: list[int] = field(default_factory=list)  # image indices
    details: list[str] = field(default_factory=list)  # first differences, readable

    @property
    def ok(self) -> bool:
        return not self.mismatched


def mismatched_images(ref: RefBatch, got: RefBatch) -> list[int]:
    """Indices of the images where any field differs."""
    n = len(ref.labels)
    if len(got.labels) != n:
        raise ValueError(f"{n} reference results but {len(got.labels)} to compare")
    bad = np.zeros(n, dtype=bool)
    for name in FIELDS:
        a = np.asarray(getattr(ref, name)).reshape(n, -1)
        b = np.asarray(getattr(got, name)).reshape(n, -1)
        if a.shape != b.shape:
            raise ValueError(f"{name}: shapes differ, {a.shape} vs {b.shape}")
        bad |= (a != b).any(axis=1)
    return [int(i) for i in np.flatnonzero(bad)]


def describe_mismatch(ref: RefBatch, got: RefBatch, i: int, noun: str = "image") -> str:
    """'image i: field ref=... got=...' for every field that differs; `noun` names what the
    index counts (the callers that compare a test split's first images pass "test image")."""
    diffs = []
    for name in FIELDS:
        a = np.asarray(getattr(ref, name)[i])
        b = np.asarray(getattr(got, name)[i])
        if (a != b).any():
            diffs.append(f"{name} ref={a.tolist()} got={b.tolist()}")
    return f"{noun} {i}: " + "; ".join(diffs)


def mismatches(ref: RefBatch, got: RefBatch, noun: str = "image") -> list[str]:
    """One line per image where any field differs (empty when they agree exactly)."""
    return [describe_mismatch(ref, got, i, noun) for i in mismatched_images(ref, got)]


def compare_batches(
    ref: RefBatch, got: RefBatch, limit_details: int = 10, noun: str = "image"
) -> Agreement:
    bad = mismatched_images(ref, got)
    return Agreement(
        images=len(ref.labels),
        mismatched=bad,
        details=[describe_mismatch(ref, got, i, noun) for i in bad[:limit_details]],
    )


def compare_with_trainer(
    model: Model, intmodel: IntModel, images: np.ndarray, noun: str = "image"
) -> Agreement:
    from bs4nn.trainer.evaluate import forward_batch

    trained = forward_batch(model, images)
    as_ref = RefBatch(
        labels=trained.labels,
        decision_steps=trained.steps,
        fallback=trained.fallback,
        output_steps=trained.output_steps,
        spikes=trained.spikes,
    )
    return compare_batches(reference_batch(intmodel, images), as_ref, noun=noun)
