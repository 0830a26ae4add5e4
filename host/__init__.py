"""Host side: talk to the board over serial, prove it bit-exact, measure it.

protocol     frames of docs/design.md section 4 (COBS, CRC-16/CCITT-FALSE), no I/O
transport    pyserial port, pyserial URL (socket://...) or QEMU pty, every read with a timeout
emulate      the emulated boards (`bs4nn boards`): start the board's emulator, always stop it
qemu         QEMU for the qemu-* boards (design.md section 5), serial on a pty
rp2040js     rp2040js (Node.js) for rp2040js-pico, serial on a TCP socket
client       Device: handshake, INFER (dense/sparse), SET_THRESHOLDS, RESET, pipelined stream
build        `bs4nn build`: compile an export, sizes against the board's flash and RAM
firmware     an emulated board's firmware: exported and built, or reused when unchanged
connect      a handshaken Device on a serial port or on an emulated board (started, stopped)
stream       stream images to a connected board, one CSV record per image against the reference
records      per-image CSV (written as it goes; --resume reads it back)
report       report.json figures, console table, PNG plots
bench        `bs4nn bench` / run_bench(); sweep: `bs4nn sweep` (paper Fig. 7 on the device)
"""
