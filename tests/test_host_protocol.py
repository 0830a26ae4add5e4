"""Exact-byte tests of the serial protocol (docs/design.md section 4)."""

import dataclasses
import struct

import device_protocol as dp
import numpy as np
import pytest
from helpers import whole

from bs4nn.host import protocol as p
from bs4nn.trainer.errors import Bs4nnError

# Wikipedia "Consistent Overhead Byte Stuffing" encoding examples (without the 0x00 delimiter)
_SEQ254 = bytes(range(1, 255))
COBS_VECTORS = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (_SEQ254, b"\xff" + _SEQ254),
    (b"\x00" + _SEQ254, b"\x01\xff" + _SEQ254),
    (_SEQ254 + b"\xff", b"\xff" + _SEQ254 + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
    (b"", b"\x01"),
]


@pytest.mark.parametrize("raw,encoded", COBS_VECTORS)
def test_cobs_vectors(raw, encoded):
    assert p.cobs_encode(raw) == encoded
    assert p.cobs_decode(encoded) == raw


def test_cobs_roundtrip_random_lengths():
    rng = np.random.default_rng(0)
    for n in (0, 1, 253, 254, 255, 508, 509, 1024):
        raw = rng.integers(0, 4, n, dtype=np.uint8).tobytes()  # many zeros
        assert p.cobs_decode(p.cobs_encode(raw)) == raw
        raw = rng.integers(1, 256, n, dtype=np.uint8).tobytes()  # no zeros: 0xFF blocks
        enc = p.cobs_encode(raw)
        assert 0 not in enc
        assert p.cobs_decode(enc) == raw


@pytest.mark.parametrize(
    "bad,message",
    [
        (b"\x05\x11\x22", "COBS: block runs past the end of the frame"),
        (b"\x03\x11\x00", "COBS: zero byte inside a frame"),  # inside a block
        (b"\x00", "COBS: zero byte inside a frame"),  # as a code byte
    ],
)
def test_cobs_decode_rejects_malformed(bad, message):
    with pytest.raises(p.ProtocolError, match=whole(message)):
        p.cobs_decode(bad)


def test_crc_check_value():
    assert p.crc16_ccitt_false(b"123456789") == 0x29B1
    assert p.crc16_ccitt_false(b"") == 0xFFFF


def test_info_request_bytes():
    # type 01, seq 0x0102 LE, crc over 01 02 01
    crc = p.crc16_ccitt_false(b"\x01\x02\x01")
    raw = b"\x01\x02\x01" + struct.pack("<H", crc)
    assert p.info_request(0x0102) == p.cobs_encode(raw) + b"\x00"
    assert p.info_request(0x0102) == bytes([6, 1, 2, 1]) + struct.pack("<H", crc) + b"\x00"
    assert crc == 0x8DEF  # bitwise CRC-16/CCITT-FALSE of 01 02 01


def test_frame_roundtrip_and_crc_check():
    wire = p.build_frame(0x42, 7, b"\x00abc\x00")
    assert wire.endswith(b"\x00") and 0 not in wire[:-1]
    assert p.parse_frame(wire[:-1]) == p.Frame(0x42, 7, b"\x00abc\x00")
    raw = bytearray(p.cobs_decode(wire[:-1]))
    raw[4] ^= 1
    with pytest.raises(p.ProtocolError, match=whole("CRC mismatch")):
        p.parse_frame(p.cobs_encode(bytes(raw)))
    with pytest.raises(p.ProtocolError, match=whole("frame of 2 bytes is too short")):
        p.parse_frame(p.cobs_encode(b"\x01\x00"))


def test_frame_size_limit():
    p.build_frame(p.INFER, 0, bytes(p.MAX_BODY))
    with pytest.raises(ValueError, match=whole("frame body of 1020 bytes exceeds 1019")):
        p.build_frame(p.INFER, 0, bytes(p.MAX_BODY + 1))
    assert p.MAX_BODY == 1019


def test_set_thresholds_request_bytes():
    wire = p.set_thresholds_request(3, [5, 300])
    frame = p.parse_frame(wire[:-1])
    assert (frame.type, frame.seq, frame.body) == (0x04, 3, b"\x05\x00\x2c\x01")
    with pytest.raises(ValueError, match=whole("threshold 0 outside 1..32767")):
        p.set_thresholds_request(0, [0, 3])
    with pytest.raises(ValueError, match=whole("threshold 32768 outside 1..32767")):
        p.set_thresholds_request(0, [32768])


