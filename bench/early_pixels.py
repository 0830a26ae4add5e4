"""How much do the pixels that have spiked by step t tell? A real-valued MLP on them.

The firmware's cost follows the input spikes an image takes before its decision
(docs/speed.md): a cheaper decision sees fewer pixels. For each step t, a 784-600-10
ReLU MLP with real weights (Adam, dropout 0.3) is trained on the training split with only the
pixels spiking by step t (intensity >= 255 - t, as 1; the rest 0) and scored on the seeded
validation split the shipped models were selected on: what a network with far more freedom
than BS4NN reads from the same pixels, were it to decide at step t on every image
(docs/experiment-log.md, 2026-12-02).

    python bench/early_pixels.py [--steps 3,25,68,255] [--epochs 15] [--dataset mnist]

Prints one line per step: the mean number of pixels in by then and `val_accuracy=`.
"""

import argparse

import numpy as np

from bs4nn.trainer.datasets import load_dataset, train_val_split
from bs4nn.trainer.presets import VAL_SIZE

HIDDEN = 600
DROPOUT = 0.3
BATCH = 128


def train_mlp(x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0):
    """A 784-HIDDEN-10 ReLU MLP fitted with Adam (the step times 0.7 every 3 epochs); returns
    its prediction function."""
    rng = np.random.default_rng(seed)
    n_in, n_out = x.shape[1], int(y.max()) + 1
    params = [
        (rng.standard_normal((n_in, HIDDEN)) * np.sqrt(2 / n_in)).astype(np.float32),
        np.zeros(HIDDEN, np.float32),
        (rng.standard_normal((HIDDEN, n_out)) * np.sqrt(2 / HIDDEN)).astype(np.float32),
        np.zeros(n_out, np.float32),
    ]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    step = 0
    for epoch in range(epochs):
        rate = 1e-3 * 0.7 ** (epoch // 3)
        order = rng.permutation(len(x))
        for s in range(0, len(order), BATCH):
            pick = order[s : s + BATCH]
            w1, b1, w2, b2 = params
            h = np.maximum(x[pick] @ w1 + b1, 0)
            keep = (rng.random(h.shape) >= DROPOUT) / (1 - DROPOUT)
            z = (h * keep) @ w2 + b2
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(pick)), y[pick]] -= 1.0  # softmax cross-entropy gradient
            p /= len(pick)
            dh = (p @ w2.T) * keep * (h > 0)
            grads = [x[pick].T @ dh, dh.sum(axis=0), (h * keep).T @ p, p.sum(axis=0)]
            step += 1
            for k, g in enumerate(grads):
                first[k] = 0.9 * first[k] + 0.1 * g
                second[k] = 0.999 * second[k] + 0.001 * g * g
                m_hat = first[k] / (1 - 0.9**step)
                v_hat = second[k] / (1 - 0.999**step)
                params[k] -= rate * m_hat / (np.sqrt(v_hat) + 1e-8)

    def predict(xs: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2 = params
        return np.argmax(np.maximum(xs @ w1 + b1, 0) @ w2 + b2, axis=1)

    return predict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="3,25,68,255", help="steps t, comma-separated")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    try:
        steps = [int(s) for s in args.steps.split(",")]
    except ValueError:
        ap.error(f"--steps must be whole numbers separated by commas, got {args.steps!r}")
    if any(not 0 <= t <= 255 for t in steps):
        ap.error(f"--steps must be within 0..255, got {args.steps}")

    images, labels = load_dataset(args.dataset, "train", args.data_dir)
    labels = labels.astype(np.int64)
    train_idx, val_idx = train_val_split(len(images), VAL_SIZE, 0)
    flat = images.reshape(len(images), -1)
    print(f"{args.dataset}: {len(train_idx)} training, {len(val_idx)} validation images (seed 0)")
    for t in steps:
        x = (flat >= 255 - t).astype(np.float32) * (flat > 0)
        predict = train_mlp(x[train_idx], labels[train_idx], args.epochs)
        acc = float(np.mean(predict(x[val_idx]) == labels[val_idx]))
        print(
            f"step {t:3d}: {x[val_idx].sum(axis=1).mean():5.1f} pixels in, val_accuracy={acc:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
