"""The bench's per-image rows (bs4nn.host.records) and the figures made of them
(bs4nn.host.report), on hand-made replies and rows."""

import numpy as np
import pytest

from bs4nn.codegen.reference import RefBatch
from bs4nn.host import protocol as p
from bs4nn.host.client import StreamResult
from bs4nn.host.records import (
    COLUMNS,
    Record,
    RecordWriter,
    compare,
    fits_run,
    scan_records,
)
from bs4nn.host.report import MAX_LISTED_MISMATCHES, console_lines, summarize
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
        ("model_hash", HASH + "0", "no full model hash"),  # a hash and one byte more
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


def test_rows_appended_to_an_empty_csv_come_after_the_header(tmp_path):
    # a run stopped between creating the CSV and writing its header leaves it empty
    path = tmp_path / "images.csv"
    path.write_bytes(b"")
    record = compare(reply(), 1, REF, 0, HASH)
    with RecordWriter(path, append=True) as writer:
        writer.write(record)
    assert (
        path.read_bytes()
        == (",".join(COLUMNS) + "\r\n" + ",".join(row_of(record)) + "\r\n").encode()
    )
    assert scan_records(path).records == [record]


@pytest.mark.parametrize(
    "fields, fits",
    [
        (dict(), True),
        (dict(index=4), True),
        (dict(index=5), False),  # beyond the test set: no run writes it
        (dict(true_label=2), False),  # not the image's own label
        (dict(label=3), False),  # no output 3 in a 3-output network
        (dict(label=2, ref_label=3), False),
        (dict(label=-1), False),
        (dict(spikes=(3, 2)), False),  # a count per layer: 3 of them
        (dict(ref_spikes=(3, 2)), False),
        (dict(ref_spikes=(3, 2, 2, 0)), False),
        (dict(output_steps=(10, 10)), False),  # a step per output
    ],
)
def test_a_row_fits_a_run_only_with_its_label_and_a_value_per_layer_and_output(fields, fits):
    labels = np.array([1, 1, 1, 1, 1])  # a test set of five images, each of class 1
    record = Record(**{**compare(reply(), 1, REF, 0, HASH).__dict__, **fields})
    assert fits_run(record, labels, [4, 2, 3]) == fits


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


def test_the_summary_counts_the_decisions_where_several_outputs_fired():
    # (true, device label, output steps, decision step, fallback): image 0 both outputs fire at
    # the decision (a tie; the lowest label, wrong), image 1 o0 alone, image 2 falls back with
    # no output fired (never a tie), image 3 both fire again (a tie, right)
    cases = [
        (1, 0, (5, 5), 5, False),
        (0, 0, (5, -1), 5, False),
        (1, 0, (-1, -1), 255, True),
        (0, 0, (3, 3), 3, False),
    ]
    base = records()[0].__dict__
    rows = [
        Record(**{**base, "index": i, "true_label": true, "label": label, "ref_label": label,
                  "output_steps": out, "decision_step": step, "ref_decision_step": step,
                  "fallback": fallback})
        for i, (true, label, out, step, fallback) in enumerate(cases)
    ]  # fmt: skip
    s = summarize(rows, 2)
    assert (s["accuracy"], s["accuracy_tie_inclusive"], s["tie_rate"]) == (0.5, 0.75, 0.5)
    assert console_lines(console_report(rows))[3] == (
        "accuracy      50.00% strict  (75.00% tie-inclusive, 50.00% of decisions tied, "
        "reference 50.00%)"
    )


