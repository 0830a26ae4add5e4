"""Whether a network is too large to train in this machine's memory, said before any work.

Training holds several float arrays per synapse (the real weights, the optimiser's state,
gradients and their parts). Measured peaks (`/usr/bin/time -f %M bs4nn train --hidden 20000
--epochs 1 --train-limit 200`): ~57 bytes per synapse with the paper's rule, ~51 with the
surrogate rule, on top of ~230 MB for the program and the dataset. The check uses less than
either, so it refuses only networks that cannot fit; numpy's own MemoryError stays the last
word for the rest (bs4nn.cli prints it as one line).
"""

from __future__ import annotations

import os
from pathlib import Path

from bs4nn.trainer.semantics import network_shape

BYTES_PER_SYNAPSE = 48  # below the measured ~51-57: never refuse a network that would fit
GIB = 1024**3


def synapses(layer_sizes) -> int:
    """Weights of a dense network (inputs, ..., outputs)."""
    return sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=True))


def available_memory() -> int | None:
    """Bytes that a new allocation can still get (free RAM and swap), or None if unknown."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return sum(int(fields[key].split()[0]) * 1024 for key in ("MemAvailable", "SwapFree"))
    except (OSError, KeyError, ValueError):
        pass
    try:  # other POSIX systems: physical memory as an upper bound
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def training_memory_problem(layer_sizes, available: int | None) -> str | None:
    """Why training these layer sizes cannot fit in `available` bytes, or None (also when
    that is unknown: None)."""
    need = synapses(layer_sizes) * BYTES_PER_SYNAPSE
    if available is None or need <= available:
        return None
    return (
        f"training {network_shape(layer_sizes)} needs more than {_size(need)} of memory (its "
        f"weights and the optimiser's state); this machine has {_size(available)} free: "
        "choose fewer hidden neurons"
    )


def _size(n: int) -> str:
    """Bytes in GiB, or MiB below one GiB (a small machine's figures are not all 0.0 GiB)."""
    return f"{n / GIB:,.1f} GiB" if n >= GIB else f"{n / 1024**2:,.1f} MiB"
