"""HAL contracts. The firmware talks to hardware only through objects that honour these.

Each class documents one contract; the real drivers (hal/mcu) and the host mocks (hal/mock) subclass
it. Methods raise NotImplementedError here so a missing method fails loudly, never silently.

Units are in the names: ms, s, mv, hz. Every counter a driver exposes wraps at 2**30 so that it stays
a small int on a board; consumers take differences with `counter_diff`.
"""

import json

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


class Clock:
    """Monotonic milliseconds, wall-clock seconds, and sleeping until a deadline.

    ticks_ms() wraps at 2**30 exactly like `time.ticks_ms()` on a board: compare tick values only with
    ticks_diff() and move them only with ticks_add(). A ticks_diff result is valid while |diff| < 2**29.
    Wall-clock seconds count from the pump epoch 2024-01-01 00:00 UTC (the simulator's t=0 is that
    instant); they stay below 2**30 until 2058.
    """

    def ticks_ms(self):
        raise NotImplementedError

    def ticks_add(self, ticks, delta_ms):
        """ticks + delta_ms on the wrap (|delta_ms| < 2**29), without a long int."""
        return counter_add(ticks, delta_ms)

    def ticks_diff(self, a, b):
        """a - b in ms, signed, without a long int."""
        return counter_diff(a, b)

    def rtc_s(self):
        """Wall-clock seconds since the pump epoch, or -1 if the RTC has never been set."""
        raise NotImplementedError

    def set_rtc_s(self, wall_s):
        raise NotImplementedError

    def sleep_until(self, deadline_ticks, serial):
        """Return at deadline_ticks, or earlier as soon as `serial` has input. Never sleeps past the
        deadline. The caller bounds the deadline (watchdog feed interval)."""
        raise NotImplementedError


class Stepper:
    """STEP/DIR/EN driver. One step() is one microstep pulse; pulses_sent() counts the pulses that
    really left the pin (wraps at 2**30). step() while disabled sends nothing and returns False."""

    def enable(self, on):
        raise NotImplementedError

    def is_enabled(self):
        raise NotImplementedError

    def set_forward(self, forward):
        raise NotImplementedError

    def step(self):
        raise NotImplementedError

    def pulses_sent(self):
        raise NotImplementedError


class Buzzer:
    """Passive buzzer on PWM. tone(hz) starts a tone, off() silences it."""

    def tone(self, freq_hz):
        raise NotImplementedError

    def off(self):
        raise NotImplementedError


class AnalogIn:
    """One ADC channel scaled to millivolts at the quantity measured (divider already undone)."""

    def read_mv(self):
        raise NotImplementedError


class RotationSensor:
    """Encoder or hall pulses from the pump rotor (wraps at 2**30)."""

    def count(self):
        raise NotImplementedError


class Watchdog:
    """Started once, fed from the main loop's healthy path only."""

    def feed(self):
        raise NotImplementedError


class Storage:
    """Named byte records on the board's flash. write() may be torn by power loss; the firmware
    makes its records atomic on top (write new name, then rename). Errors raise OSError."""

    def read(self, name):
        """The record's bytes, or None if it does not exist."""
        raise NotImplementedError

    def write(self, name, data):
        raise NotImplementedError

    def rename(self, old, new):
        raise NotImplementedError

    def remove(self, name):
        raise NotImplementedError


class SerialLink:
    """Byte stream to the host (USB CDC on boards, a pipe in the simulator). Never blocks."""

    def any(self):
        """Number of bytes that read() would return now (0 if none)."""
        raise NotImplementedError

    def read(self, max_bytes):
        """Up to max_bytes available bytes, b'' if none."""
        raise NotImplementedError

    def write(self, data):
        raise NotImplementedError

    def write_json(self, obj):
        """Write obj as one JSON line. This default builds the text (the simulator); a board's link
        streams it (hal/mcu/serial.py) so a large reply needs no large block of heap."""
        self.write(json.dumps(obj).encode())
        self.write(b"\n")


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
