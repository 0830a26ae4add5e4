"""Protocol client: one Device on a Transport. Handshake, single requests, pipelined streaming.

Reliability rules (issue 5):
- every read has a deadline; a device that stops answering raises Bs4nnError, never hangs;
- every frame is preceded by 0x00 so garbage on the link cannot swallow a request;
- bad frames are dropped and counted; a request the device rejected as garbled is re-sent;
- when replies stop coming, the host probes with INFO: no answer -> "stopped answering";
  thresholds back to the defaults -> "the device reset"; otherwise the lost requests are re-sent
  (a reply whose seq is no longer in flight is a stale duplicate and ignored).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from bs4nn.host import protocol as p
from bs4nn.host.transport import Transport
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.semantics import K_MAX, K_MIN

DEFAULT_TIMEOUT_S = 5.0
MAX_TRIES = 4  # sends of one request before giving up
# error codes meaning "your frame arrived damaged": re-send it
_RESEND_CODES = {p.BAD_CRC, p.BAD_FRAME, p.BAD_LENGTH, p.OVERSIZE}


class DeviceSilent(Bs4nnError):
    """No reply within the timeout, even to an INFO probe."""


class DeviceReset(Bs4nnError):
    """The device restarted in the middle of a run."""


@dataclass
class LinkStats:
    bytes_sent: int = 0
    bytes_received: int = 0
    frames_sent: int = 0
    replies: int = 0
    bad_frames: int = 0  # failed COBS/CRC/length: garbage on the link
    dropped_bytes: int = 0  # over-long runs without a delimiter
    stale_replies: int = 0  # duplicates of requests already answered
    resends: int = 0
    error_replies: int = 0
    recoveries: int = 0  # INFO probes after a timeout


@dataclass(frozen=True)
class StreamResult:
    index: int  # position in the caller's image sequence
    reply: p.InferReply
    rtt_s: float  # send of the (last) request to its reply, as seen by the host
    wire_bytes: int  # bytes of the request(s) and reply on the wire


@dataclass
class _Pending:
    index: int
    pixels: np.ndarray
    wire: bytes
    sent_at: float
    tries: int = 1
    wire_bytes: int = 0
    seq: int = 0

    @property
    def is_bitmap(self) -> bool:
        return self.wire[1] == p.INFER_BITMAP  # COBS keeps the non-zero type byte in place


def _unanswered_bytes(inflight: dict[int, _Pending]) -> int:
    """Request bytes on their way to the device or waiting in its buffer (with the resync 0)."""
    return sum(len(pend.wire) + 1 for pend in inflight.values())


class Device:
    """A bs4nn device (real board or QEMU) speaking protocol version 1."""

    def __init__(
        self,
        link: Transport,
        timeout: float = DEFAULT_TIMEOUT_S,
        window: int = 2,
        sparse: bool | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.link = link
        self.timeout = timeout
        self.window = window
        self.sparse = sparse  # None: the shortest form per image; True: sparse when it fits
        self.bitmap: bool | None = None  # INFER_BITMAP supported? None: not known yet
        self.stats = LinkStats()
        self.info: p.InfoReply | None = None
        self.thresholds: tuple[int, ...] = ()  # in force on the device, as far as we know
        self._splitter = p.FrameSplitter()
        self._frames: deque[p.Frame] = deque()
        self._seq = 0

    # ------------------------------------------------------------ low level

    def _infer_wire(self, seq: int, pixels: np.ndarray) -> bytes:
        """sparse=None: the shortest form (INFER_BITMAP unless the device refused it);
        True: sparse whenever it fits one frame; False: dense."""
        sparse = self.sparse
        if sparse and 2 + 3 * int(np.count_nonzero(pixels)) > p.MAX_BODY:
            sparse = False
        return p.infer_request(seq, pixels, sparse, bitmap=self.bitmap is not False)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        if self._seq == p.SEQ_UNKNOWN:
            self._seq = 0
        return self._seq

    def _send(self, wire: bytes) -> int:
        data = b"\x00" + wire  # resync byte: garbage before it cannot merge with this frame
        self.link.write(data)
        self.stats.bytes_sent += len(data)
        self.stats.frames_sent += 1
        return len(data)

    def _poll(self, timeout: float) -> p.Frame | None:
        """The next well-formed frame, or None if none arrives within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self._frames:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            data = self.link.read(left)
            if not data:
                continue
            self.stats.bytes_received += len(data)
            before = self._splitter.dropped_bytes
            for encoded in self._splitter.feed(data):
                try:
                    self._frames.append(p.parse_frame_after_text(encoded))
                except p.ProtocolError:
                    self.stats.bad_frames += 1
            self.stats.dropped_bytes += self._splitter.dropped_bytes - before
        return self._frames.popleft()

    def _parse(self, frame: p.Frame) -> p.Reply | None:
        n_out = self.info.layer_sizes[-1] if self.info else 0
        n_layers = self.info.num_layers if self.info else 0
        try:
            return p.parse_reply(frame, n_out, n_layers)
        except p.ProtocolError:
            self.stats.bad_frames += 1
            return None

    def _call(self, build, expect: type, what: str) -> p.Reply:
        """Send one request (built by build(seq)) and return its reply, re-sending on damage."""
        for _ in range(MAX_TRIES):
            seq = self._next_seq()
            self._send(build(seq))
            deadline = time.monotonic() + self.timeout
            while (left := deadline - time.monotonic()) > 0:
                frame = self._poll(left)
                if frame is None:
                    break
                reply = self._parse(frame)
                if reply is None or reply.seq != seq:
                    if reply is not None:
                        self.stats.stale_replies += 1
                    continue
                self.stats.replies += 1
                if isinstance(reply, p.ErrorReply):
                    self.stats.error_replies += 1
                    if reply.code in _RESEND_CODES:
                        break
                    raise Bs4nnError(
                        f"the device rejected {what} with error {reply.name}: host and firmware "
                        "disagree on the protocol; rebuild the firmware from this version "
                        "(`bs4nn export` then `bs4nn build`)"
                    )
                if not isinstance(reply, expect):
                    raise Bs4nnError(f"the device answered {what} with {type(reply).__name__}")
                return reply
            self.stats.resends += 1
        raise DeviceSilent(
            f"no valid reply to {what} from {self.link.name} after {MAX_TRIES} tries of "
            f"{self.timeout:.1f} s: is the bs4nn firmware running on it, in binary mode, at the "
            "right baud rate? Reset the board and try again"
        )

    # ------------------------------------------------------------ commands

    def handshake(self, expected_hash: str | None = None) -> p.InfoReply:
        """INFO; checks the protocol version and (if given) the model hash."""
        self._drain()
        info = self._call(p.info_request, p.InfoReply, "INFO")
        if info.protocol_version != p.PROTOCOL_VERSION:
            raise Bs4nnError(
                f"the device speaks protocol version {info.protocol_version}, this host speaks "
                f"{p.PROTOCOL_VERSION}: rebuild and flash the firmware with this bs4nn"
            )
        if expected_hash is not None and info.model_hash_hex != expected_hash:
            raise Bs4nnError(
                f"the device runs model {info.model_hash_hex} but the model file is "
                f"{expected_hash}: export, build and flash this model (`bs4nn export`, "
                "`bs4nn build`), or bench the model the device runs"
            )
        self.info = info
        self.thresholds = tuple(info.thresholds)
        return info

    def _drain(self) -> None:
        """Drop whatever the device sent before we talk (boot text, old replies)."""
        while self._poll(0.05) is not None:
            pass
        self._splitter.clear()

    def _need_info(self) -> p.InfoReply:
        if self.info is None:
            raise Bs4nnError("call handshake() before inference")
        return self.info

    def set_thresholds(self, thresholds: Iterable[int]) -> tuple[int, ...]:
        info = self._need_info()
        ks = tuple(int(k) for k in thresholds)
        if len(ks) != info.num_layers:
            raise Bs4nnError(f"the model has {info.num_layers} weight layers, got {len(ks)} K")
        for k in ks:
            if not K_MIN <= k <= K_MAX:
                raise Bs4nnError(f"threshold K={k} is outside {K_MIN}..{K_MAX}")
        reply = self._call(
            lambda seq: p.set_thresholds_request(seq, ks), p.ThresholdsReply, "SET_THRESHOLDS"
        )
        if tuple(reply.thresholds) != ks:
            raise Bs4nnError(f"the device kept thresholds {reply.thresholds}, asked for {ks}")
        self.thresholds = ks
        return ks

    def reset(self) -> None:
        self._call(p.reset_request, p.ResetReply, "RESET")
        if self.info is not None:
            self.info = self.handshake()

    def infer(self, pixels: np.ndarray) -> p.InferReply:
        return next(self.stream([pixels], window=1)).reply

    # ------------------------------------------------------------ streaming

    def stream(
        self,
        images: Iterable[np.ndarray],
        indices: Iterable[int] | None = None,
        window: int | None = None,
    ) -> Iterator[StreamResult]:
        """Infer every image, keeping up to `window` requests in flight; results in input order."""
        self._need_info()
        window = window or self.window
        source = iter(zip(range(1 << 62) if indices is None else indices, images, strict=False))
        inflight: dict[int, _Pending] = {}
        held: _Pending | None = None  # built, but it would overrun the device's buffer
        rx_buffer = self.info.rx_buffer if self.info else 0
        done: dict[int, StreamResult] = {}
        order: deque[int] = deque()  # indices in send order: results are yielded in this order
        exhausted = False
        last_progress = time.monotonic()
        probe: tuple[int, float] | None = None  # (seq, deadline) of an INFO probe
        probe_tries = 0

        while True:
            while (held is not None or not exhausted) and len(inflight) < window and probe is None:
                if held is None:
                    try:
                        index, pixels = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    seq = self._next_seq()
                    held = _Pending(index, pixels, self._infer_wire(seq, pixels), 0.0, seq=seq)
                unanswered = _unanswered_bytes(inflight) + len(held.wire) + 1
                if inflight and rx_buffer and unanswered > rx_buffer:
                    break  # the device would drop bytes while it computes: wait for a reply
                pend, held = held, None
                now = time.monotonic()
                if not inflight:
                    last_progress = now
                pend.sent_at = now
                pend.wire_bytes = self._send(pend.wire)
                inflight[pend.seq] = pend
                order.append(pend.index)
            while order and order[0] in done:
                yield done.pop(order.popleft())
            if exhausted and held is None and not inflight and not order:
                return

            now = time.monotonic()
            if probe is not None and now > probe[1] and probe_tries < 2:
                probe = None  # the INFO reply may have merged with garbage: ask once more
            if probe is not None and now > probe[1]:
                raise DeviceSilent(
                    f"the device on {self.link.name} stopped answering ({len(inflight)} "
                    f"requests unanswered for {self.timeout:.1f} s, no reply to INFO "
                    "either): it hangs or was reset; results so far are kept, restart it "
                    "and use --resume"
                )
            if probe is None and inflight and now - last_progress > self.timeout:
                if probe_tries == 0:
                    self.stats.recoveries += 1
                probe_tries += 1
                seq = self._next_seq()
                self._send(p.info_request(seq))
                probe = (seq, now + self.timeout)
            bad_before = self.stats.bad_frames
            frame = self._poll(min(0.2, self.timeout))
            now = time.monotonic()
            if probe is not None and self.stats.bad_frames > bad_before and probe_tries < 2:
                probe = None  # garbage arrived (boot text?) and may have eaten the INFO reply
                last_progress = now - self.timeout - 1
            if frame is None:
                continue
            reply = self._parse(frame)
            if reply is None:
                continue
            if probe is not None and reply.seq == probe[0] and isinstance(reply, p.InfoReply):
                first_lost = min((pd.index for pd in inflight.values()), default=-1)
                self._check_not_reset(reply, first_lost)
                probe = None
                probe_tries = 0
                for pend in inflight.values():  # their requests or replies were lost
                    self._resend(pend)
                last_progress = time.monotonic()
                continue
            pend = inflight.get(reply.seq)
            if isinstance(reply, p.ErrorReply):
                self.stats.error_replies += 1
            if pend is None:
                if isinstance(reply, p.ErrorReply) and probe is None and inflight:
                    # a request arrived too damaged to tell which: find out now, not at timeout
                    last_progress = now - self.timeout - 1
                else:
                    self.stats.stale_replies += 1
                continue
            self.stats.replies += 1
            if isinstance(reply, p.ErrorReply):
                if reply.code == p.UNKNOWN_CMD and pend.is_bitmap:
                    # firmware without INFER_BITMAP (optional): the other forms from now on
                    self.bitmap = False
                    self.stats.error_replies -= 1  # an answer to a question, not trouble
                    pend.wire = self._infer_wire(reply.seq, pend.pixels)
                    pend.sent_at = time.monotonic()
                    pend.wire_bytes += self._send(pend.wire)
                    continue
                if reply.code not in _RESEND_CODES:
                    raise Bs4nnError(
                        f"the device rejected INFER of image {pend.index} with {reply.name}"
                    )
                self._resend(pend)
                continue
            if not isinstance(reply, p.InferReply):
                raise Bs4nnError(f"the device answered INFER with {type(reply).__name__}")
            del inflight[reply.seq]
            last_progress = now
            if self.bitmap is None and pend.is_bitmap:
                self.bitmap = True
            done[pend.index] = StreamResult(
                pend.index, reply, now - pend.sent_at, pend.wire_bytes + frame.wire_len
            )

    def _resend(self, pend: _Pending) -> None:
        if pend.tries >= MAX_TRIES:
            raise DeviceSilent(
                f"image {pend.index} was sent {pend.tries} times without a valid reply: the "
                f"link to {self.link.name} is too noisy (check cable, baud rate, ground)"
            )
        pend.tries += 1
        pend.sent_at = time.monotonic()
        pend.wire_bytes += self._send(pend.wire)
        self.stats.resends += 1

    def _check_not_reset(self, info: p.InfoReply, first_lost: int) -> None:
        assert self.info is not None
        if info.model_hash != self.info.model_hash:
            raise DeviceReset(
                f"the device now runs model {info.model_hash_hex}, not "
                f"{self.info.model_hash_hex}: it was re-flashed during the run"
            )
        if tuple(info.thresholds) != self.thresholds:
            raise DeviceReset(
                f"the device reset during the run (its thresholds are {tuple(info.thresholds)}, "
                f"the host had set {self.thresholds}); image {first_lost} and later were not "
                "measured. Results so far are kept: run again with --resume"
            )
