"""The hardware of a real board (pico, esp32), built from the facts its board file states.

A board file (boards/<board>/board.py) holds only what differs between boards:
  BOARD        the board's name ("pico")
  PINS         the wiring: signal -> GPIO number, one entry per signal of SIGNALS (the README's wiring
               table and docs/boards.md are checked against it by tests_host/test_boards.py)
  VREF_MV, BATTERY_DIV_NUM, BATTERY_DIV_DEN      ADC full scale and the battery divider's ratio
  DIR_FORWARD_LEVEL, WDT_TIMEOUT_MS, HOUSEKEEPING_MS, STORAGE_DIR, FIT_PRESSURE, FIT_ROTATION
  the port's quirks: IRQ_HARD (True where pin IRQs may be hard, None: soft only), ADC_ATTEN (name of
  an ADC attenuation constant, or None), WDT_MAX_MS (the watchdog's hardware limit, or None)
and forwards make_hardware(), safe_boot_reason() and bench_jumper_closed() here with itself.

Every output is created in its safe level before anything else: EN high (motor driver disabled),
STEP low. The safe-boot button and the bench jumper are read at boot only (pull-ups, to GND); the
firmware's Hardware holds neither, nor an LED: an implanted pump has no button or LED (the patient's
input is the handheld programmer over the link, the alarm is the buzzer).
"""

import sys

import machine
from machine import ADC, PWM, RTC, WDT, Pin

from hal.interfaces import Hardware
from hal.mcu.analog import ScaledAdc
from hal.mcu.boot import safe_boot_reason as _safe_boot_reason
from hal.mcu.buzzer import PwmBuzzer
from hal.mcu.clock import McuClock
from hal.mcu.rotation import EdgeCounter
from hal.mcu.serial import UsbSerial
from hal.mcu.stepper import StepDirStepper
from hal.mcu.storage import FlashStorage
from hal.mcu.watchdog import McuWatchdog

# The signals of a pin map: motor driver, buzzer, analog inputs, rotor sensor, boot-time inputs.
SIGNALS = ("step", "dir", "en", "buzzer", "battery", "pressure", "rotation", "bench", "safe_boot")


def serial_no():
    """machine.unique_id() as lowercase hex (Pico: the flash chip's id, 16 digits; ESP32: the MAC, 12)."""
    return "".join("%02x" % b for b in machine.unique_id())


def _pulled_up(gpio):
    return Pin(gpio, Pin.IN, Pin.PULL_UP)


def _bench():
    """The bench commands, imported only with the jumper closed (in the field their code takes no RAM)."""
    from boards.bench import HardwareBench
    return HardwareBench()


def bench_jumper_closed(board):
    """True when the board's bench jumper ties its pin to GND (bench mode)."""
    return _pulled_up(board.PINS["bench"]).value() == 0


def safe_boot_reason(board):
    """Why main.py must not start the pump (safe-boot button held, /safe_boot present), or None."""
    return _safe_boot_reason(_pulled_up(board.PINS["safe_boot"]))


def _adc(board, gpio, num=1, den=1):
    """An ADC channel on `gpio`, scaled to mV at the quantity measured (divider num/den undone)."""
    if board.ADC_ATTEN is None:
        adc = ADC(Pin(gpio))
    else:
        adc = ADC(Pin(gpio), atten=getattr(ADC, board.ADC_ATTEN))
    return ScaledAdc(adc, board.VREF_MV, num, den)


def make_hardware(board):
    """Every HAL object of `board` (a board module), wired as its PINS say. EN is driven high (motor
    driver disabled) before any other pin is touched."""
    pins = board.PINS
    en = Pin(pins["en"], Pin.OUT, value=1)
    forward = board.DIR_FORWARD_LEVEL
    stepper = StepDirStepper(Pin(pins["step"], Pin.OUT, value=0), Pin(pins["dir"], Pin.OUT, value=forward),
                             en, forward_level=forward)
    pressure = None
    if board.FIT_PRESSURE:
        pressure = _adc(board, pins["pressure"])
    rotation = None
    if board.FIT_ROTATION:
        rotation = EdgeCounter(_pulled_up(pins["rotation"]), Pin.IRQ_RISING, hard=board.IRQ_HARD)
    return Hardware(
        clock=McuClock(RTC()),
        stepper=stepper,
        serial=UsbSerial(sys.stdin.buffer, sys.stdout.buffer),
        buzzer=PwmBuzzer(PWM(Pin(pins["buzzer"]))),
        battery=_adc(board, pins["battery"], board.BATTERY_DIV_NUM, board.BATTERY_DIV_DEN),
        watchdog=McuWatchdog(WDT, board.WDT_TIMEOUT_MS, board.WDT_MAX_MS),
        storage=FlashStorage(board.STORAGE_DIR),
        pressure=pressure,
        rotation=rotation,
        bench=_bench() if bench_jumper_closed(board) else None,
        board=board.BOARD,
        serial_no=serial_no(),
    )
