"""One ADC channel scaled to millivolts at the measured quantity, integer arithmetic only.

    mv = round(read_u16() * vref_mv * num / (65535 * den))

`vref_mv` is the ADC full-scale voltage (3300 on a Pico with its 3.3 V reference; ESP32 at 11 dB
attenuation: about 3300, calibrate per board). `num/den` undoes the divider in front of the pin: a
100k/100k battery divider halves the voltage, so num=2, den=1; 47k over 100k gives num=147, den=100.

Every intermediate stays below 2**30, a small int on RP2040/ESP32, so read_mv() never allocates.
When raw * vref_mv * num fits, the result is rounded once; otherwise (large num) the pin voltage is
rounded to whole mV first and then scaled, an extra error below num/den/2 mV. The constructor refuses
factors too large for either form.
"""

from micropython import const

_FULL_SCALE = const(65535)      # read_u16() maximum
_SMALL_MAX = const(0x3FFFFFFF)  # largest small int on RP2040/ESP32 (2**30 - 1)


class ScaledAdc:  # honours hal.contracts.AnalogIn (checked by tests_host/test_hal_contracts.py)
    def __init__(self, adc, vref_mv=3300, num=1, den=1):
        if vref_mv <= 0 or num <= 0 or den <= 0:
            raise ValueError("vref_mv, num, den must be > 0")
        self._adc = adc
        self._vref = vref_mv
        self._num = num
        self._den = den
        div = _FULL_SCALE * den
        # one rounding: raw * vref * num + div/2 must fit
        self._single = _FULL_SCALE * vref_mv * num + (div >> 1) <= _SMALL_MAX
        if self._single:
            self._mul = vref_mv * num
            self._div = div
        elif _FULL_SCALE * vref_mv > _SMALL_MAX or vref_mv * num + (den >> 1) > _SMALL_MAX:
            raise ValueError("vref_mv * num / den overflows a small int")
        else:
            self._mul = vref_mv
            self._div = _FULL_SCALE

    def read_raw(self):
        """The ADC reading, 0..65535."""
        return self._adc.read_u16()

    def read_mv(self):
        """Millivolts at the measured quantity (the divider undone), rounded to nearest."""
        mv = (self._adc.read_u16() * self._mul + (self._div >> 1)) // self._div
        if self._single:
            return mv
        return (mv * self._num + (self._den >> 1)) // self._den
