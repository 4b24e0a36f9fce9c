"""Bench extension of the real boards (fitted when the bench jumper is closed): read-only hardware
state for a test bench, under the bench namespace the protocol routes to the board (`sim.*`).

Only `sim.state` exists on a board; it moves nothing. Time control and the mock pump are the
simulator's alone, so every other bench command is refused with E_NOT_SUPPORTED. Its heap figures
(bytes, after a collection) are the live heap in use and free on the board (`make bench` reads them
on the emulated Pico: tools/emu/heap.py).
"""

import gc

from firmware.errors import E_NOT_SUPPORTED, CommandError


class HardwareBench:
    def handle(self, pump, req):
        op = req["cmd"]
        if op != "sim.state":
            raise CommandError(E_NOT_SUPPORTED, "'%s' exists only on the simulator" % op[:40])
        hw = pump.hw
        state = {
            "board": hw.board,
            "pulses": hw.stepper.pulses_sent(),
            "enabled": hw.stepper.is_enabled(),
            "battery_mv": hw.battery.read_mv(),
            "wakeups": pump.wakeups,
        }
        gc.collect()
        state["heap_alloc"] = gc.mem_alloc()
        state["heap_free"] = gc.mem_free()
        if hw.pressure is not None:
            state["pressure_mv"] = hw.pressure.read_mv()
        if hw.rotation is not None:
            state["rotation"] = hw.rotation.count()
        return state
