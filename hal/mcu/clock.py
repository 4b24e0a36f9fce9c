"""Board clock: time.ticks_ms for the loop, machine.RTC for wall seconds, select.poll to sleep.

ticks: on RP2040/RP2350 and ESP32 `time.ticks_ms()` already wraps at 2**30, so the clock hands out
the port's own ticks_ms/ticks_add/ticks_diff. On a port whose ticks period is wider (the unix port
used by the host tests: 2**62) the ticks are masked to 2**30 and the contract's arithmetic is used,
so every consumer sees the same 2**30 wrap.

wall seconds: RTC.datetime() is (year, month, day, weekday, hour, minute, second, subsecond).
time.mktime() counts from the port's epoch (2000-01-01 on RP2040/ESP32, 1970 on unix), so the pump
epoch 2024-01-01 00:00 UTC is computed once with mktime in the same epoch and subtracted. An RTC year
before 2024 means the clock was never set (RP2040 boots at 2021-01-01, ESP32 at 2000-01-01): -1.

sleeping: sleep_until() waits in select.poll on the serial link's input stream with a timeout of
ticks_diff(deadline, now) clamped at >= 0 ms, so it returns at the deadline or as soon as a host byte
arrives. poll() idles the CPU (WFE/event wait) while the port keeps servicing USB. No lightsleep or
deepsleep is used: while USB CDC is the link to the host, lightsleep would stop the USB device
(RP2040 turns off its clocks; the host sees the port vanish). A board on battery without USB could
add lightsleep later behind its own serial link.
"""

import select
import time

from micropython import const

_MASK = const(0x3FFFFFFF)          # ticks wrap of the HAL contract (2**30 - 1)
_HALF = const(0x20000000)
_POLLIN = const(0x0001)            # select.POLLIN
_EPOCH_YEAR = const(2024)          # pump epoch: 2024-01-01 00:00 UTC
_SLICE_MS = const(10)              # re-check period when the serial link has no pollable stream

# True where the port's own ticks period is 2**30 (RP2040, RP2350, ESP32): 0 - (2**30 - 1) wraps to 1.
_NATIVE_TICKS = time.ticks_diff(0, _MASK) == 1


class McuClock:  # honours hal.contracts.Clock (checked by tests_host/test_hal_contracts.py)
    """`rtc` is a machine.RTC (or anything with its datetime() method)."""

    def __init__(self, rtc):
        self._rtc = rtc
        # The pump epoch in the port's mktime seconds (757382400 on a 2000-epoch port).
        self._epoch_s = time.mktime((_EPOCH_YEAR, 1, 1, 0, 0, 0, 0, 0))
        self._stream = None        # input stream the poller watches (registered on first sleep)
        self._poller = select.poll()

    # --- ticks ------------------------------------------------------------------------------
    def ticks_ms(self):
        """Milliseconds, wrapping at 2**30."""
        if _NATIVE_TICKS:
            return time.ticks_ms()
        return time.ticks_diff(time.ticks_ms(), 0) & _MASK   # wider port: the tick value, masked

    def ticks_add(self, ticks, delta_ms):
        if _NATIVE_TICKS:
            return time.ticks_add(ticks, delta_ms)
        return (ticks + delta_ms) & _MASK

    def ticks_diff(self, a, b):
        """a - b in ms, signed; valid while |a - b| < 2**29."""
        if _NATIVE_TICKS:
            return time.ticks_diff(a, b)
        return ((a - b + _HALF) & _MASK) - _HALF

    # --- wall clock -------------------------------------------------------------------------
    def rtc_s(self):
        """Seconds since 2024-01-01 00:00 UTC from the RTC, or -1 if the RTC was never set."""
        dt = self._rtc.datetime()
        if dt[0] < _EPOCH_YEAR:
            return -1
        return time.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0)) - self._epoch_s

    def set_rtc_s(self, wall_s):
        """Set the RTC to `wall_s` seconds since the pump epoch (>= 0)."""
        if wall_s < 0:
            raise ValueError("wall_s < 0")
        t = time.localtime(self._epoch_s + wall_s)  # inverse of mktime; UTC on the boards
        # localtime: (year, month, mday, hour, minute, second, weekday, yearday)
        self._rtc.datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))

    # --- sleeping ---------------------------------------------------------------------------
    def sleep_until(self, deadline_ticks, serial):
        """Return at deadline_ticks or as soon as `serial` has input, never later than the deadline.

        `serial` may expose `stream` (a pollable input stream, as hal.mcu.serial.UsbSerial does);
        it is registered with the poller once. Without a stream the wait is cut in _SLICE_MS slices
        that check serial.any(); with serial None it is a plain sleep.
        """
        wait = self.ticks_diff(deadline_ticks, self.ticks_ms())
        if wait <= 0:
            return
        if serial is None:
            time.sleep_ms(wait)
            return
        if serial.any():
            return
        stream = getattr(serial, "stream", None)
        if stream is None:
            self._sleep_sliced(deadline_ticks, serial)
            return
        if stream is not self._stream:
            if self._stream is not None:
                self._poller.unregister(self._stream)
            self._poller.register(stream, _POLLIN)
            self._stream = stream
        # ipoll reuses its result tuple: no allocation on the loop's sleep path.
        for _ in self._poller.ipoll(wait):
            return

    def _sleep_sliced(self, deadline_ticks, serial):
        while True:
            wait = self.ticks_diff(deadline_ticks, self.ticks_ms())
            if wait <= 0 or serial.any():
                return
            time.sleep_ms(wait if wait < _SLICE_MS else _SLICE_MS)
