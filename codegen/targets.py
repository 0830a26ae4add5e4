"""The boards (targets.json in the firmware templates lists them all) and the one `bs4nn export`
writes for unless --target names another. A module of its own, free of numpy and jinja2:
`bs4nn --help` shows the default and `bs4nn boards` lists them."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from bs4nn.trainer.errors import Bs4nnError

DEFAULT_TARGET = "qemu-mps2-an386"
# The installed package's copy of firmware_template/ (the repository folder in an editable install).
TEMPLATE_ROOT = Path(str(files("bs4nn.firmware_template")))
TARGETS_FILE = TEMPLATE_ROOT / "boards" / "targets.json"


def load_targets() -> dict[str, dict]:
    with open(TARGETS_FILE) as f:
        return json.load(f)


def target_info(target: str) -> dict:
    targets = load_targets()
    if target not in targets:
        raise Bs4nnError(f"unknown board {target!r}; choose one of: {', '.join(sorted(targets))}")
    return targets[target]