def test_sparse_and_dense_infer():
    pixels = np.zeros(784, dtype=np.uint8)
    pixels[[0, 300, 783]] = [9, 255, 1]
    sparse = p.parse_frame(p.infer_request(1, pixels)[:-1])
    assert sparse.type == p.INFER_SPARSE
    assert sparse.body == b"\x03\x00" + b"\x00\x00\x09" + b"\x2c\x01\xff" + b"\x0f\x03\x01"
    np.testing.assert_array_equal(dp.parse_request_pixels(sparse, 784), pixels)
    dense = p.parse_frame(p.infer_request(2, pixels, sparse=False)[:-1])
    assert dense.type == p.INFER and dense.body == pixels.tobytes()
    np.testing.assert_array_equal(dp.parse_request_pixels(dense, 784), pixels)


def test_infer_picks_the_shorter_form():
    pixels = np.full(784, 7, dtype=np.uint8)
    assert p.parse_frame(p.infer_request(1, pixels)[:-1]).type == p.INFER
    pixels[261:] = 0  # 261 non-zero: sparse 785 bytes > dense 784
    assert p.parse_frame(p.infer_request(1, pixels)[:-1]).type == p.INFER
    pixels[260:] = 0  # 260 non-zero: sparse 782 bytes
    assert p.parse_frame(p.infer_request(1, pixels)[:-1]).type == p.INFER_SPARSE
    pixels[:] = 7  # forced sparse that does not fit in one frame
    with pytest.raises(ValueError, match=whole("frame body of 2354 bytes exceeds 1019")):
        p.infer_request(1, pixels, sparse=True)


def test_infer_bitmap_bytes_and_choice():
    pixels = np.zeros(784, dtype=np.uint8)
    pixels[[0, 9, 783]] = [5, 6, 7]
    body = p.bitmap_body(pixels)
    assert body == b"\x01\x02" + bytes(95) + b"\x80" + b"\x05\x06\x07"
    assert p.body_lengths(pixels) == {p.INFER: 784, p.INFER_SPARSE: 11, p.INFER_BITMAP: 101}
    frame = p.parse_frame(p.infer_request(3, pixels, bitmap=True)[:-1])
    assert frame.type == p.INFER_SPARSE  # 11 < 101
    np.testing.assert_array_equal(dp.parse_request_pixels(p.Frame(0x06, 0, body), 784), pixels)
    pixels[100:150] = 1  # 53 lit: sparse 161 > bitmap 151
    frame = p.parse_frame(p.infer_request(3, pixels, bitmap=True)[:-1])
    assert frame.type == p.INFER_BITMAP and len(frame.body) == 151
    np.testing.assert_array_equal(dp.parse_request_pixels(frame, 784), pixels)
    assert p.parse_frame(p.infer_request(3, pixels)[:-1]).type == p.INFER_SPARSE
    pixels[:] = 255  # every pixel lit: dense 784 < bitmap 882
    assert p.parse_frame(p.infer_request(3, pixels, bitmap=True)[:-1]).type == p.INFER
    with pytest.raises(p.ProtocolError) as exc:
        dp.parse_request_pixels(p.Frame(p.INFER_BITMAP, 0, body[:-1]), 784)
    assert exc.value.args[1] == p.BAD_LENGTH


def test_parse_request_pixels_errors():
    with pytest.raises(p.ProtocolError) as exc:
        dp.parse_request_pixels(p.Frame(p.INFER, 0, b"\x01" * 10), 784)
    assert exc.value.args[1] == p.BAD_LENGTH
    with pytest.raises(p.ProtocolError) as exc:
        dp.parse_request_pixels(p.Frame(p.INFER_SPARSE, 0, b"\x01\x00\x10\x03\x05"), 784)
    assert exc.value.args[1] == p.BAD_ARG


def test_info_reply_roundtrip_and_bytes():
    info = p.InfoReply(
        seq=9,
        protocol_version=1,
        model_hash=bytes(range(32)),
        layer_sizes=(784, 600, 10),
        thresholds=(40, 12),
        tmax=256,
        clock_hz=25_000_000,
        counter_kind=1,
        board="mps2-an386",
        kernel="event",
        rx_buffer=64,
    )
    wire = dp.info_reply(info)
    frame = p.parse_frame(wire[:-1])
    assert frame.type == 0x81 and frame.seq == 9
    assert frame.body == (
        b"\x01"
        + bytes(range(32))
        + b"\x02"
        + b"\x10\x03\x58\x02\x0a\x00"
        + b"\x28\x00\x0c\x00"
        + b"\x00\x01"
        + struct.pack("<I", 25_000_000)
        + b"\x01"
        + b"\x0amps2-an386"
        + b"\x05event"
        + b"\x40\x00"
    )
    parsed = p.parse_reply(frame)
    assert parsed == info
    # a firmware from before rx_buffer ends the reply at the kernel name: read as 0
    old = p.parse_info(p.Frame(0x81, 9, frame.body[:-2]))
    assert old == dataclasses.replace(info, rx_buffer=0)
    assert parsed.counter_name == "instructions (QEMU icount proxy)"
    assert parsed.model_hash_hex == bytes(range(32)).hex()
    with pytest.raises(p.ProtocolError, match=whole("INFO reply has 69 bytes, expected 68")):
        p.parse_info(p.Frame(0x81, 9, frame.body[:-1]))
    with pytest.raises(p.ProtocolError, match=whole("INFO reply too short (40 bytes)")):
        p.parse_info(p.Frame(0x81, 9, frame.body[:40]))


