"""Inference and evaluation of a trained model with the semantics of docs/design.md section 1.

`forward_batch` gives the per-image figures the integer reference in codegen must reproduce
(label, decision step, fallback flag, output firing steps, spikes per layer up to the
decision); `evaluate` adds the accuracy figures, response time and confusion matrix.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import write_json
from bs4nn.trainer.interrupts import signals_held
from bs4nn.trainer.lazy import LazyModule
from bs4nn.trainer.model import Model, model_from_arrays
from bs4nn.trainer.semantics import NOT_FIRED, TMAX

kernels = LazyModule("bs4nn.trainer.kernels")


def layout(layer_sizes: list[int]) -> kernels.Layout:
    """The flat-array layout of a network of these layer sizes."""
    sizes = np.asarray(layer_sizes, dtype=np.int64)
    woff = np.concatenate([[0], np.cumsum(sizes[:-1] * sizes[1:])]).astype(np.int64)
    noff = np.concatenate([[0], np.cumsum(sizes[1:])]).astype(np.int64)
    return kernels.Layout(sizes, woff, noff)


def pack_forward(model: Model) -> tuple[kernels.Layout, np.ndarray, np.ndarray]:
    """(layout, flat transposed forward weights, per-layer thresholds) for `kernels.forward`.

    Binary: int8 signs and the integer K; real (S4NN): the float weights and theta.
    """
    lay = layout(model.layer_sizes)
    if model.weight_kind == "binary":
        fw = np.concatenate([b.T.ravel() for b in model.binary_weights()]).astype(np.int8)
        thr = np.array(model.thresholds(), dtype=np.int32)
    else:
        fw = np.concatenate([np.asarray(w, np.float64).T.ravel() for w in model.weights])
        thr = np.array(model.thetas, dtype=np.float64)
    return lay, fw, thr


@dataclass
class ForwardResult:
    """Per image: predicted label, decision step (255 on fallback), fallback flag, output
    firing steps (NOT_FIRED = -1: not by the decision), spikes per layer up to and including the
    decision step [input, hidden..., output] (output = outputs firing at the decision step)."""

    labels: np.ndarray  # (N,) int64
    steps: np.ndarray  # (N,) int64
    fallback: np.ndarray  # (N,) bool
    output_steps: np.ndarray  # (N, n_out) int64
    spikes: np.ndarray  # (N, L+1) int64


def check_data_fits(layer_sizes, images: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Refuse images (N, pixels) whose pixels are not the model's inputs, and labels that name
    no output of the model: before a run that would fail at its end."""
    if images.shape[1] != layer_sizes[0]:
        raise Bs4nnError(
            f"images have {images.shape[1]} pixels but the model expects {layer_sizes[0]}"
        )
    if labels is not None and len(labels) and int(np.max(labels)) >= layer_sizes[-1]:
        raise Bs4nnError(
            f"label {int(np.max(labels))} does not exist in a model with {layer_sizes[-1]} outputs"
        )


def _check_images(model: Model, images: np.ndarray) -> np.ndarray:
    images = np.ascontiguousarray(images)
    if images.dtype != np.uint8 or images.ndim != 2:
        raise Bs4nnError(f"images must be uint8 (N, n_in), got {images.dtype} {images.shape}")
    check_data_fits(model.layer_sizes, images)
    return images


def _run(
    model: Model, images: np.ndarray, stop_at_decision: bool, thresholds: list[int] | None = None
):
    images = _check_images(model, images)
    lay, fw, thr = pack_forward(model)
    if thresholds is not None:  # integer K per layer instead of the model's (binary models)
        thr = np.asarray(thresholds, dtype=thr.dtype)
    n = images.shape[0]
    n_layers = len(model.weights)
    out = kernels.Inferred(
        labels=np.empty(n, np.int64),
        steps=np.empty(n, np.int64),
        fallback=np.empty(n, np.bool_),
        out_times=np.empty((n, model.layer_sizes[-1]), np.int64),
        spikes=np.empty((n, n_layers + 1), np.int64),
    )
    with signals_held():
        kernels.infer_batch(images, lay, fw, thr, stop_at_decision, out)
    return out


def forward_batch(
    model: Model, images: np.ndarray, thresholds: list[int] | None = None
) -> ForwardResult:
    """Inference with early stopping at the decision, exactly as the firmware does it
    (optionally with other integer thresholds than the model's, as SET_THRESHOLDS does)."""
    labels, steps, fallback, out_times, spikes = _run(model, images, True, thresholds)
    out_times[out_times == TMAX] = NOT_FIRED
    return ForwardResult(labels, steps, fallback, out_times, spikes)


