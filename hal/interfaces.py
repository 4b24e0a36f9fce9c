"""The HAL's resident part: what the firmware and a board need at run time, and nothing more.

COUNTER_PERIOD, counter_diff and counter_add (the wrapping arithmetic of every HAL counter and of the
ticks), and Hardware (the bundle of HAL objects a board hands to the firmware). The firmware imports
only this module of the HAL. The contracts those objects honour (their methods, units and
invariants) are in hal/contracts.py, a host-side module never deployed to a board: the board drivers
(hal/mcu) define every method themselves, and tests_host/test_hal_contracts.py checks them and the
mocks against the contracts.

Units are in the names: ms, s, mv, hz. Every counter a driver exposes wraps at 2**30 so that it stays
a small int on a board; consumers take differences with `counter_diff`.
"""

COUNTER_PERIOD = 1 << 30  # wrap of every HAL pulse counter and of ticks_ms (as on RP2040/ESP32)
_COUNTER_MASK = COUNTER_PERIOD - 1
_COUNTER_HALF = COUNTER_PERIOD >> 1

# Wrapping arithmetic in small ints only (the idioms the firmware writes out inline on its step path).
# On a 32-bit board an int is a heap object from 2**30 on, so no intermediate may reach it, even one
# that a mask brings back: ((a - b + HALF) & MASK) and ((a + q) & MASK) allocate whenever the sum
# passes 2**30 - 1. With a, b counter values (0 <= a, b < 2**30) and 0 <= q < 2**29:
#   diff(a, b):  d = a - b                       # in (-2**30, 2**30): small
#                if d >= HALF: d = d - HALF - HALF
#                elif d < -HALF: d = d + HALF + HALF     # now -2**29 <= d < 2**29
#   a <= b:      the same d, then d <= 0 (or, knowing both lie within 2**29: a - b folded as above)
#   add(a, q):   room = MASK - a                 # steps left before the wrap
#                t = q - room - 1 if q > room else a + q
#   n + 1:       n = 0 if n >= MASK else n + 1   # a counter that wraps at 2**30
# Never write HALF + HALF or 1 << 30 in firmware arithmetic: the constant itself is a long int.
# Split a long int with // and %, never divmod() (nor 3-argument pow()): on MicroPython these hand back
# heap ints even when the values are small; kept in a field, every later sum with them allocates (a
# planner's q and r from divmod made each step allocate 64 bytes on a 32-bit build).


def counter_diff(new, old):
    """Signed difference new - old of two wrapping counters, in [-2**29, 2**29). Small ints only."""
    d = new - old
    if d >= _COUNTER_HALF:
        return d - _COUNTER_HALF - _COUNTER_HALF
    if d < -_COUNTER_HALF:
        return d + _COUNTER_HALF + _COUNTER_HALF
    return d


def counter_add(value, delta):
    """value + delta on the 2**30 wrap, for |delta| < 2**29. Small ints only."""
    if delta >= 0:
        room = _COUNTER_MASK - value
        if delta > room:
            return delta - room - 1
        return value + delta
    t = value + delta
    if t < 0:
        return t + _COUNTER_HALF + _COUNTER_HALF
    return t


class Hardware:
    """The bundle of HAL objects a board hands to the firmware. Optional parts are None when not
    fitted (pressure, rotation); `bench` is the board's bench extension or None.

    No LED and no button: an implanted pump has neither (the patient's input is the handheld
    programmer over the link, a demand bolus; the alarm is the buzzer). A dev board's LED and button
    stay free for the board's own use (the boards read a button at boot for safe boot only)."""

    def __init__(self, clock, stepper, serial, buzzer, battery, watchdog, storage,
                 pressure=None, rotation=None, bench=None, board="unknown", serial_no="0"):
        self.clock = clock
        self.stepper = stepper
        self.serial = serial
        self.buzzer = buzzer
        self.battery = battery
        self.watchdog = watchdog
        self.storage = storage
        self.pressure = pressure
        self.rotation = rotation
        self.bench = bench
        self.board = board
        self.serial_no = serial_no
