"""Protocol client against the Python fake device: results, pipelining and every fault path."""

import re
import sys
import time
from dataclasses import replace

import device_protocol as dp
import numpy as np
import pytest
from fake_device import FakeDevice, Faults
from helpers import stopped_answering, whole

from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.host import protocol as p
from bs4nn.host.client import Device, DeviceReset, DeviceSilent
from bs4nn.host.stream import check_device_forms
from bs4nn.host.transport import LinkClosed, SerialTransport
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import model_from_arrays
from bs4nn.trainer.semantics import NO_SPIKE, NOT_FIRED


@pytest.fixture(scope="module")
def intmodel():
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((32, 784)), rng.standard_normal((10, 32))]
    model = IntModel.from_model(model_from_arrays(weights, [1.0, 1.0], [8.0, 3.0]))
    reference_batch(model, np.zeros((1, 784), np.uint8))  # numba loaded before any timeout runs
    return model


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(2)
    imgs = rng.integers(0, 256, (40, 784)).astype(np.uint8)
    imgs[rng.random((40, 784)) < 0.8] = 0  # MNIST-like sparsity
    return imgs


def connect(dev: FakeDevice, timeout: float = 2.0, window: int = 3) -> Device:
    return Device(SerialTransport(dev.port), timeout=timeout, window=window)


def check_against_reference(results, intmodel, images, thresholds=None):
    ref = reference_batch(intmodel, images, thresholds)
    assert [r.index for r in results] == list(range(len(images)))
    for r in results:
        i = r.index
        assert r.reply.label == ref.labels[i]
        assert r.reply.decision_step == ref.decision_steps[i]
        assert r.reply.fallback == bool(ref.fallback[i])
        assert r.reply.output_steps == tuple(
            NO_SPIKE if s == NOT_FIRED else int(s) for s in ref.output_steps[i]
        )
        assert r.reply.spikes == tuple(int(s) for s in ref.spikes[i])


def test_handshake_reports_the_device(intmodel):
    with FakeDevice(intmodel) as fake:
        dev = connect(fake)
        info = dev.handshake(intmodel.model_hash)
        assert info.board == "fake" and info.kernel == "python-reference"
        assert info.layer_sizes == (784, 32, 10)
        assert info.thresholds == intmodel.thresholds == (8, 3)
        assert info.counter_name == "instructions (QEMU icount proxy)"


def test_hash_mismatch_names_both_hashes(intmodel):
    with FakeDevice(intmodel, model_hash="ab" * 32) as fake:
        with pytest.raises(Bs4nnError) as exc:
            connect(fake).handshake(intmodel.model_hash)
    assert str(exc.value) == (
        f"the device runs model {'ab' * 32} but the model file is {intmodel.model_hash}: export "
        "this model and flash it (`bs4nn export`, then `pio run -t upload` in the export), or "
        "bench the model the device runs"
    )


def test_stream_matches_reference_in_order(intmodel, images):
    with FakeDevice(intmodel) as fake:
        dev = connect(fake, window=4)
        dev.handshake()
        results = list(dev.stream(images))
        assert fake.infer_requests == len(images)
    check_against_reference(results, intmodel, images)
    assert dev.stats.resends == 0 and dev.stats.bad_frames == 0
    for r in results:  # request with its 0x00 prefix, and the reply with its delimiter
        request = p.infer_request(r.reply.seq, images[r.index], bitmap=True)
        assert r.wire_bytes == 1 + len(request) + len(dp.infer_reply(r.reply))
    assert (
        dev.stats.bytes_sent
        == sum(len(p.infer_request(0, im, bitmap=True)) + 1 for im in images)
        + len(p.info_request(1))
        + 1
    )


def test_single_infer_and_set_thresholds(intmodel, images):
    with FakeDevice(intmodel) as fake:
        dev = connect(fake)
        dev.handshake()
        assert dev.set_thresholds([5, 2]) == (5, 2)
        results = list(dev.stream(images[:10], window=2))
        check_against_reference(results, intmodel, images[:10], thresholds=(5, 2))
        dev.reset()
        assert dev.thresholds == (8, 3)
        reply = dev.infer(images[0])
        assert reply.label == reference_batch(intmodel, images[:1]).labels[0]
        with pytest.raises(Bs4nnError, match=whole("threshold K=0 is outside 1..32767")):
            dev.set_thresholds([0, 2])