def test_infer_reply_roundtrip_and_bytes():
    reply = p.InferReply(
        seq=0x1234,
        label=7,
        fallback=True,
        decision_step=255,
        output_steps=(0xFFFF,) * 9 + (200,),
        spikes=(150, 40, 0),
        counter=123456,
    )
    frame = p.parse_frame(dp.infer_reply(reply)[:-1])
    assert frame.body[:4] == b"\x07\x01\xff\x00"
    assert frame.body[-4:] == struct.pack("<I", 123456)
    assert len(frame.body) == 4 + 20 + 6 + 4
    assert p.parse_reply(frame, n_output=10, n_layers=2) == reply
    with pytest.raises(p.ProtocolError, match=whole("INFER reply has 34 bytes, expected 36")):
        p.parse_reply(frame, n_output=10, n_layers=3)  # wrong model shape


def test_other_replies():
    assert p.parse_reply(p.parse_frame(dp.thresholds_reply(4, [3, 2])[:-1])) == (
        p.ThresholdsReply(4, (3, 2))
    )
    assert p.parse_reply(p.parse_frame(dp.reset_reply(5)[:-1])) == p.ResetReply(5)
    err = p.parse_reply(p.parse_frame(dp.error_reply(0xFFFF, p.BAD_CRC)[:-1]))
    assert err == p.ErrorReply(0xFFFF, 1) and err.name == "BAD_CRC"
    with pytest.raises(p.ProtocolError, match=whole("unknown reply type 0x99")):
        p.parse_reply(p.Frame(0x99, 0, b""))


def test_splitter_handles_chunks_and_garbage():
    a = p.info_request(1)
    b = p.reset_request(2)
    s = p.FrameSplitter()
    stream = b"\x00\x00" + a + b
    frames = []
    for i in range(len(stream)):  # one byte at a time
        frames += s.feed(stream[i : i + 1])
    assert frames == [a[:-1], b[:-1]]
    # of an over-long run of garbage the last 16 bytes are kept (and fail the frame check);
    # the next delimited frame comes through
    s = p.FrameSplitter(max_encoded=16)
    assert s.feed(b"\x55" * 40) == []
    assert s.feed(b"\x55\x00" + a) == [b"\x55" * 16, a[:-1]]
    assert s.dropped_bytes == 25


def test_a_frame_after_long_text_is_kept():
    # `db print%` answers with ~3 KB of text; a reply right behind it was dropped with the text
    text = b"m-buffer-00-00-00-00-00-00-00-00\r\n" * 100
    reply = p.info_request(7)
    frames = p.FrameSplitter().feed(text + reply)
    assert len(frames) == 1
    assert p.parse_frame_after_text(frames[0]) == p.parse_frame(reply[:-1])


def infer_body(flags=0, spikes=(1, 1, 1)) -> bytes:
    """An INFER reply body for 3 outputs and 2 weight layers: label 1, decision step 10."""
    return (
        bytes([1, flags])
        + struct.pack("<H", 10)
        + struct.pack("<3H", 10, 10, 10)
        + struct.pack("<3H", *spikes)
        + bytes(4)
    )


def test_only_bit_0_of_the_flags_is_the_fallback():
    assert p.parse_infer(p.Frame(p.INFER_REPLY, 1, infer_body(flags=2)), 3, 2).fallback is False
    assert p.parse_infer(p.Frame(p.INFER_REPLY, 1, infer_body(flags=1)), 3, 2).fallback is True


def test_spike_counts_are_unsigned():
    reply = p.parse_infer(p.Frame(p.INFER_REPLY, 1, infer_body(spikes=(40000, 1, 1))), 3, 2)
    assert reply.spikes == (40000, 1, 1)


