"""The Arduino board file built as a host program against a minimal Arduino.h stub (a fake
Serial on stdin/stdout, a deterministic micros()): the firmware's protocol code run on the host,
without hardware or an emulator."""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

ARDUINO_H = r"""
#pragma once
#include <stddef.h>
#include <stdint.h>
#define F_CPU 16000000UL
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


def host_compilers() -> bool:
    return shutil.which("gcc") is not None and shutil.which("g++") is not None


def build_host_firmware(out: Path, build: Path) -> Callable[[bytes], bytes]:
    """Build the export `out` (an Arduino target) in `build`; returns run(stdin) -> stdout."""
    (build / "Arduino.h").write_text(ARDUINO_H)
    (build / "stub_main.cpp").write_text(STUB_MAIN)
    inc = ["-I", str(build), "-I", str(out / "core"), "-I", str(out / "protocol"),
           "-I", str(out / "generated"), "-I", str(out / "board")]
    objs = []
    for src in [*sorted(out.glob("core/*.c")), *sorted(out.glob("protocol/*.c")),
                out / "generated" / "bs4nn_model.c"]:
        obj = build / (src.parent.name + "_" + src.stem + ".o")
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", *inc, "-c",
                        str(src), "-o", str(obj)], check=True)
        objs.append(obj)
    for src in [out / "board" / "board_arduino.cpp", build / "stub_main.cpp"]:
        obj = build / (src.stem + ".o")
        subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-O2",
                        '-DBS4NN_BOARD_NAME="nucleo_f446re"', *inc, "-c", str(src), "-o",
                        str(obj)], check=True)
        objs.append(obj)
    exe = build / "firmware_host"
    subprocess.run(["g++", *map(str, objs), "-o", str(exe)], check=True)

    def run(data: bytes) -> bytes:
        return subprocess.run([str(exe)], input=data, capture_output=True, check=True,
                              timeout=60).stdout

    return run
