"""Runs ON the emulated Pico as /main.py (tools/emu/wakeup.py puts it there, for `make bench`): the
cost of a step on the RP2040 image against a floor loop, both timed by the board's own microsecond
timer (issue 16).

The floor is tools/bench/mpy_floor.py's loop (advance a clock, add to two counters, call one
Stepper.step()), imported from that file, which tools/emu/wakeup.py puts on the flash too. The step is
the simulator's pump (boards/sim: the firmware on the mock pump and a virtual clock, as `make sim`
runs it) at 400 mcg/day, timed over one simulated day (4000 steps, a wake-up each, housekeeping every
60 s). The result is one JSON line on the USB serial, after "WAKEUP ".
"""

import gc
import json
import sys
import time

import micropython

micropython.kbd_intr(-1)

_FLOOR_PASSES = 20_000


def main():
    from mpy_floor import BareStepper, floor  # tools/bench/mpy_floor.py, on the flash too

    out = {}
    gc.collect()
    t0 = time.ticks_us()
    floor(0, BareStepper())
    t1 = time.ticks_us()
    floor(_FLOOR_PASSES, BareStepper())
    t2 = time.ticks_us()
    out["floor_us"] = (time.ticks_diff(t2, t1) - time.ticks_diff(t1, t0)) / _FLOOR_PASSES

    from boards.sim.board import Simulation
    sim = Simulation(capacity_nl=40_000_000)
    for cmd, args in (("refill", {"drug": "baclofen", "conc_mcg_ml": 2000, "volume_ml": 40}),
                      ("program", {"mode": "continuous", "dose_mcg_day": 400})):
        reply = sim.request(cmd, **args)
        if not reply or reply.get("ok") is not True:
            raise RuntimeError("%s refused: %r" % (cmd, reply))
    sim.run_until_s(3600)
    pulses, wakeups, house = sim.mock_pump.pulses, sim.pump.wakeups, sim.pump.housekeeping_runs
    gc.collect()
    t0 = time.ticks_us()
    sim.run_until_s(3600 + 86400)
    t1 = time.ticks_us()
    out["steps"] = sim.mock_pump.pulses - pulses
    out["wakeups"] = sim.pump.wakeups - wakeups
    out["housekeeping"] = sim.pump.housekeeping_runs - house
    out["step_us"] = time.ticks_diff(t1, t0) / out["steps"]
    out["heap_free"] = gc.mem_free()
    return out


try:
    result = main()
except Exception as exc:  # noqa: BLE001 - reported to the host, which fails the row
    result = {"error": repr(exc)}
while True:                   # the host reads it whenever it connects
    sys.stdout.write("WAKEUP " + json.dumps(result) + "\n")
    time.sleep(1)