def test_garbage_between_replies_is_skipped(intmodel, images):
    faults = Faults(garbage_before={3: b"\x17\x55garbage\x00\x02\x99", 7: b"\xff" * 2000})
    with FakeDevice(intmodel, faults) as fake:
        dev = connect(fake, timeout=0.5)  # reply 7 drowns in the over-long garbage: a timeout
        dev.handshake()
        results = list(dev.stream(images))
    check_against_reference(results, intmodel, images)
    assert dev.stats.bad_frames >= 1
    assert dev.stats.dropped_bytes >= 2000 - p.FrameSplitter().max_encoded  # the tail is kept


def test_garbage_from_host_side_is_resent(intmodel, images):
    """Garbage the device sees makes it answer BAD_FRAME; the host re-sends and completes."""
    with FakeDevice(intmodel) as fake:
        dev = connect(fake, timeout=5.0)
        dev.handshake()
        real_send = dev._send
        sent = []

        def noisy_send(wire: bytes) -> int:
            sent.append(wire)
            if len(sent) == 4:  # damage one request on the way
                dev.link.write(b"\x00" + wire[:10] + b"\x33\x44" + wire[12:])
                return len(wire) + 1
            return real_send(wire)

        dev._send = noisy_send
        t0 = time.monotonic()
        results = list(dev.stream(images[:12]))
        # the error reply names no request in flight: the host probes at once, not after the
        # 5 s timeout, and re-sends what was lost
        assert time.monotonic() - t0 < 2.5
    check_against_reference(results, intmodel, images[:12])
    assert dev.stats.error_replies == 1
    assert dev.stats.recoveries == 1


def test_dropped_reply_is_recovered_after_timeout(intmodel, images):
    with FakeDevice(intmodel, Faults(drop_replies={5})) as fake:
        dev = connect(fake, timeout=0.3)
        dev.handshake()
        t0 = time.monotonic()
        results = list(dev.stream(images[:10]))
        assert time.monotonic() - t0 < 3
    check_against_reference(results, intmodel, images[:10])
    assert dev.stats.recoveries == 1 and dev.stats.resends >= 1


def test_a_lost_reply_is_found_by_the_next_one_not_the_timeout(intmodel, images):
    # the device answers in order: a reply to a later request tells that an earlier one was
    # lost; the results after it kept waiting for the timeout (then came all at once)
    with FakeDevice(intmodel, Faults(drop_replies={5})) as fake:
        dev = connect(fake, timeout=5.0, window=4)
        dev.handshake()
        t0 = time.monotonic()
        results = list(dev.stream(images[:20]))
        assert time.monotonic() - t0 < 2.5
    check_against_reference(results, intmodel, images[:20])
    assert dev.stats.recoveries == 1


def test_a_slow_device_is_never_called_silent(intmodel, images):
    # replies every 50 ms, timeout 40 ms: the probes' INFO replies come behind the requests in
    # flight, late, and a stall after an answered one gets its two probes again
    with FakeDevice(intmodel, Faults(reply_delay_s=0.05)) as fake:
        dev = connect(fake, timeout=0.04, window=4)
        dev.handshake()
        results = list(dev.stream(images[:30]))
    check_against_reference(results, intmodel, images[:30])
    assert dev.stats.recoveries >= 2


def test_reset_mid_run_with_default_thresholds_recovers(intmodel, images):
    with FakeDevice(intmodel, Faults(reset_at=6)) as fake:
        dev = connect(fake, timeout=0.3)
        dev.handshake()
        results = list(dev.stream(images[:12]))
    check_against_reference(results, intmodel, images[:12])
    assert dev.stats.recoveries == 1  # the reset was noticed, probed, and request 6 sent again


@pytest.mark.parametrize(
    "faults,window",
    [
        (Faults(reset_at=6), 1),  # request 6 lost in the reset
        # between requests, nothing in flight lost: the boot banner in front of the next reply
        # is the only sign
        (Faults(reset_before=6), 2),
    ],
    ids=["request-lost", "between-requests"],
)
def test_reset_mid_run_after_set_thresholds_stops_clearly(intmodel, images, faults, window):
    with FakeDevice(intmodel, faults) as fake:
        dev = connect(fake, timeout=0.3, window=window)
        dev.handshake()
        dev.set_thresholds([5, 2])
        got = []
        with pytest.raises(DeviceReset) as exc:
            for r in dev.stream(images[:12]):
                got.append(r.index)
    assert got == [0, 1, 2, 3, 4]
    assert str(exc.value) == (
        "the device reset during the run (its thresholds are (8, 3), the host had set (5, 2)); "
        "image 5 and later were not measured; results so far are kept; use --resume"
    )


