"""The definitions every link of the chain shares: the time steps, the binary sign and the
integer threshold (and its range on the board).

See docs/design.md section 1. Training, evaluation, codegen and the firmware all use these; the
input coding (pixel I spikes at step 255 - I, I = 0 never) lives in the one counting sort,
`kernels.sort_inputs`, that the trainer and the integer reference share.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil
from typing import TYPE_CHECKING

from bs4nn.trainer.errors import Bs4nnError

if TYPE_CHECKING:
    import numpy as np

TMAX = 256  # steps are 0..255; training gives a silent neuron a fake spike at TMAX
LAST_STEP = TMAX - 1  # the last step: the fallback decides there
# "Did not fire" has one name per representation (docs/design.md section 1): TMAX in the
# training kernels' firing times, and
NOT_FIRED = -1  # in the Python results: evaluation, the integer reference, the bench CSV
NO_SPIKE = 0xFFFF  # in the firmware's uint16 output steps (BS4NN_NO_SPIKE in C) and on the wire
# a result's flags bit: no output fired by the last step, the largest count decided
# (BS4NN_FLAG_FALLBACK in C)
FLAG_FALLBACK = 0x01
# integer thresholds K the firmware accepts: its counts are int16, and K <= 0 would fire
# before any input arrives
K_MIN = 1
K_MAX = 32767
# network sizes the firmware runs: neurons are indexed with uint16, the label is one byte
MAX_INPUTS = 65535
MAX_LAYER_NEURONS = 4096  # per non-input layer
MAX_OUTPUTS = 255
# bits of the firmware's words: synapses per packed weight word (codegen.packing), neurons per
# lane word of its default kernel (trainer.lane_order)
WORD_BITS = 32


def network_shape(layer_sizes) -> str:
    """Layer sizes as people write them: '784-600-10'."""
    return "-".join(str(n) for n in layer_sizes)


def weight_layer_name(index: int, count: int) -> str:
    """How messages and reports name weight layer `index` (counted from 0, as Python lists and
    C arrays index it) of `count`: 'weight layer 1 of 2', counted from 1. Weight layer N feeds
    hidden layer N (the output layer when N = count); docs/design.md section 1."""
    return f"weight layer {index + 1} of {count}"


def firmware_size_problem(layer_sizes) -> str | None:
    """What about these layer sizes (inputs, ..., outputs) the firmware cannot run, or None."""
    if layer_sizes[0] > MAX_INPUTS:
        return f"input layer has {layer_sizes[0]} inputs; the firmware takes {MAX_INPUTS}"
    # the output layer's limit is MAX_OUTPUTS, below MAX_LAYER_NEURONS
    for layer, n in enumerate(layer_sizes[1:-1], start=1):
        if n > MAX_LAYER_NEURONS:
            return (
                f"hidden layer {layer} has {n} neurons; the firmware allows {MAX_LAYER_NEURONS} "
                "per layer"
            )
    if layer_sizes[-1] > MAX_OUTPUTS:
        return f"{layer_sizes[-1]} outputs; the firmware reports labels up to {MAX_OUTPUTS}"
    return None


def first_unreachable(layer_sizes, ks) -> int | None:
    """The first weight layer (counted from 0) whose K is above its fan-in, or None. A count
    is at most the fan-in (every input +1 and spiking), so no neuron of that layer can fire,
    nor any after it: every decision would be the fallback."""
    for layer, (fan_in, k) in enumerate(zip(layer_sizes[:-1], ks, strict=True)):
        if k > fan_in:
            return layer
    return None


def binarize(weights: np.ndarray) -> np.ndarray:
    """B = sign(W) with sign(0) = +1, as int8."""
    import numpy as np  # here: the parser's option types read this module, numpy-free

    return (np.asarray(weights) >= 0).astype(np.int8) * np.int8(2) - np.int8(1)


def threshold_count(theta: float, alpha: float) -> int:
    """K = ceil(theta / alpha), exact on the float values (no rounding surprises at integers)."""
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    return ceil(Fraction(float(theta)) / Fraction(float(alpha)))


def check_thresholds(thresholds) -> None:
    """Refuse integer thresholds the firmware cannot run, naming the layer."""
    for layer, k in enumerate(thresholds):
        if not K_MIN <= k <= K_MAX:
            raise Bs4nnError(
                f"threshold K={k} of {weight_layer_name(layer, len(thresholds))} does not fit "
                f"the board's int16 counter (allowed {K_MIN}..{K_MAX}); K = ceil(theta/alpha)"
            )
