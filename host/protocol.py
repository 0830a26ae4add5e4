"""Binary serial protocol, version 1 (docs/design.md section 4). Pure functions, no I/O.

Wire format of one frame: COBS(type u8 | seq u16 LE | body | crc u16 LE) followed by 0x00.
The CRC is CRC-16/CCITT-FALSE over type, seq and body.

This is the host's half: it builds requests and parses replies. The device's half (parse a
request, build the replies), which only the test doubles need, is tests/device_protocol.py.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from functools import reduce

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.semantics import FLAG_FALLBACK, K_MAX, K_MIN

PROTOCOL_VERSION = 1
MAX_FRAME = 1024  # largest decoded frame: type + seq + body + crc
HEADER = 3  # type u8 + seq u16
CRC_BYTES = 2
MAX_BODY = MAX_FRAME - HEADER - CRC_BYTES
SEQ_UNKNOWN = 0xFFFF

# request types (host -> device)
INFO = 0x01
INFER = 0x02
INFER_SPARSE = 0x03
SET_THRESHOLDS = 0x04
RESET = 0x05
INFER_BITMAP = 0x06  # optional: a device without it answers UNKNOWN_CMD
# reply types (device -> host)
INFO_REPLY = 0x81
INFER_REPLY = 0x82
THRESHOLDS_REPLY = 0x84
RESET_REPLY = 0x85
ERROR_REPLY = 0xEE

# error codes in an ERROR_REPLY body
BAD_CRC = 1
BAD_LENGTH = 2
UNKNOWN_CMD = 3
OVERSIZE = 4
BAD_ARG = 5
BAD_FRAME = 6
ERROR_NAMES = {
    BAD_CRC: "BAD_CRC",
    BAD_LENGTH: "BAD_LENGTH",
    UNKNOWN_CMD: "UNKNOWN_CMD",
    OVERSIZE: "OVERSIZE",
    BAD_ARG: "BAD_ARG",
    BAD_FRAME: "BAD_FRAME",
}

# what the device's counter counts (INFO's counter kind)
COUNTER_CYCLES = 0
COUNTER_INSTRUCTIONS = 1
COUNTER_MICROSECONDS = 2
COUNTER_KINDS = {
    COUNTER_CYCLES: "CPU cycles",
    COUNTER_INSTRUCTIONS: "instructions (QEMU icount proxy)",
    COUNTER_MICROSECONDS: "microseconds",
}


class ProtocolError(ValueError):
    """A frame that cannot be decoded (bad COBS, bad CRC, wrong length). Recoverable: resync."""


# ---------------------------------------------------------------- COBS


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing; the result holds no 0x00 (the delimiter is not added).

    Canonical form (as in Cheshire & Baker and Wikipedia): a full 254-byte block that ends the
    data is not followed by an empty block.
    """
    out = bytearray([0])  # placeholder for the first code byte
    code_pos = 0
    code = 1
    last = len(data) - 1
    for i, byte in enumerate(data):
        if byte == 0:
            out[code_pos] = code
            code_pos = len(out)
            out.append(0)
            code = 1
            continue
        out.append(byte)
        code += 1
        if code == 0xFF and i != last:  # a full block with more data after it: start a new one
            out[code_pos] = code
            code_pos = len(out)
            out.append(0)
            code = 1
    out[code_pos] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of cobs_encode (input without the trailing 0x00). Raises ProtocolError."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ProtocolError("COBS: zero byte inside a frame")
        end = i + code
        if end > n:
            raise ProtocolError("COBS: block runs past the end of the frame")
        block = data[i + 1 : end]
        if 0 in block:
            raise ProtocolError("COBS: zero byte inside a frame")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# ---------------------------------------------------------------- CRC


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0."""
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


# ---------------------------------------------------------------- frames


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    body: bytes
    wire_len: int = field(default=0, compare=False)  # bytes on the wire, delimiter included
    after_text: bool = field(default=False, compare=False)  # text (a boot banner) ran into it


def build_frame(ftype: int, seq: int, body: bytes = b"") -> bytes:
    """The on-wire bytes of one frame, COBS-encoded, ending with the 0x00 delimiter."""
    if len(body) > MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes exceeds {MAX_BODY}")
    raw = struct.pack("<BH", ftype, seq & 0xFFFF) + bytes(body)
    raw += struct.pack("<H", crc16_ccitt_false(raw))
    return cobs_encode(raw) + b"\x00"


def parse_frame(encoded: bytes) -> Frame:
    """Decode one frame (COBS bytes without the 0x00 delimiter) and check its CRC."""
    raw = cobs_decode(encoded)
    if len(raw) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(raw)} bytes exceeds {MAX_FRAME}")
    if len(raw) < HEADER + CRC_BYTES:
        raise ProtocolError(f"frame of {len(raw)} bytes is too short")
    (crc,) = struct.unpack_from("<H", raw, len(raw) - 2)
    if crc16_ccitt_false(raw[:-2]) != crc:
        raise ProtocolError("CRC mismatch")
    ftype, seq = struct.unpack_from("<BH", raw, 0)
    return Frame(ftype, seq, bytes(raw[HEADER:-2]), len(encoded) + 1)


def _is_text(data: bytes) -> bool:
    return all(0x20 <= b <= 0x7E or b in b"\r\n\t" for b in data)


def parse_frame_after_text(encoded: bytes) -> Frame:
    """parse_frame, tolerating text lines in front of the frame: a board that (re)starts prints
    the EEMBC boot banner (lines ending with "\n", no 0x00), which then runs into the next reply.
    A frame's second byte is its type, a control byte, so the text ends at a line end before it."""
    try:
        return parse_frame(encoded)
    except ProtocolError:
        end = encoded.find(b"\n")
        while end != -1 and _is_text(encoded[:end]):
            try:
                return replace(parse_frame(encoded[end + 1 :]), after_text=True)
            except ProtocolError:
                end = encoded.find(b"\n", end + 1)
        raise


