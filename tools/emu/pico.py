"""An emulated Pico for tests and `make bench`: tools/emu/run_pico.mjs (the standard RPI_PICO MicroPython
image on rp2040js) started with a flash filesystem image, its USB serial on a local socket, and the
bench rig around it: the safe-boot button, the bench jumper, the battery and the pump's rotor and pressure
sensors.

    pico = EmulatedPico(fs_img, save_fs=fs_img).start()
    link = pico.link(keys)                     # pumpctl's PumpLink over socket://127.0.0.1:PORT
    link.call("status")
    pico.state()                               # pin edges, buzzer bursts, watchdog, emulated time
    pico.stop()                                # the power goes off: the flash is written back to save_fs

Artifacts (unavailable() names what is missing): `node` on PATH, the npm package rp2040js installed by
`make` into .venv/node (PUMP_EMU_NODE_MODULES overrides), the firmware image PUMP_PICO_UF2 (default
../shared/emu/RPI_PICO-v1.28.0.uf2 beside the repository) and the RP2040 mask ROM PUMP_PICO_BOOTROM
(default ../shared/emu/rp2040-bootrom-b1.bin).
Emulated time runs below real time while the CPU works and far above it while it sleeps, and instruction
timing is not calibrated: test behaviour, never speed.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "emu")
RUNNER = os.path.join(HERE, "run_pico.mjs")
RP2040JS_VERSION = "1.4.1"

# Pico pins (boards/pico/board.py) and the bench rig's readings
STEP, DIR, EN, BUTTON, BUZZER, ROTOR, BENCH = 2, 3, 4, 14, 15, 16, 22
BATTERY_ADC, PRESSURE_ADC = 0, 1
ADC_FULL = 4095


def raw12(pin_mv):
    """The 12-bit ADC reading of a pin voltage (3.3 V reference)."""
    return min(ADC_FULL, (pin_mv * ADC_FULL + 1650) // 3300)


BATTERY_OK_RAW = raw12(2000)          # 4.0 V battery behind the board's 1:2 divider
PRESSURE_IDLE_RAW = raw12(300)        # line at rest
PRESSURE_STEP_RAW = raw12(400)        # just after a step: the line pushes against the catheter
PRESSURE_HOLD_MS = 50


def artifacts():
    """Paths of what the emulated board needs (each may be missing)."""
    return {
        "node": shutil.which("node"),
        "modules": os.environ.get("PUMP_EMU_NODE_MODULES") or os.path.join(ROOT, ".venv", "node", "node_modules"),
        "uf2": os.environ.get("PUMP_PICO_UF2") or os.path.join(SHARED, "RPI_PICO-v1.28.0.uf2"),
        "bootrom": os.environ.get("PUMP_PICO_BOOTROM") or os.path.join(SHARED, "rp2040-bootrom-b1.bin"),
    }


def unavailable():
    """None when the emulated board can run here, else one line saying what is missing and how to get it."""
    a = artifacts()
    missing = []
    if not a["node"]:
        missing.append("node is not on PATH")
    pkg = os.path.join(a["modules"], "rp2040js", "package.json")
    try:
        with open(pkg) as f:
            version = json.load(f).get("version")
    except (OSError, ValueError):
        version = None
    if version != RP2040JS_VERSION:
        missing.append("npm package rp2040js %s not in %s (`make test` installs it when node is present)"
                       % (RP2040JS_VERSION, a["modules"]))
    if not os.path.isfile(a["uf2"]):
        missing.append("no RPI_PICO firmware image at %s (PUMP_PICO_UF2)" % a["uf2"])
    if not os.path.isfile(a["bootrom"]):
        missing.append("no RP2040 mask ROM at %s (PUMP_PICO_BOOTROM)" % a["bootrom"])
    if not missing:
        return None
    return "; ".join(missing) + " (README.md, 'Test tiers')"


class EmulatorError(Exception):
    pass


class EmulatedPico:
    """One emulated Pico. `fs` is the flash filesystem image it boots from; `save_fs` receives the
    flash when it stops (a power cut keeps the flash). `gpio` drives inputs ({14: 0}: button held),
    `adc` sets ADC inputs (raw12); the battery reads 4.0 V unless set. `rig=False` leaves the rotor
    and pressure sensors still (no pump attached)."""

    def __init__(self, fs, save_fs=None, gpio=None, adc=None, rig=True, trace=None, log=None):
        self.fs = fs
        self.save_fs = save_fs
        self.gpio = dict(gpio or {})
        self.adc = {BATTERY_ADC: BATTERY_OK_RAW}
        self.adc.update(adc or {})
        self.rig = rig
        self.trace = trace
        self.log_path = log
        self.proc = None
        self.port = None
        self._log = None
        self._links = []

    @property
    def url(self):
        return "socket://127.0.0.1:%d" % self.port

    def command(self):
        a = artifacts()
        cmd = [a["node"], RUNNER, "--image", a["uf2"], "--bootrom", a["bootrom"], "--fs", self.fs, "--tcp", "0",
               "--watch", "%d,%d,%d" % (STEP, DIR, EN), "--bursts", str(BUZZER)]
        if self.save_fs:
            cmd += ["--save-fs", self.save_fs]
        if self.gpio:
            cmd += ["--gpio", ",".join("%d=%d" % kv for kv in sorted(self.gpio.items()))]
        if self.rig:
            cmd += ["--rotor", "%d:%d" % (STEP, ROTOR),
                    "--pressure", "%d=%d:%d:%d" % (PRESSURE_ADC, PRESSURE_IDLE_RAW, PRESSURE_STEP_RAW,
                                                   PRESSURE_HOLD_MS)]
        adc = {k: v for k, v in self.adc.items() if not (self.rig and k == PRESSURE_ADC)}
        cmd += ["--adc", ",".join("%d=%d" % kv for kv in sorted(adc.items()))]
        if self.trace:
            cmd += ["--trace", self.trace]
        return cmd

    def start(self, timeout_s=60):
        reason = unavailable()
        if reason:
            raise EmulatorError(reason)
        env = dict(os.environ, PUMP_EMU_NODE_MODULES=artifacts()["modules"])
        self._log = open(self.log_path, "w+b") if self.log_path else None
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=ROOT)
        deadline = time.monotonic() + timeout_s
        seen = []
        while self.port is None:
            line = self.proc.stderr.readline()
            if not line:
                raise EmulatorError("the runner exited: %s" % b"".join(seen).decode(errors="replace"))
            seen.append(line)
            m = re.search(rb"serial on socket://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            if time.monotonic() > deadline:
                self.kill()
                raise EmulatorError("the runner did not start: %s" % b"".join(seen).decode(errors="replace"))
        if self._log:
            self._log.write(b"".join(seen))
        return self

    # --- control channel ---------------------------------------------------------------------------
    def control(self, line):
        if self.proc is None or self.proc.poll() is not None:
            raise EmulatorError("the emulator is not running")
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise EmulatorError("the runner closed its control channel")
        msg = json.loads(reply)
        if isinstance(msg, dict) and msg.get("ok") is False:
            raise EmulatorError(msg.get("error"))
        return msg

    def state(self):
        """{"t_us", "pins": {"2": {level, rises, falls, last_us}}, "bursts": [[start_us, end_us, rises]],
        "wdt": {enabled, armed_ever, triggers}, ...}"""
        return self.control("state")

    def set_gpio(self, pin, level):
        """Drive an input (0/1), or release it to its pull (None)."""
        self.control("gpio %d=%s" % (pin, "z" if level is None else int(level)))

    def set_adc(self, channel, raw):
        self.control("adc %d=%d" % (channel, raw))

    def set_rotor(self, turning):
        self.control("rotor " + ("on" if turning else "off"))

    def save(self, path):
        self.control("save " + path)

    def trace_events(self):
        """The --trace file so far: [(emulated us, pin, level)] in time order."""
        with open(self.trace) as f:
            return [tuple(int(x) for x in line.split()) for line in f if line.count(" ") == 2]

    def wait_emulated(self, seconds):
        """Return once `seconds` more of emulated time have passed: the state at that instant."""
        return self.control("wait %d" % int(seconds * 1e6))

    # --- the serial link ----------------------------------------------------------------------------
    def link(self, keys=None, timeout_s=120.0, role=None):
        """pumpctl's PumpLink on the board's USB serial. The runner serves one client at a time: the
        links opened before are closed first (and this one by stop())."""
        from pumpctl.link import PumpLink
        self.close_links()
        link = PumpLink.serial(self.url, keys=keys, role=role, timeout_s=timeout_s)
        self._links.append(link)
        return link

    def boot_link(self, keys=None, timeout_s=180.0):
        """A link once the pump answers `info` after boot; if it never does, the error holds what the
        board printed instead (a traceback, the REPL banner)."""
        from pumpctl.link import LinkError
        link = self.link(keys=keys, timeout_s=timeout_s)
        try:
            link.call("info")
        except LinkError as exc:
            printed = b"".join(link.skipped).decode(errors="replace")
            raise EmulatorError("the pump did not answer after boot (%s); the board printed:\n%s"
                                % (exc, printed[-3000:]))
        link.timeout_s = 120.0
        return link

    def close_links(self):
        """Close the links opened by link() (the runner serves one client at a time)."""
        for link in self._links:
            try:
                link.close()
            except Exception:  # noqa: BLE001 - the link may already be gone
                pass
        self._links = []

    def raw_serial(self, timeout_s=2.0):
        """A plain socket on the USB serial (raw bytes; close the links first)."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s)
        return sock

    # --- power ------------------------------------------------------------------------------------
    def stop(self, timeout_s=30):
        """Power off: the flash goes to save_fs; returns the runner's stderr."""
        self.close_links()
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
            except OSError:
                pass
        try:
            _out, err = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
        if self._log:
            self._log.write(err)
            self._log.close()
        self.proc = None
        return err.decode(errors="replace")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run_tool(tool, *args, timeout_s=300):
    """Run `pumpctl ...` (tool="pumpctl") or another venv tool; (returncode, stdout, stderr)."""
    exe = os.path.join(os.path.dirname(sys.executable), tool)
    proc = subprocess.run([exe] + list(args), capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)
    return proc.returncode, proc.stdout, proc.stderr
