"""Fault monitors fed by the step path and housekeeping: motor stall (rotation sensor), occlusion and
disconnection (pressure sensor), battery (ERI/EOS with hysteresis and a replacement forecast).

Detection bounds (documented in docs/hazards.md and measured by `make bench`):
- MOTOR_STALL: the rotation sensor is read every STALL_WINDOW steps; fewer than half the expected
  rotor pulses in a window raises it: at most STALL_WINDOW (4) steps after the motor stops turning.
- OCCLUSION: the post-step pressure reading above occlusion_mv for OCCLUSION_HOLD (3) consecutive steps.
- DISCONNECT: the post-step pressure rise (over the resting baseline) below disconnect_rise_mv for
  DISCONNECT_HOLD (8) consecutive steps: the line no longer pushes against anything.
- BATTERY_ERI / BATTERY_EOS: BATTERY_HOLD (3) consecutive housekeeping readings below the threshold;
  cleared only above threshold + hysteresis.
All per-step work is integer compares and HAL reads: no allocation.
"""

from micropython import const

from hal.interfaces import counter_diff

STALL_WINDOW = const(4)
OCCLUSION_HOLD = const(3)
DISCONNECT_HOLD = const(8)
BATTERY_HOLD = const(3)
_TREND_SLOTS = const(32)

# LineMonitor.on_step() results
LINE_OK = const(0)
LINE_OCCLUSION = const(1)
LINE_DISCONNECT = const(2)
# BatteryMonitor.read() results and .level (ordered: a higher level is worse)
BATTERY_OK = const(0)
BATTERY_ERI = const(1)
BATTERY_EOS = const(2)


class StallMonitor:
    def __init__(self, rotation, pulses_per_step=1):
        self._rotation = rotation
        self._ppr = pulses_per_step
        self._steps = 0
        self._last = rotation.count() if rotation is not None else 0

    def fitted(self):
        return self._rotation is not None

    def reset(self):
        self._steps = 0
        if self._rotation is not None:
            self._last = self._rotation.count()

    def on_step(self):
        """True when the last window of steps turned the rotor less than half as far as expected."""
        if self._rotation is None:
            return False
        self._steps += 1
        if self._steps < STALL_WINDOW:
            return False
        count = self._rotation.count()
        turned = counter_diff(count, self._last)
        self._last = count
        self._steps = 0
        return turned * 2 < STALL_WINDOW * self._ppr


class LineMonitor:
    """Pressure after each step: held high = occlusion; no rise any more = disconnection or leak."""

    def __init__(self, pressure, occlusion_mv, disconnect_rise_mv):
        self._pressure = pressure
        self.occlusion_mv = occlusion_mv
        self.disconnect_rise_mv = disconnect_rise_mv
        self.idle_mv = pressure.read_mv() if pressure is not None else 0
        self._high = 0
        self._flat = 0
        self.last_mv = self.idle_mv

    def fitted(self):
        return self._pressure is not None

    def idle_reading(self):
        """Housekeeping: read the resting pressure between steps. The baseline for the post-step rise
        follows it down at once but up only by 1/16 of the difference per reading, so a line whose
        pressure builds (occlusion) keeps showing a rise and is not mistaken for a disconnection."""
        if self._pressure is None:
            return self.idle_mv
        mv = self._pressure.read_mv()
        self.last_mv = mv
        if mv <= self.idle_mv:
            self.idle_mv = mv
        else:
            self.idle_mv += (mv - self.idle_mv) // 16
        return mv

    def reset(self):
        self._high = 0
        self._flat = 0

    def on_step(self):
        """LINE_OK, LINE_OCCLUSION (confirmed) or LINE_DISCONNECT (confirmed)."""
        if self._pressure is None:
            return LINE_OK
        mv = self._pressure.read_mv()
        self.last_mv = mv
        if mv >= self.occlusion_mv:
            self._high += 1
            self._flat = 0
            return LINE_OCCLUSION if self._high >= OCCLUSION_HOLD else LINE_OK
        self._high = 0
        if mv - self.idle_mv < self.disconnect_rise_mv:
            self._flat += 1
            return LINE_DISCONNECT if self._flat >= DISCONNECT_HOLD else LINE_OK
        self._flat = 0
        return LINE_OK


class BatteryMonitor:
    """Battery voltage against ERI/EOS thresholds with hysteresis, and a linear trend forecast."""

    def __init__(self, adc, eri_mv, eos_mv, hysteresis_mv):
        self._adc = adc
        self.eri_mv = eri_mv
        self.eos_mv = eos_mv
        self.hysteresis_mv = hysteresis_mv
        self.level = BATTERY_OK   # BATTERY_OK, _ERI or _EOS (latched with hysteresis)
        self._below_eri = 0
        self._below_eos = 0
        self.last_mv = adc.read_mv() if adc is not None else 0
        self._trend_t = [0] * _TREND_SLOTS
        self._trend_mv = [0] * _TREND_SLOTS
        self._trend_n = 0
        self._trend_next = 0
        self._trend_last_s = None

    def read(self, wall_s, trend_every_s=86400):
        """Housekeeping reading. Returns the level (BATTERY_OK, _ERI, _EOS) after this reading."""
        if self._adc is None:
            return BATTERY_OK
        mv = self._adc.read_mv()
        self.last_mv = mv
        self._below_eri = self._below_eri + 1 if mv < self.eri_mv else 0
        self._below_eos = self._below_eos + 1 if mv < self.eos_mv else 0
        if self._below_eos >= BATTERY_HOLD:
            self.level = BATTERY_EOS
        elif self._below_eri >= BATTERY_HOLD and self.level < BATTERY_ERI:
            self.level = BATTERY_ERI
        elif self.level == BATTERY_EOS and mv > self.eos_mv + self.hysteresis_mv:
            self.level = BATTERY_ERI if mv < self.eri_mv + self.hysteresis_mv else BATTERY_OK
        elif self.level == BATTERY_ERI and mv > self.eri_mv + self.hysteresis_mv:
            self.level = BATTERY_OK
        if self._trend_last_s is None or wall_s - self._trend_last_s >= trend_every_s:
            self._trend_t[self._trend_next] = wall_s
            self._trend_mv[self._trend_next] = mv
            self._trend_next = (self._trend_next + 1) % _TREND_SLOTS
            if self._trend_n < _TREND_SLOTS:
                self._trend_n += 1
            self._trend_last_s = wall_s
        return self.level

    def eri_due_s(self, target_mv=None):
        """Projected wall second at which the trend reaches ERI (least squares over the daily samples);
        None if fewer than 3 samples or no downward trend. Off the step path."""
        target = self.eri_mv if target_mv is None else target_mv
        n = self._trend_n
        if n < 3:
            return None
        t0 = self._trend_t[(self._trend_next - n) % _TREND_SLOTS]
        sx = sy = sxx = sxy = 0
        for i in range(n):
            j = (self._trend_next - n + i) % _TREND_SLOTS
            x = self._trend_t[j] - t0
            y = self._trend_mv[j]
            sx += x
            sy += y
            sxx += x * x
            sxy += x * y
        den = n * sxx - sx * sx
        num = n * sxy - sx * sy          # slope = num / den (mV per s)
        if den <= 0 or num >= 0:
            return None
        # intercept b = (sy - slope*sx)/n; solve b + slope*x = target for x
        # x = (target - b) / slope with b = (sy - slope*sx) / n, kept in integers
        x = (target * n - sy) * den // num + sx
        return t0 + x // n
