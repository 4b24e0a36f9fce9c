"""HAL drivers on MicroPython's `machine` (RP2040/RP2350 and ESP32), one concern per module.

Each driver subclasses its contract in hal.interfaces and takes its hardware objects (Pin, PWM, ADC,
RTC, streams, ...) ready-made from the board file, so a board decides every pin and the drivers stay
portable. Counters wrap at 2**30 (hal.interfaces.COUNTER_PERIOD); the step path allocates nothing.
"""
