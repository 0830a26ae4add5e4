"""The device half of the serial protocol (docs/design.md section 4), for the test doubles:
parse a request's pixels, build the replies. The host half is bs4nn.host.protocol."""

from __future__ import annotations

import struct

import numpy as np

from bs4nn.codegen.reference import RefBatch
from bs4nn.host import protocol as p
from bs4nn.trainer.semantics import NO_SPIKE, NOT_FIRED


def parse_request_pixels(frame: p.Frame, n_input: int) -> np.ndarray:
    """The pixels of an INFER, INFER_SPARSE or INFER_BITMAP frame. Raises ProtocolError with the
    error code as `args[1]` on a bad body."""
    if frame.type == p.INFER:
        if len(frame.body) != n_input:
            raise p.ProtocolError("dense INFER body length", p.BAD_LENGTH)
        return np.frombuffer(frame.body, dtype=np.uint8).copy()
    if frame.type == p.INFER_SPARSE:
        if len(frame.body) < 2:
            raise p.ProtocolError("sparse INFER body too short", p.BAD_LENGTH)
        (count,) = struct.unpack_from("<H", frame.body, 0)
        if len(frame.body) != 2 + 3 * count:
            raise p.ProtocolError("sparse INFER body length", p.BAD_LENGTH)
        rec = np.frombuffer(frame.body, dtype=[("i", "<u2"), ("v", "u1")], offset=2)
        if count and int(rec["i"].max()) >= n_input:
            raise p.ProtocolError("sparse INFER index out of range", p.BAD_ARG)
        pixels = np.zeros(n_input, dtype=np.uint8)
        pixels[rec["i"]] = rec["v"]
        return pixels
    if frame.type == p.INFER_BITMAP:
        nb = (n_input + 7) // 8
        if len(frame.body) < nb:
            raise p.ProtocolError("bitmap INFER body too short", p.BAD_LENGTH)
        bits = np.unpackbits(np.frombuffer(frame.body[:nb], np.uint8), bitorder="little")
        lit = bits[:n_input].astype(bool)
        if len(frame.body) != nb + int(lit.sum()):
            raise p.ProtocolError("bitmap INFER body length", p.BAD_LENGTH)
        pixels = np.zeros(n_input, dtype=np.uint8)
        pixels[lit] = np.frombuffer(frame.body[nb:], np.uint8)
        return pixels
    raise p.ProtocolError(f"not an INFER frame: 0x{frame.type:02x}", p.UNKNOWN_CMD)


def _encode_name(name: str) -> bytes:
    raw = name.encode("utf-8")[:255]
    return bytes([len(raw)]) + raw


def info_reply(reply: p.InfoReply) -> bytes:
    body = (
        bytes([reply.protocol_version])
        + bytes(reply.model_hash)
        + bytes([len(reply.thresholds)])
        + struct.pack(f"<{len(reply.layer_sizes)}H", *reply.layer_sizes)
        + struct.pack(f"<{len(reply.thresholds)}h", *reply.thresholds)
        + struct.pack("<HIB", reply.tmax, reply.clock_hz, reply.counter_kind)
        + _encode_name(reply.board)
        + _encode_name(reply.kernel)
        + struct.pack("<H", reply.rx_buffer)
    )
    return p.build_frame(p.INFO_REPLY, reply.seq, body)


def infer_reply(reply: p.InferReply) -> bytes:
    body = (
        struct.pack("<BBH", reply.label, 1 if reply.fallback else 0, reply.decision_step)
        + struct.pack(f"<{len(reply.output_steps)}H", *reply.output_steps)
        + struct.pack(f"<{len(reply.spikes)}H", *reply.spikes)
        + struct.pack("<I", reply.counter)
    )
    return p.build_frame(p.INFER_REPLY, reply.seq, body)


def thresholds_reply(seq: int, thresholds: list[int] | tuple[int, ...]) -> bytes:
    return p.build_frame(p.THRESHOLDS_REPLY, seq, struct.pack(f"<{len(thresholds)}h", *thresholds))


def reset_reply(seq: int) -> bytes:
    return p.build_frame(p.RESET_REPLY, seq)


def error_reply(seq: int, code: int) -> bytes:
    return p.build_frame(p.ERROR_REPLY, seq, bytes([code]))


def replies_as_batch(replies) -> RefBatch:
    """Inference replies of a device as the reference's batch, to compare every field with
    codegen.agreement.mismatches (an output that did not fire: NO_SPIKE on the wire)."""
    out = np.array([r.output_steps for r in replies], np.int32)
    out[out == NO_SPIKE] = NOT_FIRED
    return RefBatch(
        np.array([r.label for r in replies], np.int16),
        np.array([r.decision_step for r in replies], np.int16),
        np.array([r.fallback for r in replies], bool),
        out.astype(np.int16),
        np.array([r.spikes for r in replies], np.int32),
    )
