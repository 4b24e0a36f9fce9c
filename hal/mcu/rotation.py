"""Rotor sensor (hall switch or encoder channel) on a machine.Pin input: edges counted in a Pin IRQ.

`trigger` is the Pin trigger to count (e.g. Pin.IRQ_RISING; a hall switch with an open-collector
output needs the pin's pull-up). The handler only increments a counter wrapped at 2**30 and allocates
nothing, so it may run as a hard IRQ where the port offers one (RP2040: hard=True, which loses no edge
to a full scheduler queue); ESP32 pin IRQs are always soft, so pass hard=None there.
"""

from micropython import const

_MASK = const(0x3FFFFFFF)


class EdgeCounter:  # honours hal.contracts.RotationSensor (checked by tests_host/test_hal_contracts.py)
    def __init__(self, pin, trigger, hard=None):
        self._count = 0
        if hard is None:
            pin.irq(handler=self._edge, trigger=trigger)
        else:
            pin.irq(handler=self._edge, trigger=trigger, hard=hard)

    def _edge(self, _pin):
        self._count = (self._count + 1) & _MASK

    def count(self):
        """Edges seen since start, wrapping at 2**30."""
        return self._count
