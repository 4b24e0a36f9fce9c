"""The pump application: a tickless, event-driven main loop over the HAL.

Each wake-up does what is due, in this order: scheduled rate changes and steps in time order (basal
planner, bolus planner -> stepper -> accounting), serial commands, housekeeping; then it feeds the
watchdog (healthy path only) and sleeps until the next deadline: the next step of either planner, the
next scheduled rate change, the next tone edge, housekeeping, or serial input, whichever is first.
Housekeeping is due every `housekeeping_ms` but may run up to half a period late, so it shares the
wake-up of a step when one comes within that slack (one wake-up instead of two).

Step-path tick arithmetic is written out inline (`_TICKS_*` below) instead of calling the clock's
ticks_diff/ticks_add: the HAL contract fixes the wrap at 2**30 on every board, and a call per
comparison is the largest cost of a wake-up on MicroPython. It uses the small-int idioms of
hal/interfaces.py (no intermediate reaches 2**30, where a board's int becomes a heap object).

Data path: serial line -> protocol -> therapy (rate, nL/day) -> planners (tick of the next step) ->
stepper HAL -> accounting (delivered, reservoir) -> event log and alarms.
One shutdown path (shutdown()) makes every output safe.

Why one file of about 470 lines: the loop, the step path and the rate logic they call share the
Pump's state; splitting the rates into a mixin module was tried and costs 566 B of the pico build's
64 KB .mpy budget (every module repeats its qstr table), which is more than the file's length is worth.
"""

from micropython import const

from firmware import VERSION, boot, calibration, forecast
from firmware.accounting import Accounting
from firmware.alarms import Alarms
from firmware.app_persist import Persistence
from firmware.bolus import BolusChannel
from firmware.demand import DemandPolicy
from firmware.eventlog import EventLog
from firmware.framing import LineReader
from firmware.logstore import LogStore
from firmware.planner import Planner
from firmware.protocol import Protocol
from firmware.supervisor import STOP_EMPTY, STOP_FAULT, Supervisor
from firmware.therapy import Therapy, rate_nl_day
from firmware.timebase import Timebase
from firmware.tones import TonePlayer

_MAX_BURST = const(64)            # steps emitted in one wake-up at most (then the loop comes back at once)
_MAX_LINES = const(4)             # serial lines served in one wake-up at most
_BOUNDARY_HORIZON_MS = const(1 << 27)  # a scheduled change further away is re-armed later (1.5 days)
_TICKS_MASK = const(0x3FFFFFFF)   # HAL ticks wrap at 2**30 (hal.interfaces.COUNTER_PERIOD)
_TICKS_HALF = const(0x20000000)   # d = a - b folded into [-HALF, HALF) is ticks_diff(a, b) (hal/interfaces.py)


class Config:
    """Settings the clinician or bench can change. Volumes in nL or pL, rates in nL/day, times in ms."""

    def __init__(self):
        self.step_pl = 50_000                   # calibration: pL per step
        self.nominal_step_pl = 0                # the pump's nominal hardware step, pL (bench only; bounds the
                                                # calibration and the guard: firmware/calibration.py); 0: the
                                                # board's default calibration above
        self.reservoir_capacity_nl = 20_000_000
        self.low_reservoir_nl = 2_000_000       # LOW_RESERVOIR threshold (domain default 2 mL)
        self.minimum_nl_day = 48_000            # minimum mode: keeps the catheter open
        self.catheter_volume_nl = 200_000       # pump outlet + catheter dead space (bridge bolus)
        self.max_rate_nl_day = 24_000_000       # fastest bolus or prime (1 mL/h)
        self.residual_tolerance_nl = 1_000_000  # refill: drained vs estimate beyond this -> warning
        self.journal_interval_s = 3600          # reservoir/delivered journal; a reset loses at most this
        self.tubing_service_nl = 0              # TUBING_SERVICE reminder after this volume (0: off)
        self.tubing_base_ul = 0                 # lifetime delivered uL at the last calibration
        self.housekeeping_ms = 60_000