def test_the_counter_is_grouped_by_the_input_spikes_of_each_image():
    # input spikes 30, 10, 20 (the output layer's the other way round); the first image costs most
    fields = [((30, 4, 1), 1000), ((10, 4, 3), 20), ((20, 4, 2), 10)]
    rows = [
        Record(**{**r.__dict__, "spikes": spikes, "counter": counter})
        for r, (spikes, counter) in zip(records(), fields, strict=True)
    ]
    s = summarize(rows, 2)
    assert s["spikes_per_layer_mean"] == [20.0, 4.0, 2.0]
    assert (s["counter"]["min"], s["counter"]["median"], s["counter"]["max"]) == (
        10.0,
        20.0,
        1000.0,
    )
    assert s["counter_by_input_spikes"] == [  # 3 images: three fifths of one, two empty
        {
            "images": 1,
            "input_spikes_min": n,
            "input_spikes_max": n,
            "input_spikes_mean": float(n),
            "counter_mean": counter,
        }
        for n, counter in ((10, 20.0), (20, 10.0), (30, 1000.0))
    ]


def test_mismatching_images_are_listed_in_order_up_to_the_limit():
    wrong = records()[1]
    many = [
        Record(**{**wrong.__dict__, "index": i}) for i in reversed(range(MAX_LISTED_MISMATCHES + 1))
    ]
    s = summarize(many, 2)
    assert s["mismatches"] == MAX_LISTED_MISMATCHES + 1
    assert s["mismatch_indices"] == list(range(MAX_LISTED_MISMATCHES))


def console_report(records: list[Record], **fields) -> dict:
    """A bench's report.json of `records` (two classes), as bench.py completes it."""
    return {
        **summarize(records, 2),
        "model": "m.bs4nn",
        "model_hash": HASH,
        "dataset": "mnist",
        "thresholds": [3, 2],
        "board": "qemu-mps2-an386",
        "kernel": "sliced",
        "clock_hz": 25_000_000,
        "counter_name": "instructions",
        "link": {"infer_bitmap": True, "bad_frames": 0, "resends": 0, "recoveries": 0},
        "resumed_images": 0,
        "images_per_s": 123.456,
        "latency_ms": {"mean": 1.5, "median": 1.5},
        **fields,
    }


def test_the_console_summary_says_every_figure_of_the_report():
    link = {"infer_bitmap": False, "bad_frames": 0, "resends": 2, "recoveries": 1}
    assert console_lines(console_report(records(), link=link, resumed_images=2)) == [
        "device        qemu-mps2-an386  kernel sliced  clock 25 MHz  counter: instructions",
        f"model         m.bs4nn  ({'a' * 16})  K=[3, 2]",
        "images        3 of mnist test  (2 from an earlier run)",
        "accuracy      66.67% strict  (100.00% tie-inclusive, 100.00% of decisions tied, "
        "reference 100.00%)",
        "mismatches    1  (agreement with the integer reference 66.67%)",
        "instructions                 mean 343  median 20  p99 980",
        "decision step mean 5.00  per class 5.0 5.0  fallback 0.00%",
        "spikes/layer  1.0 / 1.0 / 1.0  (input / hidden... / output, to the decision)",
        "throughput    123.5 images/s  101 bytes on the wire per image (no INFER_BITMAP on the "
        "device: sparse/dense)",
        "latency       1.50 ms round trip (one request in flight), 2.00 ms pipelined",
        "link trouble  0 bad frames, 2 resends, 1 recovery, 0 error replies (recovered: every "
        "counted image was answered and checked)",
        "MISMATCH      test image 1",
    ]
    lines = console_lines(console_report(records()))
    assert lines[2] == "images        3 of mnist test"
    assert (
        lines[8] == "throughput    123.5 images/s  101 bytes on the wire per image (INFER_BITMAP)"
    )
    assert not [line for line in lines if line.startswith("link trouble")]


@pytest.mark.parametrize(
    "wrong, said",
    [
        (20, ", ".join(map(str, range(20)))),
        (21, ", ".join(map(str, range(20))) + " ... (21 in all)"),
    ],
)
def test_the_console_names_the_first_20_mismatching_images(wrong, said):
    many = [Record(**{**records()[1].__dict__, "index": i}) for i in range(wrong)]
    assert console_lines(console_report(many))[-1] == "MISMATCH      test image " + said
