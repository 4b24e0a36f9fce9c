"""HAL contracts: the methods the firmware calls on each hardware object, with their units. Host side only.

Each class documents one contract. The host mocks (hal/mock) subclass it and inherit its defaults
(Clock.ticks_add/ticks_diff, SerialLink.write_json); the other methods raise NotImplementedError, so
a mock missing one fails loudly. The board drivers (hal/mcu) do not subclass it: this module is never
deployed to a board nor imported there (a class here would hold a board's heap for good), so each
driver defines every method itself. tests_host/test_hal_contracts.py checks, on CPython, that every
driver and every mock has every method of its contract with the same positional parameters.

Units are in the names: ms, s, mv, hz. Every counter a driver exposes wraps at 2**30 so that it stays
a small int on a board; consumers take differences with hal.interfaces.counter_diff (the part of the
HAL a board keeps resident: the counter arithmetic and Hardware).
"""

import json

from hal.interfaces import counter_add, counter_diff


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
