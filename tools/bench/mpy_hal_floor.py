"""The HAL's share of a wake-up (issue 16): a loop that makes, per step, only the HAL calls the
firmware's wake-up must make, on the simulator's mocks, and nothing else.

    micropython tools/bench/mpy_hal_floor.py DAYS

Per wake-up: the clock (ticks_ms), the stepper's pulse counter (what the guard reads), and at a step
the pulse itself and the pressure reading after it (what the line monitor reads); then the serial poll,
the watchdog and the sleep until the next step. Steps every 21.6 s (400 mcg/day at 2000 mcg/mL), as in
tools/bench/mpy_days.py. No timebase, no accounts, no planner, no monitor logic, no housekeeping: what a
wake-up of the firmware costs beyond this is the firmware's own work. `make bench` counts its
instructions under callgrind (two lengths, the difference per step) beside the floor loop's. Prints the
steps made.
"""

import sys

import repo_path  # (the repository on sys.path; on CPython the `micropython` stand-in too)

from boards.sim.board import Simulation

_STEP_MS = 21_600


def run(days):
    sim = Simulation(capacity_nl=40_000_000)
    sim.mock_pump.fill(40_000_000_000)
    hw = sim.hw
    clock, stepper, pressure, serial, watchdog = hw.clock, hw.stepper, hw.pressure, hw.serial, hw.watchdog
    stepper.enable(True)
    due = _STEP_MS
    steps = 0
    end_ms = days * 86_400_000
    while clock.elapsed_ms < end_ms:
        now = clock.ticks_ms()
        stepper.pulses_sent()
        if clock.ticks_diff(now, due) >= 0:
            stepper.step()
            pressure.read_mv()
            steps += 1
            due = clock.ticks_add(due, _STEP_MS)
        serial.any()
        watchdog.feed()
        clock.sleep_until(due, serial)
    return steps


print(run(repo_path.positive_ints(sys.argv[1:], 1, 1, "micropython tools/bench/mpy_hal_floor.py DAYS")[0]))
