"""Which device a run's rows were measured on: `device.json` beside them (board, clock, kernel,
counter). Counts from another board, kernel or counter do not compare, so a resume goes on
only on the same device; on an emulated board that is known before its firmware is built."""

from __future__ import annotations

import json
from pathlib import Path

from bs4nn.host.protocol import InfoReply
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import write_json
from bs4nn.trainer.resume_hints import start_over

DEVICE_NAME = "device.json"


def device_fields(info: InfoReply) -> dict:
    return {
        "board": info.board,
        "clock_hz": info.clock_hz,
        "kernel": info.kernel,
        "counter": info.counter_name,
    }


def recorded_device(out: Path) -> dict | None:
    """The device.json in `out`, or None (none, or unreadable)."""
    try:
        earlier = json.loads((out / DEVICE_NAME).read_text())
    except (OSError, ValueError):
        return None  # none, or unreadable: the rows themselves are checked as always
    return earlier if isinstance(earlier, dict) else None


def _described(device: dict) -> str:
    return (
        f"{device.get('board')} (kernel {device.get('kernel')}, {device.get('clock_hz')} Hz, "
        f"counting {device.get('counter')})"
    )


def start_over_rows(out: Path) -> str:
    """How to start over where a --resume cannot go on from the rows in `out`."""
    return start_over(out, "use another --out, or drop --resume to start over")


def _refuse(out: Path, earlier: dict, now: str, rows: str) -> Bs4nnError:
    return Bs4nnError(
        f"{rows} was measured on {_described(earlier)}, this device is {now}; "
        + start_over_rows(out)
    )


def refuse_other_board(out: Path, board: str, rows: str) -> None:
    """Before an emulated `board` is built and started for a resume in `out`: refuse when the
    rows (`rows` names them) were measured on another board."""
    earlier = recorded_device(out)
    if earlier is not None and earlier.get("board") != board:
        raise _refuse(out, earlier, board, rows)


def refuse_other_device(out: Path, info: InfoReply, rows: str) -> None:
    """For a resume in `out`: refuse when the rows were measured on another board, kernel or
    counter than the device that answered with `info`."""
    earlier, now = recorded_device(out), device_fields(info)
    if earlier is not None and earlier != now:
        raise _refuse(out, earlier, _described(now), rows)


def record_device(out: Path, info: InfoReply) -> None:
    """device.json for the device that answered with `info` (not written again when it
    already says so)."""
    if recorded_device(out) != device_fields(info):
        write_json(out / DEVICE_NAME, device_fields(info))