def test_a_reset_found_with_nothing_in_flight_names_no_image(intmodel, images):
    # a slow reply sets off the probe, then answers image 0; the device resets before it
    # answers the probe's INFO, with nothing in flight: the images not yet sent are the ones
    # not measured (the message said "image -1 and later")
    with FakeDevice(intmodel, Faults(reply_delay_s=0.3)) as fake:
        dev = connect(fake, timeout=0.1, window=1)
        dev.handshake()
        dev.set_thresholds([5, 2])
        real_info = fake._info

        def reset_then_info(seq):
            fake.thresholds = tuple(intmodel.thresholds)
            return real_info(seq)

        fake._info = reset_then_info
        got = []
        with pytest.raises(DeviceReset) as exc:
            for r in dev.stream(images[:3]):
                got.append(r.index)
    assert got == [0]
    assert str(exc.value) == (
        "the device reset during the run (its thresholds are (8, 3), the host had set (5, 2)); "
        "the images not yet sent were not measured; results so far are kept; use --resume"
    )


def test_silent_device_raises_within_bounded_time(intmodel, images):
    with FakeDevice(intmodel, Faults(silent_after=3)) as fake:
        dev = connect(fake, timeout=0.3)
        dev.handshake()
        got = []
        t0 = time.monotonic()
        with pytest.raises(DeviceSilent) as exc:
            for r in dev.stream(images[:10]):
                got.append(r.index)
        assert time.monotonic() - t0 < 3.0  # 0.3 s timeout, two INFO probes; slack for load
    assert got == [0, 1, 2]
    then = "results so far are kept; restart it, then use --resume"
    assert re.fullmatch(stopped_answering(fake.port, "3 requests", "0.3", then), str(exc.value))


@pytest.mark.parametrize(("window", "unanswered"), [(1, "1 request"), (2, "2 requests")])
def test_a_board_slower_than_the_timeout_is_told_so(intmodel, images, window, unanswered):
    # its replies come, but later than --timeout: the message must not blame the board alone
    with FakeDevice(intmodel, Faults(reply_delay_s=2.0)) as fake:
        dev = connect(fake, timeout=0.1, window=window)
        dev.handshake()
        with pytest.raises(DeviceSilent) as exc:
            list(dev.stream(images[:2]))
    then = "results so far are kept; restart it, then use --resume"
    assert re.fullmatch(stopped_answering(fake.port, unanswered, "0.1", then), str(exc.value))


def test_silent_from_start_handshake_fails(intmodel):
    # called from Python, before anything was measured: nothing to resume
    with FakeDevice(intmodel, Faults(silent_after=0)) as fake:
        with pytest.raises(DeviceSilent) as exc:
            connect(fake, timeout=0.1).handshake()
    assert str(exc.value) == (
        f"no valid reply to INFO from {fake.port} after 4 tries of 0.1 s each (--timeout): is "
        "the bs4nn firmware running on it, in binary mode, at the right baud rate? Nothing was "
        "kept; reset the board, then run it again"
    )


def test_a_link_closed_in_the_handshake_says_nothing_was_kept(intmodel):
    with FakeDevice(intmodel, Faults(hang_up_at=0)) as fake:
        with pytest.raises(LinkClosed) as exc:
            connect(fake, timeout=0.5).handshake()
    assert str(exc.value) == (
        f"serial link {fake.port} closed (end of file): the device went away (board unplugged "
        "or reset over USB); nothing was kept; reconnect, then run it again"
    )


def test_a_handshake_inside_a_run_that_kept_results_says_they_are_kept(intmodel):
    """A resumed bench's handshake: the run tells what it kept, not the device."""
    from bs4nn.trainer.resume_hints import keeps

    with FakeDevice(intmodel, Faults(silent_after=0)) as fake, keeps(lambda: True):
        with pytest.raises(DeviceSilent) as exc:
            connect(fake, timeout=0.1).handshake()
    assert str(exc.value) == (
        f"no valid reply to INFO from {fake.port} after 4 tries of 0.1 s each (--timeout): is "
        "the bs4nn firmware running on it, in binary mode, at the right baud rate? Results so "
        "far are kept; reset the board, then use --resume"
    )


