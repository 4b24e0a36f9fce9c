"""Passive buzzer on machine.PWM: a square wave at the tone frequency, 50 % duty; duty 0 is silence.

The PWM pin drives the buzzer through a transistor (the GPIO cannot source the buzzer current).
Frequencies are clamped to 20..20000 Hz, inside what both RP2040 PWM (>= 8 Hz at 125 MHz) and ESP32
LEDC accept, so tone() never raises on a bad frequency (it is called on the shutdown path).
"""

from micropython import const

_HALF_DUTY = const(32768)    # duty_u16 for a 50 % square wave
_MIN_HZ = const(20)
_MAX_HZ = const(20000)


class PwmBuzzer:  # honours hal.contracts.Buzzer (checked by tests_host/test_hal_contracts.py)
    def __init__(self, pwm):
        self._pwm = pwm
        self.freq_hz = 0     # tone now playing, 0 when silent
        pwm.duty_u16(0)

    def tone(self, freq_hz):
        """Start a tone of freq_hz (clamped to 20..20000 Hz); freq_hz <= 0 is off()."""
        if freq_hz <= 0:
            self.off()
            return
        if freq_hz < _MIN_HZ:
            freq_hz = _MIN_HZ
        elif freq_hz > _MAX_HZ:
            freq_hz = _MAX_HZ
        self._pwm.freq(freq_hz)
        self._pwm.duty_u16(_HALF_DUTY)
        self.freq_hz = freq_hz

    def off(self):
        self._pwm.duty_u16(0)
        self.freq_hz = 0
