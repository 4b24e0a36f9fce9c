"""Supervisor: turns what the monitors and the guard see into alarms and delivery stops.

Delivery is blocked while any bit of pump.stop_mask is set (see STOP_*); each bit belongs to one
condition and is cleared only when that condition is really gone:
- EMPTY: a refill; STALL and DISCONNECT: a test step every RETRY_S that shows the fault gone;
- OCCLUSION: the idle pressure back below the threshold; EOS: the battery back above EOS + hysteresis;
- GUARD: a new prescription whose 24 h limit the pulse window is below; FAULT: a reboot.
"""

from micropython import const

from firmware.guard import OverdeliveryGuard
from firmware.monitors import BatteryMonitor, LineMonitor, StallMonitor

STOP_FAULT = const(1)
STOP_EMPTY = const(2)
STOP_STALL = const(4)
STOP_OCCLUSION = const(8)
STOP_DISCONNECT = const(16)
STOP_EOS = const(32)
STOP_GUARD = const(64)

STOP_NAMES = ((STOP_FAULT, "internal fault"), (STOP_EMPTY, "reservoir empty"), (STOP_STALL, "motor stall"),
              (STOP_OCCLUSION, "occlusion"), (STOP_DISCONNECT, "disconnection"), (STOP_EOS, "battery EOS"),
              (STOP_GUARD, "over-delivery guard"))

RETRY_S = const(600)
# faults a reset must not forget (EMPTY and EOS are found again from the reservoir and the battery)
PERSISTENT_STOPS = const(4 | 8 | 16 | 64)
_STOP_CODES = ((STOP_STALL, "MOTOR_STALL"), (STOP_OCCLUSION, "OCCLUSION"), (STOP_DISCONNECT, "DISCONNECT"),
               (STOP_GUARD, "OVERDELIVERY_GUARD"))


class SupervisorConfig:
    """Thresholds (mV) for the sensors; defaults suit the simulator's mock sensors and a 1-cell Li pack."""

    def __init__(self):
        self.occlusion_mv = 700
        self.disconnect_rise_mv = 15
        self.battery_eri_mv = 3600
        self.battery_eos_mv = 3400
        self.battery_hysteresis_mv = 50


