"""Mock pump: a stepper driver plus a small physical model of the fluid it moves.

The firmware believes each step moves its calibrated volume; the mock moves `true_pl_per_step`
(picolitres) from its own reservoir, so a miscalibration shows up as a difference between the two.
Faults act physically: a stalled motor takes pulses but moves nothing and turns no rotor; an occluded
line moves nothing and builds pressure. Volumes are kept in pL as host ints (the mock is not on a board).
"""

from hal.interfaces import COUNTER_PERIOD, AnalogIn, RotationSensor, Stepper


class MockPump(Stepper):
    def __init__(self, true_pl_per_step=50_000, reservoir_capacity_pl=20_000_000_000,
                 rotation_pulses_per_step=1):
        self.true_pl_per_step = true_pl_per_step
        self.capacity_pl = reservoir_capacity_pl
        self.reservoir_pl = 0          # fluid truly in the reservoir
        self.moved_pl = 0              # fluid truly pushed out of the outlet
        self.pulses = 0                # pulses that left the STEP pin (unbounded; reported wrapped)
        self.rotor_pulses = 0          # rotation sensor output
        self.rotation_pulses_per_step = rotation_pulses_per_step
        self.enabled = False
        self.forward = True
        self.stalled = False
        self.occluded = False
        self.pressure_mv = 0
        self.step_times = None         # list of ticks when recording is on (tests/analysis)
        self._clock = None

    # --- Stepper contract -------------------------------------------------------------------
    def enable(self, on):
        self.enabled = bool(on)

    def is_enabled(self):
        return self.enabled

    def set_forward(self, forward):
        self.forward = bool(forward)

    def step(self):
        if not self.enabled:
            return False
        self.pulses += 1
        if self.step_times is not None and self._clock is not None:
            self.step_times.append(self._clock.elapsed_ms)
        if self.stalled:
            return True
        self.rotor_pulses += self.rotation_pulses_per_step
        if self.occluded:
            self.pressure_mv += 10
            return True
        move = self.true_pl_per_step if self.forward else 0
        if move > self.reservoir_pl:
            move = self.reservoir_pl   # an empty reservoir pumps air
        self.reservoir_pl -= move
        self.moved_pl += move
        return True

    def pulses_sent(self):
        return self.pulses % COUNTER_PERIOD

    # --- bench side ---------------------------------------------------------------------------
    def record_steps(self, clock):
        """Record the virtual time (elapsed ms) of every pulse."""
        self._clock = clock
        self.step_times = []

    def fill(self, volume_pl):
        self.reservoir_pl = min(volume_pl, self.capacity_pl)

    def state(self):
        return {
            "pulses": self.pulses,
            "moved_pl": self.moved_pl,
            "reservoir_pl": self.reservoir_pl,
            "true_pl_per_step": self.true_pl_per_step,
            "enabled": self.enabled,
            "stalled": self.stalled,
            "occluded": self.occluded,
        }


class MockRotation(RotationSensor):
    def __init__(self, pump):
        self._pump = pump

    def count(self):
        return self._pump.rotor_pulses % COUNTER_PERIOD


class MockPressure(AnalogIn):
    def __init__(self, pump):
        self._pump = pump

    def read_mv(self):
        return self._pump.pressure_mv
