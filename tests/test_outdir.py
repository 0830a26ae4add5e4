"""The bench/sweep output folder: created with its parents, removed again (parents too) when the
run fails or is interrupted before it started, kept once it holds results; the lock always
released."""

import os

import pytest

from bs4nn.host.outdir import LOCK_NAME, run_folder
from bs4nn.trainer.errors import Bs4nnError


@pytest.mark.parametrize("error", [KeyboardInterrupt, Bs4nnError])
def test_a_run_that_never_started_leaves_nothing(tmp_path, error):
    with pytest.raises(error), run_folder(tmp_path / "a" / "b" / "out") as folder:
        assert (folder.path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        (folder.path / "firmware").mkdir()
        raise error("stop")
    assert list(tmp_path.iterdir()) == []


def test_a_started_run_keeps_its_folder(tmp_path):
    with pytest.raises(KeyboardInterrupt), run_folder(tmp_path / "out") as folder:
        folder.started()
        (folder.path / "images.csv").write_text("rows\n")
        raise KeyboardInterrupt
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["images.csv"]


def test_an_existing_folder_is_never_removed(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("x")
    with pytest.raises(Bs4nnError), run_folder(tmp_path / "out"):
        raise Bs4nnError("stop")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mine.txt"]


def test_a_stale_lock_file_of_a_dead_run_is_taken_over(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / LOCK_NAME).write_text("999999\n")  # SIGKILLed: no one holds the lock
    with run_folder(tmp_path / "out") as folder:
        assert (folder.path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert list((tmp_path / "out").iterdir()) == []
