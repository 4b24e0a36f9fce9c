"""The pump application: a tickless, event-driven main loop over the HAL.

The Pump builds the components and runs the loop; each component owns its state:
- Delivery (firmware/delivery.py): the step path: planners -> stepper -> accounts, stops, rates;
- Supervisor (firmware/supervisor.py): monitors and the independent guard -> alarms and stops;
- Store (firmware/store.py): settings and journal on flash, storage status;
- Protocol (firmware/protocol.py): serial lines -> authenticated commands (served by firmware/serve.py,
  loaded per line); the handlers get a Control (firmware/control.py, built per command: control()), the
  narrow surface through which a command changes the pump.

Each wake-up does what is due, in this order: scheduled rate changes and steps in time order, serial
commands, housekeeping; then it feeds the watchdog (healthy path only) and sleeps until the next
deadline: the next step of either planner, the next scheduled rate change, the next tone edge,
housekeeping, or serial input, whichever is first. Housekeeping is due every `housekeeping_ms` but may
run up to half a period late, so it shares the wake-up of a step when one comes within that slack.

A change the forecast, the guard's allowance and the journal must follow ends with commit(): at the
end of a command, or after the pass whose steps or housekeeping changed something (Delivery.pending).
One shutdown path (shutdown()) makes every output safe.
"""

from micropython import const

from firmware import VERSION, calibration, lazy, stops
from firmware.alarms import Alarms
from firmware.config import Config
from firmware.delivery import Delivery
from firmware.demand import DemandPolicy
from firmware.eventlog import EventLog
from firmware.framing import LineReader
from firmware.logstore import LogStore
from firmware.protocol import Protocol
from firmware.store import DATA_LOST, SETTINGS_LOST, Store
from firmware.supervisor import Supervisor
from firmware.timebase import Timebase
from firmware.tones import TonePlayer

__all__ = ("Config", "Pump")

_MAX_LINES = const(4)             # serial lines served in one wake-up at most
_TICKS_MASK = const(0x3FFFFFFF)   # HAL ticks wrap at 2**30 (hal.interfaces.COUNTER_PERIOD)
_TICKS_HALF = const(0x20000000)   # d = a - b folded into [-HALF, HALF) is ticks_diff(a, b) (hal/interfaces.py)


