"""`bs4nn export`: a ready-to-build firmware tree for one board.

DIR/core, DIR/protocol        copied from firmware_template/
DIR/board                     the board's folder (*.j2 rendered)
DIR/<files of board/root>     e.g. the Makefile or platformio.ini, at the top
DIR/generated                 bs4nn_model.h / bs4nn_model.c rendered from the model
DIR/bs4nn_export.json         model hash, board, footprint
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from bs4nn.codegen.boards import DEFAULT_BOARD, TEMPLATE_ROOT, board_info, load_boards
from bs4nn.codegen.ccheck import BUILD_DIR
from bs4nn.codegen.footprint import Footprint, check_fits, footprint
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.render import render_file, render_model_sources
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import OutFolder, staged_dir, user_path

EXPORT_MANIFEST = "bs4nn_export.json"
EXPORT_FOLDER = OutFolder("export", (EXPORT_MANIFEST,))
_COPIED_DIRS = ("core", "protocol")


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    board: str
    model_hash: str
    footprint: Footprint
    replaced_board: str | None = None  # the other board's export that was in out_dir


def _copy_tree(src: Path, dst: Path, context: dict) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or "__pycache__" in rel.parts or "node_modules" in rel.parts:
            continue
        if rel.parts[0] == "root" and src.name != "root":
            continue  # the board's root/ goes to the top of the export, not into board/
        dest = dst / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".j2":
            template = path.relative_to(TEMPLATE_ROOT).as_posix()
            dest.with_suffix("").write_text(render_file(template, context))
        else:
            shutil.copyfile(path, dest)


def board_folders(info: dict) -> list[str]:
    """The folders under firmware_template/boards/ a board's firmware is made of: those it
    shares with other boards (`common_dirs`, e.g. the bare-metal start-up) and its own."""
    return [*info.get("common_dirs", []), info["board_dir"]]


def export_firmware(
    model: IntModel | str | Path,
    out_dir: str | Path,
    board: str = DEFAULT_BOARD,
    command: str | None = None,
) -> ExportResult:
    """Render the model and copy the firmware for `board` into out_dir."""
    intmodel = model if isinstance(model, IntModel) else IntModel.load(model)
    fp = footprint(intmodel, board)  # an unknown board is refused here
    check_fits(fp)
    source = intmodel.source or "<model>"
    command = command or f"bs4nn export {source} --out {out_dir} --board {board}"
    out = Path(out_dir)
    check_export_dir(out)
    previous = _exported_board(out)
    replaced = previous if previous not in (None, board) else None
    # the other board's Makefile or platformio.ini and its build go as the new tree comes in;
    # what no export makes (e.g. the model file itself) is kept
    drop = _export_names() if replaced is not None else ()
    with staged_dir(out, drop) as tree:  # built aside, then put in place: never half a tree
        with user_path(out, "write"):  # e.g. a full disk: the message names --out
            _write_tree(tree, intmodel, board, fp, command)
    return ExportResult(out, board, intmodel.model_hash, fp, replaced)


def _export_names() -> set[str]:
    """The top-level names an export for any board, its build or its check make in --out."""
    names = {*_COPIED_DIRS, "board", "generated", EXPORT_MANIFEST, "build", ".pio", BUILD_DIR}
    for root in (TEMPLATE_ROOT / "boards").glob("*/root"):
        names.update(path.name.removesuffix(".j2") for path in root.iterdir())
    return names


def _exported_board(out: Path) -> str | None:
    """The board of the export in `out`; None when there is none (or it cannot be read)."""
    try:
        return read_manifest(out)["board"]
    except Bs4nnError:
        return None


def check_export_dir(out: Path) -> None:
    """Refuse an --out that cannot take the tree: not writable, a file, or a folder of
    something else (an earlier export is replaced)."""
    EXPORT_FOLDER.check(out)


def _write_tree(out: Path, intmodel: IntModel, board: str, fp: Footprint, command: str) -> None:
    info = board_info(board)
    # the board's own folder, after the folders it shares with other boards (if any)
    board_dirs = [TEMPLATE_ROOT / "boards" / name for name in board_folders(info)]
    context = {
        "board": board,
        "board_info": info,
        "boards": load_boards(),
        "model": intmodel,
        "model_hash": intmodel.model_hash,
        "command": command,
        "default_kernel": fp.kernel,
        "stack_bytes": fp.stack_bytes,
        # where scripts/setup.sh installs rp2040js (the rp2040js-pico board's `make run`)
        "rp2040js_node_modules": TEMPLATE_ROOT / "boards" / "rp2040js-pico" / "node_modules",
    }
    for name in _COPIED_DIRS:
        _copy_tree(TEMPLATE_ROOT / name, out / name, context)
    for board_dir in board_dirs:
        _copy_tree(board_dir, out / "board", context)
        if (board_dir / "root").is_dir():
            _copy_tree(board_dir / "root", out, context)
    generated = out / "generated"
    generated.mkdir()
    for name, text in render_model_sources(intmodel, command).items():
        (generated / name).write_text(text)

    manifest = {
        "model_hash": intmodel.model_hash,
        "model_file": intmodel.source,
        "layer_sizes": list(intmodel.layer_sizes),
        "thresholds": list(intmodel.thresholds),
        "board": board,
        "board_info": info,
        "footprint": fp.to_dict(),
        "command": command,
    }
    (out / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def read_manifest(out_dir: str | Path) -> dict:
    path = Path(out_dir) / EXPORT_MANIFEST
    if not Path(out_dir).exists():
        raise Bs4nnError(
            f"export folder {out_dir} not found; check the path, or run "
            "`bs4nn export MODEL --out DIR` first"
        )
    if not Path(out_dir).is_dir():
        raise Bs4nnError(
            f"export folder {out_dir} is a file, not a folder; give the DIR of "
            "`bs4nn export MODEL --out DIR`"
        )
    if not path.is_file():
        raise Bs4nnError(
            f"{out_dir} is not a bs4nn export (no {EXPORT_MANIFEST}); "
            "run `bs4nn export MODEL --out DIR` first"
        )
    try:
        manifest = json.loads(path.read_bytes())
    except ValueError as exc:  # not UTF-8, not JSON
        manifest = exc
    if isinstance(manifest, dict) and "board" not in manifest and "target" in manifest:
        manifest["board"] = manifest.pop("target")  # the key's name in earlier exports
    if not (
        isinstance(manifest, dict)
        and all(isinstance(manifest.get(k), str) for k in ("board", "model_hash"))
    ):
        raise Bs4nnError(
            f"{path} is damaged (no JSON object with a board and a model_hash); "
            "export again with `bs4nn export MODEL --out DIR`"
        )
    return manifest
