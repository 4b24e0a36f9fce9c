"""Control: the narrow surface through which a command handler sees and changes the pump.

A handler (firmware/commands.py, cmd_*.py) gets a Control, never the Pump. It validates every argument
first, then calls begin() (from there an exception is a fault of the pump, firmware/serve.py), then
changes the pump only through the methods below, and ends with commit() (rates, guard allowance,
forecast, journal). The component references are for reading and for calling their own methods
(alarms.clear(), log.add(), demand.refusal() ...); a handler never assigns a component's field.

A Control keeps references only, no state of its own: the serving code builds one for each command
(Pump.control()), so on a board (Config.evict_handlers) its code is loaded only while a line is served.
"""

from firmware import stops


class Control:
    def __init__(self, pump, protocol):
        self._pump = pump
        self._protocol = protocol
        self.hw = pump.hw
        self.config = pump.config        # read-only here: change it with set_config()
        self.log = pump.log
        self.alarms = pump.alarms
        self.demand = pump.demand
        self.supervisor = pump.supervisor
        self.auth = protocol.auth
        delivery = pump.delivery
        self._delivery = delivery
        self.acct = delivery.acct
        self.bolus = delivery.bolus

    # --- reading ----------------------------------------------------------------------------------
    def wall_s(self):
        return self._pump.timebase.wall_s

    def mono_s(self):
        return self._pump.timebase.mono_s()

    def therapy(self):
        """The programme in force (a Therapy: read it, or copy() it to build a new one)."""
        return self._delivery.therapy

    def stop_mask(self):
        return self._delivery.stop_mask

    def stopped_by(self):
        """Why delivery is stopped, as names (empty when it runs)."""
        return stops.names(self._delivery.stop_mask)

    def in_safe_state(self):
        return self._pump.safe

    def refill_due_s(self):
        return self._pump.refill_due_s

    def rate_now_nl_day(self):
        return self._delivery.rate_now_nl_day()

    def basal_conc(self):
        return self._delivery.basal_conc()

    def bridge_volume_pl(self):
        return self._delivery.bridge_volume_pl()

    def wakeups(self):
        return self._pump.wakeups

    # --- changing -----------------------------------------------------------------------------------
    def begin(self):
        """Every check has passed: the command now changes the pump. From here on an exception is a
        fault of the pump (half a change: the safe state), no longer a refused command."""
        self._protocol.begin_change()

    def commit(self):
        """After a change: rates, the guard's allowance, the forecast and the journal follow it."""
        self._pump.commit()

    def save_settings(self, **overrides):
        """Write the settings as they will be after the change, before it is made (firmware/store.py);
        raises CommandError(E_STORAGE) and nothing changes if the flash fails."""
        self._pump.store.save_settings(**overrides)

    def set_therapy(self, therapy):
        self._delivery.set_therapy(therapy)

    def fill(self, drug, conc_mcg_ml, volume_nl):
        """The reservoir drained and filled with volume_nl of drug at conc_mcg_ml."""
        self.acct.refill(drug, conc_mcg_ml, volume_nl)

    def set_bridge(self, conc_mcg_ml, volume_pl):
        """A bridge bolus: volume_pl still to push at conc_mcg_ml (0: none)."""
        self._delivery.set_bridge(conc_mcg_ml, volume_pl)

    def unblock(self, bit):
        """A stop's cause is gone (firmware/stops.py); delivery resumes if nothing else holds it."""
        self._delivery.unblock(bit)

    def storage_refilled(self):
        """A refill makes the reservoir estimate real again: a journal lost at boot no longer matters."""
        self._pump.store.storage_ok(refill=True)

    def set_config(self, changes):
        """Apply validated settings {Config attribute: value}; a calibration reaches the accounts and
        both planners, and a calibration or a new service interval restarts the tubing reminder."""
        cfg = self.config
        for key, value in changes.items():
            if key == "step_pl":
                self._delivery.set_step_pl(value)
            else:
                setattr(cfg, key, value)
        if "step_pl" in changes or "tubing_service_nl" in changes:
            self._pump.restart_tubing_reminder()

    def start_bolus(self, kind, steps, rate_nl_day, dose_ng, guard_pulses, duration_s):
        """A bolus on top of the basal rate; the guard is granted guard_pulses for duration_s first
        (0: a demand bolus, inside the prescription's own allowance)."""
        if guard_pulses:
            self.supervisor.guard.grant(guard_pulses, self.mono_s(), duration_s)
        self._delivery.start_bolus(kind, steps, rate_nl_day, dose_ng)

    def set_wall_clock(self, wall_s):
        """Set the wall clock and the RTC; returns the jump (s). Delivery runs on ticks."""
        jump_s = self._pump.timebase.set_wall(wall_s)
        self.hw.clock.set_rtc_s(wall_s)
        return jump_s

    def pump_for_bench(self):
        """The Pump itself, for the board's bench commands only (boards/*/bench.py sit above the firmware)."""
        return self._pump

    def review_guard(self):
        """A new prescription: a guard trip whose window is within the new limit is cleared."""
        self.supervisor.review_guard()
        if self._delivery.pending:
            self._pump.commit()

    def grant_demand(self, mono_s):
        """A demand bolus was granted at mono_s (lockout and 24 h count)."""
        self.demand.grant(mono_s)

    def demand_refused(self, code, reason):
        """Log a refused demand bolus: a few records per window, then a count (firmware/ratelog.py)."""
        self._protocol.demand_refusals.add({"error": code, "reason": reason})
