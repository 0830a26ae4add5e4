"""Ctrl-C, SIGTERM and SIGHUP held back while a parallel numba kernel runs, and while a staged
folder's entries are renamed into place (trainer/files.py: all of them or none).

A signal taken inside numba's parallel region does not come out as KeyboardInterrupt: the
kernel returns "a result with an exception set" (a SystemError, which the commands' interrupt
handlers do not see, so no resume hint), and now and then the interpreter crashes on return
(seen as a segmentation fault when `bs4nn train` was interrupted while calibrating). The
kernels run for a second or so; the signal is taken as soon as one returns.
"""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# the signals the CLI takes as an interruption besides Ctrl-C (its Terminated), and what its
# last line says of each
TERMINATING = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
HELD = (signal.SIGINT, *TERMINATING)


@contextmanager
def signals_held() -> Iterator[None]:
    """Within the block SIGINT, SIGTERM and SIGHUP are only noted; afterwards the handlers in
    force before are back and each signal noted is raised again, once, so that they act as usual
    (KeyboardInterrupt, the CLI's Terminated). Outside the main thread, which cannot set
    handlers, and for a signal whose handler Python did not set, nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []

    def note(signum, frame) -> None:
        noted.append(signum)

    before = {s: signal.getsignal(s) for s in HELD}
    before = {s: h for s, h in before.items() if h is not None}
    for s in before:
        signal.signal(s, note)
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(noted):
            signal.raise_signal(s)
