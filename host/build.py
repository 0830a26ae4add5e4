"""`bs4nn build DIR`: compile an exported firmware tree and report its real size.

DIR comes from `bs4nn export`; its bs4nn_export.json names the board. Make targets (the QEMU
board) build DIR/build/firmware.elf with `make -C DIR` (docs/design.md section 5); PlatformIO
boards run `pio run -d DIR -e ENV`. Sizes come from `arm-none-eabi-size` (Berkeley format):
flash = text + data, RAM = data + bss, checked against the board's flash and RAM.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from bs4nn.codegen.boards import board_info
from bs4nn.codegen.export import read_manifest
from bs4nn.host.emulator_process import die_with_parent, stop_process
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import lock_beside, write_problem

TOOLCHAIN_HINT = "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"


def make_elf(fw_dir: str | Path) -> Path:
    """The firmware `make -C fw_dir` builds (the exported Makefile's build/firmware.elf)."""
    return Path(fw_dir) / "build" / "firmware.elf"


def make_bin(fw_dir: str | Path) -> Path:
    """Its raw image beside it (what rp2040js loads)."""
    return Path(fw_dir) / "build" / "firmware.bin"


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    board: str
    elf: Path
    model_hash: str
    text: int
    data: int
    bss: int
    flash_bytes: int  # the board's
    ram_bytes: int

    @property
    def flash_used(self) -> int:
        return self.text + self.data  # .data's initial values live in flash too

    @property
    def ram_used(self) -> int:
        return self.data + self.bss

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(out_dir=str(self.out_dir), elf=str(self.elf))
        d.update(flash_used=self.flash_used, ram_used=self.ram_used)
        return d

    def lines(self) -> list[str]:
        return [
            f"built {self.elf} for {self.board} (model {self.model_hash[:16]})",
            f"  text {self.text:,}  data {self.data:,}  bss {self.bss:,} bytes",
            f"  flash {self.flash_used:,} / {self.flash_bytes:,} bytes "
            f"({100 * self.flash_used / self.flash_bytes:.1f}%)",
            f"  RAM   {self.ram_used:,} / {self.ram_bytes:,} bytes "
            f"({100 * self.ram_used / self.ram_bytes:.1f}%)",
        ]


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise Bs4nnError(f"{tool} not found on PATH: install it with `{hint}`")
    return path


def elf_sizes(elf: Path) -> tuple[int, int, int]:
    """(text, data, bss) of an ELF from `arm-none-eabi-size` (Berkeley format)."""
    size = _require("arm-none-eabi-size", TOOLCHAIN_HINT)
    out = subprocess.run([size, str(elf)], capture_output=True, text=True)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or len(lines) < 2:
        raise Bs4nnError(f"arm-none-eabi-size failed on {elf}: {out.stderr.strip()}")
    text, data, bss = (int(v) for v in lines[1].split()[:3])
    return text, data, bss


def find_pio() -> str:
    """PlatformIO's `pio`: on PATH, or beside this Python (the venv `make setup` installs it
    into, which a user need not have activated)."""
    here = str(Path(sys.executable).parent)
    for name in ("pio", "platformio"):
        for where in (None, here):
            path = shutil.which(name, path=where)
            if path is not None:
                return path
    raise Bs4nnError(
        f"pio not found on PATH nor in {here}: install PlatformIO with `pip install platformio`"
    )


def _run(cmd: list[str], what: str, verbose: bool, hint: str = "") -> None:
    """Run a build tool; interrupted, we stop it with SIGTERM, as it gets if we are killed: make
    then stops its compilers and removes the target it was making (SIGKILL left both)."""
    pipe = None if verbose else subprocess.PIPE
    with subprocess.Popen(
        cmd, stdout=pipe, stderr=pipe, text=True, preexec_fn=die_with_parent()
    ) as proc:
        try:
            stdout, stderr = proc.communicate()
        except BaseException:
            stop_process(proc)
            raise
    if proc.returncode != 0:
        tail = "\n".join(((stdout or "") + (stderr or "")).splitlines()[-25:])
        more = f"\n({hint})" if hint else ""
        raise Bs4nnError(
            f"{what} failed (`{' '.join(cmd)}`, exit {proc.returncode}):\n{tail}{more}"
        )


def _check_writable(out: Path) -> None:
    """The build writes its objects into the export: a read-only one is said in one line,
    before make prints its own errors."""
    problem = write_problem(out)
    if problem is not None:
        raise Bs4nnError(
            f"cannot build in {out}: {problem}; the build writes into the export folder: "
            "export again into a writable one"
        )


def build_firmware(out_dir: str | Path, verbose: bool = False) -> BuildResult:
    """Build the export in out_dir; raises Bs4nnError naming what to install when tools lack."""
    out = Path(out_dir)
    manifest = read_manifest(out)
    _check_writable(out)
    board = manifest["board"]
    info = board_info(board)
    kind = info.get("build", "make")
    if kind == "make":
        make = _require("make", "sudo apt-get install make")
        _require("arm-none-eabi-gcc", TOOLCHAIN_HINT)
        cmd, what, hint = [make, "-C", str(out)], "the firmware build", ""
        elf = make_elf(out)
    elif kind == "platformio":
        env = info["pio_env"]
        cmd, what = [find_pio(), "run", "-d", str(out), "-e", env], "the PlatformIO build"
        hint = (
            "on its first build of a board PlatformIO downloads the board's platform and "
            "toolchain, which needs the network"
        )
        elf = out / ".pio" / "build" / env / "firmware.elf"
    else:
        raise Bs4nnError(f"board {board} has an unknown build kind {kind!r} in boards.json")
    # one build of a folder at a time, and none while `bs4nn export` replaces it (its lock)
    with lock_beside(out, "OUT_DIR"):
        _run(cmd, what, verbose, hint=hint)
    if not elf.is_file():
        raise Bs4nnError(f"the build finished but {elf} is missing: check the board's build files")
    text, data, bss = elf_sizes(elf)
    result = BuildResult(
        out,
        board,
        elf,
        manifest["model_hash"],
        text,
        data,
        bss,
        int(info["flash_bytes"]),
        int(info["ram_bytes"]),
    )
    if result.flash_used > result.flash_bytes or result.ram_used > result.ram_bytes:
        raise Bs4nnError(
            "the firmware does not fit the board:\n"
            + "\n".join(result.lines()[1:])
            + "\nuse a smaller model (fewer hidden neurons) or a bigger board (--board)"
        )
    return result