class Supervisor:
    def __init__(self, pump, cfg=None):
        self.pump = pump
        self.cfg = cfg or SupervisorConfig()
        hw = pump.hw
        self.stall = StallMonitor(hw.rotation)
        self.line = LineMonitor(hw.pressure, self.cfg.occlusion_mv, self.cfg.disconnect_rise_mv)
        self.battery = BatteryMonitor(hw.battery, self.cfg.battery_eri_mv, self.cfg.battery_eos_mv,
                                      self.cfg.battery_hysteresis_mv)
        self.guard = OverdeliveryGuard(hw.stepper, pump.timebase.wall_s)
        self._retry_s = 0

    def boot_report(self, wall_s):
        """Say at boot which detections this hardware cannot do."""
        log = self.pump.log
        if not self.stall.fitted():
            log.add(wall_s, "warning", {"code": "NO_ROTATION_SENSOR", "detail": "motor stall detection is off"})
        if not self.line.fitted():
            log.add(wall_s, "warning", {"code": "NO_PRESSURE_SENSOR",
                                        "detail": "occlusion and disconnection detection are off"})

    def resume_faults(self, stop_bits):
        """Boot: faults that were active before the reset stay active (alarm raised again)."""
        pump = self.pump
        for bit, code in _STOP_CODES:
            if stop_bits & bit:
                pump.stop_mask |= bit
                pump.alarms.raise_alarm(code, pump.timebase.wall_s, "still active after a reset")
        if stop_bits & (STOP_STALL | STOP_DISCONNECT):
            self._retry_s = pump.timebase.wall_s + RETRY_S

    # --- step path (allocation-free unless something is detected) ------------------------------
    def after_step(self, at_ticks):
        pump = self.pump
        if self.stall.on_step():
            self._fault("MOTOR_STALL", STOP_STALL, at_ticks, "rotor did not turn")
        line = self.line.on_step()
        if line == 1:
            self._fault("OCCLUSION", STOP_OCCLUSION, at_ticks, "pressure %d mV held" % self.line.last_mv)
        elif line == 2:
            self._fault("DISCONNECT", STOP_DISCONNECT, at_ticks, "no pressure rise with steps")
        return pump.stop_mask == 0

    def guard_tripped(self):
        """The guard (which counts the HAL's pulses on its own, checked on every wake-up by the main
        loop) has tripped and disabled the driver: alarm and stop."""
        mono_s = self.pump.timebase.mono_s()
        self._fault("OVERDELIVERY_GUARD", STOP_GUARD, self.pump.hw.clock.ticks_ms(),
                    "%d pulses in 24 h (+%d assumed after a reset) > limit %d" % (
                        self.guard.window_pulses, self.guard.assumed(mono_s), self.guard.limit(mono_s)))

    def review_guard(self):
        """A new prescription: if the guard tripped and its window is within the new 24 h limit, the
        trip is cleared and delivery resumes (if nothing else holds it). Otherwise it stays."""
        pump = self.pump
        if not pump.stop_mask & STOP_GUARD:
            return
        mono = pump.timebase.mono_s()
        guard = self.guard
        wall = pump.timebase.wall_s
        if guard.review(mono):
            pump.alarms.clear("OVERDELIVERY_GUARD", wall)
            pump.unblock(STOP_GUARD)
        else:
            detail = "%d pulses in 24 h (+%d assumed) > new limit %d" % (
                guard.window_pulses, guard.assumed(mono), guard.limit(mono))
            pump.log.add(wall, "warning", {"code": "GUARD_HOLDS", "detail": detail})

    def _fault(self, code, bit, at_ticks, detail):
        pump = self.pump
        pump.alarms.raise_alarm(code, pump.timebase.wall_at(at_ticks), detail)
        pump.block(bit, at_ticks)
        self._retry_s = pump.timebase.wall_s + RETRY_S

    # --- housekeeping ---------------------------------------------------------------------------
    def housekeeping(self, wall_s):
        pump = self.pump
        level = self.battery.read(wall_s)
        if level == 2:     # EOS first, so the critical pattern is the one that starts
            if pump.alarms.raise_alarm("BATTERY_EOS", wall_s, "%d mV" % self.battery.last_mv):
                pump.block(STOP_EOS)
        if level >= 1:
            pump.alarms.raise_alarm("BATTERY_ERI", wall_s, "%d mV" % self.battery.last_mv)
        if level < 2:
            if pump.alarms.clear("BATTERY_EOS", wall_s):
                pump.unblock(STOP_EOS)
            if level == 0:
                pump.alarms.clear("BATTERY_ERI", wall_s)
        resting = self.line.idle_reading()
        if pump.stop_mask & STOP_OCCLUSION and resting < self.cfg.occlusion_mv - 100:
            pump.alarms.clear("OCCLUSION", wall_s)
            self.line.reset()
            pump.unblock(STOP_OCCLUSION)
        if pump.stop_mask & (STOP_STALL | STOP_DISCONNECT) and wall_s >= self._retry_s:
            self._retry(wall_s)

    def _retry(self, wall_s):
        """One test step: does the rotor turn again, does the pressure rise again?"""
        pump = self.pump
        self._retry_s = wall_s + RETRY_S
        if pump.stop_mask & ~(STOP_STALL | STOP_DISCONNECT):
            return   # something else keeps the pump stopped: no test step
        rotation = pump.hw.rotation
        before = rotation.count() if rotation is not None else 0
        idle = self.line.idle_reading()
        if not pump.test_step():
            return
        if pump.stop_mask & STOP_STALL and rotation is not None and rotation.count() != before:
            pump.alarms.clear("MOTOR_STALL", wall_s)
            self.stall.reset()
            pump.unblock(STOP_STALL)
        if pump.stop_mask & STOP_DISCONNECT and self.line.fitted():
            rise = self.line.idle_reading() - idle
            if rise >= self.cfg.disconnect_rise_mv:
                pump.alarms.clear("DISCONNECT", wall_s)
                self.line.reset()
                pump.unblock(STOP_DISCONNECT)

    def stop_names(self, mask):
        return [name for bit, name in STOP_NAMES if mask & bit]
