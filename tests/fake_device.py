"""A device in Python: the firmware's side of the protocol, answered by bs4nn.codegen.reference.

It serves one end of a pty pair from a thread; the host opens the other end with
SerialTransport exactly as it opens a board. Faults can be injected to test the host's
reliability: garbage bytes, dropped replies, a reset in the middle of a run, silence.
"""

from __future__ import annotations

import os
import select
import threading
from collections import Counter
from dataclasses import dataclass, field, replace

import device_protocol as dp

from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_infer
from bs4nn.host import protocol as p
from bs4nn.trainer.semantics import K_MAX, K_MIN, NO_SPIKE, NOT_FIRED


@dataclass
class Faults:
    """Fault injection, keyed by the 1-based number of the INFER request received."""

    garbage_before: dict[int, bytes] = field(default_factory=dict)  # bytes sent before reply n
    drop_replies: set[int] = field(default_factory=set)  # request n computed, reply not sent
    reset_at: int | None = None  # request n lost, thresholds back to default, boot text sent
    # between requests: thresholds back to default and boot text sent, then request n computed
    reset_before: int | None = None
    reply_delay_s: float = 0.0  # each INFER takes this long (a slow board)
    silent_after: int | None = None  # requests after n get no answer at all
    hang_up_at: int | None = None  # request n hangs up the link (0: the handshake's INFO)
    # reply n has this field wrong (label + 1, decision_step + 1, fallback flipped, output 0's
    # step moved, input spikes + 1): a mismatch of that field alone
    wrong: dict[int, str] = field(default_factory=dict)
    boot_text: bytes = b"bs4nn boot\r\n"
    banner: bytes = b""  # sent right before the first reply, no 0x00 between (a booting board)


