"""`bench --resume` against damaged per-image CSVs and concurrent runs (issue 18), on the fake
device: every damage either finishes exactly (each image once, the damaged ones measured again,
the lines reported) or is refused with one clear line and the folder left as it was.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from badinput import snapshot, tiny_model
from fake_device import FakeDevice, Faults
from helpers import stopped_answering

from bs4nn.cli import main
from bs4nn.codegen.intmodel import IntModel
from bs4nn.host.outdir import LOCK_NAME, folder_lock
from bs4nn.host.records import COLUMNS

N = 30


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tiny_model().save(tmp_path_factory.mktemp("model") / "m.bs4nn")
    return path, IntModel.load(path)


def bench(model_path, port, out, *extra):
    return main(
        [
            "bench",
            "--model",
            str(model_path),
            "--port",
            port,
            "--limit",
            str(N),
            "--out",
            str(out),
            "--timeout",
            "2",
            "--no-progress",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def measured(model, tmp_path_factory):
    """A complete bench folder of N images, made once; tests damage copies of it."""
    path, intmodel = model
    out = tmp_path_factory.mktemp("measured") / "bench"
    with FakeDevice(intmodel) as fake:
        assert bench(path, fake.port, out) == 0
    return out


def csv_rows(out):
    with open(out / "images.csv", newline="") as f:
        return list(csv.DictReader(f))


def lines_of(out):
    return (out / "images.csv").read_bytes().split(b"\n")


def write_lines(out, lines):
    (out / "images.csv").write_bytes(b"\n".join(lines))


def cut(lines, i):  # lines[i] cut in half, its newline kept
    lines[i] = lines[i][: len(lines[i]) // 2]


def non_utf8(lines, i):
    lines[i] = lines[i][:3] + b"\xff" + lines[i][4:]


def extra_field(lines, i):
    lines[i] = lines[i].rstrip(b"\r") + b",x\r"


def missing_field(lines, i):
    lines[i] = lines[i].rsplit(b",", 1)[0] + b"\r"


def bad_number(lines, i):
    fields = lines[i].split(b",")
    fields[COLUMNS.index("counter")] = b"many"
    lines[i] = b",".join(fields)


def negative_index(lines, i):
    lines[i] = b"-" + lines[i]


def match_disagrees(lines, i):
    fields = lines[i].split(b",")
    fields[COLUMNS.index("match")] = b"0"
    lines[i] = b",".join(fields)


def set_field(name, value):
    """A damage that writes `value` into field `name`: the row parses, but it is not one this
    run writes."""

    def damage(lines, i):
        fields = lines[i].split(b",")
        fields[COLUMNS.index(name)] = value
        lines[i] = b",".join(fields)

    return damage


def other_true_label(lines, i):
    fields = lines[i].split(b",")
    at = COLUMNS.index("true_label")
    fields[at] = str((int(fields[at]) + 1) % 10).encode()
    lines[i] = b",".join(fields)


def blank(lines, i):
    lines.insert(i, b"\r")


def glued(lines, i):  # a row cut short, the next row written straight after it
    lines[i : i + 2] = [lines[i][:20] + lines[i + 1]]


def torn_last(lines, i):  # the crash cut the last row: no newline after it
    lines[-2] = lines[-2][:-30]
    lines.pop()


def duplicate(lines, i):
    lines.insert(-1, lines[i])


def duplicate_differing(lines, i):
    fields = lines[i].split(b",")
    fields[COLUMNS.index("rtt_ms")] = b"99.000"
    lines.insert(-1, b",".join(fields))


# damage, the line it hits (1 = the header), the lines reported damaged / repeated, the images
# measured again
DAMAGE = [
    ("cut-mid-file", cut, 5, [5], [], 1),
    ("non-utf8", non_utf8, 8, [8], [], 1),
    ("extra-field", extra_field, 10, [10], [], 1),
    ("missing-field", missing_field, 11, [11], [], 1),
    ("bad-number", bad_number, 3, [3], [], 1),
    ("negative-index", negative_index, 4, [4], [], 1),
    ("match-disagrees", match_disagrees, 6, [6], [], 1),
    ("true-label-beyond-outputs", set_field("true_label", b"99"), 5, [5], [], 1),
    ("true-label-not-the-image's", other_true_label, 6, [6], [], 1),
    ("label-beyond-outputs", set_field("label", b"10"), 7, [7], [], 1),
    ("spikes-of-another-depth", set_field("spikes", b"1 2"), 8, [8], [], 1),
    ("output-steps-short", set_field("output_steps", b"3"), 9, [9], [], 1),
    ("index-beyond-the-test-set", set_field("index", b"10000"), 7, [7], [], 1),
    ("blank-line", blank, 7, [7], [], 0),
    ("two-rows-glued", glued, 12, [12], [], 2),
    ("torn-last-row", torn_last, None, [N + 1], [], 1),
    ("duplicate-row", duplicate, 9, [], [N + 2], 0),
    ("duplicate-differing", duplicate_differing, 2, [], [N + 2], 0),
]


@pytest.mark.parametrize(
    ("damage", "line", "damaged", "repeated", "again"),
    [pytest.param(*d[1:], id=d[0]) for d in DAMAGE],
)
def test_resume_after_damage_finishes_exactly(
    model, measured, tmp_path, capsys, damage, line, damaged, repeated, again
):
    path, intmodel = model
    out = tmp_path / "bench"
    shutil.copytree(measured, out)
    good = {r["index"]: r for r in csv_rows(out)}
    lines = lines_of(out)
    damage(lines, None if line is None else line - 1)
    write_lines(out, lines)
    with FakeDevice(intmodel) as fake:
        assert bench(path, fake.port, out, "--resume") == 0
        assert fake.infer_requests == again
    text = capsys.readouterr()
    assert text.err == ""
    rows = csv_rows(out)
    assert sorted(int(r["index"]) for r in rows) == list(range(N))  # each image exactly once
    for row in rows:
        assert {k: v for k, v in row.items() if k != "rtt_ms"} == (
            {k: v for k, v in good[row["index"]].items() if k != "rtt_ms"}
        )
    csv_path = out / "images.csv"
    if damaged:
        assert (
            f"resume: {csv_path} has damaged rows (cut short, not UTF-8 or wrong fields) on "
            f"line(s) {', '.join(map(str, damaged))}: dropped, their images are measured "
            "again"
        ) in text.out.splitlines()
    if repeated:
        assert (
            f"resume: {csv_path} repeats images already in it on line(s) "
            f"{', '.join(map(str, repeated))}: dropped"
        ) in text.out.splitlines()
    report = json.loads((out / "report.json").read_text())
    assert report["resume_dropped_lines"] == {"damaged": damaged, "duplicates": repeated}
    assert (report["images"], report["mismatches"], report["images_this_run"]) == (N, 0, again)


def refused(model_path, port, out, capsys, *extra):
    """Run a resume that must be refused: returns its one stderr line; the folder unchanged."""
    before = snapshot(out)
    assert bench(model_path, port, out, "--resume", *extra) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert snapshot(out) == before
    return err[0]


def test_resume_refuses_rows_of_another_model(model, measured, tmp_path, capsys):
    path, intmodel = model
    other = tiny_model(thetas=(9.0, 1.5)).save(tmp_path / "other.bs4nn")
    out = tmp_path / "bench"
    shutil.copytree(measured, out)
    with FakeDevice(IntModel.load(other)) as fake:
        err = refused(other, fake.port, out, capsys)
        assert fake.infer_requests == 0
    other_hash = IntModel.load(other).model_hash
    assert err == (
        f"bs4nn bench: error: {out / 'images.csv'} holds rows measured with "
        f"another model (hash {intmodel.model_hash[:16]}..., this one is "
        f"{other_hash[:16]}...); use another --out, or drop --resume to start over"
    )


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(",".join(COLUMNS[:-1]).encode() + b"\r", id="older-bs4nn"),
        pytest.param(b"\xff\xfeindex,true_label\r", id="not-utf8"),
        pytest.param(b"name,age\r", id="other-csv"),
    ],
)
def test_resume_refuses_a_foreign_header(model, measured, tmp_path, capsys, header):
    path, intmodel = model
    out = tmp_path / "bench"
    shutil.copytree(measured, out)
    lines = lines_of(out)
    lines[0] = header
    write_lines(out, lines)
    with FakeDevice(intmodel) as fake:
        err = refused(path, fake.port, out, capsys)
    assert err == (
        f"bs4nn bench: error: {out / 'images.csv'} has other columns than this bs4nn "
        "writes (another version, or not a bench CSV); use another --out, or drop "
        "--resume to start over"
    )


@pytest.mark.parametrize("resume", [False, True], ids=["bench", "resume"])
def test_second_run_into_a_locked_folder_is_refused(model, measured, tmp_path, capsys, resume):
    path, intmodel = model
    out = tmp_path / "bench"
    shutil.copytree(measured, out)
    with folder_lock(out), FakeDevice(intmodel) as fake:
        before = snapshot(out)
        status = bench(path, fake.port, out, *(["--resume"] if resume else []))
        assert status == 2 and fake.infer_requests == 0
        assert snapshot(out) == before
    assert capsys.readouterr().err == (
        f"bs4nn bench: error: --out {out} is in use by another bs4nn run (pid {os.getpid()}); "
        "wait for it to finish, or choose another --out\n"
    )
    assert not (out / LOCK_NAME).exists()


def test_two_processes_resume_into_one_folder(model, measured, tmp_path, capsys):
    """A second resume while the first runs is refused with the first one's pid; the first
    finishes with every image exactly once (before: 650 rows for 400 images, exit 0)."""
    path, intmodel = model
    out = tmp_path / "bench"
    shutil.copytree(measured, out)
    lines = lines_of(out)
    write_lines(out, lines[:11] + lines[-1:])  # 10 images measured, 20 to go
    fake = FakeDevice(intmodel)  # not answering yet: the first run waits in its handshake
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bs4nn",
            "bench",
            "--model",
            str(path),
            "--port",
            fake.port,
            "--limit",
            str(N),
            "--out",
            str(out),
            "--timeout",
            "5",
            "--no-progress",
            "--resume",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while str(first.pid) not in _read(out / LOCK_NAME):
            assert time.monotonic() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.02)
        with FakeDevice(intmodel) as other:
            assert bench(path, other.port, out, "--resume") == 2
            assert other.infer_requests == 0
        assert capsys.readouterr().err == (
            f"bs4nn bench: error: --out {out} is in use by another bs4nn run (pid {first.pid}); "
            "wait for it to finish, or choose another --out\n"
        )
        with fake:
            stdout, stderr = first.communicate(timeout=120)
        assert first.returncode == 0, stderr
        assert fake.infer_requests == N - 10
    finally:
        fake.close()
        if first.poll() is None:
            first.kill()
            first.wait()
    assert sorted(int(r["index"]) for r in csv_rows(out)) == list(range(N))
    assert not (out / LOCK_NAME).exists()


def _read(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_a_resume_that_cannot_reach_the_device_leaves_a_damaged_csv_as_it_was(
    model, measured, tmp_path, capsys
):
    path, _ = model
    out = tmp_path / "bench"
    shutil.copytree(measured, out)
    lines = lines_of(out)
    cut(lines, 4)
    duplicate(lines, 7)
    write_lines(out, lines)
    err = refused(path, "/dev/nonexist", out, capsys)
    assert err.startswith("bs4nn bench: error: no serial device at /dev/nonexist: ")


def test_an_unfinished_run_leaves_no_report_of_an_earlier_one(
    model, measured, tmp_path, capsys, monkeypatch
):
    from bs4nn.host.bench import unfinished_rows

    path, intmodel = model
    out = tmp_path / "bench"
    shutil.copytree(measured, out)
    assert unfinished_rows(out, intmodel.model_hash) == 0  # finished: its report is there
    monkeypatch.setattr(sys, "argv", ["bs4nn", "bench", "--out", "b"])  # as typed in a shell
    with FakeDevice(intmodel, Faults(silent_after=5)) as fake:
        assert bench(path, fake.port, out) == 2  # starts over, then the device stops answering
    then = "results so far are kept; restart it, then resume with: bs4nn bench --out b --resume"
    message = stopped_answering(fake.port, "1 request", "2", then)
    assert re.fullmatch(f"bs4nn bench: error: {message}\n", capsys.readouterr().err)
    assert not (out / "report.json").exists()  # the finished run's, not of these rows
    assert len(csv_rows(out)) == 5
    assert unfinished_rows(out, intmodel.model_hash) == 5
    assert unfinished_rows(out, "0" * 64) == 0
    with FakeDevice(intmodel) as fake:
        assert bench(path, fake.port, out, "--resume") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["resumed_images"] == 5 and report["images_this_run"] == N - 5
    assert report["images_per_s"] == (N - 5) / report["seconds_this_run"]  # this run's images
    assert unfinished_rows(out, intmodel.model_hash) == 0
