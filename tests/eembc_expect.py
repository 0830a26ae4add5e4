"""What the firmware's EEMBC text mode prints, computed from codegen's integer reference."""

import numpy as np

from bs4nn.codegen.reference import RefBatch


def scores(ref: RefBatch, i: int) -> str:
    """The class scores of image i as `results%` prints them: the label 1.000, every other
    class (count - min) / (max - min + 1) in thousandths, rounded down."""
    counts = [int(c) for c in np.asarray(ref.output_counts)[i]]
    lo, hi = min(counts), max(counts)
    label = int(ref.labels[i])
    milli = [1000 if j == label else 1000 * (c - lo) // (hi - lo + 1) for j, c in enumerate(counts)]
    return ",".join(f"{m // 1000}.{m % 1000:03d}" for m in milli)


def banner(lap_us: int) -> list[str]:
    return ["m-timestamp-mode-performance", f"m-lap-us-{lap_us}", "m-init-done", "m-ready"]
