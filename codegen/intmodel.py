"""Float model -> integer model: the +-1 signs, integer thresholds K and the limits of the firmware.

Nothing in an IntModel is floating point. See docs/design.md section 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import ENCODING, Model
from bs4nn.trainer.semantics import (
    TMAX,
    binarize,
    check_thresholds,
    firmware_size_problem,
    threshold_count,
    weight_layer_name,
)


@dataclass(frozen=True)
class IntModel:
    layer_sizes: tuple[int, ...]  # [n_in, h_1, ..., n_out]
    thresholds: tuple[int, ...]  # K per weight layer
    signs: tuple[np.ndarray, ...]  # per weight layer, int8 (n_out, n_in) of +1/-1
    tmax: int
    model_hash: str
    source: str = ""  # model file it came from, for the generated headers

    @property
    def num_layers(self) -> int:
        return len(self.signs)

    @classmethod
    def from_model(cls, model: Model, source: str = "") -> IntModel:
        where = f" ({source})" if source else ""
        if model.weight_kind != "binary":
            raise Bs4nnError(
                f"model{where} has {model.weight_kind!r} weights (S4NN); only binary-weight models "
                "run on the board. Train with --weights binary."
            )
        if model.tmax != TMAX or model.encoding != ENCODING:
            raise Bs4nnError(
                f"model{where} uses tmax={model.tmax}, encoding={model.encoding!r}; the firmware "
                f"implements tmax={TMAX} with {ENCODING!r} only."
            )
        thresholds = []
        for layer, (theta, alpha) in enumerate(zip(model.thetas, model.alphas, strict=True)):
            if not alpha > 0:
                raise Bs4nnError(
                    f"{weight_layer_name(layer, len(model.alphas))} in model{where} has "
                    f"alpha={alpha}; the integer threshold "
                    "ceil(theta/alpha) needs alpha > 0. Retrain (the trainer keeps alpha positive)."
                )
            thresholds.append(threshold_count(theta, alpha))
        intmodel = cls(
            layer_sizes=tuple(int(n) for n in model.layer_sizes),
            thresholds=tuple(thresholds),
            signs=tuple(binarize(w) for w in model.weights),
            tmax=int(model.tmax),
            model_hash=model.content_hash,
            source=source,
        )
        intmodel.check_limits(intmodel.thresholds)
        return intmodel

    @classmethod
    def load(cls, path: str | Path) -> IntModel:
        return cls.from_model(Model.load(path), source=str(path))

    def check_limits(self, thresholds: tuple[int, ...] | list[int]) -> None:
        """Refuse what the firmware cannot run exactly, naming the offending value."""
        problem = firmware_size_problem(self.layer_sizes)
        if problem is not None:
            raise Bs4nnError(problem)
        if len(thresholds) != self.num_layers:
            raise Bs4nnError(
                f"{len(thresholds)} thresholds given for {self.num_layers} weight layers"
            )
        check_thresholds(thresholds)
