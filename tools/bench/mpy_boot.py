"""Boot time to the first step of resumed therapy, in real time, on the interpreter that runs it
(`make bench` runs it on the MicroPython unix port, and on CPython beside it). Prints one JSON line:
{"boot_ms", "first_step_ms"}.

The flash holds what a pump in service holds: settings, a journal and a full event log.
"""

import json
import time

import repo_path  # noqa: F401  (the repository on sys.path; on CPython the `micropython` stand-in too)

from boards.sim.board import Simulation


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
