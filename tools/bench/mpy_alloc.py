"""Heap bytes allocated per delivered step in steady state, on MicroPython (`make bench` runs it on the
PyPI unix port and on the 32-bit build, where only small ints below 2**30 are free: the figure that
means something for a board). Prints one JSON line:
{"steps", "allocated_bytes", "bolus_steps", "bolus_allocated_bytes", "small_int_bits"}.

Continuous 500 mcg/day: five windows of 22 h, each between two daily journal writes (a journal write
is housekeeping and allocates; the step path must not), then a clinician bolus running on top. The
ticks start 2 h before their 2**30 wrap, so the first window crosses it.
"""

import gc
import json

import repo_path  # noqa: F401  (the repository on sys.path)

from boards.sim.board import Simulation


def _window(sim, until_s):
    """(steps, bytes allocated) while the main loop runs to until_s."""
    pulses = sim.mock_pump.pulses
    sim.clock.horizon_ms = until_s * 1000
    gc.collect()
    before = gc.mem_alloc()
    sim.run_to_horizon()
    allocated = gc.mem_alloc() - before
    return sim.mock_pump.pulses - pulses, allocated


def _small_int_bits():
    """Bits of a small int on this build (31 on a 32-bit port, 63 on a 64-bit one)."""
    bits = 30
    while True:
        try:
            n = (1 << bits) - 1
            gc.collect()
            before = gc.mem_alloc()
            n + 1
            if gc.mem_alloc() != before:
                return bits + 1
        except OverflowError:
            return bits + 1
        bits += 1
        if bits > 64:
            return bits


def main():
    sim = Simulation(start_ticks=(1 << 30) - 2 * 3600 * 1000)
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
                      "bolus_allocated_bytes": bolus_allocated, "small_int_bits": _small_int_bits()}))


main()
