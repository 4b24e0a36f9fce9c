"""The step path: the basal and bolus planners, the stepper, the accounts, the bridge bolus and the
scheduled rate changes, and the stop mask that blocks delivery.

`deliver(now, horizon)` emits every step due up to `now` in time order, returns the next one (or the
horizon), and allocates nothing in steady state.
Step-path tick arithmetic is written out inline (`_TICKS_*`) instead of calling the clock's
ticks_diff/ticks_add: the HAL contract fixes the wrap at 2**30 on every board, and a call per
comparison is the largest cost of a wake-up on MicroPython. It uses the small-int idioms of
hal/interfaces.py (no intermediate reaches 2**30, where a board's int becomes a heap object).

Delivery is blocked while any STOP_* bit (firmware/stops.py) is set; block() and unblock() are the
only ways to set or clear one. A change that the forecast, the guard's allowance and the journal must
follow sets `pending`; the main loop then commits it (firmware/app.py Pump.commit), never on the step
path itself.
"""

from micropython import const

from firmware import stops
from firmware.accounting import Accounting
from firmware.bolus import BolusChannel
from firmware.planner import Planner
from firmware.therapy import MINIMUM, STOPPED, Therapy, rate_nl_day

_MAX_BURST = const(64)            # steps emitted in one wake-up at most (then the loop comes back at once)
_BOUNDARY_HORIZON_MS = const(1 << 27)  # a scheduled change further away is re-armed later (1.5 days)
_TICKS_HALF = const(0x20000000)   # d = a - b folded into [-HALF, HALF) is ticks_diff(a, b) (hal/interfaces.py)
_NO_STEP = const(0)
_BASAL_STEP = const(1)
_BOLUS_STEP = const(2)
_BOUNDARY = const(3)


