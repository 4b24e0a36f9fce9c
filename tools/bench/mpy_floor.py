"""The floor of a simulated step on this interpreter (issue 16): a loop that only advances a clock, adds
to two counters and calls one stepper method, N times. `make bench` runs it on the MicroPython unix
port beside the 7-year scenario and divides the scenario's cost per step by this one's.

    micropython tools/bench/mpy_floor.py N [bare|mock]

bare  the stepper method counts its pulse and returns (the least a Stepper.step() can do)
mock  the simulator's own MockPump.step() (hal/mock/pump.py: the mock's physics of one pulse)

The caller takes the CPU time of the process (os.wait4) for N and for N = 0 (start-up and imports),
so the difference is the loop's. Prints one JSON line: {"n", "kind", "steps", "pulses", "wall_us"}
(wall_us: the loop's own wall time, ticks_us on MicroPython: a cross-check, not the figure).
"""

import json
import sys
import time

try:
    import repo_path  # noqa: F401  (the repository on sys.path; on CPython the `micropython` stand-in too)
except ImportError:   # on the emulated Pico (tools/emu/wakeup.py): its modules are on the board's flash
    pass

from hal.contracts import Stepper
from hal.mock.pump import MockPump

_STEP_MS = 17       # a step every 17 ms (5000 steps/day is one every 17.28 s: only the addition counts)


class BareStepper(Stepper):
    """A Stepper whose step() only counts the pulse."""

    def __init__(self):
        self.pulses = 0

    def step(self):
        self.pulses += 1
        return True


def floor(n, stepper):
    """n wake-ups that each advance the clock, count a wake-up and a step, and pulse once."""
    now_ms = 0
    wakeups = 0
    steps = 0
    for _ in range(n):
        now_ms += _STEP_MS
        wakeups += 1
        steps += 1
        stepper.step()
    return steps


def _us():
    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return int(time.perf_counter() * 1_000_000)


def main(argv):
    n = int(argv[0])
    kind = argv[1] if len(argv) > 1 else "bare"
    if kind == "mock":
        stepper = MockPump()
        stepper.fill(20_000_000_000)       # 20 mL: the pulses move fluid as in a therapy run
        stepper.enable(True)
    elif kind == "bare":
        stepper = BareStepper()
    else:
        raise SystemExit("mpy_floor: kind is bare or mock, not " + kind)
    t0 = _us()
    steps = floor(n, stepper)
    t1 = _us()
    wall_us = time.ticks_diff(t1, t0) if hasattr(time, "ticks_diff") else t1 - t0
    print(json.dumps({"n": n, "kind": kind, "steps": steps, "pulses": stepper.pulses, "wall_us": wall_us}))


if __name__ == "__main__":
    main(sys.argv[1:])