def predict(model: Model, images: np.ndarray, thresholds: list[int] | None = None) -> np.ndarray:
    """Predicted labels under the strict decision rule."""
    return forward_batch(model, images, thresholds).labels


def firing_steps(model: Model, images: np.ndarray, layer: int = 0) -> np.ndarray:
    """(N, n) firing step of every neuron fed by weight layer `layer` (TMAX = silent),
    simulated to t = 255 without early stopping. A neuron's step depends only on the layers
    below it, so the network cut after `layer` gives it."""
    if not 0 <= layer < len(model.weights):
        raise Bs4nnError(f"layer must be 0..{len(model.weights) - 1}, got {layer}")
    below = model_from_arrays(
        model.weights[: layer + 1],
        model.alphas[: layer + 1],
        model.thetas[: layer + 1],
        weight_kind=model.weight_kind,
    )
    return _run(below, images, False)[3]


def output_potentials(model: Model, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Membrane potentials of the output neurons of one image at the end of every step, run to
    t = 255 without early stopping: (TMAX, n_out) float64, alpha_out * count for binary models
    (V of Eq. 3), the weighted sum for real ones; and the outputs' firing steps (TMAX = silent).
    """
    images = _check_images(model, np.asarray(pixels).reshape(1, -1))
    lay, fw, thr = pack_forward(model)
    n_layers = len(model.weights)
    total = int(lay.noff[-1])
    order, starts, buf = kernels.forward_buffers(images.shape[1], total, n_layers, thr)
    kernels.sort_inputs(images[0], order, starts)
    trace = np.zeros((TMAX, total), thr.dtype)
    kernels.forward(order, starts, lay, fw, thr, False, buf, trace)
    base = int(lay.noff[n_layers - 1])
    scale = model.alphas[-1] if model.weight_kind == "binary" else 1.0
    return scale * trace[:, base:].astype(np.float64), buf.times[base:].astype(np.int64)


@dataclass
class EvalResult:
    n: int
    accuracy: float  # strict decision rule (docs/design.md 1)
    accuracy_tie_inclusive: float  # correct when the label's output is among the earliest
    mean_decision_step: float  # mean response time in steps
    fallback_rate: float  # share of images decided by the t = 255 fallback
    tie_rate: float  # share of images decided at a step where more than one output fired
    mean_spikes: list[float]  # per layer [input, hidden..., output], up to the decision
    per_class_mean_decision_step: list[float]  # by true class
    # [true class][output neuron]: mean firing step when simulated to the end (256 = silent)
    per_class_mean_output_step: list[list[float]]
    confusion: list[list[int]]  # [true class][predicted class]
    model_hash: str
    dataset: str | None = None
    split: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready; a class absent from the images has null means."""
        d = asdict(self)
        d["per_class_mean_decision_step"] = [
            _nan_none(x) for x in self.per_class_mean_decision_step
        ]
        d["per_class_mean_output_step"] = [
            [_nan_none(x) for x in row] for row in self.per_class_mean_output_step
        ]
        return d

    def to_json(self) -> str:
        """What `bs4nn eval --json` prints and `save_beside` writes."""
        return json.dumps(self.to_dict(), indent=1)

    def save_beside(self, model_path: str | Path) -> Path:
        """Write the JSON to `<name>.eval.json` beside the model file (models/ ships these)."""
        p = Path(model_path)
        path = p.with_name(p.name.removesuffix(".bs4nn") + ".eval.json")
        write_json(path, self.to_dict(), indent=1)
        return path

    def accuracy_text(self) -> str:
        """The accuracies on one line, as `bs4nn train` ends: a tie-inclusive figure far above
        the strict one comes with many tied decisions."""
        return (
            f"{100 * self.accuracy:.2f}% (strict), {100 * self.accuracy_tie_inclusive:.2f}% "
            f"(tie-inclusive; {100 * self.tie_rate:.2f}% of decisions tied)"
        )

    def format_text(self) -> str:
        lines = [
            f"model {self.model_hash[:16]}  dataset {self.dataset} {self.split}  n={self.n}",
            f"accuracy (strict decision)   {100 * self.accuracy:.2f}%",
            f"accuracy (tie-inclusive)     {100 * self.accuracy_tie_inclusive:.2f}%",
            f"mean response time           {self.mean_decision_step:.2f} steps",
            f"fallback decisions           {100 * self.fallback_rate:.2f}%",
            f"tied decisions               {100 * self.tie_rate:.2f}%",
            "mean spikes to the decision  "
            + " / ".join(f"{s:.1f}" for s in self.mean_spikes)
            + "  (input / hidden... / output)",
            "",
            "class  decision step  mean output firing steps (full run, 256 = silent)",
        ]
        for c, (d, row) in enumerate(
            zip(self.per_class_mean_decision_step, self.per_class_mean_output_step, strict=True)
        ):
            lines.append(f"{c:5d}  {d:13.1f}  " + " ".join(f"{x:5.1f}" for x in row))
        lines += ["", "confusion matrix (rows: true class, columns: predicted)"]
        n_cls = len(self.confusion)
        lines.append("      " + "".join(f"{k:6d}" for k in range(n_cls)))
        for c, row in enumerate(self.confusion):
            lines.append(f"{c:5d} " + "".join(f"{x:6d}" for x in row))
        return "\n".join(lines)


def _nan_none(x: float) -> float | None:
    return None if np.isnan(x) else x


def _class_means(values: np.ndarray, labels: np.ndarray, n_cls: int) -> np.ndarray:
    out = np.full((n_cls,) + values.shape[1:], np.nan)
    for c in range(n_cls):
        sel = labels == c
        if sel.any():
            out[c] = values[sel].mean(axis=0)
    return out


def tied(output_steps: np.ndarray, decision_steps: np.ndarray) -> np.ndarray:
    """Per image: more than one output fired at the decision step (never on fallback, where
    no output fired). Only these images can be right tie-inclusive and wrong strict. Takes
    the output firing steps (NOT_FIRED when not by the decision) and decision steps of a
    ForwardResult or of a bench's records."""
    return (output_steps == decision_steps[:, None]).sum(axis=1) > 1


def tie_inclusive_correct(
    *,
    output_steps: np.ndarray,
    decision_steps: np.ndarray,
    fallback: np.ndarray,
    predicted: np.ndarray,
    labels: np.ndarray,
) -> np.ndarray:
    """Per image: the label's output fired at the decision step (among the earliest), or, on
    fallback, the strict decision was right. The paper's authors scored this way. Takes the
    arrays of a ForwardResult or of a bench's records, as `tied` does."""
    label_step = output_steps[np.arange(len(labels)), labels]
    return np.where(fallback, predicted == labels, label_step == decision_steps)


def tie_inclusive_of(fr: ForwardResult, labels: np.ndarray) -> np.ndarray:
    """`tie_inclusive_correct` of a forward pass."""
    return tie_inclusive_correct(
        output_steps=fr.output_steps,
        decision_steps=fr.steps,
        fallback=fr.fallback,
        predicted=fr.labels,
        labels=labels,
    )


def evaluate(
    model: Model,
    images: np.ndarray,
    labels: np.ndarray,
    dataset: str | None = None,
    split: str | None = None,
) -> EvalResult:
    """All evaluation figures of `model` on (images, labels)."""
    labels = np.asarray(labels).astype(np.int64)
    if len(labels) != len(images) or len(labels) == 0:
        raise Bs4nnError(
            f"need as many labels as images, at least one ({len(labels)} labels, "
            f"{len(images)} images)"
        )
    check_data_fits(model.layer_sizes, images, labels)
    n_cls = model.layer_sizes[-1]
    fr = forward_batch(model, images)
    _, _, _, full_times, _ = _run(model, images, False)
    correct = fr.labels == labels
    tie_ok = tie_inclusive_of(fr, labels)
    confusion = np.zeros((n_cls, n_cls), np.int64)
    np.add.at(confusion, (labels, fr.labels), 1)
    return EvalResult(
        n=len(labels),
        accuracy=float(correct.mean()),
        accuracy_tie_inclusive=float(tie_ok.mean()),
        mean_decision_step=float(fr.steps.mean()),
        fallback_rate=float(fr.fallback.mean()),
        tie_rate=float(tied(fr.output_steps, fr.steps).mean()),
        mean_spikes=[float(x) for x in fr.spikes.mean(axis=0)],
        per_class_mean_decision_step=[
            float(x) for x in _class_means(fr.steps.astype(np.float64), labels, n_cls)
        ],
        per_class_mean_output_step=_class_means(
            full_times.astype(np.float64), labels, n_cls
        ).tolist(),
        confusion=confusion.tolist(),
        model_hash=model.content_hash,
        dataset=dataset,
        split=split,
    )
