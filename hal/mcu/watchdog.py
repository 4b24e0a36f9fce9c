"""machine.WDT, armed on the first feed().

The main loop feeds it on its healthy path only. It is armed lazily so that building the hardware
(e.g. from the REPL while debugging) does not start a reset countdown that nothing feeds; once armed
it cannot be stopped on RP2040 or ESP32 until the next reset. The timeout is clamped to what the
chip allows: RP2040 at most 8388 ms (the board passes `max_timeout_ms`).
"""

from micropython import const

_MASK = const(0x3FFFFFFF)


class McuWatchdog:  # honours hal.contracts.Watchdog (checked by tests_host/test_hal_contracts.py)
    """`wdt_class` is machine.WDT (called once as wdt_class(timeout=ms))."""

    def __init__(self, wdt_class, timeout_ms, max_timeout_ms=None):
        if max_timeout_ms is not None and timeout_ms > max_timeout_ms:
            timeout_ms = max_timeout_ms
        self.timeout_ms = timeout_ms
        self._wdt_class = wdt_class
        self._wdt = None
        self.feeds = 0

    def armed(self):
        return self._wdt is not None

    def feed(self):
        wdt = self._wdt
        if wdt is None:
            wdt = self._wdt = self._wdt_class(timeout=self.timeout_ms)
        wdt.feed()
        self.feeds = (self.feeds + 1) & _MASK  # feeds so far (wraps at 2**30)
