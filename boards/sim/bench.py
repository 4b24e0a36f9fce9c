"""Bench commands of the simulator (`sim.*`): time control, the mock pump and its step log.

Only the simulator board hands this to the firmware (hw.bench); a board answers E_NOT_SUPPORTED (or
its own bench with the jumper closed, see boards/bench.py).
"""

from firmware import units
from firmware.errors import E_ARG_RANGE, E_STATE, E_UNKNOWN_CMD, CommandError
from firmware.params import flag, only

_STEPLOG_MAX = 4096   # step times (and their volumes) per sim.steplog reply
# Ranges of the mocks' realism settings: sim.pump, the Simulation's options (boards/sim/main.py) and the
# scenario's "pump" object (tools/pumpctl/scenario.py keeps the same table; a test checks they agree).
REALISM_LIMITS = {
    "noise_ppm": (0, 1_000_000),                  # per-pulse error, uniform within +/- this many ppm
    "noise_seed": (0, 0xFFFFFFFF),                # xorshift32 seed (0 is taken as 1)
    "wear_ppm_per_ml": (0, 1_000_000),            # output loss per mL through the present tubing
    "battery_drain_uv_per_day": (0, 4_000_000),   # battery voltage falling linearly (uV per day)
}
_PUMP_KEYS = ("true_pl_per_step", "noise_ppm", "noise_seed", "wear_ppm_per_ml", "replace_tubing")
FAULTS = ("motor_stall", "occlusion", "disconnect", "battery_low", "battery_eos", "flash_fail", "clear")
BATTERY_LOW_MV = 3550   # below the default ERI threshold (3600 mV), above EOS (3400 mV)
BATTERY_EOS_MV = 3300


