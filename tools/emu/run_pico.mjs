// The emulated-board tier's runner: a MicroPython RP2 image (the standard RPI_PICO UF2) on the
// rp2040js emulator (npm `rp2040js`, pinned in tools/emu/package.json, installed by `make` into
// .venv/node), with the Pico's flash filesystem, pads, ADC and watchdog made observable for tests.
//
//   node tools/emu/run_pico.mjs [--image UF2] [--bootrom BIN] [--fs IMG] [--save-fs IMG]
//        [--tcp PORT] [--gpio N=0|1,...] [--adc CH=RAW12,...] [--watch N,...] [--trace FILE]
//        [--bursts N] [--rotor STEP:ROT] [--pressure CH=IDLE:PEAK:HOLD_MS] [--expect TEXT]
//        [--timeout S] [--quiet]
//
// --image    UF2 or .bin (default $PUMP_PICO_UF2, else ../shared/emu/RPI_PICO-v1.28.0.uf2 beside the repo)
// --bootrom  RP2040 B1 mask ROM (default $PUMP_PICO_BOOTROM, else ../shared/emu/rp2040-bootrom-b1.bin)
// --fs       flash filesystem image (littlefs2, 1408 KiB at flash 0xa0000: tools/emu/mkfs.py makes one)
// --save-fs  write that flash region to IMG when the runner stops (a power cut keeps the flash)
// --tcp      the USB-CDC serial on 127.0.0.1:PORT (0: any free port), for pyserial/mpremote
//            `socket://127.0.0.1:PORT`, one client at a time (a new one takes over). stdin then carries
//            CONTROL lines (below).
//            Without --tcp the serial is bridged to stdin/stdout, raw bytes.
// --gpio     drive inputs from outside (a button held: 14=0; the bench jumper closed: 22=0)
// --adc      ADC inputs, 12-bit raw (0..4095), channels 0..3 (GP26..GP29) and 4 (temperature)
// --watch    pins whose edges are counted (rises/falls, level, last change); --trace FILE writes
//            every change of a watched pin as `<emulated us> <pin> <level>`
// --bursts   a PWM pin whose toggling is summarised as bursts: [start_us, end_us, rising edges], a
//            burst ending after BURST_GAP_US without an edge (a tone pulse of the buzzer)
// --rotor    the pump's rotor sensor: each STEP rising edge drives ROT low, its falling edge releases
//            it high (one rising edge per step, as a turning rotor gives the hall switch)
// --pressure the line's pressure sensor on ADC channel CH (raw12): IDLE at rest, PEAK for HOLD_MS of
//            emulated time after each step (the line pushing against the catheter; PEAK - IDLE is
//            kept when `adc CH=...` moves the idle level)
// Stderr: `[run-pico] ...` progress (--quiet: errors only); at the end the emulated/wall time.
//
// CONTROL (stdin lines with --tcp; each answered by one JSON line on stdout):
//   state              {"t_us", "pins": {N: {level, rises, falls, last_us}}, "bursts": [...],
//                       "wdt": {enabled, armed_ever, triggers}, "usb": connected}
//   wait US            answers `state` once US more microseconds of emulated time have passed
//   gpio N=0|1|z       drive input N (z: release it to its pull)
//   adc CH=RAW12       set an ADC input (with --pressure on CH: its IDLE level)
//   rotor on|off       the rotor turns with the steps, or stands still (a motor stall)
//   save IMG           write the flash filesystem region now
//   quit               stop (writes --save-fs) and exit 0
// Exit: 0 (quit, stdin closed, --expect seen), 3 (--timeout, wall seconds), 143 (SIGTERM).
//
// Emulated time runs below real time while the CPU works (about 0.1-0.4x) and far above it while the
// CPU sleeps (WFE: the emulator skips to the next timer event), and instruction timing is not
// calibrated: use the emulator for behaviour, never for speed. Only core 0 runs; a watchdog trigger
// is counted, not acted on.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const SHARED = path.resolve(REPO, '..', 'shared', 'emu');
// rp2040js is installed outside the source tree (make: .venv/node); PUMP_EMU_NODE_MODULES overrides
const MODULES = process.env.PUMP_EMU_NODE_MODULES || path.join(REPO, '.venv', 'node', 'node_modules');
const require = createRequire(path.join(MODULES, 'noop.js'));
const { Simulator, USBCDC, ConsoleLogger, LogLevel, GPIOPinState } = require('rp2040js');

