"""`bs4nn data fetch|verify|where`: obtain, check and locate the MNIST / Fashion-MNIST files."""

from __future__ import annotations

import argparse
from pathlib import Path

from bs4nn.trainer.options import existing_dir, path
from bs4nn.trainer.presets import DATASETS


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser(
        "data",
        help="fetch, verify and locate MNIST / Fashion-MNIST",
        description="Fetch, verify and locate the IDX files. Search order: --data-dir, "
        "$BS4NN_DATA, the user cache.",
    )
    sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = sub.add_parser("fetch", help="put verified copies of missing or bad files in place")
    p.add_argument("name", choices=DATASETS)
    _data_dir_arg(p, "folder to fetch into (default: the user cache)")
    p.set_defaults(func=_fetch)

    p = sub.add_parser("verify", help="check every file: where it is found, OK or the problem")
    p.add_argument("name", nargs="?", choices=DATASETS, help="one dataset (default: both)")
    p.add_argument("--data-dir", type=existing_dir, help="folder searched first")
    p.set_defaults(func=_verify)

    p = sub.add_parser("where", help="print the folders searched, in order")
    _data_dir_arg(p, "folder searched first")
    p.set_defaults(func=_where)


def _data_dir_arg(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--data-dir", type=path, default=None, help=help_text)


def _fetch(args: argparse.Namespace) -> int:
    from bs4nn.trainer.fetch import fetch

    result = fetch(args.name, args.data_dir)
    folder = result.root / args.name
    for fname in result.already_good:
        print(f"{folder / fname}: already present and OK")
    for fname, source in result.fetched.items():
        print(f"{folder / fname}: fetched from {source}, OK")
    for line in result.shadowed:
        print(line)
    return 1 if result.shadowed else 0


def _verify(args: argparse.Namespace) -> int:
    from bs4nn.trainer import datasets

    names = [args.name] if args.name else list(DATASETS)
    # where a fetch puts a missing file (a bad one is fetched where it is: the loads find it)
    target = Path(args.data_dir).expanduser() if args.data_dir else datasets.user_cache_dir()
    bad = 0
    fix_in: dict[tuple[str, str], None] = {}  # the datasets and folders to fetch, in order
    for name in names:
        for fname in datasets.ALL_FILES:
            path = datasets.find_file(name, fname, args.data_dir)
            if path is None:
                print(f"{name}/{fname}: MISSING")
                bad += 1
                fix_in[name, str(target)] = None
                continue
            problem = datasets.verify_file(path, name, fname)
            print(f"{name}/{fname}: {path}: {'OK' if problem is None else problem}")
            if problem is not None:
                bad += 1
                fix_in[name, str(path.parent.parent)] = None
    if bad:
        hints = " and ".join(datasets.fetch_command(name, Path(root)) for name, root in fix_in)
        print(f"{bad} file(s) missing or bad; run {hints} (see `bs4nn data where`)")
        return 1
    return 0


def _where(args: argparse.Namespace) -> int:
    from bs4nn.trainer import datasets

    for root in datasets.data_roots(args.data_dir):
        if root.path.is_dir():
            state = "exists"
        elif root.path.exists():
            state = "not a folder: nothing is looked up there"
        else:
            state = "absent"
        print(f"{root.origin}: {root.path} ({state})")
    return 0
