"""How many looks and weight words the `sliced` kernel's first layer needs, in Python, and what
two ideas for fewer looks would change (docs/kernels.md).

    python bench/sliced_looks.py [--model models/mnist-600-surrogate.bs4nn] [--limit 200]
                                 [--train 2000]

A model of firmware_template/core/bs4nn_kernel_sliced.c's first weight layer, steps up to the
reference's decision: a lane word of 32 neurons is looked at when the spikes received reach its
trigger K + 2N - 2m (m its largest alive ones when it held N spikes); a look adds the rows it
has not seen and fires the lanes with ones >= ceil((K + spikes) / 2). Per image it prints the
looks, the looks that fire, the weight words added and, for the ideas, the rows walked:

- `order by ...`: hidden neurons renumbered (a permutation the semantics allow) so that those
  that fire often before the decision on --train training images share lane words;
- `tiers T`: after a look, the lanes at the largest ones (and at one less, ... T tiers) are
  followed row by row ahead: a tier gains on a row only where some lane of it has a +1 weight,
  and loses otherwise; the trigger is where the first tier could reach K;
- `L lanes a look`: one trigger for L / 32 lane words looked at together (their largest ones);
  `words` still counts 32-lane weight words;
- `hot H`: after a look, the H alive lanes with the largest ones leave the word's trigger and
  are each followed alone, with a trigger of their own (a look at such a lane adds one bit of
  each row it has not seen: `lane looks`, `lane rows`); a look at the word takes them back
  (`firing` counts the looks at words only).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "mnist-600-surrogate.bs4nn"
LANES = 32
FAR = 10**9  # a trigger never reached


@dataclass(frozen=True)
class Variant:
    """One way of looking at the first layer's lane words (the module's list)."""

    name: str
    perm: np.ndarray  # the hidden neurons' order
    tiers: int = 0
    lanes_a_look: int = LANES
    hot_lanes: int = 0


@dataclass
class Counts:
    looks: int = 0
    firing_looks: int = 0
    words: int = 0
    walked: int = 0
    lane_looks: int = 0
    lane_rows: int = 0


def spike_order(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The spiking pixels in the order the kernel takes them, and their steps."""
    steps = 255 - image.astype(np.int64)
    spiking = np.nonzero(image)[0]
    order = spiking[np.argsort(steps[spiking], kind="stable")]
    return order, steps[order]


def tier_trigger(plus: np.ndarray, ones: np.ndarray, n: int, k: int, tiers: int, c: Counts):
    """The trigger after a look at n spikes with the tiers followed ahead (plus: rows x lanes
    of +1 weights in spike order; ones: the word's alive lanes, -FAR for the others)."""
    top = int(ones.max())
    best = k + 2 * n - 2 * (top - tiers)  # lanes below the tiers: one per row at most
    for i in range(tiers):
        tier = ones == top - i
        if not tier.any():
            continue
        d = 2 * (top - i) - n  # the tier's signed count
        r = n
        while r < min(best, len(plus)) and d < k:
            d += 1 if plus[r, tier].any() else -1
            r += 1
            c.walked += 1
        if d >= k:
            best = min(best, r)
    return max(best, n + 1)