const FLASH_START = 0x10000000;
const FS_OFFSET = 0xa0000;        // RPI_PICO: 2 MiB flash - MICROPY_HW_FLASH_STORAGE_BYTES (1408 KiB)
const FS_SIZE = 1408 * 1024;
const BURST_GAP_US = 5000;        // a PWM pin silent this long ends a burst (tones are >= 20 Hz)
const MAX_BURSTS = 400;           // the newest are kept

function parseArgs(argv) {
  const a = {
    image: process.env.PUMP_PICO_UF2 || path.join(SHARED, 'RPI_PICO-v1.28.0.uf2'),
    bootrom: process.env.PUMP_PICO_BOOTROM || path.join(SHARED, 'rp2040-bootrom-b1.bin'),
    fs: null, saveFs: null, expect: null, timeout: 0, quiet: false, tcp: null,
    gpio: {}, adc: {}, watch: [], trace: null, bursts: null, rotor: null, pressure: null,
  };
  const pairs = (s, f) => { for (const kv of s.split(',')) { const [k, v] = kv.split('='); f(Number(k), v); } };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === '--image') a.image = v();
    else if (k === '--bootrom') a.bootrom = v();
    else if (k === '--fs') a.fs = v();
    else if (k === '--save-fs') a.saveFs = v();
    else if (k === '--expect') a.expect = v();
    else if (k === '--timeout') a.timeout = Number(v());
    else if (k === '--quiet') a.quiet = true;
    else if (k === '--tcp') a.tcp = Number(v());
    else if (k === '--gpio') pairs(v(), (p, x) => { a.gpio[p] = x === '1'; });
    else if (k === '--adc') pairs(v(), (c, x) => { a.adc[c] = Number(x); });
    else if (k === '--watch') a.watch = v().split(',').map(Number);
    else if (k === '--trace') a.trace = v();
    else if (k === '--bursts') a.bursts = Number(v());
    else if (k === '--rotor') { const [st, rot] = v().split(':').map(Number); a.rotor = { step: st, pin: rot }; }
    else if (k === '--pressure') {
      const [ch, rest] = v().split('=');
      const [idle, peak, hold] = rest.split(':').map(Number);
      a.pressure = { ch: Number(ch), idle, rise: peak - idle, holdNs: hold * 1e6 };
    }
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
const log = (msg) => { if (!args.quiet) process.stderr.write(`[run-pico] ${msg}\n`); };

const _rom = fs.readFileSync(args.bootrom);
const simulator = new Simulator();
const mcu = simulator.rp2040;
mcu.loadBootrom(new Uint32Array(_rom.buffer, _rom.byteOffset, _rom.length >> 2));
mcu.logger = new ConsoleLogger(LogLevel.Error);
const nowUs = () => Math.round(simulator.clock.nanos / 1000);

function loadImage(file) {
  const data = fs.readFileSync(file);
  if (file.endsWith('.uf2')) {
    for (let off = 0; off + 512 <= data.length; off += 512) {
      if (data.readUInt32LE(off) !== 0x0a324655 || data.readUInt32LE(off + 4) !== 0x9e5d5157) {
        throw new Error(`${file}: bad UF2 block at ${off}`);
      }
      const addr = data.readUInt32LE(off + 12);
      const size = data.readUInt32LE(off + 16);
      mcu.flash.set(data.subarray(off + 32, off + 32 + size), addr - FLASH_START);
    }
  } else {
    mcu.flash.set(data, 0);           // a plain .bin linked at 0x10000000
  }
  log(`loaded ${file} (${data.length} bytes)`);
}

