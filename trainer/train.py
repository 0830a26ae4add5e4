"""Training with the paper's learning rule: its config (from a preset of trainer/presets.py), the
epoch loop, its state.

The per-sample work runs in `bs4nn.trainer.kernels.train_samples`; this module feeds it shuffled
indices in chunks (so progress shows and Ctrl-C lands between chunks), evaluates on the
validation split after every epoch and keeps the best model; the run plumbing (checkpoints,
data, final save) is `bs4nn.trainer.run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bs4nn.trainer.calibrate import calibrate_thresholds
from bs4nn.trainer.datasets import dataset_fields
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.evaluate import layout, predict
from bs4nn.trainer.lazy import LazyModule
from bs4nn.trainer.model import Model, model_from_arrays
from bs4nn.trainer.presets import PRESETS, VAL_SIZE
from bs4nn.trainer.progress import epoch_bar
from bs4nn.trainer.run import (
    NetworkConfig,
    RunData,
    TrainResult,
    check_start,
    checkpoint_path,
    end_epoch,
    load_run_data,
    read_checkpoint,
    report_interrupt,
    resumed_start,
    run_metrics,
    save_final,
    write_checkpoint,
)
from bs4nn.trainer.semantics import (
    K_MAX,
    first_unreachable,
    threshold_count,
    weight_layer_name,
)

kernels = LazyModule("bs4nn.trainer.kernels")

CHUNK = 1000  # samples per kernel call: progress granularity and Ctrl-C latency


@dataclass
class TrainConfig(NetworkConfig):
    """Everything that determines a training run (with the seed, the result is bit-exact)."""

    dataset: str
    hidden: list[int]
    thetas: list[float]  # per weight layer
    alphas: list[float]  # initial value per weight layer (fixed 1 for real weights)
    init: list[list[float]]  # [low, high] of the uniform initial weights, per weight layer
    epochs: int
    preset: str | None = None
    weights: str = "binary"  # "binary" (BS4NN) or "real" (S4NN)
    eta: float = 0.1  # weight learning rate
    mu: float = 0.01  # alpha learning rate
    gamma: float = 1.0  # Eq. 6 target margin, in steps
    lam: float = 1e-6  # L2 weight decay
    lr_decay: float = 0.7  # eta and mu are multiplied by this ...
    lr_decay_every: int = 10  # ... every this many epochs
    val_size: int = VAL_SIZE
    train_limit: int | None = None
    seed: int = 0
    silent_target: str = "code"  # all outputs silent: "code" (no error) or "paper" (tmax-gamma)
    silent_backprop: bool = False  # Eq. 14 with fake spikes: [t_j <= t_k] true for tmax, tmax
    # > 0: also keep an exponential moving average of the real weights and alphas over about
    # this many samples (updated every CHUNK samples); validation picks raw or averaged
    ema_samples: int = 0
    # > 0 (beyond the paper): a label tied at the first output step gets target tau - tie_lead
    tie_lead: float = 0.0
    # beyond the paper (BinaryConnect): per weight layer, every updated real weight is clipped
    # to [-clip, clip], so that no weight drifts beyond reach of a sign flip; None: no clipping
    clip: list[float] | None = None
    # beyond the paper: after training, choose the integer threshold of every layer on the
    # validation split (bs4nn.trainer.calibrate); binary models only
    calibrate: bool = False

    @property
    def rule(self) -> kernels.LearningRule:
        """The learning-rule switches as `kernels.Hyper` takes them."""
        return kernels.LearningRule(
            silent_paper=self.silent_target == "paper", silent_backprop=self.silent_backprop
        )

    def validate(self) -> None:
        self.check_network(("thetas", "alphas", "init"))
        if any(not t > 0 for t in self.thetas):
            raise Bs4nnError(f"every theta must be positive, got {self.thetas}")
        if any(not a > 0 for a in self.alphas):
            raise Bs4nnError(f"every alpha must be positive, got {self.alphas}")
        if self.weights not in ("binary", "real"):
            raise Bs4nnError(f"--weights must be binary or real, got {self.weights!r}")
        if self.weights == "binary":
            self._check_starting_thresholds()
        if self.epochs < 1:
            raise Bs4nnError(f"--epochs must be at least 1, got {self.epochs}")
        if self.calibrate and self.weights != "binary":
            raise Bs4nnError("threshold calibration needs binary weights (integer thresholds)")
        if self.train_limit is not None and self.train_limit < 1:
            raise Bs4nnError(f"--train-limit must be at least 1, got {self.train_limit}")
        if self.silent_target not in ("code", "paper"):
            raise Bs4nnError(f"silent_target must be code or paper, got {self.silent_target!r}")

    def starting_ks(self) -> list[int]:
        """K = ceil(theta/alpha) per weight layer at the start (binary weights; alpha is
        learned, so K moves during training)."""
        return [threshold_count(t, a) for t, a in zip(self.thetas, self.alphas, strict=True)]

    def silent_start(self) -> str | None:
        """A warning when a layer starts with a K above its fan-in (binary weights): none of
        its neurons can fire then, so the outputs stay silent, and training rarely recovers
        (a 784-37-10 run stayed at chance); None otherwise."""
        if self.weights != "binary":
            return None
        ks = self.starting_ks()
        layer = first_unreachable(self.layer_sizes, ks)
        if layer is None:
            return None
        fan_in, theta, alpha = self.layer_sizes[layer], self.thetas[layer], self.alphas[layer]
        return (
            f"{weight_layer_name(layer, self.n_layers)} starts at K = ceil(theta/alpha) = "
            f"{ks[layer]} (theta {theta:g}, alpha {alpha:g}), above its {fan_in} inputs: none "
            f"of its neurons can fire until alpha grows to {theta / fan_in:.4g}; give --theta "
            f"once per weight layer, below {fan_in * alpha:g} for this one"
        )

    def _check_starting_thresholds(self) -> None:
        # a model whose K no board counter holds is refused by eval, export and bench: say so
        # before the training rather than after it
        for layer, k in enumerate(self.starting_ks()):
            theta, alpha = self.thetas[layer], self.alphas[layer]
            if k > K_MAX:
                raise Bs4nnError(
                    f"theta {theta:g} over the starting alpha {alpha:g} of "
                    f"{weight_layer_name(layer, len(self.thetas))} gives a threshold K = "
                    f"ceil(theta/alpha) above {K_MAX}, more than the board's int16 counter "
                    "holds; give a smaller --theta"
                )


def make_config(
    preset: str = "mnist-600",
    *,
    hidden: list[int] | None = None,
    thetas: list[float] | None = None,
    dataset: str | None = None,
    weights: str = "binary",
    **overrides,
) -> TrainConfig:
    """A preset (Table 1) with optional changes. `hidden` replaces the hidden sizes (each new
    hidden layer takes the preset's hidden-layer values); `thetas` is one value for every
    layer or one per weight layer; other keyword arguments set TrainConfig fields."""
    if preset not in PRESETS:
        raise Bs4nnError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    hidden = list(p["hidden"] if hidden is None else hidden)
    n = len(hidden) + 1
    if thetas is None:
        thetas = [p["theta_hidden"]] * (n - 1) + [p["theta_out"]]
    elif len(thetas) == 1:
        thetas = list(thetas) * n
    elif len(thetas) != n:
        raise Bs4nnError(
            f"give --theta once (all layers) or {n} times (one per weight layer), "
            f"got {len(thetas)} values"
        )
    if weights == "real":
        alphas = [1.0] * n  # S4NN: potential = sum of W, alpha fixed and not learned
    else:
        alphas = [p["alpha_hidden"]] * (n - 1) + [p["alpha_out"]]
    init = [list(p["init_hidden"])] * (n - 1) + [list(p["init_out"])]
    overrides["clip"] = _per_layer_clip(overrides.get("clip", "preset"), p, n)
    overrides.setdefault("epochs", p["epochs"])
    if weights == "real":
        overrides.setdefault("calibrate", False)  # S4NN has no integer thresholds to choose
    for key, value in p.get("rule", {}).items():  # learning-rule choices kept on validation
        overrides.setdefault(key, value)
    cfg = TrainConfig(
        dataset=dataset or p["dataset"],
        hidden=hidden,
        thetas=[float(t) for t in thetas],
        alphas=[float(a) for a in alphas],
        init=init,
        preset=preset,
        weights=weights,
        **overrides,
    )
    cfg.validate()
    return cfg


def _per_layer_clip(clip, preset: dict, n: int) -> list[float] | None:
    """Clip bounds per weight layer from "preset", None, or one value / one per layer
    (0 = no clipping)."""
    if isinstance(clip, str):  # "preset"
        if "clip_hidden" not in preset:
            return None
        return [float(preset["clip_hidden"])] * (n - 1) + [float(preset["clip_out"])]
    if clip is None:
        return None
    clip = [float(c) for c in clip]
    if len(clip) == 1:
        clip = clip * n
    if len(clip) != n:
        raise Bs4nnError(
            f"give --clip once (all layers) or {n} times (one per weight layer), "
            f"got {len(clip)} values"
        )
    if all(c == 0 for c in clip):
        return None
    if any(not c > 0 for c in clip):
        raise Bs4nnError(f"clip bounds must be positive (or a single 0 for none), got {clip}")
    return clip


@dataclass
class TrainState:
    """What a checkpoint holds: enough to continue bit-identically."""

    v: np.ndarray  # flat transposed weights, W = scale[l] * V (lazy L2 decay)
    scale: np.ndarray
    alphas: np.ndarray
    epoch: int  # epochs completed
    eta: float
    mu: float
    rng_state: dict
    best_w: np.ndarray | None = None  # flat transposed W of the best model so far
    best_alphas: np.ndarray | None = None
    best_val: float = -1.0
    best_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    ema_w: np.ndarray | None = None  # moving average of the flat transposed W (ema_samples)
    ema_alphas: np.ndarray | None = None


def init_state(cfg: TrainConfig) -> TrainState:
    rng = np.random.default_rng(cfg.seed)
    sizes = cfg.layer_sizes
    blocks = []
    for ly, (lo, hi) in enumerate(cfg.init):
        w = rng.uniform(lo, hi, size=(sizes[ly + 1], sizes[ly]))  # (n_out, n_in) as in Table 1
        blocks.append(w.T.ravel())
    n_layers = len(sizes) - 1
    return TrainState(
        v=np.concatenate(blocks),
        scale=np.ones(n_layers),
        alphas=np.array(cfg.alphas, np.float64),
        epoch=0,
        eta=cfg.eta,
        mu=cfg.mu,
        rng_state=rng.bit_generator.state,
    )


def _flat_w(v: np.ndarray, scale: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """The real weights W = scale[l] * V, flat and transposed like V."""
    lay = layout(cfg.layer_sizes)
    w = v.copy()
    for ly in range(len(scale)):
        w[lay.woff[ly] : lay.woff[ly + 1]] *= scale[ly]
    return w


def _to_model(flat_w: np.ndarray, alphas: np.ndarray, cfg: TrainConfig, metrics: dict) -> Model:
    sizes = cfg.layer_sizes
    lay = layout(sizes)
    weights = [
        np.ascontiguousarray(
            flat_w[lay.woff[ly] : lay.woff[ly + 1]].reshape(sizes[ly], sizes[ly + 1]).T
        )
        for ly in range(len(sizes) - 1)
    ]
    return model_from_arrays(
        weights,
        alphas.copy(),
        np.array(cfg.thetas),
        weight_kind=cfg.weights,
        **dataset_fields(cfg.dataset),
        seed=cfg.seed,
        train_config=cfg.to_dict(),
        metrics=metrics,
    )


def _save_checkpoint(path: Path, state: TrainState, cfg: TrainConfig) -> None:
    meta = {
        "epoch": state.epoch,
        "eta": state.eta,
        "mu": state.mu,
        "rng_state": state.rng_state,
        "best_val": state.best_val,
        "best_epoch": state.best_epoch,
        "history": state.history,
    }
    write_checkpoint(
        path,
        cfg.to_dict(),
        meta,
        {
            name: getattr(state, name)
            for name in ("v", "scale", "alphas", "best_w", "best_alphas", "ema_w", "ema_alphas")
        },
    )


def _load_checkpoint(path: Path, cfg: TrainConfig) -> TrainState:
    return read_checkpoint(path, cfg.to_dict(), _state)


def _state(meta: dict, arrays: dict) -> TrainState:
    return TrainState(
        v=arrays["v"],
        scale=arrays["scale"],
        alphas=arrays["alphas"],
        epoch=meta["epoch"],
        eta=meta["eta"],
        mu=meta["mu"],
        rng_state=meta["rng_state"],
        best_w=arrays.get("best_w"),
        best_alphas=arrays.get("best_alphas"),
        best_val=meta["best_val"],
        best_epoch=meta["best_epoch"],
        history=meta["history"],
        ema_w=arrays.get("ema_w"),
        ema_alphas=arrays.get("ema_alphas"),
    )


def _thresholds(cfg: TrainConfig, alphas: np.ndarray, scale: np.ndarray) -> np.ndarray:
    if cfg.weights == "binary":
        return np.array(
            [threshold_count(t, a) for t, a in zip(cfg.thetas, alphas, strict=True)], np.int32
        )
    return np.array(cfg.thetas, np.float64) / scale  # s * sum(V) >= theta  <=>  sum(V) >= theta/s


def train(
    cfg: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    data_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_epoch_end: Callable[[int], None] | None = None,
    announce: Callable[[], None] | None = None,
) -> TrainResult:
    """Train `cfg`, checkpointing to `<out>.ckpt` after every epoch; save the model selected on
    the validation split (strict decision) to `out`, with its test accuracy in the metrics.
    `announce` is called once the data and any checkpoint have been read and found good."""
    cfg.validate()
    out = Path(out)
    ckpt = checkpoint_path(out)
    check_start(ckpt, resume)
    data = load_run_data(cfg, data_dir)
    if cfg.calibrate and len(data.val_idx) == 0:
        raise Bs4nnError(
            "--calibrate (on in every preset) chooses the thresholds on a validation split: "
            "--val-size must be at least 1, or give --no-calibrate"
        )
    if cfg.ema_samples > 0 and len(data.val_idx) == 0:
        raise Bs4nnError(
            f"--ema-samples ({cfg.ema_samples} here) lets a validation split choose between "
            "the weights and their moving average: --val-size must be at least 1, or give "
            "--ema-samples 0"
        )
    state = _load_checkpoint(ckpt, cfg) if resume else init_state(cfg)
    if announce is not None:
        announce()
    if resume:
        log(f"resuming from {ckpt} after epoch {state.epoch}")
    learned = _learned(cfg, state)
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng_state
    started = resumed_start(state.history)
    try:
        while state.epoch < cfg.epochs:
            epoch = state.epoch + 1
            entry = _epoch(cfg, state, learned, data, rng, epoch, progress)
            state.history.append(entry)
            log(_summary(entry))
            if epoch % cfg.lr_decay_every == 0:
                state.eta *= cfg.lr_decay
                state.mu *= cfg.lr_decay
            end_epoch(state, epoch, rng, lambda: _save_checkpoint(ckpt, state, cfg), on_epoch_end)
    except KeyboardInterrupt:
        report_interrupt(ckpt, state.epoch, log)
        raise
    return _finish(cfg, state, data, out, started, log)


def _learned(cfg: TrainConfig, state: TrainState) -> kernels.Learned:
    """The arrays the kernel updates, from a fresh or resumed state (thresholds set per epoch)."""
    v = np.ascontiguousarray(state.v, np.float64)
    binary = cfg.weights == "binary"
    fw = np.where(v >= 0, 1, -1).astype(np.int8) if binary else v  # real: forward with V itself
    scale = state.scale.astype(np.float64).copy()
    alphas = state.alphas.astype(np.float64).copy()
    return kernels.Learned(v, fw, scale, alphas, _thresholds(cfg, alphas, scale))


def _hyper(cfg: TrainConfig, state: TrainState) -> kernels.Hyper:
    """The kernel's hyper-parameters for the next epoch (eta and mu decay between epochs)."""
    thetas = np.array(cfg.thetas, np.float64)
    return kernels.Hyper(
        binary=cfg.weights == "binary",
        eta=state.eta,
        mu=state.mu,
        lam=cfg.lam,
        gamma=cfg.gamma,
        tie_lead=cfg.tie_lead,
        rule=cfg.rule,
        thetas=thetas,
        alpha_min=thetas / K_MAX * (1 + 1e-9),  # alpha >= theta / K_MAX keeps K <= K_MAX
        wclip=np.array(cfg.clip if cfg.clip is not None else [np.inf] * cfg.n_layers, np.float64),
    )


def _epoch(
    cfg: TrainConfig,
    state: TrainState,
    learned: kernels.Learned,
    data: RunData,
    rng: np.random.Generator,
    epoch: int,
    progress: bool,
) -> dict:
    """Train one epoch over the shuffled training indices, in CHUNKs (progress shows, Ctrl-C
    lands between chunks), then validate and keep the best model. Returns the history entry."""
    t0 = time.perf_counter()
    lay = layout(cfg.layer_sizes)
    learned.thr[:] = _thresholds(cfg, learned.alphas, learned.scale)
    hyper = _hyper(cfg, state)
    perm = rng.permutation(data.train_idx)
    loss_sum, n_correct, n_done = 0.0, 0, 0
    with epoch_bar(epoch, cfg.epochs, len(perm), progress) as bar:
        for c0 in range(0, len(perm), CHUNK):
            chunk = perm[c0 : c0 + CHUNK]
            loss, correct = kernels.train_samples(
                data.images, data.labels, chunk, lay, learned, hyper
            )
            loss_sum += loss
            n_correct += correct
            n_done += len(chunk)
            if cfg.ema_samples > 0:
                beta = float(np.exp(-len(chunk) / cfg.ema_samples))
                _update_ema(state, _flat_w(learned.v, learned.scale, cfg), learned.alphas, beta)
            bar.update(len(chunk))
            bar.set_postfix(loss=f"{loss_sum / n_done:.5f}", acc=f"{n_correct / n_done:.4f}")
    train_s = time.perf_counter() - t0
    state.v, state.scale, state.alphas = learned.v, learned.scale, learned.alphas
    val_acc, val_ema = _select(cfg, state, data, epoch)
    binary = cfg.weights == "binary"
    return {
        "epoch": epoch,
        "train_loss": loss_sum / n_done,
        "train_acc": n_correct / n_done,
        "val_acc": val_acc,
        "val_acc_ema": val_ema,
        "alphas": [float(a) for a in state.alphas],
        "K": [int(k) for k in _thresholds(cfg, state.alphas, state.scale)] if binary else [],
        "eta": state.eta,
        "mu": state.mu,
        "seconds": time.perf_counter() - t0,
        "train_samples_per_s": n_done / train_s,
    }


def _select(
    cfg: TrainConfig, state: TrainState, data: RunData, epoch: int
) -> tuple[float | None, float | None]:
    """Validate the weights after `epoch` (and their moving average) and keep the best in
    `state` (without a validation split: the last). Returns the two accuracies (None: not run)."""
    flat_w = _flat_w(state.v, state.scale, cfg)
    val_idx = data.val_idx
    val_acc = val_ema = None
    if len(val_idx):
        val_acc = _accuracy(_to_model(flat_w, state.alphas, cfg, {}), data, val_idx)
    if val_acc is None or val_acc > state.best_val:  # no validation: keep the last
        state.best_w, state.best_alphas = flat_w, state.alphas.copy()
        state.best_val, state.best_epoch = (val_acc if val_acc is not None else -1.0, epoch)
    if state.ema_w is not None and len(val_idx):
        val_ema = _accuracy(_to_model(state.ema_w, state.ema_alphas, cfg, {}), data, val_idx)
        if val_ema > state.best_val:
            state.best_w, state.best_alphas = state.ema_w.copy(), state.ema_alphas.copy()
            state.best_val, state.best_epoch = val_ema, epoch
    return val_acc, val_ema


def _finish(
    cfg: TrainConfig,
    state: TrainState,
    data: RunData,
    out: Path,
    started: float,
    log: Callable[[str], None],
) -> TrainResult:
    """The selected model: thresholds calibrated (if asked), scored on the test set, saved."""
    has_val = len(data.val_idx) > 0
    metrics = run_metrics(
        data,
        val_accuracy=state.best_val if has_val else None,
        best_epoch=state.best_epoch,
        epochs=cfg.epochs,
        history=state.history,
    )
    model = _to_model(state.best_w, state.best_alphas, cfg, metrics)
    if cfg.calibrate and has_val:
        trained_k = model.thresholds()
        model, before, after = calibrate_thresholds(
            model, data.images[data.val_idx], data.labels[data.val_idx], log
        )
        model.metrics.update(
            val_accuracy=after,
            calibration={
                "trained_K": trained_k,
                "K": model.thresholds(),
                "val_before": before,
                "val_after": after,
            },
        )
    model, test = save_final(model, out, data, started)
    val_txt = f"{100 * model.metrics['val_accuracy']:.2f}%" if has_val else "n/a"
    log(
        f"selected epoch {state.best_epoch} (val {val_txt}); test accuracy "
        f"{test.accuracy_text()}; saved {out}"
    )
    return TrainResult.of_saved(model, out, test)


def _accuracy(model: Model, data: RunData, idx: np.ndarray) -> float:
    return float(np.mean(predict(model, data.images[idx]) == data.labels[idx]))


def _update_ema(state: TrainState, flat_w: np.ndarray, alphas: np.ndarray, beta: float) -> None:
    if state.ema_w is None:
        state.ema_w, state.ema_alphas = flat_w, alphas.copy()
        return
    state.ema_w *= beta
    state.ema_w += (1.0 - beta) * flat_w
    state.ema_alphas = beta * state.ema_alphas + (1.0 - beta) * alphas


def _summary(e: dict) -> str:
    val = f"{100 * e['val_acc']:.2f}%" if e["val_acc"] is not None else "n/a"
    if e.get("val_acc_ema") is not None:
        val += f" (avg {100 * e['val_acc_ema']:.2f}%)"
    alphas = ",".join(f"{a:.3f}" for a in e["alphas"])
    ks = ",".join(str(k) for k in e["K"]) or "-"
    return (
        f"epoch {e['epoch']:3d}  loss {e['train_loss']:.5f}  train {100 * e['train_acc']:.2f}%"
        f"  val {val}  alpha {alphas}  K {ks}  {e['seconds']:.1f}s"
        f"  {e['train_samples_per_s']:.0f} samples/s"
    )
