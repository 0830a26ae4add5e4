"""Progress bars: tqdm's on a terminal, plain lines (at most one per interval) in a log."""

import io
import sys

from bs4nn.trainer import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_plain_lines_at_most_one_per_interval(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    for _ in progress.progress_bar(range(5), desc="bench", unit="img"):
        pass
    lines = log.getvalue().split("\n")
    assert "\r" not in log.getvalue() and lines[-1] == ""
    assert len(lines) == 2 and lines[0].startswith("bench:   0%|")  # the first refresh only
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    log.seek(0)
    log.truncate()
    with progress.progress_bar(total=3, desc="epoch", mininterval=0) as bar:
        for _ in range(3):
            bar.update(1)
    lines = log.getvalue().split("\n")
    assert [line[:11] for line in lines[:4]] == [
        "epoch:   0%",
        "epoch:  33%",
        "epoch:  67%",
        "epoch: 100%",
    ]
    assert "\r" not in log.getvalue()


def test_a_terminal_gets_tqdm_s_bar(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    for _ in progress.progress_bar(range(3), desc="bench"):
        pass
    drawn = terminal.getvalue()
    assert drawn.startswith("\rbench:   0%|")
    last = drawn.rstrip("\n").split("\r")[-1]  # each redraw starts with a carriage return
    assert last.startswith("bench: 100%|") and "| 3/3 [" in last