// --- SPI NOR flash: program and erase ----------------------------------------------------------
// rp2040js ignores commands sent through the SSI, so MicroPython's littlefs writes would be lost.
// The bootrom's flash routines drive QSPI_SS low through IO_QSPI GPIO_QSPI_SS_CTRL.OUTOVER and clock
// bytes through SSI DR0: decode those as a W25Q16JV would (status never busy).
const ssi = mcu.peripherals[0x18000];
const chip = { selected: false, cmd: [], wel: false, rx: [] };
function commandDone() {
  const c = chip.cmd;
  if (c.length === 0) return;
  const op = c[0];
  const addr = ((c[1] << 16) | (c[2] << 8) | c[3]) >>> 0;
  if (op === 0x06) chip.wel = true;                       // write enable
  else if (op === 0x04) chip.wel = false;                 // write disable
  else if (op === 0x02 && chip.wel && c.length > 4) {     // page program: bits only go 1 -> 0
    const page = addr & ~0xff;
    for (let i = 4; i < c.length; i++) mcu.flash[page + ((addr + i - 4) & 0xff)] &= c[i];
    chip.wel = false;
  } else if ((op === 0x20 || op === 0x52 || op === 0xd8) && chip.wel && c.length >= 4) {  // erase
    const size = op === 0x20 ? 4096 : op === 0x52 ? 32768 : 65536;
    const start = addr & ~(size - 1);
    mcu.flash.fill(0xff, start, start + size);
    chip.wel = false;
  } else if ((op === 0x60 || op === 0xc7) && chip.wel) {  // chip erase
    mcu.flash.fill(0xff);
    chip.wel = false;
  }
}
function flashByte(b) {
  const c = chip.cmd;
  c.push(b);
  const op = c[0];
  const n = c.length - 1;
  let r = 0;
  if (op === 0x03 && n >= 4) r = mcu.flash[(((c[1] << 16) | (c[2] << 8) | c[3]) + n - 4) & 0xffffff];
  else if (op === 0x0b && n >= 5) r = mcu.flash[(((c[1] << 16) | (c[2] << 8) | c[3]) + n - 5) & 0xffffff];
  else if (op === 0x9f) r = [0, 0xef, 0x40, 0x15][n] ?? 0;                           // JEDEC id
  else if (op === 0x4b && n >= 5) r = [0xe6, 0x60, 0x38, 0xb7, 0x13, 0x21, 0x2a, 0x2b][n - 5] ?? 0;  // unique id
  chip.rx.push(r);
}
const ssiWrite = ssi.writeUint32.bind(ssi);
const ssiRead = ssi.readUint32.bind(ssi);
ssi.writeUint32 = (offset, value) => {
  if (offset === 0x60) {                                  // DR0, full duplex
    if (chip.selected) flashByte(value & 0xff);
    else chip.rx.push(0);
    if (chip.rx.length > 64) chip.rx.shift();
  }
  if (offset === 0x08) chip.rx = [];                      // SSIENR flushes the FIFOs
  ssiWrite(offset, value);
};
ssi.readUint32 = (offset) => {
  if (offset === 0x60) return chip.rx.length ? chip.rx.shift() : ssiRead(offset);
  if (offset === 0x20) return 0;                          // TXFLR: drains at once
  if (offset === 0x24) return chip.rx.length;             // RXFLR
  return ssiRead(offset);
};
const ioQspi = mcu.peripherals[0x40018];
const ioQspiRegs = new Map();
ioQspi.readUint32 = (offset) => ioQspiRegs.get(offset) ?? 0;
ioQspi.writeUint32 = (offset, value) => {
  ioQspiRegs.set(offset, value >>> 0);
  if (offset === 0x0c) {                                  // GPIO_QSPI_SS_CTRL
    const sel = ((value >>> 8) & 3) === 2;                // OUTOVER = drive low: chip selected
    if (sel && !chip.selected) chip.cmd = [];
    if (!sel && chip.selected) { commandDone(); chip.cmd = []; }
    chip.selected = sel;
  }
};

loadImage(args.image);
if (args.fs) {
  const img = fs.readFileSync(args.fs);
  if (img.length > FS_SIZE) throw new Error(`${args.fs}: ${img.length} bytes, more than ${FS_SIZE}`);
  mcu.flash.set(img, FS_OFFSET);
  log(`loaded filesystem image ${args.fs} (${img.length} bytes)`);
}
function saveFs(file) {
  fs.writeFileSync(file, mcu.flash.subarray(FS_OFFSET, FS_OFFSET + FS_SIZE));
  log(`saved the filesystem to ${file}`);
}

