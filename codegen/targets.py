"""The board `bs4nn export` writes for unless --target names another (targets.json lists them
all). A module of its own, free of numpy and jinja2: `bs4nn --help` shows it."""

DEFAULT_TARGET = "qemu-mps2-an386"
