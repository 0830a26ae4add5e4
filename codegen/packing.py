"""One bit per synapse, in the order the event-driven kernel reads them.

Weight layer with n_in inputs and n_out neurons = one bit stream; the synapse from input i to
neuron j is bit k = i * n_out + j, stored in uint32 word k // 32 at bit k % 32 (LSB first).
Bit 1 is +1, bit 0 is -1. Input-major because a spiking input touches its whole fan-out.
Only the last word is padded (with zero bits).
"""

import numpy as np


def packed_words(n_in: int, n_out: int) -> int:
    return -(-n_in * n_out // 32)


def pack_signs(signs: np.ndarray) -> np.ndarray:
    """int8 (n_out, n_in) of +-1 -> uint32 words."""
    signs = np.asarray(signs)
    if signs.ndim != 2 or not np.all(np.abs(signs) == 1):
        raise ValueError("signs must be a 2-D array of +1/-1")
    n_out, n_in = signs.shape
    bits = (signs.T.reshape(-1) > 0).astype(np.uint8)
    packed = np.packbits(bits, bitorder="little")
    padded = np.zeros(packed_words(n_in, n_out) * 4, dtype=np.uint8)
    padded[: packed.size] = packed
    return padded.view("<u4").astype(np.uint32)


def unpack_signs(words: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    """uint32 words -> int8 (n_out, n_in) of +-1 (inverse of pack_signs)."""
    raw = np.asarray(words, dtype="<u4").view(np.uint8)
    bits = np.unpackbits(raw, bitorder="little")[: n_in * n_out]
    return np.where(bits.reshape(n_in, n_out).T == 1, 1, -1).astype(np.int8)
