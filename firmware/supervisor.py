"""Supervisor: turns what the monitors and the guard see into alarms and delivery stops.

It blocks and unblocks delivery through Delivery.block()/unblock() (one STOP_* bit per condition,
firmware/stops.py) and raises and clears the alarms; it never reaches into the Pump.
"""

from micropython import const

from firmware import stops
from firmware.guard import OverdeliveryGuard
from firmware.monitors import (
    BATTERY_EOS,
    BATTERY_OK,
    LINE_DISCONNECT,
    LINE_OCCLUSION,
    BatteryMonitor,
    LineMonitor,
    StallMonitor,
)

RETRY_S = const(600)
_STOP_CODES = ((stops.STALL, "MOTOR_STALL"), (stops.OCCLUSION, "OCCLUSION"), (stops.DISCONNECT, "DISCONNECT"),
               (stops.GUARD, "OVERDELIVERY_GUARD"))
_RETRIED = stops.STALL | stops.DISCONNECT     # faults a test step every RETRY_S may show gone


class SupervisorConfig:
    """Thresholds (mV) for the sensors; defaults suit the simulator's mock sensors and a 1-cell Li pack."""

    def __init__(self):
        self.occlusion_mv = 700
        self.disconnect_rise_mv = 15
        self.battery_eri_mv = 3600
        self.battery_eos_mv = 3400
        self.battery_hysteresis_mv = 50