class FrameSplitter:
    """Accumulates received bytes and yields complete frames (COBS bytes, no delimiter).

    Of an over-long run without a delimiter only the last `max_encoded` bytes are kept (the rest
    is counted in `dropped_bytes`): a frame can end such a run, as a reply does after long EEMBC
    text, and garbage in front of it fails the frame check as any garbage does.
    """

    def __init__(self, max_encoded: int = MAX_FRAME + MAX_FRAME // 254 + 2) -> None:
        self._buf = bytearray()
        self.max_encoded = max_encoded
        self.dropped_bytes = 0

    def feed(self, data: bytes) -> list[bytes]:
        frames = []
        for part, delimited in _split_keep(data):
            self._buf += part
            if len(self._buf) > self.max_encoded:
                cut = len(self._buf) - self.max_encoded
                self.dropped_bytes += cut
                del self._buf[:cut]
            if delimited:
                if self._buf:
                    frames.append(bytes(self._buf))
                self._buf.clear()
        return frames

    def clear(self) -> None:
        self.dropped_bytes += len(self._buf)
        self._buf.clear()


def _split_keep(data: bytes) -> list[tuple[bytes, bool]]:
    """Split on 0x00: [(part, ended_by_delimiter), ...]."""
    pieces = bytes(data).split(b"\x00")
    return [(p, i < len(pieces) - 1) for i, p in enumerate(pieces)]


# ---------------------------------------------------------------- requests (host -> device)


def info_request(seq: int) -> bytes:
    return build_frame(INFO, seq)


def reset_request(seq: int) -> bytes:
    return build_frame(RESET, seq)


def set_thresholds_request(seq: int, thresholds: list[int] | tuple[int, ...]) -> bytes:
    for k in thresholds:
        if not K_MIN <= int(k) <= K_MAX:
            raise ValueError(f"threshold {k} outside {K_MIN}..{K_MAX}")
    return build_frame(SET_THRESHOLDS, seq, struct.pack(f"<{len(thresholds)}h", *thresholds))


def dense_body(pixels: np.ndarray) -> bytes:
    p = np.asarray(pixels)
    if p.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, got {p.dtype}")
    return p.reshape(-1).tobytes()


def sparse_body(pixels: np.ndarray) -> bytes:
    """count u16, then (index u16, value u8) for every non-zero pixel, in index order."""
    p = np.asarray(pixels)
    if p.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, got {p.dtype}")
    p = p.reshape(-1)
    idx = np.flatnonzero(p)
    rec = np.empty(len(idx), dtype=[("i", "<u2"), ("v", "u1")])
    rec["i"] = idx
    rec["v"] = p[idx]
    return struct.pack("<H", len(idx)) + rec.tobytes()


def bitmap_body(pixels: np.ndarray) -> bytes:
    """ceil(n/8) bytes with bit i%8 of byte i/8 set for a non-zero pixel i (LSB first), then the
    values of those pixels in index order."""
    p = np.asarray(pixels)
    if p.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, got {p.dtype}")
    p = p.reshape(-1)
    return np.packbits(p != 0, bitorder="little").tobytes() + p[p != 0].tobytes()


FORM_NAMES = {INFER: "dense", INFER_SPARSE: "sparse", INFER_BITMAP: "bitmap"}
# the most inputs a model may have for a request form to carry any of its images (no pixel lit)
MAX_DENSE_INPUTS = MAX_BODY  # one byte per input
MAX_BITMAP_INPUTS = 8 * MAX_BODY  # one bit per input, before the values of the lit ones


def body_lengths(pixels: np.ndarray, bitmap: bool = True) -> dict[int, int]:
    """Body bytes of each INFER form for this image (INFER_BITMAP only if bitmap)."""
    return form_lengths(int(np.asarray(pixels).size), int(np.count_nonzero(pixels)), bitmap)


def form_lengths(n_input: int, nonzero, bitmap: bool = True) -> dict:
    """Body bytes of each INFER form for images of n_input pixels, `nonzero` of them non-zero
    (an int, or an array of counts, one per image: arrays of lengths)."""
    sizes = {INFER: n_input, INFER_SPARSE: 2 + 3 * nonzero}
    if bitmap:
        sizes[INFER_BITMAP] = (n_input + 7) // 8 + nonzero
    return sizes


def fits_one_frame(sizes: dict):
    """Whether some INFER form of these body lengths (body_lengths, form_lengths) fits one
    frame: a bool, or an array of them for arrays of lengths."""
    return reduce(np.minimum, sizes.values()) <= MAX_BODY


# what makes images that no INFER form carries in one frame fit, for the end of a refusal
MAKE_IMAGES_FIT = (
    f"give images with more zero pixels, or a model of at most {MAX_DENSE_INPUTS:,} inputs"
)


def too_many_nonzero(image: str, n_input: int, nonzero: int, bitmap: bool = True) -> str:
    """Why `image` (e.g. "test image 3") of n_input pixels, `nonzero` of them non-zero, fits no
    INFER form (INFER_BITMAP only if `bitmap`) in one frame, and how many would fit."""
    # the most non-zero pixels an image of n_input pixels may have, by trying every count
    most = np.flatnonzero(fits_one_frame(form_lengths(n_input, np.arange(n_input), bitmap)))
    request = "one INFER request" if bitmap else "one INFER request without INFER_BITMAP"
    return (
        f"{image} has {nonzero:,} non-zero pixels of {n_input:,}: too many for {request}, "
        f"whose body of at most {MAX_BODY:,} bytes holds {int(most[-1]):,} of {n_input:,}"
    )


def infer_request(
    seq: int,
    pixels: np.ndarray,
    sparse: bool | None = None,
    bitmap: bool = False,
    image: str = "the image",
) -> bytes:
    """An INFER frame. sparse=None: the shortest form that fits one frame, among dense, sparse
    and (if bitmap) INFER_BITMAP (Bs4nnError naming `image` if none does); sparse=True: sparse
    (ValueError if it does not fit); sparse=False: dense (ValueError likewise)."""
    if sparse is False:
        return build_frame(INFER, seq, dense_body(pixels))
    if sparse is True:
        return build_frame(INFER_SPARSE, seq, sparse_body(pixels))
    sizes = body_lengths(pixels, bitmap)
    if not fits_one_frame(sizes):
        nonzero = int(np.count_nonzero(pixels))
        too_many = too_many_nonzero(image, int(np.asarray(pixels).size), nonzero, bitmap)
        raise Bs4nnError(f"{too_many}; {MAKE_IMAGES_FIT}")
    # ties go to the simpler form: dense, then sparse, then bitmap
    ftype = min((t for t in sizes if sizes[t] <= MAX_BODY), key=lambda t: (sizes[t], t))
    body = {INFER: dense_body, INFER_SPARSE: sparse_body, INFER_BITMAP: bitmap_body}[ftype]
    return build_frame(ftype, seq, body(pixels))


# ---------------------------------------------------------------- replies (device -> host)


@dataclass(frozen=True)
class InfoReply:
    seq: int
    protocol_version: int
    model_hash: bytes  # 32 raw bytes
    layer_sizes: tuple[int, ...]
    thresholds: tuple[int, ...]
    tmax: int
    clock_hz: int
    counter_kind: int
    board: str
    kernel: str
    # received bytes the board holds while it computes; 0: flow-controlled, or a firmware
    # from before the field (it ends the reply and may be absent)
    rx_buffer: int = 0

    @property
    def model_hash_hex(self) -> str:
        return self.model_hash.hex()

    @property
    def num_layers(self) -> int:
        return len(self.thresholds)

    @property
    def counter_name(self) -> str:
        return COUNTER_KINDS.get(self.counter_kind, f"unknown counter kind {self.counter_kind}")


@dataclass(frozen=True)
class InferReply:
    seq: int
    label: int
    fallback: bool
    decision_step: int
    output_steps: tuple[int, ...]  # NO_SPIKE (0xFFFF) when the output did not fire
    spikes: tuple[int, ...]  # per layer [input, hidden..., output]
    counter: int


@dataclass(frozen=True)
class ThresholdsReply:
    seq: int
    thresholds: tuple[int, ...]


@dataclass(frozen=True)
class ResetReply:
    seq: int


@dataclass(frozen=True)
class ErrorReply:
    seq: int
    code: int

    @property
    def name(self) -> str:
        return ERROR_NAMES.get(self.code, f"code {self.code}")


Reply = InfoReply | InferReply | ThresholdsReply | ResetReply | ErrorReply


def reply_name(reply: Reply) -> str:
    """The protocol's name of the type of `reply`, with its article: what a message about an
    unexpected reply says ("the device answered RESET with a THRESHOLDS reply")."""
    return {
        InfoReply: "an INFO reply",
        InferReply: "an INFER reply",
        ThresholdsReply: "a THRESHOLDS reply",
        ResetReply: "a RESET reply",
        ErrorReply: "an ERROR reply",
    }[type(reply)]


def _name(data: bytes, pos: int) -> tuple[str, int]:
    n = data[pos]
    text = data[pos + 1 : pos + 1 + n]
    if len(text) != n:
        raise ProtocolError("INFO reply: name runs past the end")
    return text.decode("utf-8", errors="replace"), pos + 1 + n


def parse_info(frame: Frame) -> InfoReply:
    b = frame.body
    try:
        version = b[0]
        model_hash = b[1:33]
        n_layers = b[33]
        pos = 34
        sizes = struct.unpack_from(f"<{n_layers + 1}H", b, pos)
        pos += 2 * (n_layers + 1)
        thresholds = struct.unpack_from(f"<{n_layers}h", b, pos)
        pos += 2 * n_layers
        tmax, clock_hz, counter_kind = struct.unpack_from("<HIB", b, pos)
        pos += 7
        board, pos = _name(b, pos)
        kernel, pos = _name(b, pos)
        rx_buffer = 0
        if len(b) - pos == 2:
            (rx_buffer,) = struct.unpack_from("<H", b, pos)
            pos += 2
    except (IndexError, struct.error) as exc:
        raise ProtocolError(f"INFO reply too short ({len(b)} bytes)") from exc
    if pos != len(b) or len(model_hash) != 32:
        raise ProtocolError(f"INFO reply has {len(b)} bytes, expected {pos}")
    return InfoReply(
        frame.seq,
        version,
        bytes(model_hash),
        tuple(sizes),
        tuple(thresholds),
        tmax,
        clock_hz,
        counter_kind,
        board,
        kernel,
        rx_buffer,
    )


def infer_body_bytes(n_output: int, n_layers: int) -> int:
    """Length of an INFER reply body: label, flags, decision step, the outputs' steps, spikes
    per layer and the counter."""
    return 4 + 2 * n_output + 2 * (n_layers + 1) + 4


def infer_reply_wire_bytes(n_output: int, n_layers: int) -> int:
    """The most bytes one INFER reply takes on the wire: its frame, the COBS overhead (a byte,
    and one more per 254) and the delimiter."""
    raw = HEADER + infer_body_bytes(n_output, n_layers) + CRC_BYTES
    return raw + 1 + raw // 254 + 1


def parse_infer(frame: Frame, n_output: int, n_layers: int) -> InferReply:
    """INFER reply; the body length depends on the model (from the INFO reply)."""
    b = frame.body
    expected = infer_body_bytes(n_output, n_layers)
    if len(b) != expected:
        raise ProtocolError(f"INFER reply has {len(b)} bytes, expected {expected}")
    label, flags, step = struct.unpack_from("<BBH", b, 0)
    outs = struct.unpack_from(f"<{n_output}H", b, 4)
    pos = 4 + 2 * n_output
    spikes = struct.unpack_from(f"<{n_layers + 1}H", b, pos)
    (counter,) = struct.unpack_from("<I", b, pos + 2 * (n_layers + 1))
    return InferReply(frame.seq, label, bool(flags & FLAG_FALLBACK), step, outs, spikes, counter)


def parse_reply(frame: Frame, n_output: int = 0, n_layers: int = 0) -> Reply:
    """Any device reply. INFER replies need the model shape (n_output, n_layers)."""
    if frame.type == INFO_REPLY:
        return parse_info(frame)
    if frame.type == INFER_REPLY:
        return parse_infer(frame, n_output, n_layers)
    if frame.type == THRESHOLDS_REPLY:
        if len(frame.body) % 2:
            raise ProtocolError("THRESHOLDS reply has an odd length")
        return ThresholdsReply(frame.seq, struct.unpack(f"<{len(frame.body) // 2}h", frame.body))
    if frame.type == RESET_REPLY:
        if frame.body:
            raise ProtocolError("RESET reply has a body")
        return ResetReply(frame.seq)
    if frame.type == ERROR_REPLY:
        if len(frame.body) != 1:
            raise ProtocolError("ERROR reply must have a 1-byte body")
        return ErrorReply(frame.seq, frame.body[0])
    raise ProtocolError(f"unknown reply type 0x{frame.type:02x}")