def test_link_closed_mid_run(intmodel, images, monkeypatch):
    from bs4nn.trainer.resume_hints import offer_resume

    monkeypatch.setattr(sys, "argv", ["bs4nn", "bench", "--model", "m.bs4nn", "--port", "p"])
    fake = FakeDevice(intmodel)
    with fake, offer_resume(lambda: True):  # as bench does
        dev = connect(fake)
        dev.handshake()
        stream = dev.stream(images)
        next(stream)
        fake.close()
        with pytest.raises(LinkClosed) as exc:
            list(stream)
    # the pty's other end closed: reading fails (an I/O error or an end of file), or writing
    detail = r"(writing failed: \[Errno 5\] )?Input/output error|end of file"
    assert re.fullmatch(
        rf"serial link {re.escape(fake.port)} closed \(({detail})\): the "
        r"device went away \(board unplugged or reset over USB\); results so far are kept; "
        r"reconnect, then resume with: bs4nn bench --model m\.bs4nn --port p --resume",
        str(exc.value),
    )


def test_forced_sparse_falls_back_to_dense_when_too_big(intmodel):
    imgs = np.zeros((3, 784), dtype=np.uint8)
    imgs[0, :340] = 200  # 340 lit pixels: sparse needs 1022 bytes > 1019
    imgs[1, :339] = 100  # fits exactly
    imgs[2, 5] = 1
    with FakeDevice(intmodel) as fake:
        dev = connect(fake)
        dev.sparse = True
        dev.handshake()
        results = list(dev.stream(imgs))
    check_against_reference(results, intmodel, imgs)
    assert [dev._infer_wire(1, im, "image 0")[1] for im in imgs] == [
        p.INFER,
        p.INFER_SPARSE,
        p.INFER_SPARSE,
    ]


@pytest.fixture(scope="module")
def wide_model():
    """1,200 inputs: dense never fits one frame, bitmap does up to 869 non-zero pixels."""
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((8, 1200)), rng.standard_normal((10, 8))]
    return IntModel.from_model(model_from_arrays(weights, [1.0, 1.0], [8.0, 3.0]))


def test_forced_sparse_too_big_goes_as_a_form_that_fits_when_dense_does_not(wide_model):
    imgs = np.zeros((2, 1200), dtype=np.uint8)
    imgs[0, :400] = 200  # sparse 1,202 and dense 1,200 bytes > 1,019; bitmap 150 + 400
    imgs[1, 7] = 1
    with FakeDevice(wide_model) as fake:
        dev = connect(fake)
        dev.sparse = True
        dev.handshake()
        results = list(dev.stream(imgs))
        assert fake.frame_types[p.INFER_BITMAP] == 1 and fake.frame_types[p.INFER_SPARSE] == 1
    check_against_reference(results, wide_model, imgs)


@pytest.mark.parametrize("sparse", [None, True])
def test_an_image_no_form_carries_is_refused_as_bench_refuses_it(wide_model, sparse):
    imgs = np.zeros((2, 1200), dtype=np.uint8)
    imgs[1, :900] = 9  # bitmap 150 + 900 bytes > 1,019
    with FakeDevice(wide_model) as fake:
        dev = connect(fake)
        dev.sparse = sparse
        dev.handshake()
        with pytest.raises(Bs4nnError) as exc:
            list(dev.stream(imgs, indices=[40, 41]))
    assert str(exc.value) == (
        "image 41 has 900 non-zero pixels of 1,200: too many for one INFER request, whose body "
        "of at most 1,019 bytes holds 869 of 1,200; give images with more zero pixels, or a "
        "model of at most 1,019 inputs"
    )


def model_of(n_input: int) -> IntModel:
    rng = np.random.default_rng(4)
    weights = [rng.standard_normal((4, n_input)), rng.standard_normal((2, 4))]
    return IntModel.from_model(model_from_arrays(weights, [1.0, 1.0], [8.0, 3.0]))


def test_forced_dense_on_a_model_dense_cannot_carry_is_refused_before_any_image(wide_model):
    with FakeDevice(model_of(1019)) as fake:  # the most a dense request holds
        dev = Device(SerialTransport(fake.port), timeout=2.0, sparse=False)
        dev.handshake()
        assert len(list(dev.stream(np.zeros((2, 1019), dtype=np.uint8)))) == 2
        assert dict(fake.frame_types) == {p.INFO: 1, p.INFER: 2}
    imgs = np.zeros((2, 1200), dtype=np.uint8)
    with FakeDevice(wide_model) as fake:
        dev = Device(SerialTransport(fake.port), timeout=2.0, sparse=False)
        dev.handshake()
        with pytest.raises(Bs4nnError) as exc:
            list(dev.stream(imgs))
        assert fake.infer_requests == 0
    assert str(exc.value) == (
        "the model has 1,200 inputs, more than the 1,019 a dense INFER request holds "
        "(sparse=False): use sparse=None, which sends each image in the shortest form that "
        "fits one frame"
    )


