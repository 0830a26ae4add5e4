"""The defaults of the host's commands that their --help shows: how to talk to the board
(bench, sweep) and what eembc runs; the default board is bs4nn.codegen.boards'. Free of numpy
and pyserial: building the parser (`bs4nn --help`) should not wait for them."""

DEFAULT_BAUD = 115200  # the firmware's serial link
DEFAULT_TIMEOUT_S = 5.0
# two requests in flight: the next image arrives in the device's 512-byte RX ring while it
# computes; more only queue bytes in the pty (the emulated UART moves ~30 kB/s either way)
DEFAULT_WINDOW = 2
# Reply bytes the host's serial driver holds while the host is busy sending (a Linux tty holds
# 4096): no more INFER replies are left unanswered than fit, whatever the window. Past that, a
# flow-controlled device (the QEMU boards) blocks writing replies that no one reads, stops
# reading requests, and the host's next write times out.
HOST_RX_BYTES = 4096

# bs4nn eembc: test images of accuracy mode, the runner's modes (and their letters), and the
# VID:PID of the reference DUT (ST-LINK/V2-1) in the runner's devices_kws_ic_vww.yaml, which
# the emulated board is presented with
DEFAULT_LIMIT = 200
MODES = {"accuracy": "a", "performance": "p"}
DEFAULT_USB = (0x0483, 0x374B)
