"""Ctrl-C and SIGTERM during the parallel numba kernels (bs4nn.trainer.interrupts)."""

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bs4nn.trainer.calibrate import calibrate_thresholds
from bs4nn.trainer.interrupts import signals_held
from bs4nn.trainer.model import Model

MODEL = Path(__file__).resolve().parents[1] / "models" / "mnist-600-surrogate.bs4nn"


def test_a_signal_in_the_block_acts_once_when_it_ends():
    seen = []

    def stop(signum, frame):
        seen.append(signum)
        raise RuntimeError("stopped")

    before = signal.signal(signal.SIGTERM, stop)
    try:
        done = False
        with pytest.raises(RuntimeError, match="stopped"):
            with signals_held():
                os.kill(os.getpid(), signal.SIGTERM)
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # where the handler would have run
                assert seen == []
                done = True
        assert done
        assert seen == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is stop
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, before)


def test_nothing_is_held_outside_the_main_thread():
    handlers = []

    def inside():
        with signals_held():
            handlers.append(signal.getsignal(signal.SIGINT))

    worker = threading.Thread(target=inside)
    worker.start()
    worker.join()
    assert handlers == [signal.default_int_handler]


def test_ctrl_c_while_calibrating_is_a_keyboard_interrupt():
    # in numba's parallel region it came out as a SystemError (or was lost, or crashed)
    model = Model.load(MODEL)
    rng = np.random.default_rng(0)
    images = (rng.integers(0, 256, (3000, 784)) * (rng.random((3000, 784)) < 0.2)).astype(np.uint8)
    labels = rng.integers(0, 10, 3000)
    calibrate_thresholds(model, images[:10], labels[:10], log=lambda line: None)  # compiled
    started = time.monotonic()
    calibrate_thresholds(model, images, labels, log=lambda line: None)
    took = time.monotonic() - started
    for share in (0.2, 0.4):
        timer = threading.Timer(took * share, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                # on a loaded machine a call may end before the signal: the next one takes it
                for _ in range(50):
                    calibrate_thresholds(model, images, labels, log=lambda line: None)
        finally:
            timer.join()