def test_has_bitmap_on_a_model_no_bitmap_can_carry_is_refused_without_asking():
    with FakeDevice(model_of(8152)) as fake:  # the most an INFER_BITMAP request holds
        dev = connect(fake)
        dev.handshake()
        assert dev.has_bitmap() is True
    with FakeDevice(model_of(8153)) as fake:
        dev = connect(fake)
        dev.handshake()
        with pytest.raises(Bs4nnError) as exc:
            dev.has_bitmap()
        assert dict(fake.frame_types) == {p.INFO: 1} and dev.bitmap is None
    assert str(exc.value) == (
        "the model has 8,153 inputs, more than the 8,152 an INFER_BITMAP request holds: no "
        "image of it goes as INFER_BITMAP, so there is nothing to ask (stream() sends its "
        "images sparse)"
    )


def test_bitmap_form_used_when_the_device_has_it(intmodel, images):
    with FakeDevice(intmodel) as fake:
        dev = connect(fake)
        dev.handshake()
        results = list(dev.stream(images))
        assert dev.bitmap is True
        lit = np.count_nonzero(images, axis=1)
        assert fake.frame_types[p.INFER_BITMAP] == int((lit > 48).sum()) > 0
        assert fake.frame_types[p.INFER_SPARSE] == int((lit <= 48).sum())
    check_against_reference(results, intmodel, images)


def test_device_without_bitmap_gets_the_other_forms(intmodel, images):
    with FakeDevice(intmodel, bitmap=False) as fake:
        dev = connect(fake, window=3)
        dev.handshake()
        results = list(dev.stream(images))
        assert dev.bitmap is False
        assert 1 <= fake.frame_types[p.INFER_BITMAP] <= 3  # only the first window tried it
        assert fake.frame_types[p.INFER_SPARSE] + fake.frame_types[p.INFER] == len(images)
    check_against_reference(results, intmodel, images)
    assert dev.stats.error_replies == 0 and dev.stats.resends == 0


@pytest.mark.parametrize("bitmap", [True, False])
def test_has_bitmap_asks_once_with_an_image_of_no_lit_pixels(intmodel, bitmap):
    with FakeDevice(intmodel, bitmap=bitmap) as fake:
        dev = connect(fake)
        dev.handshake()
        assert dev.has_bitmap() is dev.has_bitmap() is dev.bitmap is bitmap
        assert dict(fake.frame_types) == {p.INFO: 1, p.INFER_BITMAP: 1}
        assert fake.infer_requests == int(bitmap)  # one inference on a blank image, or none
    assert dev.stats.error_replies == 0 and dev.stats.resends == 0


def test_device_forms_are_not_asked_about_when_every_image_fits_without_bitmap(intmodel):
    wide = np.full((2, 784), 255, np.uint8)  # dense always fits 784 inputs
    with FakeDevice(intmodel, bitmap=False) as fake:
        dev = connect(fake)
        dev.handshake()
        check_device_forms(dev, wide, [0, 1])
        assert dict(fake.frame_types) == {p.INFO: 1} and dev.bitmap is None


def test_boot_banner_before_the_first_reply_is_skipped(intmodel, images):
    """A board opened while it boots prints the EEMBC banner (text, no 0x00) right before the
    reply to the first request: the reply is still read, nothing is re-sent."""
    banner = b"m-timestamp-mode-performance\r\nm-lap-us-0\r\nm-init-done\r\nm-ready\r\n"
    with FakeDevice(intmodel, Faults(banner=banner)) as fake:
        dev = connect(fake)
        assert dev.handshake(intmodel.model_hash).board == "fake"
        check_against_reference(list(dev.stream(images[:3])), intmodel, images[:3])
    assert (dev.stats.resends, dev.stats.bad_frames, dev.stats.replies) == (0, 0, 4)


