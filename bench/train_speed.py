"""Training and inference speed of 784-600-10 (mnist-600 preset) on MNIST.

Trains a fixed number of samples with the real kernels, after a short untimed warm-up that
also compiles. The paper's rule (per-sample SGD, the whole learning rule) prints
`infer_samples_per_s=N`, then `train_samples_per_s=N` on the last line; `--rule surrogate`
(mini-batch steps of `bs4nn train --rule surrogate`: augmentation, dropout, forward, backward,
Adam and the weight average, without the per-epoch validation) prints the per-epoch validation
(the exact network's thresholds calibrated on the 5,000 validation images, for the weights and
their average, after the timed steps) as `epoch_validation_s=S`, then `train_samples_per_s=N`.
The surrogate step uses two threads unless NUMBA_NUM_THREADS=1 (same results).

    python bench/train_speed.py [--rule paper|surrogate] [--samples 30000] [--data-dir DIR]
"""

import argparse
import itertools
import time

import numpy as np

from bs4nn.trainer import kernels, surrogate, surrogate_net
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.evaluate import forward_batch, layout
from bs4nn.trainer.model import model_from_arrays
from bs4nn.trainer.run import load_run_data
from bs4nn.trainer.semantics import K_MAX, threshold_count
from bs4nn.trainer.train import init_state, make_config


def surrogate_rate(samples: int, data_dir: str | None) -> tuple[float, float]:
    """Training samples per second of the surrogate rule, epoch 1 of the mnist-600 preset, and
    the seconds of one epoch's validation."""
    cfg = surrogate.make_surrogate_config("mnist-600")
    images, labels, _, _, train_idx, val_idx = load_run_data(cfg, data_dir)
    levels = surrogate_net.intensity_levels(
        cfg.levels, images[train_idx[:10000]] if cfg.level_spacing == "quantile" else None
    )
    state = surrogate.init_state(cfg)
    rng = np.random.default_rng(cfg.seed)
    buffers = surrogate_net.Buffers()

    order = rng.permutation(train_idx)
    batches = (
        np.take(order, np.arange(b * cfg.batch, (b + 1) * cfg.batch), mode="wrap")
        for b in itertools.count()
    )

    def run(n_batches: int) -> None:
        for pick in itertools.islice(batches, n_batches):
            surrogate.train_batch(
                state,
                cfg,
                images[pick],
                labels[pick].astype(np.int64),
                levels,
                cfg.widths,
                rng,
                buffers,
            )

    run(5000 // cfg.batch)  # compile, and get past the first steps
    n_batches = samples // cfg.batch
    t0 = time.perf_counter()
    run(n_batches)
    rate = n_batches * cfg.batch / (time.perf_counter() - t0)
    val_images, val_labels = images[val_idx], labels[val_idx].astype(np.int64)
    t0 = time.perf_counter()
    surrogate._select(state, cfg, 1, val_images, val_labels)
    return rate, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", choices=("paper", "surrogate"), default="paper")
    ap.add_argument("--samples", type=int, default=30000, help="timed training samples")
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    if args.rule == "surrogate":
        rate, validation = surrogate_rate(args.samples, args.data_dir)
        print(f"epoch_validation_s={validation:.1f}")
        print(f"train_samples_per_s={rate:.0f}")
        return

    cfg = make_config("mnist-600")
    images, labels = load_dataset("mnist", "train", args.data_dir)
    test_images, _ = load_dataset("mnist", "test", args.data_dir)
    state = init_state(cfg)
    lay = layout(cfg.layer_sizes)
    v = state.v
    fw = np.where(v >= 0, 1, -1).astype(np.int8)
    thetas = np.array(cfg.thetas)
    alphas = state.alphas
    thr = np.array([threshold_count(t, a) for t, a in zip(thetas, alphas, strict=True)], np.int32)
    order = np.random.default_rng(0).permutation(len(images))

    def run(idx: np.ndarray) -> None:
        kernels.train_samples(
            images,
            labels,
            idx,
            lay,
            kernels.Learned(v, fw, state.scale, alphas, thr),
            kernels.Hyper(
                True,
                cfg.eta,
                cfg.mu,
                cfg.lam,
                cfg.gamma,
                0.0,
                cfg.rule,
                thetas,
                thetas / K_MAX,
                np.full(len(thetas), np.inf),
            ),
        )

    run(order[:5000])  # compile, and get past the first chaotic samples
    idx = np.resize(order[5000:], args.samples)
    t0 = time.perf_counter()
    run(idx)
    train_rate = args.samples / (time.perf_counter() - t0)

    weights = [
        (v[lay.woff[ly] : lay.woff[ly + 1]].reshape(cfg.layer_sizes[ly], -1).T)
        for ly in range(len(cfg.layer_sizes) - 1)
    ]
    model = model_from_arrays(weights, alphas, thetas)
    forward_batch(model, test_images[:100])  # compile
    t0 = time.perf_counter()
    forward_batch(model, test_images)
    infer_rate = len(test_images) / (time.perf_counter() - t0)
    print(f"infer_samples_per_s={infer_rate:.0f}")
    print(f"train_samples_per_s={train_rate:.0f}")


if __name__ == "__main__":
    main()