class Supervisor:
    def __init__(self, hw, delivery, alarms, log, timebase, cfg=None):
        self._hw = hw
        self._delivery = delivery
        self._alarms = alarms
        self._log = log
        self._tb = timebase
        self.cfg = cfg or SupervisorConfig()
        self.stall = StallMonitor(hw.rotation)
        self.line = LineMonitor(hw.pressure, self.cfg.occlusion_mv, self.cfg.disconnect_rise_mv)
        self.battery = BatteryMonitor(hw.battery, self.cfg.battery_eri_mv, self.cfg.battery_eos_mv,
                                      self.cfg.battery_hysteresis_mv)
        self.guard = OverdeliveryGuard(hw.stepper, timebase.mono_s())
        self._retry_s = 0
        self._battery_level = BATTERY_OK   # the level the battery alarms were last set for

    def boot_report(self, wall_s):
        """Say at boot which detections this hardware cannot do."""
        log = self._log
        if not self.stall.fitted():
            log.add(wall_s, "warning", {"code": "NO_ROTATION_SENSOR", "detail": "motor stall detection is off"})
        if not self.line.fitted():
            log.add(wall_s, "warning", {"code": "NO_PRESSURE_SENSOR",
                                        "detail": "occlusion and disconnection detection are off"})

    def resume_faults(self, stop_bits):
        """Boot: faults that were active before the reset stay active (alarm raised again)."""
        wall = self._tb.wall_s
        for bit, code in _STOP_CODES:
            if stop_bits & bit:
                self._delivery.block(bit)
                self._alarms.raise_alarm(code, wall, "still active after a reset")
        if stop_bits & _RETRIED:
            self._retry_s = wall + RETRY_S

    # --- step path (allocation-free unless something is detected) ------------------------------
    def after_step(self, at_ticks):
        if self.stall.on_step():
            self._fault("MOTOR_STALL", stops.STALL, at_ticks, "rotor did not turn")
        line = self.line.on_step()
        if line == LINE_OCCLUSION:
            self._fault("OCCLUSION", stops.OCCLUSION, at_ticks, "pressure %d mV held" % self.line.last_mv)
        elif line == LINE_DISCONNECT:
            self._fault("DISCONNECT", stops.DISCONNECT, at_ticks, "no pressure rise with steps")

    def guard_tripped(self):
        """The guard (which counts the HAL's pulses on its own, checked on every wake-up by the main
        loop) has tripped and disabled the driver: alarm and stop."""
        mono_s = self._tb.mono_s()
        self._fault("OVERDELIVERY_GUARD", stops.GUARD, self._hw.clock.ticks_ms(),
                    "%d pulses in 24 h (+%d assumed after a reset) > limit %d" % (
                        self.guard.window_pulses, self.guard.assumed(mono_s), self.guard.limit(mono_s)))

    def review_guard(self):
        """A new prescription: if the guard tripped and its window is within the new 24 h limit, the
        trip is cleared and delivery resumes (if nothing else holds it). Otherwise it stays."""
        if not self._delivery.blocked_by(stops.GUARD):
            return
        mono = self._tb.mono_s()
        guard = self.guard
        wall = self._tb.wall_s
        if guard.review(mono):
            self._alarms.clear("OVERDELIVERY_GUARD", wall)
            self._delivery.unblock(stops.GUARD)
        else:
            detail = "%d pulses in 24 h (+%d assumed) > new limit %d" % (
                guard.window_pulses, guard.assumed(mono), guard.limit(mono))
            self._log.add(wall, "warning", {"code": "GUARD_HOLDS", "detail": detail})

    def _fault(self, code, bit, at_ticks, detail):
        self._alarms.raise_alarm(code, self._tb.wall_at(at_ticks), detail)
        self._delivery.block(bit, at_ticks)
        self._retry_s = self._tb.wall_s + RETRY_S

    # --- housekeeping ---------------------------------------------------------------------------
    def housekeeping(self, wall_s):
        """One reading of the battery and of the resting line pressure; the battery alarms follow a
        change of the battery's level, a stop that may have gone is looked at only while one holds."""
        level = self.battery.read(wall_s)
        if level != self._battery_level:
            self._battery_level = level
            self._on_battery_level(level, wall_s)
        resting = self.line.idle_reading()
        delivery = self._delivery
        if not delivery.stop_mask:
            return
        if delivery.blocked_by(stops.OCCLUSION) and resting < self.cfg.occlusion_mv - 100:
            self._alarms.clear("OCCLUSION", wall_s)
            self.line.reset()
            delivery.unblock(stops.OCCLUSION)
        if delivery.blocked_by(_RETRIED) and wall_s >= self._retry_s:
            self._retry(wall_s)

    def _on_battery_level(self, level, wall_s):
        """The battery's level changed: the alarms (and the EOS stop) that level calls for. The
        supervisor alone raises and clears these two alarms, so doing this only on a change keeps
        them equal to what the level calls for."""
        alarms = self._alarms
        delivery = self._delivery
        mv = self.battery.last_mv
        if level == BATTERY_EOS:     # EOS first, so the critical pattern is the one that starts
            if alarms.raise_alarm("BATTERY_EOS", wall_s, "%d mV" % mv):
                delivery.block(stops.EOS)
        if level != BATTERY_OK:
            alarms.raise_alarm("BATTERY_ERI", wall_s, "%d mV" % mv)
        if level != BATTERY_EOS:
            if alarms.clear("BATTERY_EOS", wall_s):
                delivery.unblock(stops.EOS)
            if level == BATTERY_OK:
                alarms.clear("BATTERY_ERI", wall_s)

    def _retry(self, wall_s):
        """One test step: does the rotor turn again, does the pressure rise again?"""
        delivery = self._delivery
        self._retry_s = wall_s + RETRY_S
        if delivery.blocked_by(~_RETRIED):
            return   # something else keeps the pump stopped: no test step
        rotation = self._hw.rotation
        before = rotation.count() if rotation is not None else 0
        idle = self.line.idle_reading()
        if not delivery.test_step():
            return
        if delivery.blocked_by(stops.STALL) and rotation is not None and rotation.count() != before:
            self._alarms.clear("MOTOR_STALL", wall_s)
            self.stall.reset()
            delivery.unblock(stops.STALL)
        if delivery.blocked_by(stops.DISCONNECT) and self.line.fitted():
            rise = self.line.idle_reading() - idle
            if rise >= self.cfg.disconnect_rise_mv:
                self._alarms.clear("DISCONNECT", wall_s)
                self.line.reset()
                delivery.unblock(stops.DISCONNECT)
