"""Mock pump: a stepper driver plus a small physical model of the fluid it moves.

The firmware believes each step moves its calibrated volume; the mock moves `true_pl_per_step`
(picolitres) from its own reservoir, so a miscalibration shows up as a difference between the two.
Faults act physically: a stalled motor takes pulses but moves nothing and turns no rotor; an occluded
line moves nothing and builds pressure. Volumes read in pL (`reservoir_pl`, `moved_pl`, `tubing_pl`:
host ints, reporting; read-only: fill(), set_tubing_pl() and replace_tubing() set them) but are kept
as whole uL plus a pL remainder, so that a pulse allocates nothing
on a 32-bit MicroPython build either (20 mL is 2e10 pL, far beyond a small int there): the allocation
tests measure the firmware's step path through the simulator, mocks included.

Bench realism (all off by default, so the mock moves exactly `true_pl_per_step` on every pulse):
- `noise_ppm`: each pulse moves the step volume plus a uniform integer error of at most that many
  parts per million of it, drawn from a seeded xorshift32 generator (`noise_seed`), so a run is the
  same on CPython and on the MicroPython unix port;
- `wear_ppm_per_ml`: tubing wear, the output falls by that many ppm for every mL that has gone
  through the present tubing (`tubing_pl`; `replace_tubing()` starts a new one).
"""

from hal.contracts import AnalogIn, RotationSensor, Stepper
from hal.interfaces import COUNTER_PERIOD

_PPM_ML = 1_000_000 * 1_000_000_000   # ppm x pL per mL: the wear term's denominator
_PL_PER_UL = 1_000_000
_MASK32 = 0xFFFFFFFF
_COUNTER_MASK = COUNTER_PERIOD - 1   # counters wrap at 2**30 like a board's


def xorshift32(state):
    """The next state of Marsaglia's xorshift32 generator (never 0 from a non-zero state)."""
    state ^= (state << 13) & _MASK32
    state ^= state >> 17
    state ^= (state << 5) & _MASK32
    return state


