"""The pump application: a tickless, event-driven main loop over the HAL.

Each wake-up does what is due, in this order: steps (planner -> stepper -> accounting), serial
commands, housekeeping; then it feeds the watchdog (healthy path only) and sleeps until the next
deadline: the next step, the next housekeeping, or serial input, whichever is first.

Data path: serial line -> protocol -> therapy (rate, nL/day) -> planner (tick of the next step) ->
stepper HAL -> accounting (delivered, reservoir) -> event log and alarms.
One shutdown path (shutdown()) makes every output safe.
"""

from micropython import const

from firmware import VERSION
from firmware.accounting import Accounting
from firmware.alarms import Alarms
from firmware.eventlog import EventLog
from firmware.framing import LineReader
from firmware.planner import Planner
from firmware.protocol import Protocol
from firmware.therapy import Therapy
from firmware.timebase import Timebase

_MAX_BURST = const(64)            # steps emitted in one wake-up at most (then the loop comes back at once)
_MAX_LINES = const(4)             # serial lines served in one wake-up at most
_DEFAULT_STEP_PL = const(50_000)  # 50 nL per step until calibrated
_DEFAULT_LOW_NL = const(2_000_000)
_DEFAULT_CAPACITY_NL = const(20_000_000)


class Config:
    """Settings the clinician or bench can change. Volumes in nL, times in ms."""

    def __init__(self):
        self.step_pl = _DEFAULT_STEP_PL
        self.reservoir_capacity_nl = _DEFAULT_CAPACITY_NL
        self.low_reservoir_nl = _DEFAULT_LOW_NL
        self.housekeeping_ms = 60_000


