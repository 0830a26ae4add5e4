"""Progress bars: tqdm's on a terminal; into a log file (stderr not a terminal), a plain line at
most every LOG_INTERVAL_S seconds instead of carriage-return updates, so that a long run still
shows that it is alive without filling the log."""

from __future__ import annotations

import math
import sys
import time

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


class _Lines:
    """A file for tqdm that turns a refresh into one line, at most one every LOG_INTERVAL_S
    seconds (tqdm refreshes at every set_postfix too)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.last = -math.inf

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        now = time.monotonic()
        if line and now - self.last >= LOG_INTERVAL_S:
            self.stream.write(line + "\n")
            self.last = now

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(iterable=None, **options) -> tqdm:
    """tqdm(iterable, **options), as lines when stderr is not a terminal."""
    stream = sys.stderr
    if not stream.isatty():
        options = {"file": _Lines(stream), **options}
    return tqdm(iterable, **options)


def epoch_bar(epoch: int, epochs: int, total: int, progress: bool) -> tqdm:
    """The bar of one training epoch over `total` images (gone when the epoch ends, which
    logs its own line)."""
    return progress_bar(
        total=total,
        desc=f"epoch {epoch}/{epochs}",
        unit="img",
        disable=not progress,
        leave=False,
        mininterval=0.5,
    )
