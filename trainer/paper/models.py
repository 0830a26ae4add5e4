"""The models the paper's experiments run on: the shipped ones in models/, or (--retrain) trained
from scratch with the presets into OUT/models.

S4NN is `bs4nn train --weights real` (the paper's rule, real weights, alpha fixed at 1) with the
preset's other settings and a threshold for real sums (the binary presets' thetas count in
units of alpha, which real weights of the presets' initial size never reach: every neuron
stays silent). The BNN baseline is trainer/bnn.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bs4nn.trainer.bnn import BnnConfig, BnnResult, load_bnn, save_bnn, train_bnn
from bs4nn.trainer.datasets import load_dataset, train_val_split
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model
from bs4nn.trainer.presets import VAL_SIZE
from bs4nn.trainer.run import checkpoint_path
from bs4nn.trainer.train import make_config, train


@dataclass(frozen=True)
class ModelSpec:
    file: str
    dataset: str
    kind: str  # "bs4nn" (a .bs4nn model file) or "bnn" (trainer/bnn.py .npz)
    preset: str
    train: dict  # make_config overrides (bs4nn) or BnnConfig fields (bnn)
    required: bool = True  # False: an extra row, shown when the file is there (not retrained)


SPECS: dict[str, ModelSpec] = {
    "mnist": ModelSpec("mnist-600.bs4nn", "mnist", "bs4nn", "mnist-600", {}),
    "mnist-s4nn": ModelSpec(
        "mnist-600-s4nn.bs4nn",
        "mnist",
        "bs4nn",
        "mnist-600",
        {"weights": "real", "thetas": [10.0], "epochs": 30},
    ),
    "mnist-surrogate": ModelSpec(
        "mnist-600-surrogate.bs4nn", "mnist", "bs4nn", "mnist-600", {}, required=False
    ),
    "bnn-mnist": ModelSpec(
        "bnn-mnist-600.npz",
        "mnist",
        "bnn",
        "mnist-600",
        {"layer_sizes": [784, 600, 10], "epochs": 20},
    ),
    "fashion": ModelSpec("fashion-1000.bs4nn", "fashion-mnist", "bs4nn", "fashion-1000", {}),
    "fashion-deep": ModelSpec(
        "fashion-600-600.bs4nn", "fashion-mnist", "bs4nn", "fashion-600-600", {}
    ),
    "fashion-s4nn": ModelSpec(
        "fashion-1000-s4nn.bs4nn",
        "fashion-mnist",
        "bs4nn",
        "fashion-1000",
        {"weights": "real", "thetas": [20.0], "epochs": 10},
    ),
    "fashion-surrogate": ModelSpec(
        "fashion-1000-surrogate.bs4nn", "fashion-mnist", "bs4nn", "fashion-1000", {}, required=False
    ),
    "fashion-deep-surrogate": ModelSpec(
        "fashion-600-600-surrogate.bs4nn",
        "fashion-mnist",
        "bs4nn",
        "fashion-600-600",
        {},
        required=False,
    ),
    "bnn-fashion": ModelSpec(
        "bnn-fashion-1000.npz",
        "fashion-mnist",
        "bnn",
        "fashion-1000",
        {"layer_sizes": [784, 1000, 10], "epochs": 15},
    ),
}


class ModelSet:
    """Model files of one run by key (SPECS), loaded once."""

    def __init__(self, folder: Path, retrain: bool):
        self.folder = folder
        self.retrain = retrain
        self._cache: dict[str, Model | BnnResult] = {}

    def path(self, key: str) -> Path:
        return self.folder / SPECS[key].file

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def check(self, keys: set[str]) -> None:
        """Refuse, before any work, a run whose required models are missing."""
        if self.retrain:
            return
        missing = [str(self.path(k)) for k in sorted(keys) if SPECS[k].required and not self.has(k)]
        if missing:
            raise Bs4nnError(
                f"missing model file(s) {', '.join(missing)}: give --models DIR "
                "with the shipped models, or --retrain to train them"
            )

    def get(self, key: str, data_dir, progress: bool, log: Callable[[str], None]):
        """The model (or BnnResult) of `key`, trained first under --retrain if not yet there."""
        if key not in self._cache:
            if self.retrain and SPECS[key].required and not self.has(key):
                self.folder.mkdir(parents=True, exist_ok=True)
                _train(SPECS[key], self.path(key), data_dir, progress, log)
            if not self.has(key):
                return None
            load = load_bnn if SPECS[key].kind == "bnn" else Model.load
            self._cache[key] = load(self.path(key))
        return self._cache[key]


def _train(
    spec: ModelSpec, out: Path, data_dir, progress: bool, log: Callable[[str], None]
) -> None:
    log(f"training {out.name} ({spec.preset}, {spec.train or 'preset settings'})")
    if spec.kind == "bnn":
        images, labels = load_dataset(spec.dataset, "train", data_dir)
        test = load_dataset(spec.dataset, "test", data_dir)
        tr, va = train_val_split(len(images), VAL_SIZE, 0)
        result = train_bnn(
            BnnConfig(**spec.train),
            (images[tr], labels[tr]),
            (images[va], labels[va]),
            test,
            progress,
            log,
        )
        save_bnn(result, out)
        return
    cfg = make_config(spec.preset, **spec.train)
    train(
        cfg,
        out,
        resume=checkpoint_path(out).is_file(),
        data_dir=data_dir,
        progress=progress,
        log=log,
    )
