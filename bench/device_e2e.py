"""Bench a model on the whole test set on the emulated Cortex-M4 board (QEMU).

    python bench/device_e2e.py MODEL [--limit N] [--out DIR] [--data-dir DIR]

Exports and builds the firmware (reused when the model and the firmware sources are
unchanged), starts QEMU, streams the test images (the shortest INFER form, INFER_BITMAP for
MNIST, two requests in flight), checks every reply against codegen's integer reference and
prints the figures; the last two lines are `images_per_s=...` and `mismatches=...`.
Exit status 0 only with zero mismatches. Goal: 10,000 images in 5 minutes."""

from __future__ import annotations

import argparse
import sys
import time

from bs4nn.host.bench import run_bench
from bs4nn.host.connect import DeviceLink
from bs4nn.host.defaults import DEFAULT_WINDOW
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--limit", type=int, default=None, help="images (default: all 10,000)")
    ap.add_argument("--out", default="out/device_e2e", help="report folder")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="requests in flight")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        dataset = Model.load(args.model).dataset or "mnist"
        rep = run_bench(
            args.model,
            link=DeviceLink(window=args.window),
            dataset=dataset,
            limit=args.limit,
            out_dir=args.out,
            data_dir=args.data_dir,
        )
    except Bs4nnError as exc:
        print(f"device_e2e: error: {exc}", file=sys.stderr)
        return 2
    r = rep.report
    print(f"total_seconds={time.monotonic() - t0:.1f}")
    print(f"images={rep.images}")
    print(f"accuracy={rep.accuracy:.4f}")
    print(f"reference_accuracy={r['reference_accuracy']:.4f}")
    print(f"mean_instructions_per_inference={rep.counter_mean:.0f}")
    print(f"mean_decision_step={rep.decision_step_mean:.2f}")
    print(f"wire_bytes_per_image={r['wire_bytes_per_image']:.0f}")
    print(f"images_per_s={rep.images_per_s:.1f}")
    print(f"mismatches={rep.mismatches}")
    return 0 if rep.mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
