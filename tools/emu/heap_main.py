"""Runs ON the emulated Pico as /main.py (tools/emu/heap.py puts it there, for `make bench`): the pump
built as boards/start.py builds it, its main loop run with the heap watched.

Before every main-loop pass the heap is collected; after the pass gc.mem_alloc() is the live heap plus
everything that pass allocated: the most the heap has to hold at once if garbage is collected between
wake-ups. The largest over the run is the peak. The figures ride on the bench's `sim.state` reply
("heap_peak"), so the bench jumper must be closed. This file's own bytecode (about 1 KB) is in them.
"""

import gc

import micropython

micropython.kbd_intr(-1)

from boards import start  # noqa: E402
from boards.bench import HardwareBench  # noqa: E402
from boards.pico import board  # noqa: E402

pump = start.build(board)
gc.collect()
peak = {"alloc": gc.mem_alloc(), "free": gc.mem_free(), "passes": 0}


class PeakBench(HardwareBench):
    def handle(self, pump, req):
        state = HardwareBench.handle(self, pump, req)
        state["heap_peak"] = peak
        return state


pump.hw.bench = PeakBench()
while True:
    gc.collect()
    pump.loop_once()
    used = gc.mem_alloc()
    peak["passes"] += 1
    if used > peak["alloc"]:
        peak["alloc"] = used
        peak["free"] = gc.mem_free()
