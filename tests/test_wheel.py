"""The built wheel, installed into a fresh venv, works from a folder outside the repository:
no generic top-level names, the firmware sources inside the package, the whole chain."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "out",
    "runs",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
)

STALE = Path("bs4nn/firmware_template/core/bs4nn_removed.c")

pytestmark = pytest.mark.e2e


def run(cmd: list[str], cwd: Path, with_stderr: bool = False) -> str:
    """stdout (and stderr after it, with_stderr) of a command that must succeed."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr if with_stderr else proc.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    """The wheel built from a copy of the sources, and what the build printed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=NOT_SOURCES)  # no stale build/ of the work tree
    # but one like it: what an earlier `pip install .` of a checkout leaves in build/lib, a
    # source file since removed (the export would copy it and the build compile it)
    (src / "build" / "lib" / STALE).parent.mkdir(parents=True)
    (src / "build" / "lib" / STALE).write_text('#error "a file removed from the sources"\n')
    said = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(tmp / "dist"),
            str(src),
        ],
        tmp,
        with_stderr=True,
    )
    (wheel,) = (tmp / "dist").glob("bs4nn_edge-*.whl")
    return wheel, said


@pytest.fixture(scope="module")
def installed(built) -> Path:
    """bin/ of a fresh venv holding only the wheel."""
    wheel, _ = built
    tmp = wheel.parent.parent
    run([sys.executable, "-m", "venv", str(tmp / "venv")], tmp)
    run([str(tmp / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp)
    return tmp / "venv" / "bin"


def test_wheel_builds_without_packaging_warnings(built):
    _, said = built
    assert "Warning" not in said


def test_wheel_leaves_out_what_an_earlier_build_left(built):
    wheel, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    assert STALE.as_posix() not in names
    assert "bs4nn/firmware_template/core/bs4nn_infer.c" in names


def test_wheel_installs_one_namespace(installed, tmp_path):
    for name in ("trainer", "codegen", "host", "firmware_template"):
        proc = subprocess.run(
            [installed / "python", "-c", f"import {name}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert f"No module named '{name}'" in proc.stderr
    out = run(
        [
            installed / "python",
            "-c",
            "from importlib.resources import files; "
            "print(sorted(p.name for p in (files('bs4nn.firmware_template') / 'core')"
            ".iterdir() if p.suffix in ('.c', '.h')))",
        ],
        tmp_path,
    )
    core = sorted(
        p.name for p in (REPO / "firmware_template" / "core").iterdir() if p.suffix in (".c", ".h")
    )
    assert out.strip() == str(core)


def test_wheel_runs_the_chain_from_outside_the_repository(installed, tmp_path):
    bs4nn = str(installed / "bs4nn")
    model = str(REPO / "models" / "mnist-600-surrogate.bs4nn")
    assert "export" in run([bs4nn, "--help"], tmp_path)
    out = run([bs4nn, "export", model, "--out", "fw", "--check-images", "20"], tmp_path)
    assert "integer model == trainer evaluation on 20 mnist test images" in out
    out = run([bs4nn, "build", "fw"], tmp_path)
    assert out.startswith("built fw/build/firmware.elf for qemu-mps2-an386 (model ")
    out = run(
        [
            bs4nn,
            "bench",
            "--model",
            model,
            "--emulate",
            "--limit",
            "20",
            "--out",
            "b",
            "--no-progress",
        ],
        tmp_path,
    )
    assert "images        20 of mnist test" in out and "\nmismatches    0  (" in out, out
