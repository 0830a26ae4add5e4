"""How much does a trained model's hidden layer add to the raw pixels? A linear probe.

A softmax regression (real weights and biases, mini-batch SGD) is fitted on the training split
twice: on the pixels, and on the firing steps of one hidden layer ((256 - t) / 256, 0 when
silent; simulated to t = 255). Both are scored on the model's own validation split, next to the
model's strict decision. A hidden layer whose probe is no better than the pixels' has learned
features a linear read-out cannot use beyond the pixels themselves (docs/experiment-log.md,
set D).

    python bench/hidden_probe.py models/fashion-1000.bs4nn [--hidden-layer 1] [--epochs 30]

Prints `model_val_accuracy=`, `probe_pixels_val_accuracy=` and, last,
`probe_hidden_val_accuracy=`.
"""

import argparse

import numpy as np

from bs4nn.trainer.datasets import load_dataset, train_val_split
from bs4nn.trainer.evaluate import firing_steps, predict
from bs4nn.trainer.model import Model
from bs4nn.trainer.presets import VAL_SIZE
from bs4nn.trainer.semantics import TMAX


def softmax_probe(x_train, y_train, x_val, y_val, epochs, rate=0.05, l2=1e-4, batch=256):
    """Fit softmax regression on (x_train, y_train); return (train, val) accuracy."""
    rng = np.random.default_rng(0)
    n_cls = int(y_train.max()) + 1
    w = np.zeros((x_train.shape[1], n_cls), np.float32)
    b = np.zeros(n_cls, np.float32)
    rows = np.arange(batch)
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        for s in range(0, len(order), batch):
            pick = order[s : s + batch]
            z = x_train[pick] @ w + b
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[rows[: len(pick)], y_train[pick]] -= 1.0  # softmax cross-entropy gradient
            w -= rate * (x_train[pick].T @ p / len(pick) + l2 * w)
            b -= rate * p.mean(axis=0)

    def accuracy(x, y):
        return float(np.mean(np.argmax(x @ w + b, axis=1) == y))

    return accuracy(x_train, y_train), accuracy(x_val, y_val)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument(
        "--hidden-layer", type=int, default=1, help="hidden layer N to probe, from 1 (default: 1)"
    )
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--data-dir")
    args = ap.parse_args()

    model = Model.load(args.model)
    hidden_layers = len(model.weights) - 1
    if hidden_layers == 0:
        ap.error(f"{args.model} has no hidden layer to probe")
    if not 1 <= args.hidden_layer <= hidden_layers:
        ap.error(f"--hidden-layer must name a hidden layer: 1..{hidden_layers}")
    images, labels = load_dataset(model.dataset, "train", args.data_dir)
    labels = labels.astype(np.int64)
    val_size = int(model.metrics.get("val_size") or VAL_SIZE)
    train_idx, val_idx = train_val_split(len(images), val_size, int(model.seed or 0))
    model_val = float(np.mean(predict(model, images[val_idx]) == labels[val_idx]))
    print(f"model: {args.model}, validation split {len(val_idx)} images (seed {model.seed})")
    print(f"model_val_accuracy={model_val:.4f}", flush=True)

    pixels = (images / 255.0).astype(np.float32)
    tr, va = softmax_probe(
        pixels[train_idx], labels[train_idx], pixels[val_idx], labels[val_idx], args.epochs
    )
    print(f"probe on the pixels: train {tr:.4f}", flush=True)
    print(f"probe_pixels_val_accuracy={va:.4f}", flush=True)

    steps = firing_steps(model, images, args.hidden_layer - 1)  # weights[N-1] feed it
    hidden = ((TMAX - steps) / TMAX).astype(np.float32)
    fired = float(np.mean(steps < TMAX))
    tr, va = softmax_probe(
        hidden[train_idx], labels[train_idx], hidden[val_idx], labels[val_idx], args.epochs
    )
    print(
        f"probe on hidden layer {args.hidden_layer} ({hidden.shape[1]} neurons, "
        f"{100 * fired:.1f}% fire by t = 255): train {tr:.4f}"
    )
    print(f"probe_hidden_val_accuracy={va:.4f}")


if __name__ == "__main__":
    main()
