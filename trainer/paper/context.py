"""What every experiment gets: the models, the test sets (optionally only the first N images),
evaluations computed once per run, the output folder and the progress bars."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.evaluate import EvalResult, ForwardResult, evaluate, forward_batch
from bs4nn.trainer.paper.models import SPECS, ModelSet
from bs4nn.trainer.progress import progress_bar


@dataclass
class Context:
    out: Path
    models: ModelSet
    limit: int | None = None  # only the first N test images
    data_dir: str | None = None
    progress: bool = True
    log: Callable[[str], None] = print
    _data: dict = field(default_factory=dict)
    _evals: dict = field(default_factory=dict)
    _forwards: dict = field(default_factory=dict)

    def model(self, key: str):
        """The Model (or BnnResult) of `key`; None for a missing optional one."""
        return self.models.get(key, self.data_dir, self.progress, self.log)

    def test_set(self, dataset: str) -> tuple[np.ndarray, np.ndarray]:
        if dataset not in self._data:
            images, labels = load_dataset(dataset, "test", self.data_dir)
            self._data[dataset] = (images[: self.limit], labels[: self.limit].astype(np.int64))
        return self._data[dataset]

    def split(self, dataset: str) -> str:
        n = len(self.test_set(dataset)[1])
        return f"{dataset} test, {'all ' if self.limit is None else 'first '}{n} images"

    def evaluate(self, key: str) -> EvalResult:
        """`bs4nn eval` of model `key` on its test set (strict and tie-inclusive)."""
        if key not in self._evals:
            dataset = SPECS[key].dataset
            self._evals[key] = evaluate(self.model(key), *self.test_set(dataset), dataset, "test")
        return self._evals[key]

    def forward(self, key: str) -> ForwardResult:
        """Per-image inference figures (decision, spikes to the decision) of model `key`."""
        if key not in self._forwards:
            self._forwards[key] = forward_batch(
                self.model(key), self.test_set(SPECS[key].dataset)[0]
            )
        return self._forwards[key]

    def figure(self, name: str) -> Path:
        return self.out / f"{name}.png"

    def bar(self, items: Iterable, desc: str, total: int | None = None):
        return progress_bar(items, desc=desc, total=total, disable=not self.progress, leave=False)
