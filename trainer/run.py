"""What a training run needs whatever its learning rule: the config base, the result,
checkpoints (atomic, refused when the settings differ), the data of a run, the end of an epoch
and of the run (test score, save, checkpoint dropped).

The paper's rule (`bs4nn.trainer.train`) and the surrogate rule (`bs4nn.trainer.surrogate`)
both run on these.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np

from bs4nn.trainer.datasets import (
    check_spec,
    dataset_shape,
    load_dataset,
    own_data,
    train_val_split,
)
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import EvalResult, evaluate
from bs4nn.trainer.files import ZIP_DAMAGE, user_path, write_atomic
from bs4nn.trainer.lane_order import ORDER_IMAGES, in_lane_order
from bs4nn.trainer.model import Model
from bs4nn.trainer.resume_hints import start_over

T = TypeVar("T")


class NetworkConfig:
    """What every training config (dataclass with `dataset` and `hidden`) shares."""

    @property
    def layer_sizes(self) -> list[int]:
        n_inputs, n_classes = dataset_shape(self.dataset)
        return [n_inputs, *self.hidden, n_classes]

    @property
    def n_layers(self) -> int:  # weight layers
        return len(self.hidden) + 1

    def to_dict(self) -> dict:
        return asdict(self)

    def check_network(self, per_layer: tuple[str, ...]) -> None:
        """A known dataset, positive hidden sizes, one value per weight layer in each of the
        `per_layer` fields."""
        n_layers = self.n_layers
        if self.dataset is None:
            raise Bs4nnError(
                "this preset is for your own data: give it with --data FILE.npz (or an IDX folder)"
            )
        check_spec(self.dataset)
        if any(h < 1 for h in self.hidden):
            raise Bs4nnError(f"hidden layer sizes must be positive, got {self.hidden}")
        for name in per_layer:
            if len(getattr(self, name)) != n_layers:
                raise Bs4nnError(
                    f"{name} needs one value per weight layer ({n_layers}), "
                    f"got {getattr(self, name)}"
                )


@dataclass
class TrainResult:
    model: Model
    model_path: Path
    val_accuracy: float | None
    test_accuracy: float
    best_epoch: int
    epochs: int
    seconds: float
    history: list[dict]
    test: EvalResult | None = None  # the selected model on the test set (test_accuracy's source)

    @classmethod
    def of_saved(cls, model: Model, out: Path, test: EvalResult) -> TrainResult:
        """The result of a run whose selected `model` (its metrics from `run_metrics` and
        `save_final`) was scored on the test set as `test` and saved to `out`."""
        m = model.metrics
        return cls(
            model,
            out,
            m["val_accuracy"],
            test.accuracy,
            m["best_epoch"],
            m["epochs"],
            m["train_seconds"],
            m["history"],
            test,
        )


def checkpoint_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def write_checkpoint(path: Path, config: dict, meta: dict, arrays: dict) -> None:
    """Atomically write a checkpoint: `arrays` (None values skipped) and JSON `meta`, tagged
    with the run's `config` so that a resume with other settings is refused."""
    meta = {"config": config, **meta}
    arrays = {k: a for k, a in arrays.items() if a is not None}
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    with user_path(path, "write the checkpoint"):
        write_atomic(path, buf.getvalue())  # a crash leaves the previous checkpoint intact


def check_start(ckpt: Path, resume: bool) -> None:
    """Before any work: --resume needs the checkpoint, and a run started without it would
    replace an earlier run's checkpoint at its first epoch."""
    if resume and not ckpt.is_file():
        raise Bs4nnError(f"no checkpoint {ckpt} to resume from; run without --resume to start")
    if not resume and ckpt.is_file():
        raise Bs4nnError(
            f"checkpoint {ckpt} holds an earlier run's epochs: add --resume to continue that "
            "run, or delete the checkpoint to start again"
        )


