"""Research: train a BS4NN with a surrogate gradient instead of the paper's rule (needs JAX).

Not the product's trainer (`bs4nn train` is the paper's rule, numpy + numba); this script
measures how far another training method gets with the same network and the same firmware
semantics (docs/training.md, fifth round). The forward pass is the exact one quantised to
`--levels` intensity levels (a pixel at or above level l's intensity has spiked by level l),
with soft first crossings: a neuron has fired by level l with probability
1 - prod_{l' <= l} (1 - sigmoid((count(l') - K + 0.5) / width)). Weights are +-1 through a
straight-through estimator on real weights clipped to [-1, 1]; the loss is a softmax over minus
the soft firing level of the outputs; Adam on mini-batches; dropout of pixels and hidden
neurons while training. After every epoch the signs go into an exact BS4NN and both integer
thresholds are scanned on the validation split; the best (epoch, K) is kept, scored once on
the test set and saved as a model file that `bs4nn export` takes like any other.

    pip install -e '.[research]'   # JAX
    python bench/surrogate_train.py --dataset mnist --hidden 600 --epochs 20 \\
        --out out/mnist-surrogate.bs4nn

Writes the model and, beside it, `<name>.eval.json` (the `bs4nn eval --json` output).
Prints one line per epoch, then `val_accuracy=` and, last, `test_accuracy=` (strict rule).
"""

import argparse
import time
from pathlib import Path

import numpy as np

from trainer.datasets import load_dataset, train_val_split
from trainer.evaluate import evaluate, predict
from trainer.model import model_from_arrays

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # research only: not a dependency of the product
    raise SystemExit("bench/surrogate_train.py needs JAX: pip install -e '.[research]' "
                     "(or pip install jax)") from None


