// Runs bs4nn firmware on the RP2040 emulated by the npm package rp2040js and exposes UART0 on a
// TCP socket (the host opens it as socket://127.0.0.1:PORT; bs4nn.host.rp2040js starts this).
//
//   node harness.js build/firmware.bin [--rx-baud BAUD] [--port PORT]
//
// The firmware image is linked at the start of flash (0x10000000, vector table first): the core
// starts at its reset vector, as the boot ROM would after the second-stage boot loader.
// Virtual time advances with rp2040js's cycle count (8 ns per cycle at 125 MHz), so the
// firmware's SysTick counts cycles.
//
// Receive side: without --rx-baud a byte enters UART0's 32-byte RX FIFO whenever it has room
// (the line never loses a byte). With --rx-baud the bytes arrive at that line rate in virtual
// time (10 bits a byte) whether or not the FIFO has room, and a byte that finds the FIFO full is
// dropped, as on the real chip: each drop is reported on stderr ("rx overflow: ...").
'use strict';

const fs = require('fs');
const net = require('net');
const { RP2040 } = require('rp2040js');

const FLASH_BASE = 0x10000000;
const NS_PER_CYCLE = 8; // rp2040js's default clk_sys, 125 MHz
const BATCH = 200000; // instructions between looks at the socket

function usage(msg) {
  process.stderr.write(`harness.js: ${msg}\nusage: node harness.js FIRMWARE.bin [--rx-baud BAUD] [--port PORT]\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let firmware = null;
let rxBaud = 0;
let port = 0;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--rx-baud') rxBaud = Number(argv[++i]);
  else if (argv[i] === '--port') port = Number(argv[++i]);
  else if (firmware === null) firmware = argv[i];
  else usage(`unexpected argument ${argv[i]}`);
}
if (firmware === null) usage('no firmware given');
if (!(rxBaud >= 0) || !Number.isInteger(port)) usage('--rx-baud and --port take numbers');

const mcu = new RP2040();
const image = fs.readFileSync(firmware);
mcu.flash.set(image, 0);
const { core, clock } = mcu;
const uart = mcu.uart[0];
core.VTOR = FLASH_BASE;
core.SP = mcu.readUint32(FLASH_BASE);
core.PC = mcu.readUint32(FLASH_BASE + 4) & ~1;

const pending = []; // bytes from the host not yet on the line
let pendingHead = 0;
const byteNs = rxBaud ? 1e9 * 10 / rxBaud : 0;
let nextByteAt = 0;
let dropped = 0;
let out = [];
let client = null;
let idle = false;

uart.onByte = (value) => out.push(value);

function feed() {
  if (pendingHead >= pending.length) return;
  if (!rxBaud) {
    while (pendingHead < pending.length && !uart.rxFIFO.full) uart.feedByte(pending[pendingHead++]);
  } else {
    while (pendingHead < pending.length && clock.nanos >= nextByteAt) {
      const value = pending[pendingHead++];
      if (uart.rxFIFO.full) {
        dropped++;
        process.stderr.write(`rx overflow: byte ${dropped} dropped (RX FIFO full)\n`);
      } else {
        uart.feedByte(value);
      }
      nextByteAt += byteNs;
    }
  }
  if (pendingHead >= pending.length) {
    pending.length = 0;
    pendingHead = 0;
  }
}

function flush() {
  if (out.length && client) client.write(Buffer.from(out));
  out = [];
}

function run() {
  idle = false;
  for (let i = 0; i < BATCH; i++) {
    feed();
    if (core.waiting) {
      const more = pendingHead < pending.length;
      if (more && rxBaud && clock.nanos < nextByteAt) {
        clock.tick(nextByteAt - clock.nanos); // sleep until the next byte is on the line
        continue;
      }
      if (!more && !core.interruptsUpdated) {
        idle = true; // WFI and nothing to come: wait for the host
        break;
      }
    }
    clock.tick(core.executeInstruction() * NS_PER_CYCLE);
  }
  flush();
  if (!idle) setImmediate(run);
}

const server = net.createServer((socket) => {
  if (client) client.destroy();
  client = socket;
  socket.setNoDelay(true);
  socket.on('data', (data) => {
    if (rxBaud && pendingHead >= pending.length) nextByteAt = Math.max(nextByteAt, clock.nanos + byteNs);
    for (const value of data) pending.push(value);
    if (idle) run();
  });
  socket.on('close', () => {
    if (client === socket) client = null;
  });
  socket.on('error', () => {});
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`bs4nn-rp2040js: serving UART0 on socket://127.0.0.1:${server.address().port}\n`);
  run();
});
process.on('SIGTERM', () => process.exit(0));