// --- pads: pulls, outputs read back, external drivers, edge counters ---------------------------
// rp2040js alone reads 0 from an undriven input: a pulled-up input must read 1 (the button, jumper).
const driven = { ...args.gpio };
const watched = new Map();          // pin -> {level, rises, falls, last_us}
for (const p of args.watch) watched.set(p, { level: null, rises: 0, falls: 0, last_us: null });
const traceFd = args.trace ? fs.openSync(args.trace, 'w') : null;
const bursts = [];
let burst = null;                   // the burst in progress: [start_us, end_us, rises]
function levelOf(state) {
  if (state === GPIOPinState.High) return 1;
  if (state === GPIOPinState.Low) return 0;
  return null;                      // an input
}
mcu.gpio.forEach((pin, i) => {
  const apply = (state) => {
    let v;
    if (i in driven) v = driven[i];
    else if (state === GPIOPinState.High || state === GPIOPinState.InputPullUp) v = true;
    else if (state === GPIOPinState.Low || state === GPIOPinState.InputPullDown) v = false;
    else v = pin.rawInputValue;
    if (v !== pin.rawInputValue) pin.setInputValue(v);
  };
  const w = watched.get(i);
  pin.addListener((state) => {
    apply(state);
    const level = levelOf(state);
    if (i === args.bursts && level === 1) {
      const t = nowUs();
      if (burst && t - burst[1] <= BURST_GAP_US) { burst[1] = t; burst[2] += 1; }
      else {
        burst = [t, t, 1];
        bursts.push(burst);
        if (bursts.length > MAX_BURSTS) bursts.shift();
      }
    }
    if (!w || level === null || level === w.level) return;
    const t = nowUs();
    if (w.level === 0 && level === 1) w.rises += 1;
    if (w.level === 1 && level === 0) w.falls += 1;
    w.level = level;
    w.last_us = t;
    if (traceFd !== null) fs.writeSync(traceFd, `${t} ${i} ${level}\n`);
  });
  if (i in driven) pin.setInputValue(driven[i]);
});
for (const [c, v] of Object.entries(args.adc)) mcu.adc.channelValues[Number(c)] = v;

// --- the pump's sensors: rotor pulses and line pressure follow the STEP pin ----------------------
let rotorTurns = true;
const pressure = args.pressure;
let pressureAlarm = null;
if (pressure) {
  mcu.adc.channelValues[pressure.ch] = pressure.idle;
  pressureAlarm = simulator.clock.createAlarm(() => { mcu.adc.channelValues[pressure.ch] = pressure.idle; });
}
function onStepEdge(level) {
  if (args.rotor && rotorTurns) {
    driven[args.rotor.pin] = level === 0;        // low while STEP is high: a rising edge as it falls
    mcu.gpio[args.rotor.pin].setInputValue(driven[args.rotor.pin]);
  }
  if (pressure && level === 1) {
    mcu.adc.channelValues[pressure.ch] = Math.min(4095, pressure.idle + pressure.rise);
    pressureAlarm.schedule(pressure.holdNs);
  }
}
if (args.rotor) {
  driven[args.rotor.pin] = true;
  let last = null;
  mcu.gpio[args.rotor.step].addListener((st) => {
    const level = levelOf(st);
    if (level !== null && level !== last) { last = level; onStepEdge(level); }
  });
} else if (pressure) {
  throw new Error('--pressure needs --rotor STEP:ROT (the STEP pin)');
}

// --- watchdog: armed state and triggers (no reset: the emulator cannot restart the chip) -------
const wdt = { armedEver: false, triggers: 0 };
const watchdog = mcu.peripherals[0x40058];
const wdtWrite = watchdog.writeUint32.bind(watchdog);
watchdog.writeUint32 = (offset, value) => {
  if (offset === 0 && (value & (1 << 30))) wdt.armedEver = true;
  wdtWrite(offset, value);
};
watchdog.onWatchdogTrigger = () => { wdt.triggers += 1; log(`watchdog triggered at ${nowUs()} us`); };







function state() {
  const pins = {};
  for (const [p, w] of watched) pins[p] = w;
  return {
    t_us: nowUs(), pins, bursts,
    wdt: { enabled: (watchdog.readUint32(0) & (1 << 30)) !== 0, armed_ever: wdt.armedEver, triggers: wdt.triggers },
    usb: connected,
  };
}

// --- USB CDC serial <-> TCP or stdio ------------------------------------------------------------
const t0 = Date.now();
let done = false;
function finish(code) {
  if (done) return;
  done = true;
  simulator.stop();
  log(`emulated ${(simulator.clock.nanos / 1e9).toFixed(3)} s in ${((Date.now() - t0) / 1000).toFixed(3)} s wall`);
  if (args.saveFs) saveFs(args.saveFs);
  if (traceFd !== null) fs.closeSync(traceFd);
  process.stdout.write('', () => process.exit(code));
}

