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

import contextlib
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from bs4nn.host import protocol as p
from bs4nn.host.defaults import DEFAULT_TIMEOUT_S, DEFAULT_WINDOW, HOST_RX_BYTES
from bs4nn.host.transport import Transport, how_to_go_on
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.resume_hints import go_on, nothing_measured_yet
from bs4nn.trainer.semantics import K_MAX, K_MIN
from bs4nn.trainer.wording import counted

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
    # the most INFER requests in flight at once: the window the streams used (the one asked,
    # cut to the replies HOST_RX_BYTES hold and to the requests the device's buffer holds)
    window_used: int = 0


@dataclass(frozen=True)
class StreamResult:
    index: int  # position in the caller's image sequence, or the caller's index of the image
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
        window: int = DEFAULT_WINDOW,
        sparse: bool | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.link = link
        self.timeout = timeout
        self.window = window
        # None: the shortest form per image; True: sparse when it fits; False: dense (stream
        # refuses it for a model of more inputs than a dense request holds)
        self.sparse = sparse
        self.bitmap: bool | None = None  # INFER_BITMAP supported? None: not known yet
        self.stats = LinkStats()
        self.info: p.InfoReply | None = None
        self.thresholds: tuple[int, ...] = ()  # in force on the device, as far as we know
        self._splitter = p.FrameSplitter()
        self._frames: deque[p.Frame] = deque()
        self._seq = 0

    # ------------------------------------------------------------ low level

    def _infer_wire(self, seq: int, pixels: np.ndarray, image: str) -> bytes:
        """sparse=None: the shortest form (INFER_BITMAP unless the device refused it);
        True: sparse whenever it fits one frame, else dense when it fits, else the shortest;
        False: dense. Unless forced dense: Bs4nnError naming `image` when no form fits (and
        what to flash when only the INFER_BITMAP the device refused would)."""
        sparse = self.sparse
        if sparse:  # the sizes only when sparse is forced: this runs for every image
            sizes = p.body_lengths(pixels)
            if sizes[p.INFER_SPARSE] > p.MAX_BODY:
                sparse = False if sizes[p.INFER] <= p.MAX_BODY else None
        bitmap = self.bitmap is not False
        try:
            return p.infer_request(seq, pixels, sparse, bitmap, image=image)
        except Bs4nnError:
            if bitmap or not p.fits_one_frame(p.body_lengths(pixels)):
                raise  # no form fits, INFER_BITMAP or not
        # only the INFER_BITMAP the device refused carries it: say what to flash
        nonzero = int(np.count_nonzero(pixels))
        too_many = p.too_many_nonzero(image, int(np.asarray(pixels).size), nonzero, False)
        raise Bs4nnError(f"{too_many}; {self.no_bitmap_advice()}")

    def no_bitmap_advice(self) -> str:
        """What to do about images that only INFER_BITMAP carries in one frame, which this
        device lacks: the end of their refusal."""
        return (
            f"the device on {self.link.name} has no INFER_BITMAP (an optional request): flash "
            "a firmware that has it (`bs4nn export`, then `pio run -t upload` in the export), "
            f"{p.MAKE_IMAGES_FIT}"
        )

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

    def _call(self, build, expect: type, what: str, optional: bool = False) -> p.Reply:
        """Send one request (built by build(seq)) and return its reply, re-sending on damage.
        optional: a request the contract lets a device lack; its UNKNOWN_CMD is returned."""
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
                    if optional and reply.code == p.UNKNOWN_CMD:
                        return reply  # an answer to a question, not trouble: not counted
                    self.stats.error_replies += 1
                    if reply.code in _RESEND_CODES:
                        break
                    raise Bs4nnError(
                        f"the device rejected {what} with error {reply.name}: host and firmware "
                        "disagree on the protocol; rebuild the firmware from this version "
                        "(`bs4nn export` then `bs4nn build`)"
                    )
                if not isinstance(reply, expect):
                    raise Bs4nnError(f"the device answered {what} with {p.reply_name(reply)}")
                return reply
            self.stats.resends += 1
        raise self._no_valid_reply(what)

    def _no_valid_reply(self, what: str) -> DeviceSilent:
        """No valid reply to `what` after MAX_TRIES sends: what to check, how to go on."""
        said = (
            f"no valid reply to {what} from {self.link.name} after {MAX_TRIES} tries of "
            f"{self.timeout:g} s each (--timeout)"
        )
        then = how_to_go_on(self.link.emulator, "reset the board, then")
        if self.link.emulator is not None:  # its firmware was built and started by bs4nn
            return DeviceSilent(f"{said}; {then}")
        if self.info is not None:  # it answered INFO: firmware, mode and baud rate were right
            question = "it answered before: did it hang or reset?"
        else:
            question = (
                "is the bs4nn firmware running on it, in binary mode, at the right baud rate?"
            )
        return DeviceSilent(f"{said}: {question} {then[0].upper()}{then[1:]}")

    # ------------------------------------------------------------ commands

    def handshake(self, expected_hash: str | None = None) -> p.InfoReply:
        """INFO; checks the protocol version and (if given) the model hash."""
        # before the first handshake this device measured nothing: a failure keeps nothing
        with nothing_measured_yet() if self.info is None else contextlib.nullcontext():
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
                f"{expected_hash}: export this model and flash it (`bs4nn export`, then "
                "`pio run -t upload` in the export), or bench the model the device runs"
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

    def has_bitmap(self) -> bool:
        """Whether the device takes INFER_BITMAP, which is optional and which INFO does not
        report: unless a reply already told, asked with an image of no lit pixels (one
        inference on a device that has it, UNKNOWN_CMD from one that has not). Bs4nnError,
        asking nothing, for a model of more inputs than INFER_BITMAP carries."""
        if self.bitmap is None:
            n_input = self._need_info().layer_sizes[0]
            if n_input > p.MAX_BITMAP_INPUTS:
                raise Bs4nnError(
                    f"the model has {n_input:,} inputs, more than the {p.MAX_BITMAP_INPUTS:,} an "
                    "INFER_BITMAP request holds: no image of it goes as INFER_BITMAP, so there "
                    "is nothing to ask (stream() sends its images sparse)"
                )
            blank = np.zeros(n_input, np.uint8)
            reply = self._call(
                lambda seq: p.build_frame(p.INFER_BITMAP, seq, p.bitmap_body(blank)),
                p.InferReply,
                "INFER_BITMAP",
                optional=True,
            )
            self.bitmap = isinstance(reply, p.InferReply)
        return self.bitmap

    def infer(self, pixels: np.ndarray) -> p.InferReply:
        return next(self.stream([pixels], window=1)).reply

    # ------------------------------------------------------------ streaming

    def stream(
        self,
        images: Iterable[np.ndarray],
        indices: Iterable[int] | None = None,
        window: int | None = None,
        noun: str = "image",
    ) -> Iterator[StreamResult]:
        """Infer every image, keeping up to `window` requests in flight (fewer when their replies
        would not fit in HOST_RX_BYTES); results in input order.
        An image that fits no request form, or whose INFER the device refuses, raises its
        Bs4nnError after the results before it; the results of the images after it are
        dropped. A device that reset, stopped answering or answered out of protocol, or a link
        too noisy, raises at once: what is in flight will not be answered (or not rightly), so
        nothing after it could be handed over in order.
        Messages name an image by `noun` and its index: "image 41" is images[41] (or the image
        of index 41 in `indices`); bench passes test-set indices and "test image"."""
        info = self._need_info()
        if self.sparse is False and info.layer_sizes[0] > p.MAX_DENSE_INPUTS:
            raise Bs4nnError(
                f"the model has {info.layer_sizes[0]:,} inputs, more than the "
                f"{p.MAX_DENSE_INPUTS:,} a dense INFER request holds (sparse=False): use "
                "sparse=None, which sends each image in the shortest form that fits one frame"
            )
        reply = p.infer_reply_wire_bytes(info.layer_sizes[-1], info.num_layers)
        window = min(window or self.window, max(1, HOST_RX_BYTES // reply))
        run = _Stream(self, images, indices, window, info.rx_buffer, noun)
        while True:
            run.send()
            yield from run.ready()
            if run.finished():
                return
            run.watch()
            run.receive()

    def _resend(self, pend: _Pending, image: str) -> None:
        if pend.tries >= MAX_TRIES:
            then = how_to_go_on(self.link.emulator, "check the cable, baud rate and ground, then")
            raise DeviceSilent(
                f"{image} was sent {pend.tries} times without a valid reply: the "
                f"link to {self.link.name} is too noisy; {then}"
            )
        pend.tries += 1
        pend.sent_at = time.monotonic()
        pend.wire_bytes += self._send(pend.wire)
        self.stats.resends += 1

    def _check_not_reset(self, info: p.InfoReply, lost: str) -> None:
        """Raise DeviceReset when INFO tells the device was re-flashed or reset; `lost` names
        the images not measured ("image 5 and later")."""
        assert self.info is not None
        if info.model_hash != self.info.model_hash:
            raise DeviceReset(
                f"the device now runs model {info.model_hash_hex}, not "
                f"{self.info.model_hash_hex}: it was re-flashed during the run"
            )
        if tuple(info.thresholds) != self.thresholds:
            raise DeviceReset(
                f"the device reset during the run (its thresholds are {tuple(info.thresholds)}, "
                f"the host had set {self.thresholds}); {lost} were not measured; {go_on()}"
            )


class _Probe(NamedTuple):
    seq: int  # of the INFO request
    deadline: float


class _Stream:
    """The state of one `Device.stream`: requests in flight, results waiting for their turn,
    and the INFO probe that finds out what happened when replies stop coming."""

    def __init__(
        self,
        dev: Device,
        images: Iterable[np.ndarray],
        indices: Iterable[int] | None,
        window: int,
        rx_buffer: int,
        noun: str,
    ) -> None:
        self.dev = dev
        self.noun = noun
        self.window = window
        self.rx_buffer = rx_buffer  # 0: flow-controlled, no limit on the bytes in flight
        self.source = iter(
            zip(range(1 << 62) if indices is None else indices, images, strict=False)
        )
        self.inflight: dict[int, _Pending] = {}
        self.held: _Pending | None = None  # built, but it would overrun the device's buffer
        # answered, or (a Bs4nnError) not to be measured: each handed over in its turn
        self.done: dict[int, StreamResult | Bs4nnError] = {}
        self.order: deque[int] = deque()  # indices in send order: results are yielded so
        self.exhausted = False
        self.last_progress = time.monotonic()
        self.probe: _Probe | None = None
        self.probe_tries = 0
        self.probe_seqs: set[int] = set()  # INFO requests of this stall: a late reply counts
        # something suggests a lost request or probe reply: probe now, not at the timeout
        self.probe_due = False

    def progress(self, now: float) -> None:
        self.last_progress = now
        self.probe_due = False
        if self.probe is None:  # the device answers: a later stall gets its two probes again
            self.probe_tries = 0

    def send(self) -> None:
        """Send the next images while fewer than `window` are in flight, no probe is pending
        and the device's receive buffer holds what is unanswered."""
        dev = self.dev
        while (
            (self.held is not None or not self.exhausted)
            and len(self.inflight) < self.window
            and self.probe is None
        ):
            if self.held is None:
                try:
                    index, pixels = next(self.source)
                except StopIteration:
                    self.exhausted = True
                    return
                seq = dev._next_seq()
                try:
                    wire = dev._infer_wire(seq, pixels, self.name(index))
                except Bs4nnError as error:
                    self.order.append(index)
                    self._give_up(index, error)
                    return
                self.held = _Pending(index, pixels, wire, 0.0, seq=seq)
            unanswered = _unanswered_bytes(self.inflight) + len(self.held.wire) + 1
            if self.inflight and self.rx_buffer and unanswered > self.rx_buffer:
                return  # the device would drop bytes while it computes: wait for a reply
            pend, self.held = self.held, None
            now = time.monotonic()
            if not self.inflight:
                self.progress(now)
            pend.sent_at = now
            pend.wire_bytes = dev._send(pend.wire)
            self.inflight[pend.seq] = pend
            self.order.append(pend.index)
            dev.stats.window_used = max(dev.stats.window_used, len(self.inflight))

    def name(self, index: int) -> str:
        """Image `index` as messages name it: "image 41", "test image 41"."""
        return f"{self.noun} {index}"

    def ready(self) -> Iterator[StreamResult]:
        """The results whose turn it is, in send order; the error of an image not to be
        measured in its turn, after the results before it."""
        while self.order and self.order[0] in self.done:
            result = self.done.pop(self.order.popleft())
            if isinstance(result, Bs4nnError):
                raise result
            yield result

    def finished(self) -> bool:
        return self.exhausted and self.held is None and not self.inflight and not self.order

    def watch(self) -> None:
        """Probe with INFO when replies stopped coming for the timeout (or a probe is due); a
        probe unanswered is asked once more, then the device has stopped answering."""
        dev = self.dev
        now = time.monotonic()
        if self.probe is not None and now > self.probe.deadline:
            if self.probe_tries >= 2:
                raise DeviceSilent(
                    f"the device on {dev.link.name} stopped answering "
                    f"({counted(len(self.inflight), 'request')} unanswered for "
                    f"{now - self.last_progress:.1f} s, no reply to INFO either within the "
                    f"{dev.timeout:g} s timeout): it hangs or was reset, "
                    "or it answers later than that; "
                    + how_to_go_on(dev.link.emulator, "restart it, then")
                )
            self.probe = None  # the INFO reply may have merged with garbage: ask once more
        stalled = self.probe_due or now - self.last_progress > dev.timeout
        if self.probe is None and self.inflight and stalled:
            if self.probe_tries == 0:
                dev.stats.recoveries += 1
            self.probe_tries += 1
            seq = dev._next_seq()
            dev._send(p.info_request(seq))
            self.probe_seqs.add(seq)
            # the device answers INFO after the requests in flight
            self.probe = _Probe(seq, now + dev.timeout * (1 + len(self.inflight)))

    def receive(self) -> None:
        """Wait a little for one frame and act on it."""
        dev = self.dev
        bad_before = dev.stats.bad_frames
        frame = dev._poll(min(0.2, dev.timeout))
        now = time.monotonic()
        if self.probe is not None and dev.stats.bad_frames > bad_before and self.probe_tries < 2:
            self.probe = None  # garbage arrived (boot text?) and may have eaten the INFO reply
            self.probe_due = True
        if frame is None:
            return
        reply = dev._parse(frame)
        if reply is None:
            return
        if isinstance(reply, p.InfoReply) and reply.seq in self.probe_seqs:
            self._probe_answered(reply)  # this probe's reply, or an earlier one's, late
            return
        if frame.after_text and self.inflight and self.probe is None:
            # text ran into the reply: a boot banner, so the device may have reset and lost
            # its thresholds; the probe tells, and re-sends what is in flight
            self.probe_due = True
            return
        pend = self.inflight.get(reply.seq)
        if pend is None:
            if isinstance(reply, p.ErrorReply):
                dev.stats.error_replies += 1
                if self.probe is None and self.inflight:
                    self.probe_due = True  # a request arrived too damaged to tell which
                    return
            dev.stats.stale_replies += 1
            return
        dev.stats.replies += 1
        if isinstance(reply, p.ErrorReply):
            self._refused(pend, reply)
            return
        del self.inflight[reply.seq]
        if not isinstance(reply, p.InferReply):
            self._give_up(
                pend.index,
                Bs4nnError(
                    f"the device answered INFER of {self.name(pend.index)} with "
                    f"{p.reply_name(reply)}"
                ),
            )
            return
        self.progress(now)
        if self.probe is None and any(o.sent_at < pend.sent_at for o in self.inflight.values()):
            self.probe_due = True  # the device answers in order: an earlier one was lost
        if dev.bitmap is None and pend.is_bitmap:
            dev.bitmap = True
        self.done[pend.index] = StreamResult(
            pend.index, reply, now - pend.sent_at, pend.wire_bytes + frame.wire_len
        )

    def _probe_answered(self, info: p.InfoReply) -> None:
        """The device answers: unless it reset, the requests in flight were lost; re-send."""
        if self.inflight:
            lost = f"{self.name(min(pd.index for pd in self.inflight.values()))} and later"
        else:  # a late reply to the probe, after every request in flight was answered
            lost = "the images not yet sent"
        self.dev._check_not_reset(info, lost)
        self.probe = None  # and progress() below renews the probe budget
        self.probe_seqs.clear()
        for pend in self.inflight.values():  # their requests or replies were lost
            self.dev._resend(pend, self.name(pend.index))
        self.progress(time.monotonic())

    def _refused(self, pend: _Pending, reply: p.ErrorReply) -> None:
        """An error reply to a request in flight: another form, a re-send, or give up."""
        dev = self.dev
        if reply.code == p.UNKNOWN_CMD and pend.is_bitmap:
            # firmware without INFER_BITMAP (optional): the other forms from now on; an
            # answer to a question, not trouble, so not one of the error_replies
            dev.bitmap = False
            try:
                pend.wire = dev._infer_wire(reply.seq, pend.pixels, self.name(pend.index))
            except Bs4nnError as error:
                del self.inflight[reply.seq]
                self._give_up(pend.index, error)
                return
            pend.sent_at = time.monotonic()
            pend.wire_bytes += dev._send(pend.wire)
            return
        dev.stats.error_replies += 1
        if reply.code in _RESEND_CODES:
            dev._resend(pend, self.name(pend.index))
            return
        del self.inflight[reply.seq]
        self._give_up(
            pend.index,
            Bs4nnError(f"the device rejected INFER of {self.name(pend.index)} with {reply.name}"),
        )

    def _give_up(self, index: int, error: Bs4nnError) -> None:
        """Image `index` (in `order`) will not be measured (it fits no request form, or the
        device refused its INFER or answered it with another reply): nothing more is sent, and
        `error` is raised in its turn, once the results before it are handed over."""
        self.done[index] = error
        self.exhausted = True
        self.held = None
