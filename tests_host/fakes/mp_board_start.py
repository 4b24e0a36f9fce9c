"""Run on the MicroPython unix port with tests_host/fakes first on MICROPYPATH:

    micropython mp_board_start.py BOARD STORAGE_DIR LOOPS [bench]

Builds the board's real hardware bundle on the fake `machine`, starts firmware.app.Pump on it and runs
LOOPS main-loop iterations, serving whatever JSON lines arrive on stdin (the board's serial link).
Protocol replies go to stdout as on a board; the last line is `REPORT {json}` with what the fake
hardware saw, for tests_host/test_boards.py to check.
"""

import json
import sys

import machine

name = sys.argv[1]
board = __import__("boards." + name + ".board", None, None, ("make_hardware",))
board.STORAGE_DIR = sys.argv[2]
loops = int(sys.argv[3])
if "bench" in sys.argv[4:]:
    machine.Pin(board.PINS["bench"], machine.Pin.IN).level = 0     # jumper to GND

# ADC readings (raw 0..65535) the fake returns: half scale on the battery, quarter on pressure
hw = board.make_hardware()
machine.adcs[board.PINS["battery"]].raw = 32768
machine.adcs[board.PINS["pressure"]].raw = 16384

from firmware.app import Config, Pump  # noqa: E402

config = Config()
config.housekeeping_ms = 20
pump = Pump(hw, config)
for _ in range(loops):
    pump.loop_once()

pins = machine.pins
report = {
    "board": hw.board,
    "serial_no": hw.serial_no,
    "wakeups": pump.wakeups,
    "safe": pump.safe,
    "wdt": [[w.timeout, w.feeds] for w in machine.wdts],
    "en_level": pins[board.PINS["en"]].level,
    "step_rises": pins[board.PINS["step"]].rises,
    "pulses_sent": hw.stepper.pulses_sent(),
    "enabled": hw.stepper.is_enabled(),
    "pins": sorted(pins),
    "levels": {str(n): pins[n].level for n in pins},
    "pulls": {str(n): pins[n].pull for n in pins},
    "irqs": {str(n): [pins[n].trigger, pins[n].hard] for n in pins if pins[n].handler is not None},
    "pwms": sorted(machine.pwms),
    "adcs": {str(n): machine.adcs[n].atten for n in machine.adcs},
    "buzzer_duty": machine.pwms[board.PINS["buzzer"]].duty_u16(),
    "battery_mv": hw.battery.read_mv(),
    "pressure_mv": hw.pressure.read_mv() if hw.pressure is not None else None,
    "bench": hw.bench is not None,
    "rtc_s": hw.clock.rtc_s(),
}
sys.stdout.write("REPORT " + json.dumps(report) + "\n")
