"""`bs4nn` console script: one sub-command per pipeline step.

Each package registers its own sub-commands (`register(subparsers)` in its `cli` module);
this file only assembles them and turns a Bs4nnError into a clean message and exit status 2.
"""

import argparse
import sys

from trainer.errors import Bs4nnError

# (module, what it adds) in pipeline order; a module missing a `cli` is skipped
_COMMAND_MODULES = ("trainer.data_cli", "trainer.cli", "codegen.cli", "host.cli")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="bs4nn",
        description="Train a binarized single-spike SNN, generate C for Cortex-M, bench it.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Bs4nnError as exc:
        print(f"bs4nn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bs4nn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