class Delivery:
    """The step path. Reads its settings from `config` (firmware/config.py) where they are used."""

    def __init__(self, hw, config, timebase, log, alarms):
        self._hw = hw
        self._config = config
        self._tb = timebase
        self._log = log
        self._alarms = alarms
        clock = hw.clock
        now = clock.ticks_ms()
        self.acct = Accounting(config.step_pl)
        self.planner = Planner(clock, config.step_pl)       # basal
        self.bolus = BolusChannel(clock, config.step_pl)
        self.therapy = Therapy()
        self.after_step = None        # the supervisor's per-step check (at_ticks): set by the Pump
        self.on_shutdown = None       # the one shutdown path (reason): set by the Pump
        self.stop_mask = 0            # STOP_* bits: delivery is blocked while any is set
        self.pending = False          # the forecast, the guard's allowance and the journal must follow
        self.bridge_left_nl = 0       # bridge bolus: the volume still to push at the old concentration is
        self.bridge_owed_pl = 0       # bridge_left_nl nL less bridge_owed_pl pL (0..999): small ints per step
        self.bridge_conc_mcg_ml = 0
        self._boundary_armed = False  # a scheduled rate change (or its re-arm point) is pending
        self.next_kind = _NO_STEP     # what next_event_before() found (_NO_STEP, _BASAL_STEP, ...)
        self._boundary_real = False
        self._boundary_s = 0
        self.boundary_ticks = now
        self.min_step_nl = 0          # the smallest volume one step takes from the reservoir (nL, rounded up)
        self._update_step_cache()
        hw.stepper.enable(False)

    # --- the step path (no allocation in steady state) ------------------------------------------------
    # Each function here keeps its frame (locals + value stack) within 11 words, so MicroPython keeps
    # it on the C stack; a larger frame is taken from the heap and freed on every call
    # (tools/bench/cpython_frames.py, tests_host/test_frames.py).
    def next_event_before(self, horizon):
        """The ticks of the next step or scheduled change if it comes at or before `horizon`, else
        `horizon`; `next_kind` says which (_NO_STEP: the horizon). At the same tick the basal step
        goes before the bolus step, and a step before a scheduled change (the step was earned under
        the old rate). d = ticks_diff(x, t) written out in small ints (hal/interfaces.py):
        x <= t  <=>  d <= 0."""
        kind = _NO_STEP
        t = horizon
        basal = self.planner
        if basal.running:
            d = basal.next_ticks - t
            if d >= _TICKS_HALF or (d <= 0 and d >= -_TICKS_HALF):
                kind = _BASAL_STEP
                t = basal.next_ticks
        bolus = self.bolus.planner
        if bolus.running:
            d = bolus.next_ticks - t
            if d >= _TICKS_HALF:
                d = d - _TICKS_HALF - _TICKS_HALF
            elif d < -_TICKS_HALF:
                d = d + _TICKS_HALF + _TICKS_HALF
            if d < 0 or (d == 0 and kind == _NO_STEP):
                kind = _BOLUS_STEP
                t = bolus.next_ticks
        if self._boundary_armed:
            d = self.boundary_ticks - t
            if d >= _TICKS_HALF:
                d = d - _TICKS_HALF - _TICKS_HALF
            elif d < -_TICKS_HALF:
                d = d + _TICKS_HALF + _TICKS_HALF
            if d < 0 or (d == 0 and kind == _NO_STEP):
                kind = _BOUNDARY
                t = self.boundary_ticks
        self.next_kind = kind
        return t

    def deliver(self, now, horizon):
        """Emit everything due up to `now` in time order: scheduled rate changes and the steps of
        both planners. Returns the ticks of the next of them if it comes before `horizon`, else
        `horizon` (`now` after a burst of _MAX_BURST steps or a stop: come back at once)."""
        d = horizon - now
        if d < 0 and d >= -_TICKS_HALF or d >= _TICKS_HALF:
            horizon = now                 # a horizon already passed: look as far as now
        n = 0
        while n < _MAX_BURST:
            t = self.next_event_before(horizon)
            d = t - now                   # is it due (t <= now)?
            if d > 0 and d < _TICKS_HALF or d < -_TICKS_HALF:
                return t
            kind = self.next_kind
            if kind == _BOUNDARY:
                self._on_boundary()
                continue
            if kind == _NO_STEP:
                return t                  # the horizon itself has come
            if not self._step(kind, t):
                return now
            n += 1
        return now

    def _step(self, kind, t):
        """One pulse out through the stepper HAL and into the accounts, if the reservoir has it, then
        the thresholds it crossed (each a rare path behind one comparison) and the supervisor's check.
        False if delivery stopped."""
        acct = self.acct
        if acct.reservoir_nl < self.min_step_nl:
            self._on_empty(t)
            return False
        if not self._hw.stepper.step():
            self.on_shutdown("stepper refused a step while delivering")
            return False
        acct.on_step()
        done = False
        if kind == _BASAL_STEP:
            self.planner.advance()
        else:
            done = self.bolus.on_step()
        if acct.reservoir_nl <= self._config.low_reservoir_nl:
            self._on_low(t)
        if self.bridge_left_nl > 0:
            self._bridge_step(t)
        if acct.reservoir_nl < self.min_step_nl:
            self._on_empty(t)
        self.after_step(t)
        if done and self.bolus.active():
            self.end_bolus(t, "done")
        return True

    def _on_low(self, at_ticks):
        """A step left the reservoir at or below the LOW_RESERVOIR threshold."""
        if not self._alarms.is_active("LOW_RESERVOIR"):
            self._alarms.raise_alarm("LOW_RESERVOIR", self._tb.wall_at(at_ticks),
                                     "reservoir %d nL" % self.acct.reservoir_nl)

    def _bridge_step(self, at_ticks):
        """A step pushed out drug of the old concentration (bridge bolus after a refill). Whole nL and
        a pL remainder, as in the accounts: a 2 mL bridge is 2e9 pL, beyond a board's small int."""
        acct = self.acct
        left = self.bridge_left_nl - acct.step_whole_nl
        owed = self.bridge_owed_pl + acct.step_rem_pl
        if owed >= 1000:
            owed -= 1000
            left -= 1
        self.bridge_owed_pl = owed
        self.bridge_left_nl = left
        if left <= 0:                 # left nL - owed pL <= 0, as 0 <= owed < 1000
            self._end_bridge(at_ticks)

    def _on_empty(self, at_ticks):
        """Documented behaviour at empty: stop the motor (it would pump air), cancel a running bolus,
        keep the programme, raise EMPTY_RESERVOIR; delivery resumes only after a refill."""
        self._alarms.raise_alarm("EMPTY_RESERVOIR", self._tb.wall_at(at_ticks))
        self.block(stops.EMPTY, at_ticks)

    def _end_bridge(self, at_ticks):
        self.bridge_left_nl = 0
        self.bridge_owed_pl = 0
        self._log.add(self._tb.wall_at(at_ticks), "bridge_end", {"conc_mcg_ml": self.acct.conc_mcg_ml})
        self.apply_basal(at_ticks)
        self.pending = True           # the allowance no longer needs the old concentration's rate

    def _on_boundary(self):
        """A scheduled rate change is due (or the far one must be re-armed)."""
        at = self.boundary_ticks
        self._boundary_armed = False
        if self._boundary_real:
            self.apply_basal(at, self._boundary_s)
        else:
            self._arm_boundary(self._boundary_s)

    # --- stops ----------------------------------------------------------------------------------------
    def block(self, bit, at_ticks=None):
        """Stop delivery for one reason (a STOP_* bit): a running bolus ends, the motor is disabled."""
        if at_ticks is None:
            at_ticks = self._hw.clock.ticks_ms()
        self.stop_mask |= bit
        if self.bolus.active():
            self.end_bolus(at_ticks, "stopped: " + ", ".join(stops.names(bit)))
        self.apply_basal(at_ticks)
        self.pending = True           # a reset must not forget why the pump stopped

    def unblock(self, bit):
        """That reason is gone; delivery resumes if no other reason holds it."""
        self.stop_mask &= ~bit
        self.apply_basal()
        self.pending = True

    def clear_pending(self):
        """The Pump committed the change (Pump.commit)."""
        self.pending = False

    def blocked_by(self, bits):
        """True if any of these STOP_* bits holds delivery."""
        return self.stop_mask & bits != 0

    def test_step(self):
        """One step while blocked (the supervisor's retry): the driver is enabled for it only."""
        if self.acct.reservoir_nl < self.min_step_nl:
            return False
        stepper = self._hw.stepper
        stepper.enable(True)
        sent = stepper.step()
        stepper.enable(False)
        if sent:
            self.acct.on_step()
        return sent

    def halt(self, at_ticks):
        """The shutdown path's part: every planner stopped, nothing scheduled, the driver disabled."""
        self.stop_mask |= stops.FAULT
        try:
            self._hw.stepper.enable(False)
            self.planner.set_rate(0, at_ticks)
            self.bolus.stop(at_ticks)
            self._boundary_armed = False
        finally:
            self._hw.stepper.enable(False)

    # --- boluses --------------------------------------------------------------------------------------
    def start_bolus(self, kind, steps, rate_nl_day, dose_ng):
        """Start a bolus of `steps` steps at rate_nl_day on top of the basal rate (checked by the caller)."""
        self.bolus.start(kind, steps, rate_nl_day, self._hw.clock.ticks_ms(), self._tb.wall_s, dose_ng)
        self._update_stepper()

    def end_bolus(self, at_ticks, why):
        kind = self.bolus.kind
        total = self.bolus.steps_total
        left = self.bolus.stop(at_ticks)
        self._log.add(self._tb.wall_at(at_ticks), "bolus_end",
                      {"kind": kind, "steps": total - left, "steps_missed": left, "why": why})
        self._update_stepper()
        self.pending = True           # the forecast, and a reset must not close this bolus a second time

    # --- the bridge bolus -----------------------------------------------------------------------------
    def set_bridge(self, conc_mcg_ml, volume_pl):
        """Start (or restore) a bridge: volume_pl pL still to push at conc_mcg_ml; volume_pl <= 0: none."""
        self.bridge_conc_mcg_ml = conc_mcg_ml
        if volume_pl <= 0:
            self.bridge_left_nl = 0
            self.bridge_owed_pl = 0
            return
        nl = volume_pl // 1000            # not divmod(): it returns heap ints (hal/interfaces.py)
        pl = volume_pl % 1000
        self.bridge_left_nl = nl + 1 if pl else nl
        self.bridge_owed_pl = 1000 - pl if pl else 0

    def bridge_volume_pl(self):
        """The bridge volume still to push, in pL (reporting and the journal: may be a long int)."""
        return self.bridge_left_nl * 1000 - self.bridge_owed_pl

    # --- rates ----------------------------------------------------------------------------------------
    def basal_conc(self):
        """Concentration the basal rate is computed with: the old one while a bridge runs."""
        return self.bridge_conc_mcg_ml if self.bridge_left_nl > 0 else self.acct.conc_mcg_ml

    def basal_rate_at(self, wall_s):
        """The basal rate due at wall_s, nL/day (0 while blocked or without a drug)."""
        if self.stop_mask or self.acct.drug is None:
            return 0
        return self.therapy.rate_at(wall_s, self.basal_conc(), self._config.minimum_nl_day)

    def set_therapy(self, therapy):
        """A new programme (already saved); the rate follows at the next apply_basal (Pump.commit)."""
        self.therapy = therapy

    def apply_basal(self, at_ticks=None, wall_s=None):
        """Set the basal planner to the rate due at `at_ticks` (default now) and arm the next change."""
        if at_ticks is None:
            at_ticks = self._hw.clock.ticks_ms()
        if wall_s is None:
            wall_s = self._tb.wall_at(at_ticks)
        rate = self.basal_rate_at(wall_s)
        if rate != self.planner.rate_nl_day or (rate > 0) != self.planner.running:
            self.planner.set_rate(rate, at_ticks)
        self._arm_boundary(self.therapy.next_change_s(wall_s))
        self._update_stepper()

    def _arm_boundary(self, boundary_s):
        if boundary_s is None:
            self._boundary_armed = False
            return
        tb = self._tb
        ahead_ms = (boundary_s - tb.wall_s) * 1000 - tb.sub_ms
        self._boundary_s = boundary_s
        self._boundary_real = ahead_ms < _BOUNDARY_HORIZON_MS
        self.boundary_ticks = tb.ticks_at(boundary_s, _BOUNDARY_HORIZON_MS)
        self._boundary_armed = True

    def _update_stepper(self):
        self._hw.stepper.enable(not self.stop_mask and (self.planner.running or self.bolus.planner.running))

    def top_rate_nl_day(self):
        """The highest basal rate the programme can ask for (either concentration while a bridge runs)."""
        acct = self.acct
        t = self.therapy
        if acct.drug is None or t.mode == STOPPED:
            return 0
        if t.mode == MINIMUM:
            return self._config.minimum_nl_day
        top = rate_nl_day(t.max_dose_ng_day(), acct.conc_mcg_ml)
        if self.bridge_left_nl > 0:
            top = max(top, rate_nl_day(t.max_dose_ng_day(), self.bridge_conc_mcg_ml))
        return top

    def rate_now_nl_day(self):
        """The basal rate the planner runs at now, nL/day (0 when it is stopped)."""
        return self.planner.rate_nl_day if self.planner.running else 0

    # --- calibration ----------------------------------------------------------------------------------
    def set_step_pl(self, step_pl):
        """A new calibration (pL per step) for the accounts, both planners and the step cache."""
        at = self._hw.clock.ticks_ms()
        self._config.step_pl = step_pl
        self.acct.set_step_pl(step_pl)
        self.planner.set_step_pl(step_pl, at)
        self.bolus.set_step_pl(step_pl, at)
        self._update_step_cache()

    def _update_step_cache(self):
        self.min_step_nl = (self._config.step_pl + 999) // 1000
