"""ESP32 dev board (ESP32-WROOM-32 DevKitC / DOIT DevKit v1): pin map and hardware.

Pins avoid the strapping pins (GPIO0, 2, 5, 12, 15), the flash pins (6-11), the PSRAM pins of WROVER
modules (16, 17) and the UART0 REPL (1, 3); the analog inputs are ADC1 channels (ADC2 is unusable while
WiFi runs). GPIO34/35 are input-only without pull-ups: fine for ADC.
Pin map (see docs/boards.md for the wiring):
  GPIO25 STEP -> driver STEP         GPIO19 button to GND (internal pull-up)
  GPIO26 DIR  -> driver DIR          GPIO22 rotation sensor (hall/encoder, pull-up)
  GPIO27 EN   -> driver EN (active-low, 10k pull-up to 3V3 on the board)
  GPIO18 buzzer PWM -> transistor    GPIO21 bench jumper to GND (pull-up): bench mode
  GPIO23 LED (through 330 ohm to GND)
  GPIO34 ADC1_CH6 battery through a 100k/100k divider (mV = raw * 3300 * 2 / 65535)
  GPIO35 ADC1_CH7 pressure sensor, 0..3.3 V direct
The host link is UART0 through the board's USB-UART bridge (the REPL's stdio).
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

BOARD = "esp32"

# --- pin map (GPIO numbers) -----------------------------------------------------------------------
STEP_GPIO = const(25)
DIR_GPIO = const(26)
EN_GPIO = const(27)
BUZZER_GPIO = const(18)
BUTTON_GPIO = const(19)
BENCH_GPIO = const(21)
ROTATION_GPIO = const(22)
LED_GPIO = const(23)
BATTERY_GPIO = const(34)    # ADC1_CH6, input-only
PRESSURE_GPIO = const(35)   # ADC1_CH7, input-only

# --- scaling and timing -------------------------------------------------------------------------
VREF_MV = const(3300)              # read_u16 full scale at 11 dB attenuation (uncalibrated: trim per board)
BATTERY_DIV_NUM = const(2)         # 100k/100k divider: the pin sees half the battery voltage
BATTERY_DIV_DEN = const(1)
DIR_FORWARD_LEVEL = const(1)       # DIR level that dispenses; flip if the motor turns backwards
DEBOUNCE_MS = const(30)
WDT_TIMEOUT_MS = const(8000)
HOUSEKEEPING_MS = const(4000)      # main-loop wake-up bound: feeds the watchdog twice per timeout
STORAGE_DIR = "/data"

# --- fitted options ----------------------------------------------------------------------------
FIT_PRESSURE = True
FIT_ROTATION = True


def serial_no():
    """The factory MAC (machine.unique_id) as lowercase hex (12 digits)."""
    return "".join("%02x" % b for b in machine.unique_id())


def button_pin():
    return Pin(BUTTON_GPIO, Pin.IN, Pin.PULL_UP)


def bench_jumper_closed():
    """True when GPIO21 is tied to GND (bench mode)."""
    return Pin(BENCH_GPIO, Pin.IN, Pin.PULL_UP).value() == 0


def safe_boot_reason():
    """Why main.py must not start the pump (button held, /safe_boot present), or None."""
    return _safe_boot_reason(button_pin())


def _adc(gpio):
    return ADC(Pin(gpio), atten=ADC.ATTN_11DB)     # ~0..3.3 V input range


def make_hardware():
    """Build every HAL object of this board. The motor driver is disabled (EN high) first.
    ESP32 pin IRQs are soft only: the button and rotation counters run as scheduled callbacks."""
    en = Pin(EN_GPIO, Pin.OUT, value=1)
    stepper = StepDirStepper(Pin(STEP_GPIO, Pin.OUT, value=0),
                             Pin(DIR_GPIO, Pin.OUT, value=DIR_FORWARD_LEVEL), en,
                             forward_level=DIR_FORWARD_LEVEL)
    pressure = None
    if FIT_PRESSURE:
        pressure = ScaledAdc(_adc(PRESSURE_GPIO), VREF_MV, 1, 1)
    rotation = None
    if FIT_ROTATION:
        rotation = EdgeCounter(Pin(ROTATION_GPIO, Pin.IN, Pin.PULL_UP), Pin.IRQ_RISING)
    return Hardware(
        clock=McuClock(RTC()),
        stepper=stepper,
        serial=UsbSerial(sys.stdin.buffer, sys.stdout.buffer),
        buzzer=PwmBuzzer(PWM(Pin(BUZZER_GPIO))),
        led=PinLed(Pin(LED_GPIO, Pin.OUT, value=0)),
        button=DebouncedButton(button_pin(), DEBOUNCE_MS, 0),
        battery=ScaledAdc(_adc(BATTERY_GPIO), VREF_MV, BATTERY_DIV_NUM, BATTERY_DIV_DEN),
        watchdog=McuWatchdog(WDT, WDT_TIMEOUT_MS),
        storage=FlashStorage(STORAGE_DIR),
        pressure=pressure,
        rotation=rotation,
        bench=HardwareBench() if bench_jumper_closed() else None,
        board=BOARD,
        serial_no=serial_no(),
    )