class Pump(Persistence):
    """The application. Persistence duties come from the Persistence mixin (firmware/app_persist.py)."""

    def __init__(self, hw, config=None, reset_cause="power_on"):
        self.hw = hw
        self.config = config or Config()
        if not self.config.nominal_step_pl:
            self.config.nominal_step_pl = self.config.step_pl
        clock = hw.clock
        now = clock.ticks_ms()
        wall = clock.rtc_s()
        self.timebase = Timebase(clock, wall if wall >= 0 else 0, now)
        self.log = EventLog()
        self.log.listener = self._on_record
        self.tones = TonePlayer(clock, hw.buzzer)
        self.alarms = Alarms(self.log, self.tones, clock)
        self.acct = Accounting(self.config.step_pl)
        self.planner = Planner(clock, self.config.step_pl)     # basal
        self.bolus = BolusChannel(clock, self.config.step_pl)
        self.demand = DemandPolicy()
        self.therapy = Therapy()
        self.reader = LineReader(hw.serial)
        self.protocol = Protocol(self)
        self.wakeups = 0              # main-loop passes (wraps at 2**30; make bench and tests)
        self.housekeeping_runs = 0    # housekeeping passes (wraps at 2**30)
        self._tubing_warned = False
        self.safe = False             # the one shutdown path ran (internal fault)
        self.stop_mask = 0            # STOP_* bits: delivery is blocked while any is set
        self.test_rate_gain = 1       # bench test hook only: makes the scheduler misbehave (guard test)
        self.bridge_left_nl = 0       # bridge bolus: the volume still to push at the old concentration is
        self.bridge_owed_pl = 0       # bridge_left_nl nL less bridge_owed_pl pL (0..999): small ints per step
        self.bridge_conc_mcg_ml = 0
        self.refill_due_s = None      # cached forecast, recomputed after every change
        self._forecast_pending = False  # recompute after this pass's steps (never on the step path)
        self._schedule_housekeeping(now)   # sets _house_ticks and _house_late_ticks
        self._boundary_armed = False  # a scheduled rate change (or its re-arm point) is pending
        self._boundary_real = False
        self._boundary_s = 0
        self._boundary_ticks = now
        self._min_step_nl = 0
        self._update_step_cache()
        hw.stepper.enable(False)
        self.supervisor = Supervisor(self)
        self.persist_seq = {}
        # MEMORY_ERROR cause: "settings" (lost at boot: cleared when settings are written again), "data"
        # (journal or log records lost at boot: cleared at the next refill), "io" (a write failed:
        # cleared by the next successful write), or None
        self._memory_error = None
        self.logstore = LogStore(hw.storage, self.log.capacity)
        self.log.on_store_error = self._log_store_error
        stop_bits, notes = boot.restore(self, reset_cause)
        if notes.get("settings") == "lost":
            self._memory_error = "settings"
        elif self.alarms.is_active("MEMORY_ERROR"):
            self._memory_error = "data"
        self.log.add(self.timebase.wall_s, "boot", {"version": VERSION, "board": hw.board, "cause": reset_cause})
        self.supervisor.boot_report(self.timebase.wall_s)
        self.supervisor.resume_faults(stop_bits)
        self._update_step_cache()
        if self.acct.drug is not None and self.acct.reservoir_nl < self._min_step_nl:
            self.alarms.raise_alarm("EMPTY_RESERVOIR", self.timebase.wall_s)
            self.stop_mask |= STOP_EMPTY
        elif self.acct.drug is not None and self.acct.reservoir_nl <= self.config.low_reservoir_nl:
            self.alarms.raise_alarm("LOW_RESERVOIR", self.timebase.wall_s)
        self._journal_next_s = self.timebase.wall_s
        self._journal_pending = True
        self.apply_basal()
        self.update_forecast()
        self.write_journal()

    # --- main loop ------------------------------------------------------------------------
    def loop_once(self):
        hw = self.hw
        now = hw.clock.ticks_ms()
        tb = self.timebase
        tb.update(now)
        supervisor = self.supervisor
        if supervisor.guard.check(tb.wall_s - tb.jump_s):    # monotonic seconds (tb.mono_s())
            supervisor.guard_tripped()
        self._deliver(now)
        if self._forecast_pending:        # a bolus, bridge or delivery stop ended in _deliver()
            self.update_forecast()
        if self.tones.playing:
            self.tones.service(now)
        if self.reader.buffered or hw.serial.any():
            self._serve()
        d = now - self._house_ticks                  # now >= due: ticks_diff(now, due) >= 0, folded
        if (0 <= d < _TICKS_HALF) or d < -_TICKS_HALF:
            self._housekeeping(now)
        if self._journal_pending:
            self.write_journal()
        hw.watchdog.feed()
        self.wakeups = 0 if self.wakeups >= _TICKS_MASK else self.wakeups + 1
        hw.clock.sleep_until(self._deadline(now), hw.serial)

    def run_forever(self):
        """Board entry: loop until power-off. The first unexpected exception goes through the one
        shutdown path and the loop goes on in the safe state (alarm sounding, serial answering); a
        second one propagates, the watchdog is no longer fed, and the board resets."""
        while True:
            try:
                while True:
                    self.loop_once()
            except KeyboardInterrupt:   # Ctrl-C from the host's REPL: stop safely, then hand over
                self.shutdown("interrupted from the REPL")
                raise
            except Exception as exc:  # noqa: BLE001 - the one shutdown path
                if self.safe:
                    raise
                self.shutdown("exception: %r" % (exc,))

    def _deadline(self, now):
        """The earliest of everything due (ticks); `now` if something is overdue. Tick comparisons
        inline, on d = a - b (small): a before b  <=>  -HALF <= d < 0  or  d >= HALF."""
        reader = self.reader
        if reader.buffered and reader.has_line():   # lines read from the port wait: serve them at once
            return now
        deadline = self._house_late_ticks
        basal = self.planner
        if basal.running:
            d = basal.next_ticks - deadline
            if (-_TICKS_HALF <= d < 0) or d >= _TICKS_HALF:
                deadline = basal.next_ticks
        bolus = self.bolus.planner
        if bolus.running:
            d = bolus.next_ticks - deadline
            if (-_TICKS_HALF <= d < 0) or d >= _TICKS_HALF:
                deadline = bolus.next_ticks
        if self._boundary_armed:
            d = self._boundary_ticks - deadline
            if (-_TICKS_HALF <= d < 0) or d >= _TICKS_HALF:
                deadline = self._boundary_ticks
        if self.tones.playing:
            edge = self.tones.next_ticks()
            d = edge - deadline
            if (-_TICKS_HALF <= d < 0) or d >= _TICKS_HALF:
                deadline = edge
        d = deadline - now
        if (-_TICKS_HALF <= d < 0) or d >= _TICKS_HALF:
            return now
        return deadline

    # --- step path (no allocation in steady state) ------------------------------------------
    def _deliver(self, now):
        """Emit everything due up to `now` in time order: scheduled rate changes and the steps of
        both planners."""
        basal = self.planner
        bolus = self.bolus.planner
        acct = self.acct
        stepper = self.hw.stepper
        supervisor = self.supervisor
        n = 0
        while n < _MAX_BURST:
            which = 0
            t = now
            # d = ticks_diff(x, t) written out in small ints (hal/interfaces.py); x <= t  <=>  d <= 0
            if basal.running:
                d = basal.next_ticks - t
                if (-_TICKS_HALF <= d <= 0) or d >= _TICKS_HALF:
                    which = 1
                    t = basal.next_ticks
            if bolus.running:
                d = bolus.next_ticks - t
                if d >= _TICKS_HALF:
                    d = d - _TICKS_HALF - _TICKS_HALF
                elif d < -_TICKS_HALF:
                    d = d + _TICKS_HALF + _TICKS_HALF
                if d < 0 or (which == 0 and d == 0):
                    which = 2
                    t = bolus.next_ticks
            # a scheduled change strictly before the chosen step goes first; at the same tick the
            # step was earned under the old rate, so it goes out first
            if self._boundary_armed:
                d = self._boundary_ticks - t
                if d >= _TICKS_HALF:
                    d = d - _TICKS_HALF - _TICKS_HALF
                elif d < -_TICKS_HALF:
                    d = d + _TICKS_HALF + _TICKS_HALF
                if d < 0 or (which == 0 and d == 0):
                    self._on_boundary()
                    continue
            if which == 0:
                break
            # one pulse out through the stepper HAL and into the accounts, if the reservoir has it
            if acct.reservoir_nl < self._min_step_nl:
                self._on_empty(t)
                return
            if not stepper.step():
                self.shutdown("stepper refused a step while delivering")
                return
            acct.on_step()
            done = False
            if which == 1:
                basal.advance()
            else:
                done = self.bolus.on_step()
            # thresholds this step crossed (each a rare path behind one comparison)
            if acct.reservoir_nl <= self.config.low_reservoir_nl:
                self._on_low(t)
            if self.bridge_left_nl > 0:
                self._bridge_step(t)
            if acct.reservoir_nl < self._min_step_nl:
                self._on_empty(t)
            supervisor.after_step(t)
            if done and self.bolus.active():
                self._end_bolus(t, "done")
            n += 1

    def _on_low(self, at_ticks):
        """A step left the reservoir at or below the LOW_RESERVOIR threshold."""
        if not self.alarms.is_active("LOW_RESERVOIR"):
            self.alarms.raise_alarm("LOW_RESERVOIR", self.timebase.wall_at(at_ticks),
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

    def set_bridge_pl(self, volume_pl):
        """Start (or restore) a bridge with volume_pl pL still to push at bridge_conc_mcg_ml; <= 0: none."""
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

    def _on_empty(self, at_ticks):
        """Documented behaviour at empty: stop the motor (it would pump air), cancel a running bolus,
        keep the programme, raise EMPTY_RESERVOIR; delivery resumes only after a refill."""
        self.alarms.raise_alarm("EMPTY_RESERVOIR", self.timebase.wall_at(at_ticks))
        self.block(STOP_EMPTY, at_ticks)

    def block(self, bit, at_ticks=None):
        """Stop delivery for one reason (a STOP_* bit): a running bolus ends, the motor is disabled."""
        if at_ticks is None:
            at_ticks = self.hw.clock.ticks_ms()
        self.stop_mask |= bit
        if self.bolus.active():
            self._end_bolus(at_ticks, "stopped: " + ", ".join(self.supervisor.stop_names(bit)))
        self.apply_basal(at_ticks)
        self._forecast_pending = True     # may run on the step path: recomputed after _deliver()
        self._journal_pending = True      # a reset must not forget why the pump stopped

    def unblock(self, bit):
        """That reason is gone; delivery resumes if no other reason holds it."""
        self.stop_mask &= ~bit
        self.apply_basal()
        self.update_forecast()
        self._journal_pending = True

    def test_step(self):
        """One step while blocked (the supervisor's retry): the driver is enabled for it only."""
        if self.acct.reservoir_nl < self._min_step_nl:
            return False
        stepper = self.hw.stepper
        stepper.enable(True)
        sent = stepper.step()
        stepper.enable(False)
        if sent:
            self.acct.on_step()
        return sent

    def _end_bridge(self, at_ticks):
        self.bridge_left_nl = 0
        self.bridge_owed_pl = 0
        self.log.add(self.timebase.wall_at(at_ticks), "bridge_end", {"conc_mcg_ml": self.acct.conc_mcg_ml})
        self.apply_basal(at_ticks)
        self._forecast_pending = True     # the allowance no longer needs the old concentration's rate

    def _end_bolus(self, at_ticks, why):
        kind = self.bolus.kind
        total = self.bolus.steps_total
        left = self.bolus.stop(at_ticks)
        self.log.add(self.timebase.wall_at(at_ticks), "bolus_end",
                     {"kind": kind, "steps": total - left, "steps_missed": left, "why": why})
        self._update_stepper()
        self._forecast_pending = True     # on the step path: recomputed after _deliver() (item 14)
        self._journal_pending = True      # a reset must not close (and count) this bolus a second time

    def _on_boundary(self):
        """A scheduled rate change is due (or the far one must be re-armed)."""
        at = self._boundary_ticks
        self._boundary_armed = False
        if self._boundary_real:
            self.apply_basal(at, self._boundary_s)
        else:
            self._arm_boundary(self._boundary_s)

    # --- rates ----------------------------------------------------------------------------------
    def basal_conc(self):
        """Concentration the basal rate is computed with: the old one while a bridge runs."""
        return self.bridge_conc_mcg_ml if self.bridge_left_nl > 0 else self.acct.conc_mcg_ml

    def basal_rate_at(self, wall_s):
        if self.stop_mask or self.acct.drug is None:
            return 0
        return self.therapy.rate_at(wall_s, self.basal_conc(), self.config.minimum_nl_day) * self.test_rate_gain

    def apply_basal(self, at_ticks=None, wall_s=None):
        """Set the basal planner to the rate due at `at_ticks` (default now) and arm the next change."""
        if at_ticks is None:
            at_ticks = self.hw.clock.ticks_ms()
        if wall_s is None:
            wall_s = self.timebase.wall_at(at_ticks)
        rate = self.basal_rate_at(wall_s)
        if rate != self.planner.rate_nl_day or (rate > 0) != self.planner.running:
            self.planner.set_rate(rate, at_ticks)
        self._arm_boundary(self.therapy.next_change_s(wall_s))
        self._update_stepper()

    def _arm_boundary(self, boundary_s):
        if boundary_s is None:
            self._boundary_armed = False
            return
        tb = self.timebase
        ahead_ms = (boundary_s - tb.wall_s) * 1000 - tb.sub_ms
        self._boundary_s = boundary_s
        self._boundary_real = ahead_ms < _BOUNDARY_HORIZON_MS
        self._boundary_ticks = tb.ticks_at(boundary_s, _BOUNDARY_HORIZON_MS)
        self._boundary_armed = True

    def _update_stepper(self):
        self.hw.stepper.enable(not self.stop_mask and (self.planner.running or self.bolus.planner.running))

    # --- serial -------------------------------------------------------------------------------
    def _serve(self):
        n = 0
        while n < _MAX_LINES:
            line = self.reader.poll()
            if line is None:
                return
            self.hw.serial.write(self.protocol.handle(line))
            n += 1

    def notify(self, obj):
        self.hw.serial.write(self.protocol.encode(obj))

    def _on_record(self, rec):
        kind = rec[2]
        if kind == "alarm_raise" or kind == "alarm_clear" or kind == "warning":
            notice = {"notice": kind, "t_s": rec[1]}
            notice.update(rec[3])
            self.notify(notice)

    # --- housekeeping ---------------------------------------------------------------------------
    def _schedule_housekeeping(self, from_ticks):
        """Next housekeeping due one period after from_ticks (_house_ticks: the first wake-up at or
        after it runs it) and at the latest half a period later (_house_late_ticks: the loop never
        sleeps past it)."""
        period = self.config.housekeeping_ms
        room = _TICKS_MASK - from_ticks          # ticks_add in small ints (hal/interfaces.py)
        self._house_ticks = period - room - 1 if period > room else from_ticks + period
        late = period + period // 2
        self._house_late_ticks = late - room - 1 if late > room else from_ticks + late

    def _housekeeping(self, now):
        # next one a period after this one was due (a late run does not stretch the period), or
        # after now if the loop was held up for more than a period
        due = self._house_ticks
        late = now - due                         # ticks_diff(now, due), folded
        if late >= _TICKS_HALF:
            late = late - _TICKS_HALF - _TICKS_HALF
        elif late < -_TICKS_HALF:
            late = late + _TICKS_HALF + _TICKS_HALF
        if late >= self.config.housekeeping_ms:
            due = now
        self._schedule_housekeeping(due)
        self.housekeeping_runs = 0 if self.housekeeping_runs >= _TICKS_MASK else self.housekeeping_runs + 1
        wall = self.timebase.wall_s
        self.supervisor.housekeeping(wall)
        self.alarms.update_sound(wall)   # a silence (ack) that ran out sounds again
        self.protocol.housekeeping()     # bounded logs: write the counts of windows that are over
        if wall >= self._journal_next_s:
            self._journal_pending = True
        self._check_tubing(wall)

    # --- derived values -------------------------------------------------------------------------
    def set_step_pl(self, step_pl):
        at = self.hw.clock.ticks_ms()
        self.config.step_pl = step_pl
        self.acct.set_step_pl(step_pl)
        self.planner.set_step_pl(step_pl, at)
        self.bolus.set_step_pl(step_pl, at)
        self._update_step_cache()

    def apply_config(self):
        """Hand every consumer of the configuration its present value: at boot after the settings are
        restored and before the journal is applied (firmware/persist.py). The calibration reaches the
        accounts, both planners and the step cache here; the guard's allowance follows at the boot's
        update_forecast(). Other settings are read where they are used."""
        self.set_step_pl(self.config.step_pl)

    def _update_step_cache(self):
        self._min_step_nl = (self.config.step_pl + 999) // 1000

    def update_forecast(self):
        """The guard's allowance and the refill-due forecast (firmware/forecast.py), after a change.
        Never on the step path: there, set _forecast_pending."""
        self._forecast_pending = False
        self._update_allowance()
        self.refill_due_s = forecast.for_pump(self)

    def top_rate_nl_day(self):
        """The highest basal rate the programme can ask for (either concentration while a bridge runs)."""
        acct = self.acct
        t = self.therapy
        if acct.drug is None or t.mode == "stopped":
            return 0
        if t.mode == "minimum":
            return self.config.minimum_nl_day
        top = rate_nl_day(t.max_dose_ng_day(), acct.conc_mcg_ml)
        if self.bridge_left_nl > 0:
            top = max(top, rate_nl_day(t.max_dose_ng_day(), self.bridge_conc_mcg_ml))
        return top

    def _update_allowance(self):
        """Hand the guard the prescription's 24 h allowance in pulses, by value: the highest basal
        rate the programme can ask for (at either concentration while a bridge runs) plus every
        allowed demand bolus."""
        acct = self.acct
        mono = self.timebase.mono_s()
        if acct.drug is None:
            self.supervisor.guard.set_allowance(0, mono)
            return
        # volumes into pulses with the calibration, never with less than the nominal step's band allows
        nominal = self.config.nominal_step_pl
        pulses = calibration.guard_pulses(self.top_rate_nl_day() * 1000, acct.step_pl, nominal)
        d = self.demand
        if d.enabled:
            steps = d.dose_ng * 1_000_000 // acct.conc_mcg_ml // acct.step_pl
            pulses += d.max_per_day * calibration.guard_pulses(steps * acct.step_pl, acct.step_pl, nominal)
        self.supervisor.guard.set_allowance(pulses, mono)

    # --- the one shutdown path ------------------------------------------------------------------
    def shutdown(self, reason):
        """Make every output safe: motor stopped and disabled, critical tone on, fault logged."""
        self.safe = True
        self.stop_mask |= STOP_FAULT
        at = self.hw.clock.ticks_ms()
        try:
            self.hw.stepper.enable(False)
            self.planner.set_rate(0, at)
            self.bolus.stop(at)
            self._boundary_armed = False
        finally:
            self.hw.stepper.enable(False)
            self.hw.buzzer.tone(880)   # sounds even if nothing below runs
            self.alarms.raise_alarm("INTERNAL_FAULT", self.timebase.wall_s, reason)