class _SendSpy(Device):
    """Device that records, at each request it sends, how many requests were unanswered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.unanswered_at_send: list[int] = []

    def _send(self, wire: bytes) -> int:
        self.unanswered_at_send.append(self.stats.frames_sent - self.stats.replies)
        return super()._send(wire)


@pytest.mark.parametrize(("rx_buffer", "most_unanswered"), [(0, 2), (64, 0), (60_000, 2)])
def test_requests_in_flight_never_overrun_the_reported_buffer(
    intmodel, images, rx_buffer, most_unanswered
):
    """Every request here is over 64 bytes: a 64-byte buffer means one at a time, whatever the
    window; 0 (flow-controlled) or a large buffer lets the window of 3 pipeline."""
    with FakeDevice(intmodel, rx_buffer=rx_buffer) as fake:
        dev = _SendSpy(SerialTransport(fake.port), timeout=2.0, window=3)
        assert dev.handshake().rx_buffer == rx_buffer
        results = list(dev.stream(images))
    assert max(dev.unanswered_at_send) == most_unanswered
    assert dev.stats.resends == 0
    check_against_reference(results, intmodel, images)


def test_a_window_is_no_larger_than_the_host_holds_replies_of(intmodel, images):
    """The host reads no reply while it sends a window's requests: 1000 requests in flight
    would leave 41,000 reply bytes unread, and a flow-controlled device blocked writing them
    stops reading requests (the host's write timed out after 5 s). 4096 bytes hold 99 replies
    of 41 bytes (34-byte body, 3-byte header, CRC, COBS byte, delimiter)."""
    assert p.infer_reply_wire_bytes(10, 2) == 41
    many = np.tile(images, (25, 1))
    with FakeDevice(intmodel) as fake:
        dev = _SendSpy(SerialTransport(fake.port), timeout=2.0, window=len(many))
        dev.handshake()
        results = list(dev.stream(many))
    assert max(dev.unanswered_at_send) == 98
    assert dev.stats.resends == 0
    check_against_reference(results, intmodel, many)


def test_window_below_one_is_refused():
    with pytest.raises(ValueError, match=whole("window must be at least 1")):
        Device(None, window=0)


def test_seq_skips_the_value_error_replies_use():
    dev = Device(None)
    dev._seq = p.SEQ_UNKNOWN - 1
    assert dev._next_seq() == 0
    assert dev._next_seq() == 1


def test_a_device_reflashed_mid_run_is_named(intmodel, images):
    with FakeDevice(intmodel, Faults(reset_at=6)) as fake:
        real_infer = fake._infer

        def infer(frame):
            if fake.infer_requests == 5:  # request 6 resets the board into another model
                fake.model_hash = bytes(32)
            return real_infer(frame)

        fake._infer = infer
        dev = connect(fake, timeout=0.3, window=1)
        dev.handshake()
        got = []
        with pytest.raises(DeviceReset) as exc:
            for r in dev.stream(images[:12]):
                got.append(r.index)
    assert got == [0, 1, 2, 3, 4]
    assert str(exc.value) == (
        f"the device now runs model {'0' * 64}, not {intmodel.model_hash}: it was re-flashed "
        "during the run"
    )


def test_an_infer_the_device_refuses_is_named_not_resent(intmodel, images):
    with FakeDevice(intmodel) as fake:

        def refuse(frame):
            fake.infer_requests += 1
            fake._write(dp.error_reply(frame.seq, p.BAD_ARG))

        fake._infer = refuse
        dev = connect(fake, timeout=0.3, window=1)
        dev.handshake()
        with pytest.raises(
            Bs4nnError, match=r"^the device rejected INFER of image 0 with BAD_ARG$"
        ):
            list(dev.stream(images[:1]))
        with pytest.raises(  # bench's indices are test-set indices, and it says so
            Bs4nnError, match=r"^the device rejected INFER of test image 7 with BAD_ARG$"
        ):
            list(dev.stream(images[:1], indices=[7], noun="test image"))
    assert fake.infer_requests == 2
    assert dev.stats.error_replies == 2 and dev.stats.resends == 0


def answer_the_second_infer(fake, reply):
    """The fake answers its second INFER request with `reply(seq)`, the others as usual."""
    real = fake._infer

    def answer(frame):
        if fake.infer_requests != 1:
            return real(frame)
        fake.infer_requests += 1
        fake._write(reply(frame.seq))

    fake._infer = answer


def test_an_infer_answered_with_another_reply_names_the_image(intmodel, images):
    # image 0's reply is lost and image 1's INFER answered with a RESET reply: image 0 is sent
    # again and handed back, then the error names image 1, as a refused INFER does
    with FakeDevice(intmodel, Faults(drop_replies={1})) as fake:
        answer_the_second_infer(fake, dp.reset_reply)
        dev = connect(fake, timeout=0.3, window=3)
        dev.handshake()
        got = []
        with pytest.raises(Bs4nnError) as exc:
            for r in dev.stream(images[:6], noun="test image"):
                got.append(r)
    check_against_reference(got, intmodel, images[:1])
    assert str(exc.value) == "the device answered INFER of test image 1 with a RESET reply"
    assert fake.infer_requests == 4  # images 0, 1, 2, then 0 again; nothing after image 1's


def test_a_request_answered_with_another_reply_names_the_protocols_reply_type(intmodel):
    with FakeDevice(intmodel) as fake:
        real = fake._handle

        def thresholds_reply_to_reset(encoded):
            frame = p.parse_frame(encoded)
            if frame.type != p.RESET:
                return real(encoded)
            fake._write(dp.thresholds_reply(frame.seq, fake.thresholds))

        fake._handle = thresholds_reply_to_reset
        dev = connect(fake, timeout=0.3)
        dev.handshake()
        with pytest.raises(Bs4nnError) as exc:
            dev.reset()
    assert str(exc.value) == "the device answered RESET with a THRESHOLDS reply"


def test_results_before_an_infer_the_device_refuses_are_handed_back_first(intmodel, images):
    # image 0's reply is lost and image 1 refused with BAD_ARG: image 0 is sent again and
    # handed back, then image 1's error is raised (it was raised at once, image 0 lost)
    with FakeDevice(intmodel, Faults(drop_replies={1})) as fake:
        answer_the_second_infer(fake, lambda seq: dp.error_reply(seq, p.BAD_ARG))
        dev = connect(fake, timeout=0.3, window=3)
        dev.handshake()
        got = []
        with pytest.raises(Bs4nnError) as exc:
            for r in dev.stream(images[:6]):
                got.append(r)
    check_against_reference(got, intmodel, images[:1])
    assert str(exc.value) == "the device rejected INFER of image 1 with BAD_ARG"
    assert fake.infer_requests == 4  # images 0, 1, 2, then 0 again; nothing after image 1's error
    assert (dev.stats.error_replies, dev.stats.resends, dev.stats.recoveries) == (1, 1, 1)


def test_a_request_that_arrived_damaged_is_counted_and_sent_again(intmodel, images):
    with FakeDevice(intmodel) as fake:
        real = fake._infer
        damaged = []

        def damaged_once(frame):  # the first request's CRC failed on the way
            if damaged:
                return real(frame)
            damaged.append(frame.seq)
            fake._write(dp.error_reply(frame.seq, p.BAD_CRC))

        fake._infer = damaged_once
        dev = connect(fake, window=2)
        dev.handshake()
        results = list(dev.stream(images[:4]))
    check_against_reference(results, intmodel, images[:4])
    assert (dev.stats.error_replies, dev.stats.resends, dev.stats.recoveries) == (1, 1, 0)


def test_set_thresholds_the_device_did_not_keep_is_refused(intmodel, monkeypatch):
    real = dp.thresholds_reply
    monkeypatch.setattr(dp, "thresholds_reply", lambda seq, ks: real(seq, (8, 3)))
    with FakeDevice(intmodel) as fake:
        dev = connect(fake, timeout=1.0)
        dev.handshake()
        with pytest.raises(
            Bs4nnError, match=r"^the device kept thresholds .8, 3., asked for \(5, 2\)$"
        ):
            dev.set_thresholds([5, 2])
    assert dev.thresholds == (8, 3)


def test_thresholds_are_checked_before_they_are_sent(intmodel):
    with FakeDevice(intmodel) as fake:
        dev = connect(fake, timeout=0.3)
        dev.handshake()
        with pytest.raises(Bs4nnError, match=r"^the model has 2 weight layers, got 1 K$"):
            dev.set_thresholds([5])
        with pytest.raises(Bs4nnError, match=r"^threshold K=0 is outside 1\.\.32767$"):
            dev.set_thresholds([0, 2])
    assert fake.frame_types[p.SET_THRESHOLDS] == 0


def test_another_protocol_version_is_refused(intmodel):
    with FakeDevice(intmodel) as fake:
        real = fake._info
        fake._info = lambda seq: replace(real(seq), protocol_version=2)
        dev = connect(fake, timeout=1.0)
        with pytest.raises(Bs4nnError) as exc:
            dev.handshake()
    assert str(exc.value) == (
        "the device speaks protocol version 2, this host speaks 1: rebuild and flash the "
        "firmware with this bs4nn"
    )
    assert dev.info is None


def test_an_unanswered_info_is_sent_again(intmodel):
    with FakeDevice(intmodel) as fake:
        real_write = fake._write
        dropped = []

        def write(data):  # the first reply is lost on the way
            if not dropped:
                dropped.append(data)
                return
            real_write(data)

        fake._write = write
        dev = connect(fake, timeout=0.3)
        info = dev.handshake()
    assert info.protocol_version == p.PROTOCOL_VERSION
    assert len(dropped) == 1 and fake.frame_types[p.INFO] == 2
    assert dev.stats.resends == 1


def test_an_image_never_answered_is_given_up_after_four_sends(intmodel, images):
    with FakeDevice(intmodel, Faults(drop_replies=set(range(1, 50)))) as fake:
        dev = connect(fake, timeout=0.1, window=1)
        dev.handshake()
        with pytest.raises(DeviceSilent) as exc:
            list(dev.stream(images[:1]))
    assert str(exc.value) == (
        f"image 0 was sent 4 times without a valid reply: the link to {fake.port} is too noisy; "
        "results so far are kept; check the cable, baud rate and ground, then use --resume"
    )
    assert fake.infer_requests == 4


def test_unanswered_bytes_count_each_requests_resync_zero():
    from bs4nn.host.client import _Pending, _unanswered_bytes

    inflight = {1: _Pending(0, None, b"\x01" * 10, 0.0), 2: _Pending(1, None, b"\x02" * 20, 0.0)}
    assert _unanswered_bytes(inflight) == 32


def test_results_in_flight_are_handed_back_before_an_image_no_form_carries(wide_model):
    # image 4 fits no form: the three in flight when it came up are answered and handed back
    # first (they were dropped with the error)
    imgs = np.zeros((5, 1200), dtype=np.uint8)
    imgs[:, 7] = 1
    imgs[4, :900] = 9  # bitmap 150 + 900 bytes > 1,019
    with FakeDevice(wide_model) as fake:
        dev = connect(fake, window=3)
        dev.handshake()
        got = []
        with pytest.raises(Bs4nnError) as exc:
            for r in dev.stream(imgs):
                got.append(r.index)
    assert got == [0, 1, 2, 3]
    assert fake.infer_requests == 4
    assert str(exc.value) == (
        "image 4 has 900 non-zero pixels of 1,200: too many for one INFER request, whose body "
        "of at most 1,019 bytes holds 869 of 1,200; give images with more zero pixels, or a "
        "model of at most 1,019 inputs"
    )


def test_results_in_flight_are_handed_back_before_an_image_only_bitmap_carries(wide_model):
    # a device without INFER_BITMAP refuses the first window's bitmap requests: images 0 and 1
    # go again as sparse, image 2 fits no other form; 0 and 1 are answered and handed back first
    imgs = np.zeros((4, 1200), dtype=np.uint8)
    imgs[:, :200] = 3  # bitmap 350 bytes, sparse 602
    imgs[2, :500] = 3  # bitmap 650 bytes, sparse 1,502 > 1,019
    with FakeDevice(wide_model, bitmap=False) as fake:
        dev = connect(fake, window=3)
        dev.handshake()
        got = []
        with pytest.raises(Bs4nnError) as exc:
            for r in dev.stream(imgs):
                got.append(r.index)
    assert got == [0, 1]
    assert fake.infer_requests == 2
    assert str(exc.value) == ONLY_BITMAP.format(image="image 2", port=fake.port)


# bench's refusal of the same image (test_host_bench.py): one text, what to flash
ONLY_BITMAP = (
    "{image} has 500 non-zero pixels of 1,200: too many for one INFER request without "
    "INFER_BITMAP, whose body of at most 1,019 bytes holds 339 of 1,200; the device on {port} "
    "has no INFER_BITMAP (an optional request): flash a firmware that has it (`bs4nn export`, "
    "then `pio run -t upload` in the export), give images with more zero pixels, or a model "
    "of at most 1,019 inputs"
)


def test_an_image_only_bitmap_carries_to_a_device_known_to_lack_it_says_what_to_flash(
    wide_model,
):
    imgs = np.zeros((1, 1200), dtype=np.uint8)
    imgs[0, :500] = 3  # bitmap 650 bytes, sparse 1,502 > 1,019
    with FakeDevice(wide_model, bitmap=False) as fake:
        dev = connect(fake)
        dev.handshake()
        assert dev.has_bitmap() is False
        with pytest.raises(Bs4nnError) as exc:
            list(dev.stream(imgs, indices=[3], noun="test image"))
    assert fake.infer_requests == 0
    assert str(exc.value) == ONLY_BITMAP.format(image="test image 3", port=fake.port)