def test_replies_of_another_length_are_refused():
    with pytest.raises(p.ProtocolError, match=whole("RESET reply has a body")):
        p.parse_reply(p.Frame(p.RESET_REPLY, 1, b"\x00"))
    with pytest.raises(p.ProtocolError, match=whole("ERROR reply must have a 1-byte body")):
        p.parse_reply(p.Frame(p.ERROR_REPLY, 1, b"\x01\x02"))
    with pytest.raises(p.ProtocolError, match=whole("INFER reply has 21 bytes, expected 20")):
        p.parse_infer(p.Frame(p.INFER_REPLY, 1, infer_body() + b"\x00"), 3, 2)


def test_a_frame_one_byte_over_the_largest_is_refused():
    raw = bytes([p.INFER_REPLY, 1, 0]) + b"\x01" * (p.MAX_FRAME - 4)
    raw += p.crc16_ccitt_false(raw).to_bytes(2, "little")
    assert len(raw) == p.MAX_FRAME + 1
    with pytest.raises(p.ProtocolError, match=whole("frame of 1025 bytes exceeds 1024")):
        p.parse_frame(p.cobs_encode(raw))


def test_the_bitmap_length_of_inputs_not_a_multiple_of_8():
    pixels = np.full(9, 7, np.uint8)
    assert p.body_lengths(pixels)[p.INFER_BITMAP] == len(p.bitmap_body(pixels)) == 2 + 9


def test_dense_wins_a_tie_of_lengths():
    pixels = np.array([0, 0, 0, 0, 0, 0, 5, 9], np.uint8)  # dense 8 bytes, sparse 2 + 2 x 3
    assert p.parse_frame(p.infer_request(1, pixels)[:-1]).type == p.INFER


def test_a_body_of_the_largest_size_is_sent():
    pixels = np.ones(p.MAX_BODY, np.uint8)
    assert len(p.parse_frame(p.infer_request(1, pixels, bitmap=True)[:-1]).body) == p.MAX_BODY


def test_an_image_no_form_carries_in_one_frame_is_refused_as_bench_refuses_it():
    """A user's image, not a programming error: Bs4nnError, in the words of bench's refusal."""
    pixels = np.full(2000, 255, np.uint8)  # 2,000 inputs, every pixel non-zero
    with pytest.raises(Bs4nnError) as exc:
        p.infer_request(1, pixels, bitmap=True)
    assert str(exc.value) == (
        "the image has 2,000 non-zero pixels of 2,000: too many for one INFER request, whose "
        "body of at most 1,019 bytes holds 769 of 2,000; give images with more zero pixels, or "
        "a model of at most 1,019 inputs"
    )
    with pytest.raises(Bs4nnError) as exc:
        p.infer_request(1, pixels, image="image 7")
    assert str(exc.value) == (
        "image 7 has 2,000 non-zero pixels of 2,000: too many for one INFER request without "
        "INFER_BITMAP, whose body of at most 1,019 bytes holds 339 of 2,000; give images with "
        "more zero pixels, or a model of at most 1,019 inputs"
    )


@pytest.mark.parametrize(
    "n_input,form,most",
    [
        (1200, p.INFER_BITMAP, 869),  # bitmap 150 + 869 = 1,019 bytes
        (65535, p.INFER_SPARSE, 339),  # sparse 2 + 3 x 339 = 1,019 bytes
    ],
)
def test_an_image_of_the_largest_body_fits_and_one_more_pixel_does_not(n_input, form, most):
    pixels = np.zeros(n_input, np.uint8)
    pixels[:most] = 9
    frame = p.parse_frame(p.infer_request(1, pixels, bitmap=True)[:-1])
    assert (frame.type, len(frame.body)) == (form, p.MAX_BODY)
    assert p.fits_one_frame(p.body_lengths(pixels))
    pixels[most] = 9
    assert not p.fits_one_frame(p.body_lengths(pixels))
    message = (
        f"the image has {most + 1:,} non-zero pixels of {n_input:,}: too many for one INFER "
        f"request, whose body of at most 1,019 bytes holds {most:,} of {n_input:,}; give images "
        "with more zero pixels, or a model of at most 1,019 inputs"
    )
    with pytest.raises(Bs4nnError, match=whole(message)):
        p.infer_request(1, pixels, bitmap=True)
    # counts of non-zero pixels for many images at once: the same answers
    fits = p.fits_one_frame(p.form_lengths(n_input, np.array([0, most, most + 1, n_input])))
    assert fits.tolist() == [True, True, False, False]


def test_only_text_in_front_of_a_frame_is_skipped():
    frame = p.build_frame(p.RESET_REPLY, 1)[:-1]
    assert p.parse_frame_after_text(b"hello\r\n" + frame).after_text
    # the error is the frame's own, as if no text had been looked for
    with pytest.raises(p.ProtocolError, match=whole("COBS: block runs past the end of the frame")):
        p.parse_frame_after_text(b"\x01\x80\n" + frame)