class Pump:
    def __init__(self, hw, config=None, housekeeping_ms=None):
        self.hw = hw
        self.config = config or Config()
        if housekeeping_ms is not None:
            self.config.housekeeping_ms = housekeeping_ms
        clock = hw.clock
        now = clock.ticks_ms()
        wall = clock.rtc_s()
        self.timebase = Timebase(clock, wall if wall >= 0 else 0, now)
        self.log = EventLog()
        self.log.listener = self._on_record
        self.alarms = Alarms(self.log)
        self.acct = Accounting(self.config.step_pl)
        self.planner = Planner(clock, self.config.step_pl)
        self.therapy = Therapy()
        self.reader = LineReader(hw.serial)
        self.protocol = Protocol(self)
        self.wakeups = 0
        self._house_ticks = clock.ticks_add(now, self.config.housekeeping_ms)
        self._min_step_nl = 0
        self._update_step_cache()
        self.safe = False
        hw.stepper.enable(False)
        self.log.add(self.timebase.wall_s, "boot", {"version": VERSION, "board": hw.board})

    # --- main loop ------------------------------------------------------------------------
    def loop_once(self):
        clock = self.hw.clock
        now = clock.ticks_ms()
        self.timebase.update(now)
        if self.planner.running:
            self._deliver(now)
        self._serve()
        if clock.ticks_diff(now, self._house_ticks) >= 0:
            self._housekeeping(now)
        self.hw.watchdog.feed()
        self.wakeups = (self.wakeups + 1) & 0x3FFFFFFF
        clock.sleep_until(self._deadline(now), self.hw.serial)

    def run_forever(self):
        """Board entry: loop until power-off; any unexpected exception ends in the safe state."""
        try:
            while True:
                self.loop_once()
        except Exception as exc:  # noqa: BLE001 - the one shutdown path
            self.shutdown("exception: %r" % (exc,))
            raise

    def _deadline(self, now):
        clock = self.hw.clock
        deadline = self._house_ticks
        if self.planner.running and clock.ticks_diff(self.planner.next_ticks, deadline) < 0:
            deadline = self.planner.next_ticks
        if clock.ticks_diff(deadline, now) < 0:
            return now
        return deadline

    # --- step path (no allocation) ------------------------------------------------------------
    def _deliver(self, now):
        planner = self.planner
        acct = self.acct
        stepper = self.hw.stepper
        n = 0
        while planner.is_due(now) and n < _MAX_BURST:
            if acct.reservoir_nl < self._min_step_nl:
                self._on_empty(now)
                return
            if not stepper.step():
                self.shutdown("stepper refused a step while delivering")
                return
            acct.on_step()
            planner.advance()
            n += 1
        if n:
            if acct.reservoir_nl <= self.config.low_reservoir_nl:
                self._on_low()
            if acct.reservoir_nl < self._min_step_nl:
                self._on_empty(now)

    def _on_low(self):
        if not self.alarms.is_active("LOW_RESERVOIR"):
            self.alarms.raise_alarm("LOW_RESERVOIR", self.timebase.wall_s,
                                    "reservoir %d nL" % self.acct.reservoir_nl)

    def _on_empty(self, at_ticks):
        """Documented behaviour at empty: stop the motor (it would pump air), keep the programme,
        raise EMPTY_RESERVOIR; delivery resumes only after a refill."""
        self.alarms.raise_alarm("EMPTY_RESERVOIR", self.timebase.wall_s)
        self.apply_rate(at_ticks)

    # --- serial -------------------------------------------------------------------------------
    def _serve(self):
        for _ in range(_MAX_LINES):
            line = self.reader.poll()
            if line is None:
                return
            self.hw.serial.write(self.protocol.handle(line))

    def notify(self, obj):
        self.hw.serial.write(self.protocol.encode(obj))

    def _on_record(self, rec):
        kind = rec[2]
        if kind == "alarm_raise" or kind == "alarm_clear":
            data = rec[3]
            notice = {"notice": kind, "t_s": rec[1], "code": data["code"]}
            if "tier" in data:
                notice["tier"] = data["tier"]
            self.notify(notice)

    # --- housekeeping ---------------------------------------------------------------------------
    def _housekeeping(self, now):
        self._house_ticks = self.hw.clock.ticks_add(now, self.config.housekeeping_ms)

    # --- therapy control (called by commands) ------------------------------------------------------
    def target_rate(self):
        """The basal rate the pump should run now, in nL/day (0 when it must not pump)."""
        if self.safe or self.acct.drug is None:
            return 0
        if self.alarms.is_active("EMPTY_RESERVOIR"):
            return 0
        return self.therapy.rate_nl_day(self.acct.conc_mcg_ml)

    def apply_rate(self, at_ticks=None):
        if at_ticks is None:
            at_ticks = self.hw.clock.ticks_ms()
        rate = self.target_rate()
        if rate != self.planner.rate_nl_day or (rate > 0) != self.planner.running:
            self.planner.set_rate(rate, at_ticks)
        self.hw.stepper.enable(rate > 0)

    def set_step_pl(self, step_pl):
        self.config.step_pl = step_pl
        self.acct.set_step_pl(step_pl)
        self.planner.set_step_pl(step_pl, self.hw.clock.ticks_ms())
        self._update_step_cache()

    def _update_step_cache(self):
        self._min_step_nl = (self.config.step_pl + 999) // 1000

    def refill_due_s(self):
        """Wall second at which the reservoir estimate reaches the low threshold at the present
        rate; None if not pumping. Already at or below it: now."""
        rate = self.planner.rate_nl_day if self.planner.running else 0
        if rate <= 0:
            return None
        above_pl = self.acct.reservoir_pl() - self.config.low_reservoir_nl * 1000
        if above_pl <= 0:
            return self.timebase.wall_s
        # pL / (rate*1000 pL per 86400 s), rounded down (errs early, the safe side)
        return self.timebase.wall_s + above_pl * 86400 // (rate * 1000)

    # --- the one shutdown path ------------------------------------------------------------------
    def shutdown(self, reason):
        """Make every output safe: motor stopped and disabled, critical tone on, fault logged."""
        self.safe = True
        try:
            self.planner.set_rate(0, self.hw.clock.ticks_ms())
        finally:
            self.hw.stepper.enable(False)
            self.hw.buzzer.tone(880)
            self.alarms.raise_alarm("INTERNAL_FAULT", self.timebase.wall_s, reason)
