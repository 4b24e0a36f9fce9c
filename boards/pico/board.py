"""Raspberry Pi Pico family board (Pico, Pico W, Pico 2 / RP2040, RP2350): pin map and hardware.

Pin map (GPn; see docs/boards.md for the wiring):
  GP2  STEP  -> driver STEP          GP14 button to GND (internal pull-up)
  GP3  DIR   -> driver DIR           GP16 rotation sensor (hall/encoder, pull-up)
  GP4  EN    -> driver EN (active-low, 10k pull-up to 3V3 on the board)
  GP15 buzzer PWM -> transistor      GP22 bench jumper to GND (pull-up): bench mode
  GP25 LED (onboard; "LED" on Pico W / Pico 2 W)
  GP26 ADC0 battery through a 100k/100k divider (mV = raw * 3300 * 2 / 65535)
  GP27 ADC1 pressure sensor, 0..3.3 V direct
"""

import sys

import machine
from machine import ADC, PWM, RTC, WDT, Pin
from micropython import const

from boards.bench import HardwareBench
from hal.interfaces import Hardware
from hal.mcu.analog import ScaledAdc
from hal.mcu.boot import safe_boot_reason as _safe_boot_reason
from hal.mcu.button import DebouncedButton
from hal.mcu.buzzer import PwmBuzzer
from hal.mcu.clock import McuClock
from hal.mcu.led import PinLed
from hal.mcu.rotation import EdgeCounter
from hal.mcu.serial import UsbSerial
from hal.mcu.stepper import StepDirStepper
from hal.mcu.storage import FlashStorage
from hal.mcu.watchdog import McuWatchdog

BOARD = "pico"

# --- pin map (GPIO numbers) -----------------------------------------------------------------------
STEP_GPIO = const(2)
DIR_GPIO = const(3)
EN_GPIO = const(4)
BUTTON_GPIO = const(14)
BUZZER_GPIO = const(15)
ROTATION_GPIO = const(16)
BENCH_GPIO = const(22)
LED_GPIO = const(25)        # the onboard LED of the Pico and Pico 2 (Pico W: the "LED" pin name)
BATTERY_GPIO = const(26)    # ADC0
PRESSURE_GPIO = const(27)   # ADC1

# --- scaling and timing -------------------------------------------------------------------------
VREF_MV = const(3300)              # ADC full scale (the Pico's 3V3 reference)
BATTERY_DIV_NUM = const(2)         # 100k/100k divider: the pin sees half the battery voltage
BATTERY_DIV_DEN = const(1)
DIR_FORWARD_LEVEL = const(1)       # DIR level that dispenses; flip if the motor turns backwards
DEBOUNCE_MS = const(30)
WDT_TIMEOUT_MS = const(8000)
WDT_MAX_MS = const(8388)           # RP2040 hardware limit (RP2350 allows more)
HOUSEKEEPING_MS = const(4000)      # main-loop wake-up bound: feeds the watchdog twice per timeout
STORAGE_DIR = "/data"

# --- fitted options ----------------------------------------------------------------------------
FIT_PRESSURE = True
FIT_ROTATION = True


def serial_no():
    """The flash chip's unique id as lowercase hex (16 digits on a Pico)."""
    return "".join("%02x" % b for b in machine.unique_id())


def _led_pin():
    try:
        return Pin("LED", Pin.OUT)     # works on Pico, Pico W, Pico 2, Pico 2 W
    except (ValueError, TypeError):
        return Pin(LED_GPIO, Pin.OUT)


def button_pin():
    return Pin(BUTTON_GPIO, Pin.IN, Pin.PULL_UP)


def bench_jumper_closed():
    """True when GP22 is tied to GND (bench mode)."""
    return Pin(BENCH_GPIO, Pin.IN, Pin.PULL_UP).value() == 0


def safe_boot_reason():
    """Why main.py must not start the pump (button held, /safe_boot present), or None."""
    return _safe_boot_reason(button_pin())


def make_hardware():
    """Build every HAL object of this board. The motor driver is disabled (EN high) first."""
    en = Pin(EN_GPIO, Pin.OUT, value=1)
    stepper = StepDirStepper(Pin(STEP_GPIO, Pin.OUT, value=0),
                             Pin(DIR_GPIO, Pin.OUT, value=DIR_FORWARD_LEVEL), en,
                             forward_level=DIR_FORWARD_LEVEL)
    pressure = None
    if FIT_PRESSURE:
        pressure = ScaledAdc(ADC(Pin(PRESSURE_GPIO)), VREF_MV, 1, 1)
    rotation = None
    if FIT_ROTATION:
        rotation = EdgeCounter(Pin(ROTATION_GPIO, Pin.IN, Pin.PULL_UP), Pin.IRQ_RISING, hard=True)
    return Hardware(
        clock=McuClock(RTC()),
        stepper=stepper,
        serial=UsbSerial(sys.stdin.buffer, sys.stdout.buffer),
        buzzer=PwmBuzzer(PWM(Pin(BUZZER_GPIO))),
        led=PinLed(_led_pin()),
        button=DebouncedButton(button_pin(), DEBOUNCE_MS, 0, hard=True),
        battery=ScaledAdc(ADC(Pin(BATTERY_GPIO)), VREF_MV, BATTERY_DIV_NUM, BATTERY_DIV_DEN),
        watchdog=McuWatchdog(WDT, WDT_TIMEOUT_MS, WDT_MAX_MS),
        storage=FlashStorage(STORAGE_DIR),
        pressure=pressure,
        rotation=rotation,
        bench=HardwareBench() if bench_jumper_closed() else None,
        board=BOARD,
        serial_no=serial_no(),
    )
