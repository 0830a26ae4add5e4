"""One bit per synapse, in the order the event-driven kernels read them.

Weight layer with n_in inputs and n_out neurons: input i's fan-out is one row of
row_words(n_out) = ceil(n_out / 32) uint32 words; the synapse from input i to neuron j is bit
j % 32 (LSB first) of word i * row_words(n_out) + j // 32. Bit 1 is +1, bit 0 is -1. Input-major
because a spiking input touches its whole fan-out; every row starts on a word so that 32
neurons of a row are one aligned word (the bit-sliced kernel adds whole words). Each row's
last word is padded with zero bits.
"""

import numpy as np

from bs4nn.trainer.semantics import WORD_BITS


def row_words(n_out: int) -> int:
    return -(-n_out // WORD_BITS)


def packed_words(n_in: int, n_out: int) -> int:
    return n_in * row_words(n_out)


def pack_signs(signs: np.ndarray) -> np.ndarray:
    """int8 (n_out, n_in) of +-1 -> uint32 words."""
    signs = np.asarray(signs)
    if signs.ndim != 2 or not np.all(np.abs(signs) == 1):
        raise ValueError("signs must be a 2-D array of +1/-1")
    n_out, n_in = signs.shape
    bits = np.zeros((n_in, WORD_BITS * row_words(n_out)), dtype=np.uint8)
    bits[:, :n_out] = signs.T > 0
    return np.packbits(bits, axis=1, bitorder="little").reshape(-1).view("<u4").astype(np.uint32)


def unpack_signs(words: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    """uint32 words -> int8 (n_out, n_in) of +-1 (inverse of pack_signs)."""
    raw = np.asarray(words, dtype="<u4").view(np.uint8).reshape(n_in, -1)
    bits = np.unpackbits(raw, axis=1, bitorder="little")[:, :n_out]
    return np.where(bits.T == 1, 1, -1).astype(np.int8)
