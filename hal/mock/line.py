"""Mock catheter line with a pressure sensor, driven by the mock pump's pulses.

Model (mV at the sensor): a resting `idle_mv`; right after a pulse into a connected, open line the
reading is `pulse_rise_mv` higher (the transient is consumed by the reading); while occluded every
pulse adds `occlusion_step_mv` that stays until the occlusion clears; while disconnected (or leaking)
pulses push fluid out with no rise at all.
"""

from hal.contracts import AnalogIn


class MockLine(AnalogIn):
    def __init__(self, pump, idle_mv=500, pulse_rise_mv=30, occlusion_step_mv=10):
        self._pump = pump
        self.idle_mv = idle_mv
        self.pulse_rise_mv = pulse_rise_mv
        self.occlusion_step_mv = occlusion_step_mv
        self.disconnected = False
        self._occluded_at = None      # pump pulse count when the occlusion began
        self._seen_pulses = pump.pulses

    def occlude(self, on):
        self._pump.occluded = bool(on)
        self._occluded_at = self._pump.pulses if on else None

    def read_mv(self):
        pulses = self._pump.pulses
        fresh = pulses != self._seen_pulses
        self._seen_pulses = pulses
        mv = self.idle_mv
        if self._occluded_at is not None:
            mv += (pulses - self._occluded_at) * self.occlusion_step_mv
        elif fresh and not self.disconnected and not self._pump.stalled:
            mv += self.pulse_rise_mv
        return mv