class SimBench:
    """Bench commands of the simulator (`sim.*`): time control and the mock pump. Each command is one
    method, taking (pump, req); OPS maps the command to it."""

    def __init__(self, sim):
        self._sim = sim

    def handle(self, pump, req):
        op = req["cmd"]
        method = self.OPS.get(op)
        if method is None:
            raise CommandError(E_UNKNOWN_CMD, "unknown bench command '%s'" % op[:40])
        return method(self, pump, req)

    def _run(self, pump, req):
        """Move the horizon of the virtual clock to until_s (never backwards)."""
        sim = self._sim
        until_ms = units.whole_int(req, "until_s", 0, 1 << 40) * 1000
        if until_ms < sim.clock.elapsed_ms:
            raise CommandError(E_ARG_RANGE, "until_s is in the past")
        sim.clock.horizon_ms = until_ms
        return {"until_s": until_ms // 1000}

    def _state(self, pump, req):
        sim = self._sim
        state = sim.mock_pump.state()
        state["noise_seed"] = sim.noise_seed
        state["elapsed_ms"] = sim.clock.elapsed_ms
        state["sleeps"] = sim.clock.sleeps
        state["tones"] = sim.buzzer.count
        return state

    def _fill(self, pump, req):
        mock = self._sim.mock_pump
        mock.fill(units.whole_int(req, "volume_nl", 0, 1 << 40) * 1000)
        return {"reservoir_pl": mock.reservoir_pl}

    def _power_cycle(self, pump, req):
        """A power cut of off_s (optionally losing the RTC), carried out after this loop pass."""
        off_s = units.whole_int(req, "off_s", 0, 10 * 365 * 86400, required=False, default=0)
        rtc_lost = units.whole_int(req, "rtc_lost", 0, 1, required=False, default=0)
        self._sim.pending = ("power_cycle", off_s, rtc_lost)
        return {"off_s": off_s}

    def _hang(self, pump, req):
        """The main loop hangs after this pass: the watchdog resets the board."""
        self._sim.pending = ("hang",)
        return {"watchdog_ms": self._sim.watchdog.timeout_ms}

    def _misbehave(self, pump, req):
        """A scheduler fault: the basal rate runs `gain` times too fast (gain 1: as designed again);
        only the guard stands in the way. The fault is injected here, not carried by the firmware:
        an instance attribute of this pump's Delivery shadows its basal_rate_at (on CPython and
        MicroPython alike) with the designed method times gain. A reset builds a new Delivery,
        so a power cycle ends the fault."""
        gain = units.whole_int(req, "gain", 1, 100)
        delivery = pump.delivery
        try:
            del delivery.basal_rate_at          # an earlier fault: back to the designed method
        except AttributeError:
            pass
        if gain != 1:
            designed = type(delivery).basal_rate_at

            def runaway(wall_s):
                return designed(delivery, wall_s) * gain
            delivery.basal_rate_at = runaway
        delivery.apply_basal()
        return {"gain": gain}

    def _record(self, pump, req):
        """Start (or stop) logging the virtual ms of every pulse and the true pL each pulse moved
        (noise and wear make them differ), for accuracy analysis."""
        mock = self._sim.mock_pump
        if units.whole_int(req, "on", 0, 1):
            mock.record_steps(self._sim.clock, volumes=True)
        else:
            mock.step_times = None
            mock.step_volumes = None
        return {"recording": mock.step_times is not None}

    def _steplog(self, pump, req):
        """Drain up to _STEPLOG_MAX logged pulses: their times (virtual ms) and, index for index, the
        true pL each moved (volumes_pl). Memory stays bounded: the log holds at most
        MockPump.RECORD_MAX undrained pulses, `dropped` counts those it could not hold."""
        mock = self._sim.mock_pump
        times = mock.step_times
        if times is None:
            raise CommandError(E_STATE, "step log is off: send sim.record with on=1 first")
        chunk = times[:_STEPLOG_MAX]
        del times[:len(chunk)]
        reply = {"times_ms": chunk, "left": len(times), "dropped": mock.record_dropped}
        volumes = mock.step_volumes
        if volumes is not None:
            reply["volumes_pl"] = volumes[:len(chunk)]
            del volumes[:len(chunk)]
        return reply

    def _pump_settings(self, pump, req):
        """sim.pump: the mock pump's true step volume and its realism (noise, seed, wear, a new tubing).
        Every value is checked before any is applied: a refused request changes nothing."""
        only(req, *_PUMP_KEYS)
        new = {}
        if "true_pl_per_step" in req:
            new["true_pl_per_step"] = units.whole_int(req, "true_pl_per_step", 1, 10_000_000)
        for key in ("noise_ppm", "noise_seed", "wear_ppm_per_ml"):
            if key in req:
                lo, hi = REALISM_LIMITS[key]
                new[key] = units.whole_int(req, key, lo, hi)
        replace = flag(req, "replace_tubing")
        sim = self._sim
        mock = sim.mock_pump
        if "true_pl_per_step" in new:
            mock.true_pl_per_step = new["true_pl_per_step"]
        if "noise_ppm" in new:
            mock.noise_ppm = new["noise_ppm"]
        if "wear_ppm_per_ml" in new:
            mock.wear_ppm_per_ml = new["wear_ppm_per_ml"]
        if "noise_seed" in new:
            mock.seed(new["noise_seed"])
            sim.noise_seed = new["noise_seed"]
        if replace:
            mock.replace_tubing()
        state = mock.state()
        state["noise_seed"] = sim.noise_seed
        return state

    def _fault(self, pump, req):
        """Act a fault out physically in the mocks (the firmware must notice it on its own)."""
        name = units.text(req, "fault", 20)
        sim = self._sim
        if name == "motor_stall":
            sim.mock_pump.stalled = True
        elif name == "occlusion":
            sim.line.occlude(True)
        elif name == "disconnect":
            sim.line.disconnected = True
        elif name == "battery_low":
            sim.battery.override_mv = BATTERY_LOW_MV
        elif name == "battery_eos":
            sim.battery.override_mv = BATTERY_EOS_MV
        elif name == "flash_fail":
            sim.flash.fail_writes = True
        elif name == "clear":
            sim.mock_pump.stalled = False
            sim.line.occlude(False)
            sim.line.disconnected = False
            sim.battery.override_mv = None
            sim.flash.fail_writes = False
        else:
            raise CommandError(E_ARG_RANGE, "unknown fault '%s' (%s)" % (name, ", ".join(FAULTS)))
        return {"fault": name}

    OPS = {
        "sim.run": _run,
        "sim.state": _state,
        "sim.fill": _fill,
        "sim.pump": _pump_settings,
        "sim.power_cycle": _power_cycle,
        "sim.hang": _hang,
        "sim.fault": _fault,
        "sim.misbehave": _misbehave,
        "sim.record": _record,
        "sim.steplog": _steplog,
    }
