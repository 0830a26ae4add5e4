"""The paper's BNN baseline (Tables 2 and 3): binary weights, binary activations, Adam, squared
hinge loss, one network shape as BS4NN's (plain numpy, float32).

As in BinaryNet (Courbariaux et al. 2016, the paper's [12]): the forward pass uses the signs
of real proxy weights (clipped to [-1, 1], straight-through gradient), hidden units are binary
steps (0 or 1) of a batch-normalised sum, their gradient is that of the hard sigmoid
clip((x + 1) / 2, 0, 1), and the scores are a batch-normalised sum of the last layer. Inputs
are the pixels scaled to [0, 1]. Initial weights U[-1/sqrt(n), 1/sqrt(n)] with n the fan-in;
the learning rate decays exponentially from 1e-3 to 1e-4 over the epochs (the paper's
settings). The model with the best validation accuracy is scored on the test set.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import ZIP_DAMAGE, write_atomic
from bs4nn.trainer.progress import progress_bar

BN_EPS = 1e-4
BN_MOMENTUM = 0.9
ADAM = (0.9, 0.999, 1e-8)  # beta1, beta2, eps


@dataclass
class BnnConfig:
    layer_sizes: list[int]  # [n_in, hidden..., n_out]
    epochs: int = 20
    batch: int = 100
    lr_start: float = 1e-3
    lr_end: float = 1e-4
    seed: int = 0


@dataclass
class BnnResult:
    test_accuracy: float
    val_accuracy: float
    best_epoch: int
    history: list[dict] = field(default_factory=list)  # epoch, train_loss, val_acc, lr
    config: dict = field(default_factory=dict)
    net: Bnn | None = None  # the selected network


class Bnn:
    """Real proxy weights and batch-norm parameters of a BinaryNet-style network."""

    def __init__(self, sizes: list[int], rng: np.random.Generator):
        self.w = [
            rng.uniform(-1, 1, (n_in, n_out)).astype(np.float32) / np.sqrt(n_in)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        self.gamma = [np.ones(n, np.float32) for n in sizes[1:]]
        self.beta = [np.zeros(n, np.float32) for n in sizes[1:]]
        self.mean = [np.zeros(n, np.float32) for n in sizes[1:]]
        self.var = [np.ones(n, np.float32) for n in sizes[1:]]

    def params(self) -> list[np.ndarray]:
        return [*self.w, *self.gamma, *self.beta]

    def copy(self) -> Bnn:
        other = object.__new__(Bnn)
        for name in ("w", "gamma", "beta", "mean", "var"):
            setattr(other, name, [a.copy() for a in getattr(self, name)])
        return other

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Inference: binary weights, binary hidden units, running batch-norm statistics."""
        a = x
        for ly, w in enumerate(self.w):
            z = a @ np.where(w >= 0, 1, -1).astype(np.float32)
            z = (
                self.gamma[ly] * (z - self.mean[ly]) / np.sqrt(self.var[ly] + BN_EPS)
                + self.beta[ly]
            )
            a = (z >= 0).astype(np.float32) if ly < len(self.w) - 1 else z
        return a

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.scores(x), axis=1)

    def step_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Squared hinge loss of a mini-batch (targets +-1) and the gradients of params()."""
        n_layers = len(self.w)
        cache = []
        a = x
        for ly, w in enumerate(self.w):
            wb = np.where(w >= 0, 1, -1).astype(np.float32)
            z = a @ wb
            mu, var = z.mean(axis=0), z.var(axis=0)
            self.mean[ly] = BN_MOMENTUM * self.mean[ly] + (1 - BN_MOMENTUM) * mu
            self.var[ly] = BN_MOMENTUM * self.var[ly] + (1 - BN_MOMENTUM) * var
            inv = 1.0 / np.sqrt(var + BN_EPS)
            zh = (z - mu) * inv
            u = self.gamma[ly] * zh + self.beta[ly]
            cache.append((a, wb, zh, inv, u))
            a = (u >= 0).astype(np.float32) if ly < n_layers - 1 else u
        t = np.where(np.arange(a.shape[1]) == y[:, None], 1.0, -1.0).astype(np.float32)
        margin = np.maximum(0.0, 1.0 - t * a)
        loss = float(np.mean(np.sum(margin**2, axis=1)))
        g = -2.0 * t * margin / len(x)  # dL/du of the output layer
        gw, gg, gb = [None] * n_layers, [None] * n_layers, [None] * n_layers
        for ly in range(n_layers - 1, -1, -1):
            a_in, wb, zh, inv, u = cache[ly]
            if ly < n_layers - 1:
                g = g * 0.5 * (np.abs(u) <= 1.0)  # hard sigmoid's gradient, straight through
            gg[ly] = np.sum(g * zh, axis=0)
            gb[ly] = np.sum(g, axis=0)
            gzh = g * self.gamma[ly]
            gz = inv * (gzh - gzh.mean(axis=0) - zh * np.mean(gzh * zh, axis=0))
            gw[ly] = a_in.T @ gz  # straight through the sign
            if ly > 0:
                g = gz @ wb.T
        return loss, [*gw, *gg, *gb]


def train_bnn(
    cfg: BnnConfig,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> BnnResult:
    """Train on `train` (uint8 images, labels), select on `val`, score on `test`."""
    rng = np.random.default_rng(cfg.seed)
    net = Bnn(cfg.layer_sizes, rng)
    scale = np.float32(1.0 / 255.0)
    xv, yv = val[0].astype(np.float32) * scale, val[1]
    m = [np.zeros_like(p) for p in net.params()]
    s = [np.zeros_like(p) for p in net.params()]
    b1, b2, eps = ADAM
    decay = (cfg.lr_end / cfg.lr_start) ** (1.0 / max(cfg.epochs - 1, 1))
    best, best_val, best_epoch, history, it = net.copy(), -1.0, 0, [], 0
    n = len(train[1])
    for epoch in range(1, cfg.epochs + 1):
        lr = cfg.lr_start * decay ** (epoch - 1)
        perm = rng.permutation(n)
        loss_sum = 0.0
        for b0 in progress_bar(
            range(0, n, cfg.batch),
            desc=f"BNN epoch {epoch}/{cfg.epochs}",
            disable=not progress,
            leave=False,
            mininterval=0.5,
        ):
            idx = perm[b0 : b0 + cfg.batch]
            loss, grads = net.step_grads(train[0][idx].astype(np.float32) * scale, train[1][idx])
            loss_sum += loss * len(idx)
            it += 1
            for p, gr, mm, ss in zip(net.params(), grads, m, s, strict=True):
                mm *= b1
                mm += (1 - b1) * gr
                ss *= b2
                ss += (1 - b2) * gr * gr
                p -= lr * (mm / (1 - b1**it)) / (np.sqrt(ss / (1 - b2**it)) + eps)
            for w in net.w:
                np.clip(w, -1.0, 1.0, out=w)
        val_acc = float(np.mean(net.predict(xv) == yv))
        history.append({"epoch": epoch, "train_loss": loss_sum / n, "val_acc": val_acc, "lr": lr})
        log(f"BNN epoch {epoch:3d}  loss {loss_sum / n:.4f}  val {100 * val_acc:.2f}%")
        if val_acc > best_val:
            best, best_val, best_epoch = net.copy(), val_acc, epoch
    return BnnResult(bnn_accuracy(best, *test), best_val, best_epoch, history, asdict(cfg), best)


def bnn_accuracy(net: Bnn, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(net.predict(images.astype(np.float32) / np.float32(255.0)) == labels))


def save_bnn(result: BnnResult, path: str | Path) -> Path:
    """The selected network (weight signs, batch-norm parameters) and its figures, one .npz."""
    net = result.net
    meta = {k: v for k, v in asdict(result).items() if k != "net"}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for ly, w in enumerate(net.w):
        arrays[f"w{ly}"] = np.where(w >= 0, 1, -1).astype(np.int8)
        for name in ("gamma", "beta", "mean", "var"):
            arrays[f"{name}{ly}"] = getattr(net, name)[ly]
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_atomic(Path(path), buf.getvalue())
    return Path(path)


def load_bnn(path: str | Path) -> BnnResult:
    try:
        with np.load(path) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            n = len(meta["config"]["layer_sizes"]) - 1
            net = object.__new__(Bnn)
            net.w = [z[f"w{ly}"].astype(np.float32) for ly in range(n)]
            for name in ("gamma", "beta", "mean", "var"):
                setattr(net, name, [z[f"{name}{ly}"] for ly in range(n)])
            return BnnResult(**meta, net=net)
    except (OSError, ValueError, KeyError, TypeError, *ZIP_DAMAGE) as exc:
        raise Bs4nnError(
            f"BNN file {path} is unreadable ({exc}); train it again (bs4nn paper --retrain)"
        ) from None
