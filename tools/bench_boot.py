"""Boot time to the first step of resumed therapy, in real time, on the interpreter that runs it
(MicroPython unix port under `make bench`). Prints one JSON line: {"boot_ms", "first_step_ms"}.

The flash holds what a pump in service holds: settings, a journal and a full event log.
"""

import json
import sys
import time

_root = __file__.rpartition("/")[0] + "/.."
sys.path.insert(0, _root)
try:
    import micropython  # noqa: F401
except ImportError:
    sys.path.insert(0, _root + "/hal/cpython")

from boards.sim.board import Simulation  # noqa: E402


def _us():
    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return int(time.perf_counter() * 1_000_000)


def main():
    sim = Simulation()
    sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20)
    sim.mock_pump.fill(20_000_000_000)
    sim.request("program", mode="continuous", dose_mcg_day=500)
    for _ in range(220):                 # fill the event log ring
        sim.request("ack")
    sim.run_until_s(3600)
    pulses = sim.mock_pump.pulses
    sim.clock.horizon_ms = None
    t0 = _us()
    sim.power_cycle(0)
    t1 = _us()
    while sim.mock_pump.pulses == pulses:
        sim.pump.loop_once()
    t2 = _us()
    print(json.dumps({"boot_ms": (t1 - t0) / 1000, "first_step_ms": (t2 - t0) / 1000}))


main()
