"""The portable core and protocol compile cleanly for every Cortex-M core we build for, at -O2 and
-Os, with every kernel: `-std=c99 -pedantic -Wall -Wextra -Wconversion -Werror` (no link: the
board layers have their own build)."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from bs4nn.codegen.boards import TEMPLATE_ROOT
from bs4nn.codegen.export import export_firmware
from bs4nn.codegen.intmodel import IntModel
from bs4nn.trainer.model import model_from_arrays

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc"
)

CORES = {
    "cortex-m0plus": [],
    "cortex-m3": [],
    "cortex-m4": ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m7": ["-mfloat-abi=hard", "-mfpu=fpv5-d16"],
    "cortex-m33": [],
    "cortex-m55": [],
}
KERNELS = re.findall(
    r"#define BS4NN_KERNEL_ID_(\w+) ", (TEMPLATE_ROOT / "core" / "bs4nn_kernel.h").read_text()
)
FLAGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Wconversion", "-Werror", "-mthumb"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """An export of a 784-37-10 model: a hidden width that is not a multiple of 32."""
    rng = np.random.default_rng(0)
    model = model_from_arrays(
        [rng.standard_normal((37, 784)), rng.standard_normal((10, 37))],
        [1.0, 1.0],
        [5.0, 2.0],
        dataset="mnist",
    )
    out = tmp_path_factory.mktemp("fw")
    export_firmware(IntModel.from_model(model), out)
    return out


def test_every_kernel_is_listed():
    assert "ref" in KERNELS and len(KERNELS) == len(set(KERNELS)) >= 2


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("opt", ["-O2", "-Os"])
@pytest.mark.parametrize("core", sorted(CORES))
def test_core_and_protocol_compile(tree, tmp_path, core, opt, kernel):
    sources = sorted(
        str(p) for d in ("core", "protocol", "generated") for p in (tree / d).glob("*.c")
    )
    cmd = [
        "arm-none-eabi-gcc",
        *FLAGS,
        opt,
        f"-mcpu={core}",
        *CORES[core],
        f"-DBS4NN_KERNEL={kernel}",
        *(f"-I{tree / d}" for d in ("core", "protocol", "generated")),
        "-c",
        *sources,
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