def hot_lane_looks(plus: np.ndarray, hot: dict, alive: np.ndarray, n: int, k: int, c: Counts):
    """The looks at the lanes followed alone whose trigger n reached (hot: lane -> [spikes
    seen, trigger]); a lane at the step's bound fires."""
    for lane, (seen, trig) in list(hot.items()):
        if trig > n:
            continue
        c.lane_looks += 1
        c.lane_rows += n - seen
        ones = int(plus[:n, lane].sum())
        if ones >= -(-(k + n) // 2):
            alive[lane] = False
            del hot[lane]
        else:
            hot[lane] = [n, k + 2 * n - 2 * ones]


def first_layer_looks(im: IntModel, images, decisions, variant: Variant) -> Counts:
    signs = (im.signs[0] > 0).T[:, variant.perm]  # inputs x hidden, +1 weights
    tiers, lanes_a_look, hot_lanes = variant.tiers, variant.lanes_a_look, variant.hot_lanes
    k = int(im.thresholds[0])
    hidden = signs.shape[1]
    words = -(-hidden // lanes_a_look)
    c = Counts()
    for image, decision in zip(images, decisions, strict=True):
        order, steps = spike_order(image)
        plus = signs[order]
        ones = np.zeros(hidden, np.int64)
        alive = np.ones(hidden, bool)
        synced = np.zeros(words, np.int64)
        trig = np.full(words, k)
        hot: dict[int, list[int]] = {}  # hot_lanes: lane -> [spikes seen, trigger]
        for t in np.unique(steps[steps <= decision]):
            n = int(np.searchsorted(steps, t, "right"))
            hot_lane_looks(plus, hot, alive, n, k, c)
            for w in np.nonzero(trig <= n)[0]:
                lanes = slice(lanes_a_look * w, min(lanes_a_look * (w + 1), hidden))
                c.looks += 1
                c.words += (n - synced[w]) * -(-(lanes.stop - lanes.start) // LANES)
                ones[lanes] += plus[synced[w] : n, lanes].sum(0)
                synced[w] = n
                fire = alive[lanes] & (ones[lanes] >= -(-(k + n) // 2))
                alive[lanes] &= ~fire
                c.firing_looks += bool(fire.any())
                for lane in range(lanes.start, lanes.stop):
                    hot.pop(lane, None)
                word_ones = np.where(alive[lanes], ones[lanes], -FAR)
                if hot_lanes and alive[lanes].sum() > hot_lanes:
                    for i in np.argsort(-word_ones, kind="stable")[:hot_lanes]:
                        hot[lanes.start + i] = [n, k + 2 * n - 2 * int(word_ones[i])]
                        word_ones[i] = -FAR
                if not alive[lanes].any():
                    trig[w] = FAR
                elif tiers:
                    trig[w] = tier_trigger(plus[:, lanes], word_ones, n, k, tiers, c)
                else:
                    trig[w] = k + 2 * n - 2 * int(word_ones.max())
    return c


def firing_before_decision(im: IntModel, images) -> np.ndarray:
    """Per hidden neuron: the share of images in which it fires before the decision."""
    signs = (im.signs[0] > 0).T.astype(np.int64)
    k = int(im.thresholds[0])
    fired = np.zeros(signs.shape[1])
    for image, decision in zip(images, reference_batch(im, images).decision_steps, strict=True):
        order, steps = spike_order(image)
        order = order[steps <= decision]
        if len(order):
            d = 2 * np.cumsum(signs[order], 0) - np.arange(1, len(order) + 1)[:, None]
            fired += d.max(0) >= k
    return fired / len(images)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model file")
    ap.add_argument("--limit", type=int, default=200, help="first N test images (default 200)")
    ap.add_argument("--train", type=int, default=2000, help="training images for the order")
    args = ap.parse_args(argv)
    try:
        model = Model.load(args.model)
        im = IntModel.from_model(model)
        dataset = model.dataset or "mnist"
        images = load_dataset(dataset, "test")[0][: args.limit]
        train = load_dataset(dataset, "train")[0][: args.train]
    except Bs4nnError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    decisions = reference_batch(im, images).decision_steps
    hidden = im.signs[0].shape[0]
    rate = firing_before_decision(im, train)
    as_trained = np.arange(hidden)
    variants = [Variant("as trained", as_trained)]
    variants.append(Variant("order by firing rate", np.argsort(-rate, kind="stable")))
    variants += [Variant(f"tiers {t}", as_trained, tiers=t) for t in (1, 2, 3)]
    variants += [Variant(f"{n} lanes a look", as_trained, lanes_a_look=n) for n in (64, 128)]
    variants += [Variant(f"hot {h}", as_trained, hot_lanes=h) for h in (1, 2)]
    print(f"{args.model.name}, first {len(images)} test images, first weight layer")
    print(
        "hidden neurons firing before the decision (training images): quartiles "
        + " / ".join(f"{q:.1%}" for q in np.quantile(rate, [0.25, 0.5, 0.75]))
    )
    print(
        f"{'variant':<22}{'looks':>8}{'firing':>8}{'words':>8}{'walked':>8}"
        f"{'lane looks':>12}{'lane rows':>11}  (per image)"
    )
    for variant in variants:
        c = first_layer_looks(im, images, decisions, variant)
        n = len(images)
        print(
            f"{variant.name:<22}{c.looks / n:8.1f}{c.firing_looks / n:8.1f}{c.words / n:8.0f}"
            f"{c.walked / n:8.0f}{c.lane_looks / n:12.1f}{c.lane_rows / n:11.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
