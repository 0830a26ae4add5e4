"""The generated C + firmware core, compiled for the host, against codegen's integer reference
on every test image: label, decision step, fallback, output firing steps and spikes per layer.

    python bench/c_vs_reference.py MODEL [--limit N] [--kernel NAME] [--dataset mnist]

Every kernel of firmware_template/core is checked unless --kernel names one. Prints each
differing image, then `mismatches=N` last (summed over kernels). Exit status 0 only when N is 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bs4nn.codegen.agreement import mismatches
from bs4nn.codegen.ccheck import CModel
from bs4nn.codegen.export import export_firmware
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import Model
from bs4nn.trainer.wording import TEST_IMAGE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="model file (bs4nn train --out)")
    ap.add_argument("--limit", type=int, default=None, help="first N test images (default all)")
    ap.add_argument("--kernel", default=None, help="one firmware kernel (default: all)")
    ap.add_argument("--dataset", default=None, help="test set (default: the model's dataset)")
    args = ap.parse_args(argv)
    total = 0
    try:
        model = Model.load(args.model)
        intmodel = IntModel.from_model(model, source=str(args.model))
        dataset = args.dataset or model.dataset or "mnist"
        images, labels = load_dataset(dataset, "test")
        images, labels = images[: args.limit], labels[: args.limit]
        t0 = time.perf_counter()
        ref = reference_batch(intmodel, images)
        print(
            f"model {intmodel.model_hash[:16]} {'-'.join(map(str, intmodel.layer_sizes))} "
            f"K={list(intmodel.thresholds)} {dataset} test images={len(images)}: reference "
            f"{time.perf_counter() - t0:.2f} s, accuracy {(ref.labels == labels).mean():.4f}"
        )
        with tempfile.TemporaryDirectory(prefix="bs4nn-ccheck-") as tmp:
            fw = Path(tmp) / "fw"
            export_firmware(intmodel, fw)
            found = fw.glob("core/bs4nn_kernel_*.c")
            kernels = (
                [args.kernel]
                if args.kernel
                else sorted(path.stem.removeprefix("bs4nn_kernel_") for path in found)
            )
            for kernel in kernels:
                t0 = time.perf_counter()
                got = CModel(fw, kernel=kernel).infer_batch(images)
                lines = mismatches(ref, got, TEST_IMAGE)  # the test split's first N
                for line in lines:
                    print(f"kernel {kernel}: {line}")
                seconds = time.perf_counter() - t0
                print(f"kernel {kernel}: {len(lines)} mismatches, C {seconds:.2f} s")
                total += len(lines)
    except Bs4nnError as exc:
        print(f"c_vs_reference: error: {exc}", file=sys.stderr)
        return 2
    print(f"mismatches={total}")
    return 0 if total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
