"""The Arduino board file built as a host program against a minimal Arduino.h stub (a fake
Serial on stdin/stdout, a deterministic micros()): the firmware's protocol code run on the host,
without hardware or an emulator."""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from bs4nn.codegen.ccheck import HOST_CFLAGS

ARDUINO_H = r"""
#pragma once
#include <stddef.h>
#include <stdint.h>
F_CPU_LINE
unsigned long micros(void);
class FakeSerial {
public:
    void begin(unsigned long) {}
    int available();
    int read();
    size_t write(const uint8_t *data, size_t len);
};
extern FakeSerial Serial;
"""

STUB_MAIN = r"""
#include <stdio.h>
#include "Arduino.h"
static int peeked = -1;
static bool at_eof = false;
int FakeSerial::available() {
    if (peeked < 0 && !at_eof) {
        int c = getchar();
        if (c == EOF) at_eof = true; else peeked = c;
    }
    return peeked >= 0;
}
int FakeSerial::read() {
    if (!available()) return -1;
    int c = peeked;
    peeked = -1;
    return c;
}
size_t FakeSerial::write(const uint8_t *data, size_t len) { return fwrite(data, 1, len, stdout); }
FakeSerial Serial;
static unsigned long fake_us;
unsigned long micros(void) { return fake_us += 7; }  /* deterministic clock */
void setup();
void loop();
int main() {
    setup();
    while (Serial.available()) loop();
    fflush(stdout);
    return 0;
}
"""


# A serial line at 115,200 baud into the Arduino cores' 64-byte receive buffer, which drops what
# arrives while it is full, in virtual time: a byte takes 87 us on the line, an inference 10 ms
# (micros() is read before and after it). Bytes the host wrote go on the line in order.
LINE_STUB_MAIN = r"""
#include <poll.h>
#include <stdio.h>
#include <unistd.h>
#include "Arduino.h"
#define RX_BUFFER 64
#define BYTE_US 87
#define INFER_US 10000
static unsigned char line[1 << 20];
static size_t line_head, line_tail;
static unsigned char buf[RX_BUFFER];
static int buf_head, buf_count;
static unsigned long now_us, next_arrival_us;
static bool eof;
/* Take what the host wrote. Idle (block): wait for it, then 50 ms more of real time, so that
 * requests the host sends together (its window) go on the line together. */
static void pump(bool block) {
    struct pollfd fd = {0, POLLIN, 0};
    while (!eof && line_tail < sizeof line && poll(&fd, 1, block ? -1 : 0) > 0) {
        ssize_t n = read(0, line + line_tail, sizeof line - line_tail);
        if (n <= 0) { eof = true; break; }
        if (line_head == line_tail && next_arrival_us < now_us + BYTE_US)
            next_arrival_us = now_us + BYTE_US;
        line_tail += (size_t)n;
        if (block) {
            block = false;
            while (!eof && line_tail < sizeof line && poll(&fd, 1, 50) > 0) {
                n = read(0, line + line_tail, sizeof line - line_tail);
                if (n <= 0) { eof = true; break; }
                line_tail += (size_t)n;
            }
        }
    }
}
static void arrive() {
    while (line_head < line_tail && next_arrival_us <= now_us) {
        unsigned char c = line[line_head++];
        if (buf_count < RX_BUFFER) buf[(buf_head + buf_count++) % RX_BUFFER] = c;
        else fprintf(stderr, "rx overflow\n");
        next_arrival_us += BYTE_US;
    }
    if (line_head == line_tail) line_head = line_tail = 0;
}
int FakeSerial::available() {
    pump(false);
    arrive();
    if (buf_count == 0) {
        if (line_head == line_tail) pump(true);  /* idle: wait for the host */
        if (line_head < line_tail && now_us < next_arrival_us) now_us = next_arrival_us;
        arrive();
    }
    return buf_count;
}
int FakeSerial::read() {
    if (!available()) return -1;
    int c = buf[buf_head];
    buf_head = (buf_head + 1) % RX_BUFFER;
    buf_count--;
    return c;
}
size_t FakeSerial::write(const uint8_t *data, size_t len) {
    size_t n = fwrite(data, 1, len, stdout);
    fflush(stdout);
    return n;
}
FakeSerial Serial;
unsigned long micros(void) { now_us += INFER_US / 2; arrive(); return now_us; }
void setup();
void loop();
int main() {
    setup();
    while (!eof || buf_count || line_head < line_tail) loop();
    return 0;
}
"""


def host_compilers() -> bool:
    return shutil.which("gcc") is not None and shutil.which("g++") is not None


def build_host_program(
    out: Path, build: Path, stub_main: str = STUB_MAIN, *, f_cpu: int | None = 16_000_000
) -> Path:
    """Build the export `out` (an Arduino board) in `build` on the stub `stub_main`; returns
    the program. f_cpu: the core's F_CPU (None: a core without one, as ArduinoCore-mbed)."""
    f_cpu_line = "" if f_cpu is None else f"#define F_CPU {f_cpu}UL"
    (build / "Arduino.h").write_text(ARDUINO_H.replace("F_CPU_LINE", f_cpu_line))
    (build / "stub_main.cpp").write_text(stub_main)
    inc = [
        "-I",
        str(build),
        "-I",
        str(out / "core"),
        "-I",
        str(out / "protocol"),
        "-I",
        str(out / "generated"),
        "-I",
        str(out / "board"),
    ]
    objs = []
    for src in [
        *sorted(out.glob("core/*.c")),
        *sorted(out.glob("protocol/*.c")),
        out / "generated" / "bs4nn_model.c",
    ]:
        obj = build / (src.parent.name + "_" + src.stem + ".o")
        subprocess.run(
            [
                "gcc",
                *HOST_CFLAGS,
                *inc,
                "-c",
                str(src),
                "-o",
                str(obj),
            ],
            check=True,
        )
        objs.append(obj)
    for src in [out / "board" / "board_arduino.cpp", build / "stub_main.cpp"]:
        obj = build / (src.stem + ".o")
        subprocess.run(
            [
                "g++",
                "-std=c++11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-O2",
                '-DBS4NN_BOARD_NAME="nucleo_f446re"',
                "-DBS4NN_CLOCK_HZ=125000000u",  # as platformio.ini sets it (the board's)
                *inc,
                "-c",
                str(src),
                "-o",
                str(obj),
            ],
            check=True,
        )
        objs.append(obj)
    exe = build / "firmware_host"
    subprocess.run(["g++", *map(str, objs), "-o", str(exe)], check=True)
    return exe


def build_host_firmware(out: Path, build: Path) -> Callable[[bytes], bytes]:
    """Build the export `out` (an Arduino board) in `build`; returns run(stdin) -> stdout."""
    exe = build_host_program(out, build)

    def run(data: bytes) -> bytes:
        return subprocess.run(
            [str(exe)], input=data, capture_output=True, check=True, timeout=60
        ).stdout

    return run
