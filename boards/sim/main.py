"""Simulator entry: the firmware on the virtual clock, speaking the serial protocol on stdin/stdout.

Run with the MicroPython unix port (`micropython boards/sim/main.py`) or CPython. Host lines are read
only when the virtual clock stands at its horizon (set by `sim.run`), so time never races the host.
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

from boards.sim.board import Simulation  # noqa: E402


def _out():
    return getattr(sys.stdout, "buffer", sys.stdout)


_OPTIONS = ("start_ticks", "capacity_nl", "true_pl_per_step", "step_pl", "housekeeping_ms", "rotation", "pressure")


def main():
    options = {}
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        if key not in _OPTIONS or not value:
            sys.stderr.write("usage: main.py [%s=INT ...]\n" % "=INT ".join(_OPTIONS))
            sys.exit(2)
        options[key] = int(value)
    sim = Simulation(**options)
    sim.clock.horizon_ms = 0
    out = _out()
    stdin = sys.stdin
    while True:
        if sim.clock.at_horizon() and not sim.serial.any():
            data = sim.serial.take_output()
            if data:
                out.write(data)
            if hasattr(out, "flush"):
                out.flush()
            line = stdin.readline()
            if not line:
                return
            sim.serial.push(line.encode() if isinstance(line, str) else line)
        sim.pump.loop_once()
        if sim.serial._tx:
            out.write(sim.serial.take_output())


main()
