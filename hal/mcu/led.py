"""Status LED on a machine.Pin output. `active_high=False` for an LED wired from VDD to the pin."""

from hal.interfaces import Led


class PinLed(Led):
    def __init__(self, pin, active_high=True):
        self._pin = pin
        self._on_level = 1 if active_high else 0
        self.on = False
        pin.value(1 - self._on_level)

    def set(self, on):
        self.on = bool(on)
        self._pin.value(self._on_level if on else 1 - self._on_level)
