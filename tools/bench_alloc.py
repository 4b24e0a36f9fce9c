"""Heap bytes allocated per delivered step in steady state, on the MicroPython unix port (`make bench`).
Prints one JSON line: {"steps", "allocated_bytes", "bolus_steps", "bolus_allocated_bytes"}.

Continuous 500 mcg/day: five windows of 22 h, each between two daily journal writes (a journal write
is housekeeping and allocates; the step path must not), then a clinician bolus running on top.
"""

import gc
import json
import sys

_root = __file__.rpartition("/")[0] + "/.."
sys.path.insert(0, _root)

from boards.sim.board import Simulation  # noqa: E402


def _window(sim, until_s):
    """(steps, bytes allocated) while the main loop runs to until_s."""
    pulses = sim.mock_pump.pulses
    sim.clock.horizon_ms = until_s * 1000
    gc.collect()
    before = gc.mem_alloc()
    sim.run_to_horizon()
    allocated = gc.mem_alloc() - before
    return sim.mock_pump.pulses - pulses, allocated


def main():
    sim = Simulation()
    sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20)
    sim.mock_pump.fill(20_000_000_000)
    sim.request("program", mode="continuous", dose_mcg_day=500)
    sim.request("set", journal_interval_s=86400)
    steps = allocated = 0
    for day in range(5):
        sim.run_until_s(day * 86400 + 3600)
        n, b = _window(sim, day * 86400 + 23 * 3600)
        steps += n
        allocated += b
    sim.run_until_s(5 * 86400 + 600)
    sim.request("bolus", dose_mcg=100, duration_s=4 * 3600)
    sim.run_until_s(5 * 86400 + 1200)
    bolus_steps, bolus_allocated = _window(sim, 5 * 86400 + 3 * 3600)
    print(json.dumps({"steps": steps, "allocated_bytes": allocated, "bolus_steps": bolus_steps,
                      "bolus_allocated_bytes": bolus_allocated}))


main()