class Pump:
    def __init__(self, hw, config=None, reset_cause="power_on"):
        self.hw = hw
        self.config = config = config or Config()
        if not config.nominal_step_pl:
            config.nominal_step_pl = config.step_pl
        clock = hw.clock
        now = clock.ticks_ms()
        wall = clock.rtc_s()
        self.timebase = Timebase(clock, wall if wall >= 0 else 0, now)
        self.log = EventLog()
        self.log.listener = self._on_record
        self.tones = TonePlayer(clock, hw.buzzer)
        self.alarms = Alarms(self.log, self.tones, clock)
        self.delivery = delivery = Delivery(hw, config, self.timebase, self.log, self.alarms)
        self.demand = DemandPolicy()
        self.supervisor = Supervisor(hw, delivery, self.alarms, self.log, self.timebase)
        delivery.after_step = self.supervisor.after_step
        delivery.on_shutdown = self.shutdown
        self.store = Store(hw, config, self.log, self.alarms, self.timebase, delivery, self.demand,
                           self.supervisor.guard)
        self.reader = LineReader(hw.serial)
        self.protocol = Protocol(hw, self.log, self.timebase, self.store, self.shutdown, config.evict_handlers,
                                 self.control)
        self.wakeups = 0              # main-loop passes (wraps at 2**30; make bench and tests)
        self.housekeeping_runs = 0    # housekeeping passes (wraps at 2**30)
        self.safe = False             # the one shutdown path ran (internal fault)
        self.refill_due_s = None      # cached forecast, recomputed at every commit
        self.tubing_warned = False    # the TUBING_SERVICE reminder was given since the last calibration
        self._schedule_housekeeping(now)   # sets _house_ticks and _house_late_ticks
        self._boot(reset_cause)

    def _boot(self, reset_cause):
        logstore = LogStore(self.hw.storage, self.log.capacity)
        self.log.on_store_error = self.store.log_store_error
        stop_bits, notes = lazy.call(self.config.evict_handlers, "boot", "restore",   # the recovery code
                                     self.store, logstore, reset_cause)            # runs once
        store = self.store
        if notes.get("settings") == "lost":
            store.lost_at_boot(SETTINGS_LOST)
        elif self.alarms.is_active("MEMORY_ERROR"):
            store.lost_at_boot(DATA_LOST)
        wall = self.timebase.wall_s
        self.log.add(wall, "boot", {"version": VERSION, "board": self.hw.board, "cause": reset_cause})
        self.supervisor.boot_report(wall)
        self.supervisor.resume_faults(stop_bits)
        acct = self.delivery.acct
        if acct.drug is not None and acct.reservoir_nl < self.delivery.min_step_nl:
            self.alarms.raise_alarm("EMPTY_RESERVOIR", wall)
            self.delivery.block(stops.EMPTY)
        elif acct.drug is not None and acct.reservoir_nl <= self.config.low_reservoir_nl:
            self.alarms.raise_alarm("LOW_RESERVOIR", wall)
        store.start_journal(wall)
        self.commit()
        store.write_journal()

    # --- main loop ------------------------------------------------------------------------
    def loop_once(self):
        hw = self.hw
        now = hw.clock.ticks_ms()
        tb = self.timebase
        tb.update(now)
        delivery = self.delivery
        if self.supervisor.guard.check(tb.wall_s - tb.jump_s):    # monotonic seconds (tb.mono_s())
            self.supervisor.guard_tripped()
        deadline = delivery.deliver(now, self._house_late_ticks)   # the next step or change, if no more
        if delivery.pending:              # a bolus, bridge or delivery stop ended in deliver()
            self.commit()
            deadline = None               # (None: a change, a command or housekeeping ran: look again)
        if self.reader.buffered or hw.serial.any():
            self._serve()
            deadline = None
        d = now - self._house_ticks                  # now >= due: ticks_diff(now, due) >= 0, folded
        if d >= 0 and d < _TICKS_HALF or d < -_TICKS_HALF:
            self._housekeeping(now)
            if delivery.pending:
                self.commit()
            deadline = None
        if self.store.journal_due:
            self.store.write_journal()
        if self.tones.playing:            # last, on the clock read now: the pass's work never stretches a tone
            self.tones.service(hw.clock.ticks_ms())
        hw.watchdog.feed()
        self.wakeups = 0 if self.wakeups >= _TICKS_MASK else self.wakeups + 1
        if deadline is None:
            deadline = self._deadline(now)
        elif self.tones.playing:
            deadline = self._tone_edge_before(deadline)
        d = deadline - now
        if d < 0 and d >= -_TICKS_HALF or d >= _TICKS_HALF:
            deadline = now
        hw.clock.sleep_until(deadline, hw.serial)

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
        """After a pass that served a command, ran housekeeping or committed a change: the earliest
        of everything due (ticks); `now` if lines read from the port wait."""
        reader = self.reader
        if reader.buffered and reader.has_line():   # lines read from the port wait: serve them at once
            return now
        deadline = self.delivery.next_event_before(self._house_late_ticks)
        if self.tones.playing:
            deadline = self._tone_edge_before(deadline)
        return deadline

    def _tone_edge_before(self, deadline):
        """The earlier of `deadline` and the next tone edge. Tick comparisons inline, on d = a - b
        (small): a before b  <=>  -HALF <= d < 0  or  d >= HALF."""
        edge = self.tones.next_ticks()
        d = edge - deadline
        if (-_TICKS_HALF <= d < 0) or d >= _TICKS_HALF:
            return edge
        return deadline

    # --- commands -------------------------------------------------------------------------------
    def control(self):
        """A Control over this pump: the narrow surface a command handler gets (firmware/control.py).
        It only holds references, so the serving code builds one per command (firmware/serve.py) and
        on a board its code is in RAM only while a line is served."""
        return lazy.module("control").Control(self, self.protocol)

    # --- after a change ---------------------------------------------------------------------------
    def commit(self):
        """After a change: the basal rate due now, the guard's 24 h allowance, the refill forecast, and
        the journal at the end of this pass. Never on the step path (there: Delivery.pending)."""
        delivery = self.delivery
        delivery.clear_pending()
        delivery.apply_basal()
        self._update_allowance()
        self.refill_due_s = lazy.call(self.config.evict_handlers, "forecast", "for_delivery", delivery,
                                      self.demand, self.config, self.timebase, self.hw.clock.ticks_ms())
        self.store.journal_soon()

    def _update_allowance(self):
        """Hand the guard the prescription's 24 h allowance in pulses, by value: the highest basal
        rate the programme can ask for (at either concentration while a bridge runs) plus every
        allowed demand bolus."""
        acct = self.delivery.acct
        guard = self.supervisor.guard
        mono = self.timebase.mono_s()
        if acct.drug is None:
            guard.set_allowance(0, mono)
            return
        # volumes into pulses with the calibration, never with less than the nominal step's band allows
        nominal = self.config.nominal_step_pl
        pulses = calibration.guard_pulses(self.delivery.top_rate_nl_day() * 1000, acct.step_pl, nominal)
        d = self.demand
        if d.enabled:
            steps = d.dose_ng * 1_000_000 // acct.conc_mcg_ml // acct.step_pl
            pulses += d.max_per_day * calibration.guard_pulses(steps * acct.step_pl, acct.step_pl, nominal)
        guard.set_allowance(pulses, mono)

    # --- serial -------------------------------------------------------------------------------
    def _serve(self):
        n = 0
        while n < _MAX_LINES:
            line = self.reader.poll()
            if line is None:
                return
            self.protocol.send(self.protocol.handle(line), self.hw.serial)
            n += 1
            if self.config.evict_handlers:
                # the code the line loaded (dropped) and its garbage go before the rest of the pass (the
                # journal): after the reply is sent, not before, so the reply is not held up (~15 ms)
                lazy.collect()

    def notify(self, obj):
        self.protocol.send(obj, self.hw.serial)

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
        if self.alarms.active:
            self.alarms.update_sound(wall)   # a silence (ack) that ran out sounds again
        self.protocol.housekeeping()     # bounded logs: write the counts of windows that are over
        self.store.due(wall)
        if self.config.tubing_service_nl and not self.tubing_warned:
            self._check_tubing(wall)

    def restart_tubing_reminder(self):
        """A calibration or a new service interval: the TUBING_SERVICE reminder may come again."""
        self.tubing_warned = False

    def _check_tubing(self, wall_s):
        """Peristaltic tubing wears: remind once after tubing_service_nl since the last calibration."""
        cfg = self.config
        used_ul = self.delivery.acct.delivered_ul() - cfg.tubing_base_ul
        if used_ul * 1000 >= cfg.tubing_service_nl:
            self.tubing_warned = True
            self.log.add(wall_s, "warning", {"code": "TUBING_SERVICE", "used_ul": used_ul,
                                             "detail": "replace the tubing and calibrate"})

    # --- the one shutdown path ------------------------------------------------------------------
    def shutdown(self, reason):
        """Make every output safe: motor stopped and disabled, critical tone on, fault logged."""
        self.safe = True
        try:
            self.delivery.halt(self.hw.clock.ticks_ms())
        finally:
            self.hw.stepper.enable(False)
            self.hw.buzzer.tone(880)   # sounds even if nothing below runs
            self.alarms.raise_alarm("INTERNAL_FAULT", self.timebase.wall_s, reason)