const cdc = new USBCDC(mcu.usbCtrl);
let connected = false;
cdc.onDeviceConnected = () => { connected = true; log('USB CDC connected'); drain(); };
let expectLine = '';
cdc.onSerialData = (value) => {
  const buf = Buffer.from(value);
  if (args.tcp !== null) { if (client) client.write(buf); } else process.stdout.write(buf);
  if (args.expect) {
    for (const byte of value) {
      expectLine += String.fromCharCode(byte);
      if (expectLine.includes(args.expect)) { log(`expected text found: ${args.expect}`); finish(0); return; }
      if (byte === 10) expectLine = '';
    }
  }
};
// host -> device. rp2040js's host answers every OUT transfer the device arms at once, with an empty
// packet when it has nothing to send: the device re-arms, and the USB interrupt fires thousands of
// times per emulated second, so the CPU never sleeps (WFE) and the emulator never skips idle time.
// A real host sends nothing (NAK) until it has data: park the armed transfer until bytes come.
const cdcEndpointRead = mcu.usbCtrl.onEndpointRead;
let parkedRead = null;
mcu.usbCtrl.onEndpointRead = (endpoint, size) => {
  if (endpoint === cdc.outEndpoint && cdc.txFIFO.empty) { parkedRead = [endpoint, size]; return; }
  cdcEndpointRead(endpoint, size);
};
// rp2040js's CDC FIFO holds 512 bytes and drops the rest: feed it as it drains
const pending = [];
let pendingPos = 0;
function drain() {
  if (!connected) return;
  while (pendingPos < pending.length && !cdc.txFIFO.full) cdc.sendSerialByte(pending[pendingPos++]);
  if (pendingPos === pending.length) { pending.length = 0; pendingPos = 0; }
  if (parkedRead && !cdc.txFIFO.empty) {
    const [endpoint, size] = parkedRead;
    parkedRead = null;
    cdcEndpointRead(endpoint, size);
  }
}
setInterval(drain, 1);
function toDevice(chunk) { for (const b of chunk) pending.push(b); drain(); }

let client = null;
if (args.tcp !== null) {
  const server = net.createServer((sock) => {
    if (client) client.destroy();           // the newest client takes the port over
    client = sock;
    sock.setNoDelay(true);
    sock.on('data', (chunk) => { if (client === sock) toDevice(chunk); });
    sock.on('close', () => { if (client === sock) client = null; });
    sock.on('error', () => {});
  });
  server.listen(args.tcp, '127.0.0.1', () => log(`serial on socket://127.0.0.1:${server.address().port}`));
  const rl = readline.createInterface({ input: process.stdin });
  const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  rl.on('line', (line) => {
    const [cmd, arg = ''] = line.trim().split(/\s+/, 2);
    try {
      if (cmd === 'state') reply(state());
      else if (cmd === 'gpio') {
        const [p, v] = arg.split('=');
        const pin = Number(p);
        if (v === 'z') delete driven[pin]; else driven[pin] = v === '1';
        const g = mcu.gpio[pin];
        g.setInputValue(pin in driven ? driven[pin] : g.value === GPIOPinState.InputPullUp || g.value === GPIOPinState.High);
        reply({ ok: true });
      } else if (cmd === 'adc') {
        const [c, v] = arg.split('=');
        if (pressure && Number(c) === pressure.ch) pressure.idle = Number(v);
        mcu.adc.channelValues[Number(c)] = Number(v);
        reply({ ok: true });
      } else if (cmd === 'rotor') {
        rotorTurns = arg === 'on';
        if (args.rotor) { driven[args.rotor.pin] = true; mcu.gpio[args.rotor.pin].setInputValue(true); }
        reply({ ok: true });
      } else if (cmd === 'wait') {
        const alarm = simulator.clock.createAlarm(() => reply(state()));
        alarm.schedule(Number(arg) * 1000);
      } else if (cmd === 'save') { saveFs(arg); reply({ ok: true }); }
      else if (cmd === 'quit') { reply({ ok: true }); finish(0); }
      else reply({ ok: false, error: `unknown control command ${cmd}` });
    } catch (exc) {
      reply({ ok: false, error: String(exc) });
    }
  });
  rl.on('close', () => finish(0));
} else {
  process.stdin.on('data', toDevice);
  process.stdin.on('end', () => { log('stdin closed'); if (!args.expect) finish(0); });
}
process.on('SIGTERM', () => finish(143));
process.on('SIGINT', () => finish(130));
if (args.timeout > 0) setTimeout(() => { log('timeout'); finish(3); }, args.timeout * 1000);

mcu.core.PC = FLASH_START;          // start at the image's boot2 (the bootrom's own boot is skipped)
simulator.execute();
