"""The boards (boards.json in the firmware templates lists them all) and the one `bs4nn export`
writes for unless --board names another. A module of its own, free of numpy and jinja2:
`bs4nn --help` shows the default and `bs4nn boards` lists them."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from bs4nn.trainer.errors import Bs4nnError

DEFAULT_BOARD = "qemu-mps2-an386"
# The installed package's copy of firmware_template/ (the repository folder in an editable install).
TEMPLATE_ROOT = Path(str(files("bs4nn.firmware_template")))
BOARDS_FILE = TEMPLATE_ROOT / "boards" / "boards.json"


def load_boards() -> dict[str, dict]:
    with open(BOARDS_FILE) as f:
        return json.load(f)


def board_info(board: str) -> dict:
    boards = load_boards()
    if board not in boards:
        raise Bs4nnError(f"unknown board {board!r}; choose one of: {', '.join(sorted(boards))}")
    return boards[board]
