"""Patient button on a machine.Pin input (to GND, pull-up): debounced presses counted in a Pin IRQ.

The IRQ watches both edges. An edge is "quiet" when no edge at all came in the `debounce_ms` before
it: only quiet edges change the debounced state, so contact bounce after a press and after a release
is ignored. A quiet edge that takes the state from released to pressed counts one press.

Missed-edge recovery: a noise spike (two edges within the debounce time) or an edge the port dropped
would leave the debounced state inverted and swallow the next press. presses() therefore compares the
state with the pin on a quiet line; if they disagree on two calls at least `debounce_ms` apart with no
edge in between, the state takes the pin's level (without counting a press: a bolus is never invented).
The two-call rule keeps that correction from racing a soft IRQ callback that is still pending.

The counter wraps at 2**30. The handler allocates nothing, so it may run as a hard IRQ where the port
offers one (RP2040: `hard=True`); ESP32 pin IRQs are always soft, so pass hard=None there.
"""

import time

from micropython import const

from hal.interfaces import Button

_MASK = const(0x3FFFFFFF)


class DebouncedButton(Button):
    """`pin` is an input Pin; `active_level` is its level while pressed (0 for a button to GND)."""

    def __init__(self, pin, debounce_ms=30, active_level=0, hard=None):
        self._pin = pin
        self._debounce_ms = debounce_ms
        self._active = active_level
        self._count = 0
        self._edges = 0                      # every edge, quiet or not (wraps)
        self._last_edge = time.ticks_ms()
        self._down = pin.value() == active_level
        self._suspect_edges = -1             # edge count when the pin was first seen to disagree
        self._suspect_ticks = 0
        trigger = pin.IRQ_FALLING | pin.IRQ_RISING
        if hard is None:
            pin.irq(handler=self._edge, trigger=trigger)
        else:
            pin.irq(handler=self._edge, trigger=trigger, hard=hard)

    def _edge(self, _pin):
        now = time.ticks_ms()
        quiet = time.ticks_diff(now, self._last_edge) >= self._debounce_ms
        self._last_edge = now
        self._edges = (self._edges + 1) & _MASK
        if quiet:
            if not self._down:
                self._count = (self._count + 1) & _MASK
            self._down = not self._down

    def presses(self):
        """Debounced presses since start, wrapping at 2**30."""
        self._recover()
        return self._count

    def is_down(self):
        """The debounced state (True while pressed)."""
        self._recover()
        return self._down

    def _recover(self):
        edges = self._edges
        now = time.ticks_ms()
        level_down = self._pin.value() == self._active
        if level_down == self._down or time.ticks_diff(now, self._last_edge) < self._debounce_ms:
            self._suspect_edges = -1
            return
        if self._suspect_edges != edges:
            self._suspect_edges = edges
            self._suspect_ticks = now
            return
        if time.ticks_diff(now, self._suspect_ticks) >= self._debounce_ms:
            self._down = level_down
            self._suspect_edges = -1