def intensity_levels(n_levels: int) -> np.ndarray:
    """Lowest intensity of every level, brightest first (the last level takes every pixel > 0)."""
    levels = np.array([256 - (256 // n_levels) * (lv + 1) for lv in range(n_levels)])
    levels[-1] = 1
    return levels


def make_step(args, levels):
    k_hidden, k_out = args.k

    def ste_sign(w):
        return w + jax.lax.stop_gradient(jnp.where(w >= 0, 1.0, -1.0) - w)

    def not_fired(counts, k, width):  # (L, b, n) counts -> probability of not having fired
        p = jax.nn.sigmoid((counts - k + 0.5) / width)
        return jnp.exp(jnp.cumsum(jnp.log1p(-p * 0.999999), axis=0))

    def soft_levels(params, x, widths, key=None):
        spiked = jnp.stack([(x >= lv).astype(jnp.float32) for lv in levels])
        if key is not None:
            k_pix, k_hid = jax.random.split(key)
            spiked *= jax.random.bernoulli(k_pix, 1 - args.pixel_dropout, spiked.shape[1:])
        hidden = 1.0 - not_fired(spiked @ ste_sign(params["w1"]), k_hidden, widths[0])
        if key is not None:
            hidden *= jax.random.bernoulli(k_hid, 1 - args.hidden_dropout, hidden.shape[1:])
        return not_fired(hidden @ ste_sign(params["w2"]), k_out, widths[1]).sum(axis=0)

    def loss(params, x, y, widths, key):
        logp = jax.nn.log_softmax(-args.beta * soft_levels(params, x, widths, key))
        return -jnp.mean(logp[jnp.arange(y.shape[0]), y])

    @jax.jit
    def step(params, m, v, t, x, y, lr, widths):
        grads = jax.grad(loss)(params, x, y, widths, jax.random.PRNGKey(t))
        new = {}
        for name in params:  # Adam, then clip the real weights
            m[name] = 0.9 * m[name] + 0.1 * grads[name]
            v[name] = 0.999 * v[name] + 0.001 * grads[name] ** 2
            upd = lr * (m[name] / (1 - 0.9**t)) / (jnp.sqrt(v[name] / (1 - 0.999**t)) + 1e-8)
            new[name] = jnp.clip(params[name] - upd, -1.0, 1.0)
        return new, m, v

    return step


def to_model(params, args, k_hidden, k_out, metrics=None):
    signs = [np.where(np.asarray(params[n]) >= 0, 1.0, -1.0).T for n in ("w1", "w2")]
    return model_from_arrays(signs, [1.0, 1.0], [float(k_hidden), float(k_out)],
                             dataset=args.dataset, seed=args.seed,
                             train_config={"trainer": "bench/surrogate_train.py",
                                           **{k: v for k, v in vars(args).items()
                                              if k not in ("out", "data_dir")}},
                             metrics=metrics or {})


def scan_thresholds(params, args, images, labels):
    """Best (accuracy, K_hidden, K_out) of the exact network on (images, labels)."""
    k_hidden, k_out = args.k
    model = to_model(params, args, k_hidden, k_out)
    best = (-1.0, k_hidden, k_out)
    for kh in range(max(1, k_hidden - 8), k_hidden + 9, 2):
        for ko in range(max(1, k_out - 20), k_out + 41, 4):
            acc = float(np.mean(predict(model, images, thresholds=[kh, ko]) == labels))
            best = max(best, (acc, kh, ko))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    ap.add_argument("--hidden", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--k", type=int, nargs=2, default=[20, 30], help="K while training")
    ap.add_argument("--levels", type=int, default=16)
    ap.add_argument("--widths", type=float, nargs=2, default=[2.0, 4.0])
    ap.add_argument("--widths-end", type=float, nargs=2, default=[0.5, 1.0],
                    help="widths of the soft crossings at the last epoch (linear in between)")
    ap.add_argument("--beta", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--decay-every", type=int, default=4, help="halve the step every N epochs")
    ap.add_argument("--pixel-dropout", type=float, default=0.1)
    ap.add_argument("--hidden-dropout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-dir")
    args = ap.parse_args()

    images, labels = load_dataset(args.dataset, "train", args.data_dir)
    test_images, test_labels = load_dataset(args.dataset, "test", args.data_dir)
    train_idx, val_idx = train_val_split(len(images), 5000, args.seed)
    x_train, y_train = images[train_idx], labels[train_idx].astype(np.int32)
    x_val, y_val = images[val_idx], labels[val_idx]
    rng = np.random.default_rng(args.seed)
    params = {"w1": jnp.asarray(rng.uniform(-0.1, 0.1, (784, args.hidden)), jnp.float32),
              "w2": jnp.asarray(rng.uniform(-0.1, 0.1, (args.hidden, 10)), jnp.float32)}
    m = {n: jnp.zeros_like(p) for n, p in params.items()}
    v = {n: jnp.zeros_like(p) for n, p in params.items()}
    step = make_step(args, intensity_levels(args.levels))
    start, t, lr = time.perf_counter(), 0, args.lr
    best = (-1.0, 0, None, 0, 0)  # val, epoch, params, K_hidden, K_out
    for epoch in range(1, args.epochs + 1):
        frac = (epoch - 1) / max(1, args.epochs - 1)
        widths = jnp.asarray([a + (b - a) * frac for a, b in zip(args.widths, args.widths_end,
                                                                   strict=True)])
        t0 = time.perf_counter()
        order = rng.permutation(len(x_train))
        for s in range(0, len(order) - 127, 128):
            pick = order[s:s + 128]
            t += 1
            params, m, v = step(params, m, v, t, jnp.asarray(x_train[pick]),
                                jnp.asarray(y_train[pick]), lr, widths)
        if epoch % args.decay_every == 0:
            lr *= 0.5
        val, kh, ko = scan_thresholds(params, args, x_val, y_val)
        if val > best[0]:
            best = (val, epoch, params, kh, ko)
        print(f"epoch {epoch:3d}  {time.perf_counter() - t0:.0f}s  exact BS4NN val {100 * val:.2f}%"
              f" at K {kh},{ko}", flush=True)

    val, epoch, params, kh, ko = best
    model = to_model(params, args, kh, ko)
    test = evaluate(model, test_images, test_labels, args.dataset, "test")
    model.metrics.update(val_accuracy=val, best_epoch=epoch, epochs=args.epochs,
                         test_accuracy=test.accuracy,
                         test_accuracy_tie_inclusive=test.accuracy_tie_inclusive,
                         test_mean_decision_step=test.mean_decision_step,
                         train_seconds=time.perf_counter() - start)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    test.save_beside(out)
    print(f"selected epoch {epoch}, K {kh},{ko}; test {100 * test.accuracy:.2f}% strict, "
          f"{100 * test.accuracy_tie_inclusive:.2f}% tie-inclusive, mean decision step "
          f"{test.mean_decision_step:.1f}, fallback {100 * test.fallback_rate:.2f}%; saved "
          f"{args.out}")
    print(f"val_accuracy={val:.4f}")
    print(f"test_accuracy={test.accuracy:.4f}")


if __name__ == "__main__":
    main()
