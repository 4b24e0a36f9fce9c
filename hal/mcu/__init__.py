"""HAL drivers on MicroPython's `machine` (RP2040/RP2350 and ESP32), one concern per module.

Each driver honours one contract of hal/contracts.py without subclassing it (the contracts are host
side, never on a board: a class there would hold the board's heap for good), so each defines every
method of its contract itself; tests_host/test_hal_contracts.py checks that on CPython. A driver takes
its hardware objects (Pin, PWM, ADC, RTC, streams, ...) ready-made from the board file, so a board
decides every pin and the drivers stay portable. Counters wrap at 2**30
(hal.interfaces.COUNTER_PERIOD); the step path allocates nothing.
"""