def read_checkpoint(path: Path, config: dict, state: Callable[[dict, dict], T]) -> T:
    """state(meta, arrays) of a checkpoint written by `write_checkpoint` with the same
    `config`; a checkpoint that cannot be read, or lacks what `state` takes, is refused."""
    check_start(path, resume=True)

    def unreadable(why: object) -> Bs4nnError:
        return Bs4nnError(
            f"checkpoint {path} is unreadable ({why}); "
            + start_over(path, "delete it and start again without --resume")
        )

    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":  # np.load would take anything else for a pickle
                raise unreadable("not a checkpoint written by bs4nn train")
        with np.load(path) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            arrays = {k: z[k] for k in z.files if k != "meta"}
    except (OSError, ValueError, KeyError, *ZIP_DAMAGE) as exc:
        raise unreadable(exc) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise unreadable("no run settings")
    if meta["config"] != config:
        saved = meta["config"]
        diff = sorted(k for k in config.keys() | saved.keys() if saved.get(k) != config.get(k))
        again = "resume with the same options, or delete it and start again without --resume"
        raise Bs4nnError(
            f"checkpoint {path} was made with different settings ({', '.join(diff)}); "
            + start_over(path, again)
        )
    try:
        return state(meta, arrays)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise unreadable(f"{type(exc).__name__}: {exc}") from None


class RunData(NamedTuple):
    """The data of a run: validation images are training images picked by `val_idx`."""

    images: np.ndarray
    labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray


def load_run_data(cfg, data_dir: str | Path | None) -> RunData:
    """The RunData of a training config (its dataset, seeded validation split and
    train_limit). Own data with a validation split of its own validates on that split (appended
    after the training images)."""
    images, labels = load_dataset(cfg.dataset, "train", data_dir)
    test_images, test_labels = load_dataset(cfg.dataset, "test", data_dir)
    own = own_data(cfg.dataset)
    if own is not None and "val" in own.splits:
        val_images, val_labels = own.splits["val"]
        train_idx = np.arange(len(images), dtype=np.int64)
        val_idx = np.arange(len(images), len(images) + len(val_images), dtype=np.int64)
        images = np.concatenate([images, val_images])
        labels = np.concatenate([labels, val_labels])
    else:
        train_idx, val_idx = train_val_split(len(images), cfg.val_size, cfg.seed)
    if cfg.train_limit is not None:
        train_idx = train_idx[: cfg.train_limit]
    return RunData(images, labels, test_images, test_labels, train_idx, val_idx)


def end_epoch(
    state,
    epoch: int,
    rng: np.random.Generator,
    save: Callable[[], None],
    on_epoch_end: Callable[[int], None] | None,
) -> None:
    """Mark `epoch` done in `state` (a TrainState or a surrogate state), checkpoint, notify."""
    state.epoch = epoch
    state.rng_state = rng.bit_generator.state
    save()
    if on_epoch_end is not None:
        on_epoch_end(epoch)


def report_interrupt(ckpt: Path, epochs_done: int, log: Callable[[str], None]) -> None:
    if ckpt.is_file():
        log(
            f"interrupted; checkpoint {ckpt} holds {epochs_done} completed epoch(s), from which "
            "a resumed run goes on"
        )


def resumed_start(history: list[dict]) -> float:
    """The perf_counter the run would have started at: now, less the epochs done before a
    resume (each history entry has its "seconds"), so that train_seconds is the whole run's."""
    return time.perf_counter() - sum(entry["seconds"] for entry in history)


def run_metrics(
    data: RunData,
    *,
    val_accuracy: float | None,
    best_epoch: int,
    epochs: int,
    history: list[dict],
) -> dict:
    """The model file's record of a run: the selected epoch and its validation accuracy, the
    split's sizes and every epoch's history entry."""
    return {
        "val_accuracy": val_accuracy,
        "best_epoch": best_epoch,
        "epochs": epochs,
        "train_size": int(len(data.train_idx)),
        "val_size": int(len(data.val_idx)),
        "history": history,
    }


def save_final(model: Model, out: Path, data: RunData, started: float) -> tuple[Model, EvalResult]:
    """Number the selected model's hidden neurons for the firmware's lane words (binary
    weights; `lane_order`, on the first ORDER_IMAGES training images), score it once on the
    test set, record it in its metrics, save it to `out` and drop the checkpoint. Returns the
    saved model and its test EvalResult."""
    if model.weight_kind == "binary":
        model = in_lane_order(model, data.images[data.train_idx[:ORDER_IMAGES]])
    test = evaluate(model, data.test_images, data.test_labels, model.dataset, "test")
    model.metrics.update(
        test_accuracy=test.accuracy,
        test_accuracy_tie_inclusive=test.accuracy_tie_inclusive,
        test_mean_decision_step=test.mean_decision_step,
        train_seconds=time.perf_counter() - started,
    )
    model.save(out)
    checkpoint_path(out).unlink(missing_ok=True)
    return model, test
