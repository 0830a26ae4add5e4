"""README's "The classifier in your own firmware": its classify.c, built with only an export's
core/ and generated/ folders, gives the integer reference's labels and decision steps; its
commands build for Cortex-M4 without a libc call, to the sizes and stack it quotes."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import random_intmodel

from bs4nn.codegen.export import export_firmware
from bs4nn.codegen.reference import reference_batch

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## The classifier in your own firmware\n"

# A program of the test's: images from stdin, the label and decision step of each to stdout.
HARNESS = r"""
#include <stdio.h>

#include "bs4nn_infer.h"

void classifier_init(void);
uint8_t classify(const uint8_t image[BS4NN_N_INPUT], uint16_t *decision_step);

int main(void)
{
    static uint8_t image[BS4NN_N_INPUT];
    uint16_t step;

    classifier_init();
    while (fread(image, 1, sizeof image, stdin) == sizeof image) {
        const unsigned label = classify(image, &step);
        printf("%u %u\n", label, (unsigned)step);
    }
    return 0;
}
"""


def readme_section() -> str:
    return (ROOT / "README.md").read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]


def fenced(lang: str) -> str:
    """The section's one code block in `lang`."""
    (block,) = re.findall(rf"```{lang}\n(.*?)```", readme_section(), re.S)
    return block


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no host gcc")
def test_classify_c_gives_the_reference_labels_and_steps(tmp_path):
    # odd widths and three weight layers: every lane word partly filled
    intmodel = random_intmodel([200, 45, 37, 10], [8.0, 2.0, 1.0], seed=3)
    export_firmware(intmodel, tmp_path / "fw", command="test")
    (tmp_path / "classify.c").write_text(fenced("c"))
    (tmp_path / "main.c").write_text(HARNESS)
    fw = tmp_path / "fw"
    subprocess.run(
        ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
        + ["-I", str(fw / "core"), "-I", str(fw / "generated"), "-o", str(tmp_path / "classify")]
        + [str(p) for p in sorted(fw.glob("core/*.c")) + sorted(fw.glob("generated/*.c"))]
        + [str(tmp_path / "classify.c"), str(tmp_path / "main.c")],
        check=True,
    )
    rng = np.random.default_rng(0)
    images = (rng.integers(0, 256, (300, 200)) * (rng.random((300, 200)) < 0.3)).astype(np.uint8)
    out = subprocess.run(
        [str(tmp_path / "classify")], input=images.tobytes(), capture_output=True, check=True
    ).stdout.decode()
    got = np.array([line.split() for line in out.splitlines()], dtype=np.int64)
    ref = reference_batch(intmodel, images)
    assert got[:, 0].tolist() == ref.labels.tolist()
    assert got[:, 1].tolist() == ref.decision_steps.tolist()
    assert len(set(got[:, 1].tolist())) > 50  # decided at many steps, most before step 255


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
def test_readme_commands_build_without_libc_to_the_sizes_quoted(tmp_path):
    (tmp_path / "classify.c").write_text(fenced("c"))
    bs4nn = str(Path(sys.executable).parent / "bs4nn")
    commands = fenced("sh").replace("models/", f"{ROOT}/models/")
    lines = commands.splitlines()
    assert lines[0].startswith("bs4nn export ")
    subprocess.run([bs4nn, *lines[0].split()[1:]], cwd=tmp_path, check=True, capture_output=True)
    for line in lines[1:-1]:  # -fstack-usage as the section says: frames in *.su, same code
        subprocess.run(f"{line} -fstack-usage", shell=True, cwd=tmp_path, check=True)
    sizes = subprocess.run(
        lines[-1], shell=True, cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout
    text, data, bss = map(int, sizes.splitlines()[-1].split()[:3])
    undefined = subprocess.run(
        "arm-none-eabi-nm -u *.o",
        shell=True,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert [
        s for s in undefined if s != "U" and not s.endswith(".o:") and not s.startswith("bs4nn_")
    ] == []
    quoted = re.search(
        r"that is ([\d,]+) bytes of flash \(([\d,]+) of weights\) and ([\d,]+) of\s+RAM",
        readme_section(),
    )
    assert quoted is not None
    flash, weights, ram = (int(g.replace(",", "")) for g in quoted.groups())
    assert (text + data, data + bss) == (flash, ram)
    manifest = json.loads((tmp_path / "fw" / "bs4nn_export.json").read_text())
    assert manifest["footprint"]["weight_bytes"] == weights
    assert deepest_stack(tmp_path) == int(
        re.search(r"at most (\d+) bytes of stack", readme_section()).group(1)
    )


ROW_ADDER_PUSHES = 44  # add_rows_thumb2 (naked, so 0 in its .su): push {r4-r11, lr}, {r1, r3}


def deepest_stack(folder: Path) -> int:
    """classify -> bs4nn_infer -> bs4nn_kernel_infer and then the largest of the other frames:
    those are the kernel's callees, none of which calls another (a bound if that changes)."""
    frames = {}
    for su in folder.glob("*.su"):
        for line in su.read_text().splitlines():
            where, size, _kind = line.split("\t")
            frames[where.rsplit(":", 1)[1].split(".")[0]] = int(size)
    chain = ("classify", "bs4nn_infer", "bs4nn_kernel_infer")
    assert frames["add_rows_thumb2"] == 0
    callees = [size for name, size in frames.items() if name not in chain]
    return sum(frames[name] for name in chain) + max(ROW_ADDER_PUSHES, *callees)