class FakeDevice:
    """`with FakeDevice(intmodel) as dev:` then open `dev.port` on the host side."""

    def __init__(
        self,
        model: IntModel,
        faults: Faults | None = None,
        model_hash: str | None = None,
        board: str = "fake",
        kernel: str = "python-reference",
        bitmap: bool = True,
        rx_buffer: int = 0,
    ) -> None:
        self.model = model
        self.faults = faults or Faults()
        self.model_hash = bytes.fromhex(model_hash or model.model_hash)
        self.board = board
        self.kernel = kernel
        self.bitmap = bitmap  # False: answers INFER_BITMAP with UNKNOWN_CMD (optional command)
        self.rx_buffer = rx_buffer  # reported in INFO (0: flow-controlled)
        self.frame_types: Counter[int] = Counter()  # requests received, by type
        self.thresholds: tuple[int, ...] = tuple(model.thresholds)
        self.infer_requests = 0  # INFER frames received, including dropped ones
        self.answered: list[int] = []  # seqs of INFER replies sent
        self._banner = self.faults.banner
        self._master, slave = os.openpty()
        self.port = os.ttyname(slave)
        os.close(slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="fake-device")

    def __enter__(self) -> FakeDevice:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop and hang up: the host then sees the link closed (like QEMU exiting)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        if self._master >= 0:
            os.close(self._master)
            self._master = -1

    # ------------------------------------------------------------ device side

    def _write(self, data: bytes) -> None:
        data, self._banner = self._banner + data, b""
        view = memoryview(data)
        while view:
            n = os.write(self._master, view)
            view = view[n:]

    def _serve(self) -> None:
        splitter = p.FrameSplitter()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:  # host side not open yet or closed
                self._stop.wait(0.01)
                continue
            for encoded in splitter.feed(data):
                outcome = self._handle(encoded)
                if outcome == "hang up":  # the host then sees the link closed
                    self._stop.set()
                    os.close(self._master)
                    self._master = -1
                    return
                if outcome == "reset":
                    splitter.clear()
                    break

    def _handle(self, encoded: bytes) -> str | None:
        try:
            frame = p.parse_frame(encoded)
        except p.ProtocolError as exc:
            code = p.BAD_CRC if "CRC" in str(exc) else p.BAD_FRAME
            self._write(dp.error_reply(p.SEQ_UNKNOWN, code))
            return None
        self.frame_types[frame.type] += 1
        if frame.type in (p.INFER, p.INFER_SPARSE) or (
            frame.type == p.INFER_BITMAP and self.bitmap
        ):
            return self._infer(frame)
        if self.faults.silent_after is not None and self.infer_requests >= self.faults.silent_after:
            return None
        if frame.type == p.INFO and self.faults.hang_up_at == 0:
            return "hang up"
        if frame.type == p.INFO:
            self._write(dp.info_reply(self._info(frame.seq)))
        elif frame.type == p.SET_THRESHOLDS:
            n = self.model.num_layers
            ks = [
                int.from_bytes(frame.body[2 * i : 2 * i + 2], "little", signed=True)
                for i in range(n)
            ]
            if len(frame.body) != 2 * n:
                self._write(dp.error_reply(frame.seq, p.BAD_LENGTH))
            elif not all(K_MIN <= k <= K_MAX for k in ks):
                self._write(dp.error_reply(frame.seq, p.BAD_ARG))
            else:
                self.thresholds = tuple(ks)
                self._write(dp.thresholds_reply(frame.seq, self.thresholds))
        elif frame.type == p.RESET:
            self.thresholds = tuple(self.model.thresholds)
            self._write(dp.reset_reply(frame.seq))
        else:
            self._write(dp.error_reply(frame.seq, p.UNKNOWN_CMD))
        return None

    def _info(self, seq: int) -> p.InfoReply:
        return p.InfoReply(
            seq=seq,
            protocol_version=p.PROTOCOL_VERSION,
            model_hash=self.model_hash,
            layer_sizes=tuple(self.model.layer_sizes),
            thresholds=self.thresholds,
            tmax=self.model.tmax,
            clock_hz=25_000_000,
            counter_kind=1,
            board=self.board,
            kernel=self.kernel,
            rx_buffer=self.rx_buffer,
        )

    def _infer(self, frame: p.Frame) -> str | None:
        self.infer_requests += 1
        n = self.infer_requests
        f = self.faults
        if f.hang_up_at == n:
            return "hang up"
        if f.reset_at == n:
            self.thresholds = tuple(self.model.thresholds)
            self._write(f.boot_text)
            return "reset"
        if f.reset_before == n:
            self.thresholds = tuple(self.model.thresholds)
            self._write(f.boot_text)
        # a slow board; closed meanwhile (the test is over), it answers nothing
        if f.reply_delay_s and self._stop.wait(f.reply_delay_s):
            return None
        if f.silent_after is not None and n > f.silent_after:
            return None
        try:
            pixels = dp.parse_request_pixels(frame, self.model.layer_sizes[0])
        except p.ProtocolError as exc:
            self._write(dp.error_reply(frame.seq, exc.args[1]))
            return None
        ref = reference_infer(self.model, pixels, self.thresholds)
        if n in f.garbage_before:
            self._write(f.garbage_before[n])
        if n in f.drop_replies:
            return None
        reply = p.InferReply(
            seq=frame.seq,
            label=ref.label,
            fallback=ref.fallback,
            decision_step=ref.decision_step,
            output_steps=tuple(NO_SPIKE if s == NOT_FIRED else int(s) for s in ref.output_steps),
            spikes=tuple(int(s) for s in ref.spikes),
            counter=1000 + 10 * ref.decision_step + int(ref.spikes.sum()),
        )
        if n in f.wrong:
            reply = _with_wrong(reply, f.wrong[n], self.model.layer_sizes[-1])
        self._write(dp.infer_reply(reply))
        self.answered.append(frame.seq)
        return None


def _with_wrong(reply: p.InferReply, name: str, n_out: int) -> p.InferReply:
    """`reply` with one field made wrong (Faults.wrong)."""
    if name == "label":
        return replace(reply, label=(reply.label + 1) % n_out)
    if name == "decision_step":
        return replace(reply, decision_step=reply.decision_step + 1)
    if name == "fallback":
        return replace(reply, fallback=not reply.fallback)
    if name == "output_steps":
        first = reply.output_steps[0]
        moved = 0 if first == NO_SPIKE else NO_SPIKE
        return replace(reply, output_steps=(moved, *reply.output_steps[1:]))
    if name == "spikes":
        return replace(reply, spikes=(reply.spikes[0] + 1, *reply.spikes[1:]))
    raise ValueError(f"no such field {name!r}")
