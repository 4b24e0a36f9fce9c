"""Raspberry Pi Pico family board (Pico, Pico W, Pico 2 / RP2040, RP2350): the board's facts.

boards/mcu_board.py builds the hardware from them. Pin map (GPn; see docs/boards.md for the wiring):
  GP2  STEP  -> driver STEP          GP14 safe-boot button to GND (pull-up), read at boot only
  GP3  DIR   -> driver DIR           GP16 rotation sensor (hall/encoder, pull-up)
  GP4  EN    -> driver EN (active-low, 10k pull-up to 3V3 on the board)
  GP15 buzzer PWM -> transistor      GP22 bench jumper to GND (pull-up): bench mode
  GP26 ADC0 battery through a 100k/100k divider (mV = raw * 3300 * 2 / 65535)
  GP27 ADC1 pressure sensor, 0..3.3 V direct
The onboard LED (GP25) is not used by the pump: it stays free for the board's own use.
"""

import sys

from micropython import const

from boards import mcu_board

BOARD = "pico"

# --- pin map (GPIO numbers): the only wiring fact of the board ---------------------------------------
PINS = {
    "step": 2,
    "dir": 3,
    "en": 4,
    "buzzer": 15,
    "battery": 26,      # ADC0
    "pressure": 27,     # ADC1
    "rotation": 16,
    "bench": 22,
    "safe_boot": 14,
}

# --- scaling and timing -------------------------------------------------------------------------
VREF_MV = const(3300)              # ADC full scale (the Pico's 3V3 reference)
BATTERY_DIV_NUM = const(2)         # 100k/100k divider: the pin sees half the battery voltage
BATTERY_DIV_DEN = const(1)
DIR_FORWARD_LEVEL = const(1)       # DIR level that dispenses; flip if the motor turns backwards
WDT_TIMEOUT_MS = const(8000)
WDT_MAX_MS = const(8388)           # RP2040 hardware limit (RP2350 allows more)
HOUSEKEEPING_MS = const(4000)      # main-loop wake-up bound: feeds the watchdog twice per timeout
STORAGE_DIR = "/data"

# --- the port ----------------------------------------------------------------------------------
IRQ_HARD = True                    # rp2 pin IRQs may be hard (the rotor counter allocates nothing)
ADC_ATTEN = None                   # the rp2 ADC has no attenuation setting

# --- fitted options ----------------------------------------------------------------------------
FIT_PRESSURE = True
FIT_ROTATION = True


def make_hardware():
    """Every HAL object of this board (boards/mcu_board.py); the motor driver is disabled first."""
    return mcu_board.make_hardware(sys.modules[__name__])


def safe_boot_reason():
    """Why main.py must not start the pump (button held, /safe_boot present), or None."""
    return mcu_board.safe_boot_reason(sys.modules[__name__])


def bench_jumper_closed():
    """True when GP22 is tied to GND (bench mode)."""
    return mcu_board.bench_jumper_closed(sys.modules[__name__])
