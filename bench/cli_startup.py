"""Wall time of `bs4nn --help`, `bs4nn bench --help` and `bs4nn eval --help`: what a user waits
for before any command starts (Python, the package and every sub-command's parser).

    python bench/cli_startup.py [--runs 5]

Each command runs --runs times in a fresh `python -m bs4nn` (the interpreter running this
script), the three in turn so that a busy machine slows them alike. Prints one line per
command: the median in seconds, then the runs.
"""

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = (("--help",), ("bench", "--help"), ("eval", "--help"))


def wall_seconds(args: tuple[str, ...]) -> float:
    """One run of `bs4nn ARGS`, which must succeed."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bs4nn", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs of each command (default 5)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    times: dict[tuple[str, ...], list[float]] = {c: [] for c in COMMANDS}
    for _ in range(args.runs):
        for command in COMMANDS:
            times[command].append(wall_seconds(command))
    for command, runs in times.items():
        each = " ".join(f"{t:.3f}" for t in runs)
        print(f"bs4nn {' '.join(command)}: {statistics.median(runs):.3f} s (runs: {each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