class MockPump(Stepper):
    RECORD_MAX = 65_536       # pulses the step log holds until drained (sim.steplog); more are only counted

    def __init__(self, true_pl_per_step=50_000, reservoir_capacity_pl=20_000_000_000,
                 rotation_pulses_per_step=1, noise_ppm=0, noise_seed=1, wear_ppm_per_ml=0):
        self.true_pl_per_step = true_pl_per_step
        self.noise_ppm = noise_ppm          # per-pulse error, uniform within +/- this many ppm
        self.wear_ppm_per_ml = wear_ppm_per_ml
        # volumes as whole uL + pL (0..999_999); read them as reservoir_pl, moved_pl, tubing_pl
        self._tube_ul = self._tube_pl = 0    # fluid moved through the present tubing (wears it)
        self._res_ul = self._res_pl = 0      # fluid truly in the reservoir
        self._moved_ul = self._moved_pl = 0  # fluid truly pushed out of the outlet
        self._rng = 1
        self.seed(noise_seed)
        self.capacity_pl = reservoir_capacity_pl
        self.pulses = 0                # pulses that left the STEP pin (reported wrapped; 2**30 is decades)
        self.rotor_pulses = 0          # rotation sensor output
        self.rotation_pulses_per_step = rotation_pulses_per_step
        self.enabled = False
        self.forward = True
        self.stalled = False
        self.occluded = False
        self.pressure_mv = 0
        self.step_times = None         # list of ticks when recording is on (tests/analysis)
        self.step_volumes = None       # true pL moved by each recorded pulse (record_steps(volumes=True))
        self.record_dropped = 0        # pulses not logged because the log held RECORD_MAX
        self._clock = None

    # --- Stepper contract -------------------------------------------------------------------
    def enable(self, on):
        self.enabled = bool(on)

    def is_enabled(self):
        return self.enabled

    def set_forward(self, forward):
        self.forward = bool(forward)

    def step(self):
        """One pulse: acted out physically (one call: this is the simulator's hottest path)."""
        if not self.enabled:
            return False
        self.pulses += 1
        if self.stalled:
            move = 0
        elif self.occluded:
            self.rotor_pulses += self.rotation_pulses_per_step
            self.pressure_mv += 10
            move = 0
        else:
            self.rotor_pulses += self.rotation_pulses_per_step
            if not self.forward:
                move = 0
            elif self.noise_ppm or self.wear_ppm_per_ml:
                move = self.pulse_volume_pl()
            else:
                move = self.true_pl_per_step
            if move:
                # out of the reservoir (uL + pL): borrow whole uL for the pL part; an empty one pumps air
                res_pl = self._res_pl - move
                if res_pl < 0:
                    res_ul = self._res_ul
                    borrow = (_PL_PER_UL - 1 - res_pl) // _PL_PER_UL
                    if borrow > res_ul:
                        move = res_ul * _PL_PER_UL + self._res_pl
                        self._res_ul = res_pl = 0
                    else:
                        self._res_ul = res_ul - borrow
                        res_pl += borrow * _PL_PER_UL
                self._res_pl = res_pl
                moved = self._moved_pl + move
                if moved >= _PL_PER_UL:
                    self._moved_ul += moved // _PL_PER_UL
                    moved %= _PL_PER_UL
                self._moved_pl = moved
                tube = self._tube_pl + move
                if tube >= _PL_PER_UL:
                    self._tube_ul += tube // _PL_PER_UL
                    tube %= _PL_PER_UL
                self._tube_pl = tube
        if self.step_times is not None:
            self._record(move)
        return True

    def _record(self, move):
        """The step log (record_steps): the virtual time of the pulse and the pL it moved."""
        if len(self.step_times) >= self.RECORD_MAX:    # bounded: a log nobody drains must not eat the heap
            self.record_dropped += 1
            return
        self.step_times.append(self._clock.elapsed_ms)
        if self.step_volumes is not None:
            self.step_volumes.append(move)

    # --- volumes in pL (host ints: reporting and the bench) ---------------------------------
    # Read through __getattr__, not properties: a property makes MicroPython look the class up on every
    # attribute store of the instance (three times slower pulses); __getattr__ costs only the reads.
    def __getattr__(self, name):
        if name == "reservoir_pl":
            return self._res_ul * _PL_PER_UL + self._res_pl
        if name == "moved_pl":
            return self._moved_ul * _PL_PER_UL + self._moved_pl
        if name == "tubing_pl":
            return self._tube_ul * _PL_PER_UL + self._tube_pl
        raise AttributeError(name)

    def set_tubing_pl(self, volume_pl):
        """Bench: this much fluid has already gone through the present tubing (its wear so far)."""
        self._tube_ul = volume_pl // _PL_PER_UL
        self._tube_pl = volume_pl % _PL_PER_UL

    def pulse_volume_pl(self):
        """What the next forward pulse moves from a full reservoir: the true step volume less the
        tubing wear so far, plus this pulse's noise (draws one number when noise is on)."""
        move = self.true_pl_per_step
        if self.wear_ppm_per_ml:
            move -= move * self.wear_ppm_per_ml * self.tubing_pl // _PPM_ML
        if self.noise_ppm:
            span_pl = move * self.noise_ppm // 1_000_000
            self._rng = xorshift32(self._rng)
            move += self._rng % (2 * span_pl + 1) - span_pl
        return move if move > 0 else 0

    def pulses_sent(self):
        return self.pulses & _COUNTER_MASK

    # --- bench side ---------------------------------------------------------------------------
    def record_steps(self, clock, volumes=False):
        """Record the virtual time (elapsed ms) of every pulse, and with volumes=True the true pL
        each pulse moved (step_volumes, index for index with step_times)."""
        self._clock = clock
        self.step_times = []
        self.step_volumes = [] if volumes else None
        self.record_dropped = 0

    def seed(self, noise_seed):
        """Restart the noise sequence (a seed of 0 would stick at 0, so it is taken as 1)."""
        self._rng = (noise_seed & _MASK32) or 1

    def replace_tubing(self):
        """A new tubing segment: the wear starts again from nothing."""
        self._tube_ul = self._tube_pl = 0

    def fill(self, volume_pl):
        volume_pl = min(volume_pl, self.capacity_pl)
        self._res_ul = volume_pl // _PL_PER_UL
        self._res_pl = volume_pl % _PL_PER_UL

    def state(self):
        return {
            "pulses": self.pulses,
            "moved_pl": self.moved_pl,
            "reservoir_pl": self.reservoir_pl,
            "true_pl_per_step": self.true_pl_per_step,
            "noise_ppm": self.noise_ppm,
            "wear_ppm_per_ml": self.wear_ppm_per_ml,
            "tubing_pl": self.tubing_pl,
            "enabled": self.enabled,
            "stalled": self.stalled,
            "occluded": self.occluded,
        }


class MockRotation(RotationSensor):
    def __init__(self, pump):
        self._pump = pump

    def count(self):
        return self._pump.rotor_pulses & _COUNTER_MASK


class MockPressure(AnalogIn):
    def __init__(self, pump):
        self._pump = pump

    def read_mv(self):
        return self._pump.pressure_mv
