"""The two definitions every link of the chain shares: the binary sign and the integer threshold.

See docs/design.md section 1. Training, evaluation, codegen and the firmware all use these.
"""

from fractions import Fraction
from math import ceil

import numpy as np

TMAX = 256  # steps are 0..255; a silent neuron gets a fake spike at TMAX during training
NEVER = TMAX  # spike time of an input pixel with intensity 0
# integer thresholds K the firmware accepts: its counts are int16, and K <= 0 would fire
# before any input arrives
K_MIN = 1
K_MAX = 32767


def binarize(weights: np.ndarray) -> np.ndarray:
    """B = sign(W) with sign(0) = +1, as int8."""
    return np.where(np.asarray(weights) >= 0, 1, -1).astype(np.int8)


def threshold_count(theta: float, alpha: float) -> int:
    """K = ceil(theta / alpha), exact on the float values (no rounding surprises at integers)."""
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    return ceil(Fraction(float(theta)) / Fraction(float(alpha)))


def encode_spike_times(pixels: np.ndarray) -> np.ndarray:
    """Pixel intensity I (0..255) -> spike step 255 - I; I = 0 -> NEVER (256). Returns int16."""
    p = np.asarray(pixels)
    if p.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, got {p.dtype}")
    t = 255 - p.astype(np.int16)
    t[p == 0] = NEVER
    return t
