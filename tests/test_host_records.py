"""The bench's per-image rows (bs4nn.host.records) and the figures made of them
(bs4nn.host.report), on hand-made replies and rows."""

import numpy as np
import pytest

from bs4nn.codegen.reference import RefBatch
from bs4nn.host import protocol as p
from bs4nn.host.client import StreamResult
from bs4nn.host.records import COLUMNS, Record, compare, scan_records
from bs4nn.host.report import MAX_LISTED_MISMATCHES, summarize
from bs4nn.trainer.semantics import NO_SPIKE

HASH = "a" * 64


def reply(**fields) -> StreamResult:
    """A device's reply for a 2-layer, 3-output network; the reference below agrees with it."""
    base = dict(
        seq=1,
        label=1,
        fallback=False,
        decision_step=10,
        output_steps=(10, 10, NO_SPIKE),
        spikes=(3, 2, 2),
        counter=5,
    )
    return StreamResult(0, p.InferReply(**{**base, **fields}), 0.001, 10)


REF = RefBatch(
    labels=np.array([1], np.int16),
    decision_steps=np.array([10], np.int16),
    fallback=np.array([False]),
    output_steps=np.array([[10, 10, -1]], np.int16),
    spikes=np.array([[3, 2, 2]], np.int32),
)


@pytest.mark.parametrize(
    "fields, mismatch",
    [
        (dict(), ""),
        (dict(label=0), "label"),
        (dict(decision_step=9), "decision_step"),  # earlier than the reference
        (dict(decision_step=11), "decision_step"),
        (dict(fallback=True), "fallback"),
        (dict(spikes=(3, 1, 2)), "spikes"),  # a hidden layer's count
        (dict(spikes=(3, 2, 1)), "spikes"),  # the output's
        (dict(output_steps=(10, NO_SPIKE, NO_SPIKE)), "output_steps"),  # not output 0
        (dict(label=0, spikes=(4, 2, 2)), "label;spikes"),
    ],
)
def test_every_field_of_a_reply_is_compared(fields, mismatch):
    assert compare(reply(**fields), 1, REF, 0, HASH).mismatch == mismatch


def row_of(record: Record) -> list[str]:
    return [str(v) for v in record.row()]


def test_a_row_reads_back_as_written_and_refuses_what_no_bench_writes():
    record = compare(reply(), 1, REF, 0, HASH)
    assert Record.from_row(row_of(record)) == record
    assert row_of(record)[COLUMNS.index("rtt_ms")] == "1.000"
    for column, value, message in (
        ("index", "-1", "negative"),
        ("fallback", "2", "fallback disagree"),
    ):
        row = row_of(record)
        row[COLUMNS.index(column)] = value
        with pytest.raises(ValueError, match=message):
            Record.from_row(row)


def test_a_last_row_without_its_newline_is_damaged(tmp_path):
    # a crash can cut just the newline: a resumed run would append onto that row
    path = tmp_path / "images.csv"
    path.write_text(",".join(COLUMNS) + "\n" + ",".join(row_of(compare(reply(), 1, REF, 0, HASH))))
    scan = scan_records(path)
    assert scan.damaged == [2] and scan.records == []


def test_one_image_under_two_models_is_no_repeat(tmp_path):
    rows = [compare(reply(), 1, REF, 0, h).row() for h in (HASH, "b" * 64)]
    path = tmp_path / "images.csv"
    path.write_text("\n".join(",".join(map(str, r)) for r in [COLUMNS, *rows]) + "\n")
    scan = scan_records(path)
    assert scan.duplicates == [] and [r.model_hash for r in scan.records] == [HASH, "b" * 64]


def records() -> list[Record]:
    """Three images of two classes; image 1 the device gets wrong and the reference right."""
    rows = [(0, 0, 0, 10), (1, 0, 1, 20), (1, 1, 1, 1000)]  # true, device, reference, counter
    return [
        Record(
            i,
            true,
            label,
            ref,
            5,
            5,
            False,
            "" if label == ref else "label",
            counter,
            float(i + 1),
            100 + i,
            (1, 1, 1),
            (1, 1, 1),
            (5, 5),
            HASH,
        )  # fmt: skip
        for i, (true, label, ref, counter) in enumerate(rows)
    ]


def test_the_summary_is_of_the_device_s_answers():
    s = summarize(records(), 2)
    assert s["confusion"] == [[1, 0], [1, 1]]  # the device's labels, not the reference's
    assert s["accuracy"] == 2 / 3 and s["agreement"] == 2 / 3
    assert s["mismatches"] == 1 and s["mismatch_indices"] == [1]
    counter = s["counter"]
    assert (counter["mean"], counter["median"]) == (1030 / 3, 20.0)
    assert (counter["min"], counter["max"]) == (10.0, 1000.0)
    assert counter["p99"] == pytest.approx(float(np.percentile([10, 20, 1000], 99)))
    assert s["rtt_ms"]["mean"] == 2.0 and s["wire_bytes_per_image"] == 101.0


def test_mismatching_images_are_listed_in_order_up_to_the_limit():
    wrong = records()[1]
    many = [
        Record(**{**wrong.__dict__, "index": i}) for i in reversed(range(MAX_LISTED_MISMATCHES + 1))
    ]
    s = summarize(many, 2)
    assert s["mismatches"] == MAX_LISTED_MISMATCHES + 1
    assert s["mismatch_indices"] == list(range(MAX_LISTED_MISMATCHES))
