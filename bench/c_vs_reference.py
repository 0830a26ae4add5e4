"""The generated C + firmware core, compiled for the host, against codegen's integer reference
on every test image: label, decision step, fallback, output firing steps and spikes per layer.

    python bench/c_vs_reference.py MODEL [--limit N] [--kernel ref] [--dataset mnist]

Prints each differing image, then `mismatches=N` last. Exit status 0 only when N is 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from codegen.ccheck import CModel, mismatches
from codegen.export import export_firmware
from codegen.intmodel import IntModel
from codegen.reference import reference_batch
from trainer.datasets import load_dataset
from trainer.errors import Bs4nnError
from trainer.model import Model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="model file (bs4nn train --out)")
    ap.add_argument("--limit", type=int, default=None, help="first N test images (default all)")
    ap.add_argument("--kernel", default="ref", help="firmware kernel to build (default ref)")
    ap.add_argument("--dataset", default=None, help="test set (default: the model's dataset)")
    args = ap.parse_args(argv)
    try:
        model = Model.load(args.model)
        intmodel = IntModel.from_model(model, source=str(args.model))
        dataset = args.dataset or model.dataset or "mnist"
        images = load_dataset(dataset, "test")[0][: args.limit]
        with tempfile.TemporaryDirectory(prefix="bs4nn-ccheck-") as tmp:
            export_firmware(intmodel, Path(tmp) / "fw")
            t0 = time.perf_counter()
            got = CModel(Path(tmp) / "fw", kernel=args.kernel).infer_batch(images)
            t_c = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = reference_batch(intmodel, images)
        t_ref = time.perf_counter() - t0
    except Bs4nnError as exc:
        print(f"c_vs_reference: error: {exc}", file=sys.stderr)
        return 2
    lines = mismatches(ref, got)
    for line in lines:
        print(line)
    print(f"model {intmodel.model_hash[:16]} {'-'.join(map(str, intmodel.layer_sizes))} "
          f"K={list(intmodel.thresholds)} kernel={args.kernel} {dataset} test images={len(images)}")
    print(f"C {t_c:.2f} s, reference {t_ref:.2f} s; "
          f"accuracy {(ref.labels == load_dataset(dataset, 'test')[1][: len(images)]).mean():.4f}")
    print(f"mismatches={len(lines)}")
    return 0 if not lines else 1


if __name__ == "__main__":
    sys.exit(main())
