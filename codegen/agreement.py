"""Does the integer model give, image by image, what the trainer's evaluation gives?

Both sides implement docs/design.md section 1 independently (numba kernels in trainer, the
integer reference here); any difference is a bug in one of them and is reported per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codegen.intmodel import IntModel
from codegen.reference import RefBatch, reference_batch
from trainer.model import Model

FIELDS = ("labels", "decision_steps", "fallback", "output_steps", "spikes")


@dataclass
class Agreement:
    images: int
    mismatched: list[int] = field(default_factory=list)  # image indices
    details: list[str] = field(default_factory=list)  # first differences, readable

    @property
    def ok(self) -> bool:
        return not self.mismatched


def compare_batches(ref: RefBatch, other: RefBatch, limit_details: int = 10) -> Agreement:
    """Image by image, every field of two batches of results."""
    n = len(ref.labels)
    bad = np.zeros(n, dtype=bool)
    for name in FIELDS:
        a = np.asarray(getattr(ref, name))
        b = np.asarray(getattr(other, name))
        if a.shape != b.shape:
            raise ValueError(f"{name}: shapes differ, {a.shape} vs {b.shape}")
        diff = a != b
        bad |= diff.reshape(n, -1).any(axis=1)
    result = Agreement(images=n, mismatched=[int(i) for i in np.flatnonzero(bad)])
    for i in result.mismatched[:limit_details]:
        parts = [f"{name} {np.asarray(getattr(ref, name))[i].tolist()} vs "
                 f"{np.asarray(getattr(other, name))[i].tolist()}" for name in FIELDS]
        result.details.append(f"image {i}: " + "; ".join(parts))
    return result


def compare_with_trainer(model: Model, intmodel: IntModel, images: np.ndarray) -> Agreement:
    from trainer.evaluate import forward_batch

    trained = forward_batch(model, images)
    as_ref = RefBatch(labels=trained.labels, decision_steps=trained.steps,
                      fallback=trained.fallback, output_steps=trained.output_steps,
                      spikes=trained.spikes)
    return compare_batches(reference_batch(intmodel, images), as_ref)
