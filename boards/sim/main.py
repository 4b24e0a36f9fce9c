"""Simulator entry: the firmware on the virtual clock, speaking the serial protocol on stdin/stdout.

Run with the MicroPython unix port (`micropython boards/sim/main.py`) or CPython. Host lines are read
only when the virtual clock stands at its horizon (set by `sim.run`), so time never races the host.

Options (KEY=INT): the Simulation's (start_ticks, capacity_nl, true_pl_per_step, ...; the mocks'
realism: noise_ppm, noise_seed, wear_ppm_per_ml, battery_drain_uv_per_day, checked against
boards/sim/bench.py REALISM_LIMITS), provision=0 for a factory-new pump without the development
keys, and listen=PORT to speak the protocol on a TCP socket on 127.0.0.1:PORT instead of
stdin/stdout: one client at a time, the pump keeps running (and its state) between clients
(`pumpctl sim serve`, then `pumpctl ... --port socket://127.0.0.1:PORT`). A pseudo-terminal needs
no option: `pumpctl sim serve --pty` hands the pty's master side over as stdin/stdout.
"""

import sys

_here = __file__.rpartition("/")[0] or "."
_root = _here + "/../.."
if _root not in sys.path:
    sys.path.insert(0, _root)
try:
    import micropython  # noqa: F401  (built in on MicroPython)
except ImportError:
    sys.path.insert(0, _root + "/hal/cpython")

from boards.sim.bench import REALISM_LIMITS  # noqa: E402
from boards.sim.board import Simulation  # noqa: E402


def _out():
    return getattr(sys.stdout, "buffer", sys.stdout)


_OPTIONS = ("start_ticks", "capacity_nl", "true_pl_per_step", "step_pl", "housekeeping_ms", "rotation", "pressure",
            "provision", "listen", "noise_ppm", "noise_seed", "wear_ppm_per_ml", "battery_drain_uv_per_day")


class _Stdio:
    """The host link on stdin/stdout (a pipe, or a pty's master side)."""

    def __init__(self):
        self._in = getattr(sys.stdin, "buffer", sys.stdin)
        self._out = _out()

    def readline(self):
        """The next line (bytes), or None when the host has gone for good."""
        line = self._in.readline()
        if not line:
            return None
        return line.encode() if isinstance(line, str) else line

    def write(self, data):
        self._out.write(data)

    def flush(self):
        if hasattr(self._out, "flush"):
            self._out.flush()


class _Listener:
    """The host link on a TCP socket on 127.0.0.1: one client at a time; when it goes, the next."""

    def __init__(self, port):
        import socket
        self._socket = socket
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        srv.listen(1)
        self._srv = srv
        self._conn = None
        sys.stderr.write("sim: listening on 127.0.0.1:%d\n" % port)

    def readline(self):
        while True:
            if self._conn is None:
                self._conn = self._srv.accept()[0]
            try:
                line = self._conn.readline()
            except OSError:
                line = b""
            if line:
                return line
            self._drop()

    def write(self, data):
        if self._conn is None:
            return           # nobody connected: notices are dropped, as on an unplugged cable
        try:
            self._conn.write(data)
        except OSError:
            self._drop()

    def flush(self):
        pass

    def _drop(self):
        try:
            self._conn.close()
        except (OSError, AttributeError):
            pass
        self._conn = None


def _usage(why):
    sys.stderr.write("main.py: %s\nusage: main.py [%s=INT ...]\n" % (why, "=INT ".join(_OPTIONS)))
    sys.exit(2)


def parse_options(args):
    """KEY=INT arguments -> the Simulation's options (plus listen); exits 2 on anything else."""
    options = {}
    for arg in args:
        key, _, value = arg.partition("=")
        if key not in _OPTIONS:
            _usage("unknown option '%s'" % arg)
        if not value:
            _usage("%s needs a value (%s=INT)" % (key, key))
        try:
            options[key] = int(value)
        except ValueError:
            _usage("%s must be a whole number (got '%s')" % (key, value))
        if key in REALISM_LIMITS:
            lo, hi = REALISM_LIMITS[key]
            if not lo <= options[key] <= hi:
                _usage("%s must be between %d and %d (got %s)" % (key, lo, hi, value))
    return options


def main():
    options = parse_options(sys.argv[1:])
    port = options.pop("listen", None)
    link = _Listener(port) if port else _Stdio()
    sim = Simulation(**options)
    sim.clock.horizon_ms = 0
    while True:
        if sim.clock.at_horizon() and not sim.serial.any() and not sim.pump.reader.has_line():
            data = sim.serial.take_output()
            if data:
                link.write(data)
            link.flush()
            line = link.readline()
            if line is None:
                return
            sim.serial.push(line)
        sim.loop_pass()
        if sim.serial.pending_output():
            link.write(sim.serial.take_output())


main()
