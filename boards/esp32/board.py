"""ESP32 dev board (ESP32-WROOM-32 DevKitC / DOIT DevKit v1): the board's facts.

boards/mcu_board.py builds the hardware from them. Pins avoid the strapping pins (GPIO0, 2, 5, 12,
15), the flash pins (6-11), the PSRAM pins of WROVER modules (16, 17) and the UART0 REPL (1, 3); the
analog inputs are ADC1 channels (ADC2 is unusable while WiFi runs). GPIO34/35 are input-only without
pull-ups: fine for ADC.
Pin map (see docs/boards.md for the wiring):
  GPIO25 STEP -> driver STEP         GPIO19 safe-boot button to GND (pull-up), read at boot only
  GPIO26 DIR  -> driver DIR          GPIO22 rotation sensor (hall/encoder, pull-up)
  GPIO27 EN   -> driver EN (active-low, 10k pull-up to 3V3 on the board)
  GPIO18 buzzer PWM -> transistor    GPIO21 bench jumper to GND (pull-up): bench mode
  GPIO34 ADC1_CH6 battery through a 100k/100k divider (mV = raw * 3300 * 2 / 65535)
  GPIO35 ADC1_CH7 pressure sensor, 0..3.3 V direct
The host link is UART0 through the board's USB-UART bridge (the REPL's stdio).
"""

import sys

from micropython import const

from boards import mcu_board

BOARD = "esp32"

# --- pin map (GPIO numbers): the only wiring fact of the board ---------------------------------------
PINS = {
    "step": 25,
    "dir": 26,
    "en": 27,
    "buzzer": 18,
    "battery": 34,      # ADC1_CH6, input-only
    "pressure": 35,     # ADC1_CH7, input-only
    "rotation": 22,
    "bench": 21,
    "safe_boot": 19,
}

# --- scaling and timing -------------------------------------------------------------------------
VREF_MV = const(3300)              # read_u16 full scale at 11 dB attenuation (uncalibrated: trim per board)
BATTERY_DIV_NUM = const(2)         # 100k/100k divider: the pin sees half the battery voltage
BATTERY_DIV_DEN = const(1)
DIR_FORWARD_LEVEL = const(1)       # DIR level that dispenses; flip if the motor turns backwards
WDT_TIMEOUT_MS = const(8000)
WDT_MAX_MS = None                  # the ESP32 watchdog takes any timeout
HOUSEKEEPING_MS = const(4000)      # main-loop wake-up bound: feeds the watchdog twice per timeout
STORAGE_DIR = "/data"

# --- the port ----------------------------------------------------------------------------------
IRQ_HARD = None                    # ESP32 pin IRQs are soft only: the rotor counter runs scheduled
ADC_ATTEN = "ATTN_11DB"            # ~0..3.3 V input range

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
    """True when GPIO21 is tied to GND (bench mode)."""
    return mcu_board.bench_jumper_closed(sys.modules[__name__])
