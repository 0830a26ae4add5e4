"""The firmware of an emulated board: exported and built for the model, or reused when the
folder holds a build of the same model for the same board from the same firmware sources."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bs4nn.codegen.boards import BOARDS_FILE, DEFAULT_BOARD, TEMPLATE_ROOT, board_info
from bs4nn.codegen.intmodel import IntModel

BUILD_STAMP = "bs4nn_bench_build.json"  # model + firmware sources of the build in firmware/


def template_fingerprint(board: str = DEFAULT_BOARD) -> str:
    """SHA-256 of the firmware sources an export for `board` copies (core, protocol, model
    templates, the board's folders, boards.json): a build is reused only if these did not
    change since."""
    from bs4nn.codegen.export import board_folders

    h = hashlib.sha256(BOARDS_FILE.read_bytes())
    folders = ["core", "protocol", "model"]
    folders += [f"boards/{name}" for name in board_folders(board_info(board))]
    for folder in folders:
        for path in sorted((TEMPLATE_ROOT / folder).rglob("*")):
            skip = {"__pycache__", "node_modules"}
            if path.is_file() and not skip.intersection(path.relative_to(TEMPLATE_ROOT).parts):
                h.update(path.relative_to(TEMPLATE_ROOT).as_posix().encode() + b"\0")
                h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def _stamp(model_hash: str, board: str, elf: Path) -> dict:
    # the ELF's digest: an export and build of another model into the folder since (e.g. by
    # hand with `bs4nn export` and `bs4nn build`) is not taken for this model's
    return {
        "model_hash": model_hash,
        "board": board,
        "template_hash": template_fingerprint(board),
        "elf_sha256": hashlib.sha256(elf.read_bytes()).hexdigest(),
    }


def prepare_emulated_firmware(
    intmodel: IntModel, fw_dir: Path, *, quiet: bool = False, board: str = DEFAULT_BOARD
) -> dict:
    """Export + build for an emulated board unless fw_dir holds a build of this model for it
    made from the current firmware sources (BUILD_STAMP written after a successful build)."""
    from bs4nn.codegen.export import export_firmware
    from bs4nn.host.build import build_firmware, elf_sizes, make_elf

    say = (lambda *a: None) if quiet else print
    stamp_path = fw_dir / BUILD_STAMP
    elf = make_elf(fw_dir)
    try:
        reusable = elf.is_file() and json.loads(stamp_path.read_text()) == _stamp(
            intmodel.model_hash, board, elf
        )
    except (OSError, ValueError):
        reusable = False
    if reusable:
        say(
            f"firmware: reusing {fw_dir} (model hash {intmodel.model_hash[:16]} and firmware "
            "sources unchanged)"
        )
        text, data, bss = elf_sizes(elf)
        return {"dir": str(fw_dir), "reused": True, "text": text, "data": data, "bss": bss}
    say(f"firmware: exporting and building for {board} in {fw_dir} ...")
    stamp_path.unlink(missing_ok=True)
    export_firmware(intmodel, fw_dir, board=board)
    result = build_firmware(fw_dir)
    stamp_path.write_text(json.dumps(_stamp(intmodel.model_hash, board, elf), indent=2) + "\n")
    for line in result.lines():
        say(line)
    return {"reused": False, **result.to_dict()}
