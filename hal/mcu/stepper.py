"""STEP/DIR/EN stepper driver (A4988, DRV8825, TMC2209 in STEP/DIR mode).

Pins are machine.Pin outputs made by the board. EN is active-low on all three drivers: EN high = the
driver's outputs are off (motor unpowered), EN low = energised. A board should also pull EN up
externally (10 kohm to VDD) so the motor stays off while the MCU boots or resets.

One step() is one microstep pulse: STEP high for at least 2 us (A4988 needs 1 us, DRV8825 1.9 us,
TMC2209 100 ns), then low. The pulse is counted only after it was sent. Disabled: step() sends nothing
and returns False. The pulse counter wraps at 2**30. step() allocates nothing.
"""

import time

from micropython import const

_MASK = const(0x3FFFFFFF)
_PULSE_US = const(2)     # STEP high time; DRV8825's 1.9 us minimum is the strictest of the three
_EN_ON = const(0)        # EN level that energises the driver (active-low)
_EN_OFF = const(1)


class StepDirStepper:  # honours hal.contracts.Stepper (checked by tests_host/test_hal_contracts.py)
    """`forward_level` is the DIR level for forward (dispensing) motion; it depends on the wiring
    of the motor coils, so the board decides it."""

    def __init__(self, step_pin, dir_pin, en_pin, forward_level=1):
        self._step = step_pin
        self._dir = dir_pin
        self._en = en_pin
        self._fwd = 1 if forward_level else 0
        self._enabled = False
        self._forward = True
        self._pulses = 0
        en_pin.value(_EN_OFF)
        step_pin.value(0)
        dir_pin.value(self._fwd)

    def enable(self, on):
        """Energise (True) or release (False) the motor through EN (active-low)."""
        self._enabled = bool(on)
        self._en.value(_EN_ON if on else _EN_OFF)

    def is_enabled(self):
        return self._enabled

    def set_forward(self, forward):
        self._forward = bool(forward)
        self._dir.value(self._fwd if forward else 1 - self._fwd)

    def step(self):
        """One microstep pulse (>= 2 us high). False, and no pulse, while disabled."""
        if not self._enabled:
            return False
        pin = self._step
        pin.value(1)
        time.sleep_us(_PULSE_US)
        pin.value(0)
        self._pulses = (self._pulses + 1) & _MASK
        return True

    def pulses_sent(self):
        """Pulses that left the STEP pin, wrapping at 2**30."""
        return self._pulses
