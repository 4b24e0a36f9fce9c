"""Boot-time recovery check shared by the boards' main.py.

The pump must not start (and the watchdog must not be armed) when a person asks for the REPL:
  - the safe-boot button (the board file's PINS["safe_boot"]) is held while the board boots, or
  - a flag file (default /safe_boot) exists on the flash; create it with
    `mpremote fs touch :/safe_boot`, remove it with `mpremote fs rm :/safe_boot`.
"""

import os
import time

from micropython import const

_SAMPLES = const(5)       # the button must read pressed in every sample ...
_SAMPLE_MS = const(10)    # ... taken this far apart (40 ms in all: longer than any bounce)
SAFE_BOOT_FLAG = "/safe_boot"


def safe_boot_reason(button_pin, active_level=0, flag_path=SAFE_BOOT_FLAG):
    """Why the pump must not start, as a text for the console, or None to start it."""
    try:
        os.stat(flag_path)
        return "flag file %s exists (mpremote fs rm :%s to clear)" % (flag_path, flag_path)
    except OSError:
        pass
    for i in range(_SAMPLES):
        if button_pin.value() != active_level:
            return None
        if i + 1 < _SAMPLES:
            time.sleep_ms(_SAMPLE_MS)
    return "button held at boot"
