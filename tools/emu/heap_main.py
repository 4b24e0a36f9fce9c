"""Runs ON the emulated Pico as /main.py (tools/emu/heap.py puts it there, for `make bench`): the pump
built as boards/start.py builds it, its main loop run with the heap watched.

Before every main-loop pass the heap is collected; after the pass gc.mem_alloc() is the live heap plus
everything that pass allocated since the last collection: the most the heap has to hold at once if
garbage is collected between wake-ups. The firmware's own collections during a pass (firmware/lazy.py
collect(), while a command loads code) are watched: the heap in use just before each counts too. The
largest over the run is the peak ("cmd": the command that pass served, "-" for none).
"heap_rest" is the heap in use (and free) after the collection at the start of the pass that serves
the `sim.state` asking for it: the pump between commands, the code the last command loaded gone (on a
board it leaves RAM after its reply), the names it interned kept (they stay for good).
"heap_by_cmd" holds the largest figure of the passes that served each command. The figures ride on the
bench's `sim.state` reply ("heap_peak"), so the bench jumper must be closed. This file's own bytecode
and objects (about 2 KB) are in them.

With /heap_modules.txt on the flash (module names in an order where each comes after the modules it
imports, heap.py writes it), every module is first imported alone and its heap cost recorded (the live
heap after a collection, before and after the import): "heap_modules" in `sim.state`, [name, bytes
kept, bytes allocated by the import (what it kept, plus its garbage: the file object, the read
buffers)], None if the import failed; the first entry is the heap in use before the first import (the
runtime and this file). That run measures the modules only: its peak is not the pump's.

With /heap_floor.txt on the flash (module names, heap.py writes it), the floor: the pump is built and
runs one pass, then everything it holds that is not the step path leaves RAM (the Protocol object and
with it the Auth, the bench, and the modules named: the command layer), and the heap in use after a
collection is written to /heap_floor.json ({"before": with them, "floor": without, "evicted": the
modules that were loaded}). The board then only feeds its watchdog: heap.py reads the file from the
flash.
"""

import gc
import sys

import micropython

micropython.kbd_intr(-1)


def _module_heap():
    try:
        f = open("/heap_modules.txt")
    except OSError:
        return None
    with f:
        names = f.read().split()
    gc.collect()
    out = [["(before any import)", gc.mem_alloc(), 0]]
    for name in names:
        gc.collect()
        before = gc.mem_alloc()
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a module that does not import here is reported as None
            out.append([name, None, None])
            continue
        allocated = gc.mem_alloc() - before
        gc.collect()
        out.append([name, gc.mem_alloc() - before, allocated])
    return out


def _lines(path):
    try:
        f = open(path)
    except OSError:
        return None
    with f:
        return f.read().split()


def _floor(names):
    import json
    import time

    from boards import start
    from boards.pico import board
    pump = start.build(board)
    pump.loop_once()
    gc.collect()
    before = gc.mem_alloc()
    pump.protocol = None          # the serving of lines, the gate and its key record
    pump.hw.bench = None
    app = sys.modules["firmware.app"]
    for name in ("Protocol", "Control"):
        if name in dir(app):
            delattr(app, name)
    evicted = []
    for name in names:
        if sys.modules.pop(name, None) is not None:
            evicted.append(name)
            package, _, attr = name.rpartition(".")
            if package in sys.modules and attr in dir(sys.modules[package]):
                delattr(sys.modules[package], attr)
    gc.collect()
    floor = gc.mem_alloc()
    with open("/heap_floor.json", "w") as f:
        json.dump({"before": before, "floor": floor, "evicted": evicted}, f)
    while True:
        pump.hw.watchdog.feed()
        time.sleep_ms(100)


_floor_names = _lines("/heap_floor.txt")
if _floor_names is not None:
    _floor(_floor_names)

modules = _module_heap()

from boards import start  # noqa: E402
from boards.bench import HardwareBench  # noqa: E402
from boards.pico import board  # noqa: E402

pump = start.build(board)
from firmware import lazy  # noqa: E402

pass_max = [0]       # the heap in use just before a collection the firmware made during this pass
rest = [0, 0]        # in use and free at the start of this pass, after a collection: between commands
_collect = lazy.collect


def _watched_collect():
    used = gc.mem_alloc()
    if used > pass_max[0]:
        pass_max[0] = used
    _collect()


lazy.collect = _watched_collect
resident = sorted(sys.modules)    # the modules in RAM once the pump runs ("heap_resident" in sim.state)
gc.collect()
peak = {"alloc": gc.mem_alloc(), "free": gc.mem_free(), "passes": 0, "cmd": "-"}
by_cmd = {}
served = [None]      # the command of the line the pass handed to the protocol
_handle = pump.protocol.handle


def _watched_handle(line):
    if isinstance(line, bytes):
        at = line.find(b'"cmd": "') + 8
        served[0] = str(line[at:line.find(b'"', at)], "utf-8") if at >= 8 else "?"
    return _handle(line)


pump.protocol.handle = _watched_handle


class PeakBench(HardwareBench):
    def handle(self, pump, req):
        state = HardwareBench.handle(self, pump, req)
        state["heap_peak"] = peak
        state["heap_by_cmd"] = by_cmd
        state["heap_resident"] = resident
        state["heap_rest"] = {"alloc": rest[0], "free": rest[1]}
        if modules is not None:
            state["heap_modules"] = modules
        return state


pump.hw.bench = PeakBench()
while True:
    served[0] = None
    gc.collect()
    rest[0] = gc.mem_alloc()
    rest[1] = gc.mem_free()
    pass_max[0] = 0
    pump.loop_once()
    used = max(gc.mem_alloc(), pass_max[0])
    peak["passes"] += 1
    cmd = served[0] or "-"
    if used > by_cmd.get(cmd, 0):
        by_cmd[cmd] = used
    if used > peak["alloc"]:
        peak["alloc"] = used
        peak["free"] = gc.mem_free()
        peak["cmd"] = cmd
